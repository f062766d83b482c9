"""crm.{deal,contact,lead,company}.userfield.* conformance (bitrix24-rest.md §4.7)."""

import pytest

ADD = "api-reference/crm/deals/user-defined-fields/crm-deal-userfield-add.md"


def add_field(portal, entity: str = "deal", form: bool = False, **fields):
    return portal.call(
        f"crm.{entity}.userfield.add", {"fields": {"USER_TYPE_ID": "string", **fields}}, form=form
    )


def get_field(portal, field_id, entity: str = "deal") -> dict:
    return portal.result(f"crm.{entity}.userfield.get", {"id": field_id})


@pytest.mark.parametrize(
    ("given", "stored"),
    [("MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"), ("UF_MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"),
     ("UF_CRM_MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"), ("manager_note", "UF_CRM_MANAGER_NOTE")],
)  # fmt: skip
def test_field_name_gets_uf_crm_prefix(portal, given, stored):
    """§4.7: FIELD_NAME gets prefix UF_CRM_ (UF_X → UF_CRM_X), upper-cased (crm-deal-userfield-add.md)."""
    field_id = add_field(portal, FIELD_NAME=given).result
    assert isinstance(field_id, int)
    got = get_field(portal, field_id)
    assert (got["ID"], got["FIELD_NAME"], got["ENTITY_ID"]) == (str(field_id), stored, "CRM_DEAL")


@pytest.mark.parametrize(
    ("name", "text"),
    [("ПОЛЕ", "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."),
     ("BAD-NAME", "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."),
     ("X" * 44, "Field name is too long (more than 50 characters).")],
)  # fmt: skip
def test_bad_field_names_are_error_core(portal, name, text):
    """§4.7: >50 chars with the prefix or chars outside A-Z0-9_ → ERROR_CORE (crm-deal-userfield-add.md)."""
    answer = add_field(portal, FIELD_NAME=name)
    assert (answer.status, answer.body) == (400, {"error": "ERROR_CORE", "error_description": text})


def test_name_of_exactly_50_chars_is_accepted(portal):
    """§4.7: up to 43 characters of code fit in 50 with the prefix (crm-deal-userfield-add.md)."""
    assert add_field(portal, FIELD_NAME="X" * 43).status == 200


def test_missing_name_or_type_and_unknown_type(portal):
    """§4.7: missing FIELD_NAME/USER_TYPE_ID → empty code; unknown type → ERROR_CORE (crm-deal-userfield-add.md)."""
    no_name = portal.call("crm.deal.userfield.add", {"fields": {"USER_TYPE_ID": "string"}})
    assert no_name.body == {
        "error": "",
        "error_description": "The 'FIELD_NAME' field is not found.",
    }
    no_type = portal.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "X"}})
    assert no_type.body == {
        "error": "",
        "error_description": "The 'USER_TYPE_ID' field is not found.",
    }
    bad_type = add_field(portal, FIELD_NAME="X", USER_TYPE_ID="rocket")
    assert bad_type.body == {
        "error": "ERROR_CORE",
        "error_description": "Incorrect custom type specified.",
    }


def test_duplicate_field_name_is_error_core(portal):
    """§4.7: the same FIELD_NAME twice in one entity → ERROR_CORE; another entity may reuse it (crm-deal-userfield-add.md)."""
    assert add_field(portal, FIELD_NAME="TWICE").status == 200
    again = add_field(portal, FIELD_NAME="UF_TWICE")
    assert again.status == 400 and again.body["error"] == "ERROR_CORE"
    assert add_field(portal, "contact", FIELD_NAME="TWICE").status == 200


def test_label_fills_every_label_and_language(portal):
    """§4.7: LABEL fills the labels not given; a string label is set for every language (crm-deal-userfield-add.md)."""
    field_id = add_field(portal, FIELD_NAME="SUM", LABEL="Сумма", LIST_COLUMN_LABEL="Колонка",
                         EDIT_FORM_LABEL={"en": "Amount"}).result  # fmt: skip
    got = get_field(portal, field_id)
    assert set(got["LIST_FILTER_LABEL"].values()) == {"Сумма"}
    assert set(got["LIST_COLUMN_LABEL"].values()) == {"Колонка"}
    assert got["EDIT_FORM_LABEL"]["en"] == "Amount" and got["EDIT_FORM_LABEL"]["ru"] == "Сумма"


def test_defaults_and_boolean_cannot_be_multiple(portal):
    """§4.7: SORT 100, MULTIPLE N, EDIT_IN_LIST Y; boolean fields are never multiple (crm-deal-userfield-add.md)."""
    got = get_field(
        portal, add_field(portal, FIELD_NAME="FLAG", USER_TYPE_ID="boolean", MULTIPLE="Y").result
    )
    assert (got["SORT"], got["MULTIPLE"], got["EDIT_IN_LIST"], got["MANDATORY"]) == (
        "100",
        "N",
        "Y",
        "N",
    )


def test_crm_field_binds_leads_by_default(portal):
    """§4.7: a `crm` field with no entity settings binds leads (SETTINGS.LEAD=Y) (crm-deal-userfield-add.md)."""
    got = get_field(portal, add_field(portal, FIELD_NAME="LINK", USER_TYPE_ID="crm").result)
    assert got["SETTINGS"]["LEAD"] == "Y"


def test_enumeration_items_get_ids(portal):
    """§4.7: enumeration LIST items get their own IDs; empty VALUE items are ignored; one DEF on a single field (crm-deal-userfield-add.md)."""
    items = [{"VALUE": "Разово", "XML_ID": "ONCE", "SORT": 10, "DEF": "Y"},
             {"VALUE": "Ежемесячно", "XML_ID": "MONTHLY", "SORT": 20, "DEF": "Y"}, {"VALUE": ""}]  # fmt: skip
    field_id = add_field(portal, FIELD_NAME="PERIOD", USER_TYPE_ID="enumeration", LIST=items).result
    listed = get_field(portal, field_id)["LIST"]
    assert [(i["VALUE"], i["XML_ID"], i["SORT"], i["DEF"]) for i in listed] == [
        ("Разово", "ONCE", "10", "Y"), ("Ежемесячно", "MONTHLY", "20", "N")]  # fmt: skip
    assert all(i["ID"].isdigit() for i in listed) and listed[0]["ID"] != listed[1]["ID"]


def test_enumeration_duplicate_xml_id_is_error_core(portal):
    """§4.7: duplicate XML_ID in LIST → ERROR_CORE (crm-deal-userfield-add.md)."""
    answer = add_field(portal, FIELD_NAME="DUP", USER_TYPE_ID="enumeration",
                       LIST=[{"VALUE": "A", "XML_ID": "X"}, {"VALUE": "B", "XML_ID": "X"}])  # fmt: skip
    assert answer.body == {
        "error": "ERROR_CORE",
        "error_description": "List item with value XML_ID=X already exists.",
    }


def test_update_list_changes_adds_and_deletes_items(portal):
    """§4.7: update LIST: items with ID change, without ID are added, DEL=Y ones go, others stay (api-reference/crm/universal/user-defined-fields/crm-userfield-enumeration-fields.md)."""
    items = [
        {"VALUE": "A", "XML_ID": "A"},
        {"VALUE": "B", "XML_ID": "B"},
        {"VALUE": "C", "XML_ID": "C"},
    ]
    field_id = add_field(portal, FIELD_NAME="ABC", USER_TYPE_ID="enumeration", LIST=items).result
    a, b, c = (i["ID"] for i in get_field(portal, field_id)["LIST"])
    change = [{"ID": a, "VALUE": "A2"}, {"ID": b, "DEL": "Y"}, {"VALUE": "D", "XML_ID": "D"}]
    answer = portal.call(
        "crm.deal.userfield.update", {"id": field_id, "fields": {"LIST": change}}, form=True
    )
    assert answer.result is True
    listed = get_field(portal, field_id)["LIST"]
    assert [(i["VALUE"], i["XML_ID"]) for i in listed] == [("A2", "A"), ("C", "C"), ("D", "D")]
    assert c in {i["ID"] for i in listed} and b not in {i["ID"] for i in listed}


def test_update_list_with_taken_xml_id_is_error_core(portal):
    """§4.7: an added item reusing an XML_ID → ERROR_CORE (crm-deal-userfield-update.md)."""
    field_id = add_field(
        portal, FIELD_NAME="E", USER_TYPE_ID="enumeration", LIST=[{"VALUE": "A", "XML_ID": "A"}]
    ).result
    answer = portal.call(
        "crm.deal.userfield.update",
        {"id": field_id, "fields": {"LIST": [{"VALUE": "Z", "XML_ID": "A"}]}},
    )
    assert answer.body == {
        "error": "ERROR_CORE",
        "error_description": "List item with XML_ID='A' already exists",
    }


def test_update_changes_flags_and_overwrites_labels(portal):
    """§4.7: update changes only passed fields; labels are overwritten whole (missing languages → "") (crm-deal-userfield-update.md)."""
    field_id = add_field(portal, FIELD_NAME="UPD", LABEL="Старое").result
    fields = {
        "MANDATORY": "Y",
        "SORT": 300,
        "EDIT_FORM_LABEL": {"en": "New"},
        "FIELD_NAME": "RENAMED",
    }
    assert portal.result("crm.deal.userfield.update", {"id": field_id, "fields": fields}) is True
    got = get_field(portal, field_id)
    assert (got["MANDATORY"], got["SORT"], got["FIELD_NAME"]) == ("Y", "300", "UF_CRM_UPD")
    assert got["EDIT_FORM_LABEL"]["en"] == "New" and got["EDIT_FORM_LABEL"]["ru"] == ""
    assert got["LIST_COLUMN_LABEL"]["ru"] == "Старое"


def test_list_returns_entity_fields_filtered_and_ordered(portal):
    """§4.7: list returns ENTITY_ID CRM_<ENTITY> rows, filtered, ordered, LIST for enumerations (crm-deal-userfield-list.md)."""
    add_field(portal, FIELD_NAME="B_FIELD", SORT=200)
    add_field(
        portal, FIELD_NAME="A_FIELD", SORT=100, USER_TYPE_ID="enumeration", LIST=[{"VALUE": "x"}]
    )
    add_field(portal, "contact", FIELD_NAME="OTHER")
    rows = portal.result("crm.deal.userfield.list", {"order": {"SORT": "ASC"}})
    assert [(r["FIELD_NAME"], r["ENTITY_ID"]) for r in rows] == [
        ("UF_CRM_A_FIELD", "CRM_DEAL"),
        ("UF_CRM_B_FIELD", "CRM_DEAL"),
    ]
    assert rows[0]["LIST"][0]["VALUE"] == "x" and "LIST" not in rows[1]
    only = portal.result("crm.deal.userfield.list", {"filter": {"USER_TYPE_ID": "string"}})
    assert [r["FIELD_NAME"] for r in only] == ["UF_CRM_B_FIELD"]


def test_list_labels_in_the_filtered_language(portal):
    """§4.7: with filter LANG the labels come as strings in that language (crm-deal-userfield-list.md)."""
    add_field(portal, FIELD_NAME="LBL", EDIT_FORM_LABEL={"en": "Amount", "ru": "Сумма"})
    row = portal.result("crm.deal.userfield.list", {"filter": {"LANG": "en"}})[0]
    assert row["EDIT_FORM_LABEL"] == "Amount"


def test_delete_then_get_is_error_not_found(portal):
    """§4.7: delete → true; get of a missing id → ERROR_NOT_FOUND (crm-deal-userfield-delete.md, crm-deal-userfield-get.md)."""
    field_id = add_field(portal, FIELD_NAME="GONE").result
    assert portal.result("crm.deal.userfield.delete", {"id": field_id}) is True
    answer = portal.call("crm.deal.userfield.get", {"id": field_id})
    assert answer.body == {
        "error": "ERROR_NOT_FOUND",
        "error_description": f"The entity with ID '{field_id}' is not found",
    }


def test_field_of_another_entity_is_access_denied(portal):
    """§4.7: reading a contact field through crm.deal.userfield.get → 403 Access denied (crm-deal-userfield-get.md)."""
    field_id = add_field(portal, "contact", FIELD_NAME="MINE").result
    answer = portal.call("crm.deal.userfield.get", {"id": field_id})
    assert answer.status == 403


def test_bad_id_is_rejected(portal):
    """§4.7: id ≤ 0 or missing → "ID is not defined or invalid." (crm-deal-userfield-get.md)."""
    assert (
        portal.call("crm.deal.userfield.get", {"id": 0}).body["error_description"]
        == "ID is not defined or invalid."
    )
