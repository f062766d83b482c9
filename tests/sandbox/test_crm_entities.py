"""Classic crm.{contact,company,lead,deal}.* conformance (bitrix24-rest.md §2.2–2.4, §4.1)."""

import pytest


def add(portal, entity: str, form: bool = False, **fields) -> int:
    return portal.result(f"crm.{entity}.add", {"fields": fields}, form=form)


def get(portal, entity: str, record_id: int) -> dict:
    return portal.result(f"crm.{entity}.get", {"id": record_id})


def update(portal, entity: str, record_id: int, form: bool = False, **fields):
    return portal.call(f"crm.{entity}.update", {"id": record_id, "fields": fields}, form=form)


def test_add_returns_int_id_and_get_prints_strings(portal):
    """§2.2: add → int id; get prints ids/numbers as strings and booleans as "Y"/"N" (api-reference/crm/deals/crm-deal-get.md)."""
    deal = add(portal, "deal", TITLE="Взнос", OPPORTUNITY=1000)
    assert isinstance(deal, int)
    got = get(portal, "deal", deal)
    assert (got["ID"], got["OPPORTUNITY"], got["CATEGORY_ID"]) == (str(deal), "1000.00", "0")
    assert got["OPENED"] == "Y" and got["CLOSED"] == "N" and got["STAGE_ID"] == "NEW"


def test_add_defaults_title_and_ignores_unknown_fields(portal):
    """§4.1: TITLE defaults to "Deal #id"; unknown fields are ignored (api-reference/crm/deals/crm-deal-add.md)."""
    deal = add(portal, "deal", NO_SUCH_FIELD="x")
    got = get(portal, "deal", deal)
    assert got["TITLE"] == f"Deal #{deal}" and "NO_SUCH_FIELD" not in got


def test_update_accepts_upper_case_id_and_fields(portal):
    """§4.1: `id`/`ID` and `fields`/`FIELDS` are both accepted (api-reference/crm/contacts/crm-contact-update.md)."""
    contact = add(portal, "contact", NAME="Анна")
    assert portal.result("crm.contact.update", {"ID": contact, "FIELDS": {"NAME": "Вера"}}) is True
    assert get(portal, "contact", contact)["NAME"] == "Вера"


def test_multifield_item_without_id_is_appended(portal):
    """§4.1 multifield update semantics: an item without ID is appended, others kept (api-reference/crm/contacts/crm-contact-update.md)."""
    contact = add(portal, "contact", PHONE=[{"VALUE": "+7 900 000-00-01", "VALUE_TYPE": "WORK"}])
    update(
        portal, "contact", contact, PHONE=[{"VALUE": "+7 900 000-00-02", "VALUE_TYPE": "MOBILE"}]
    )
    phones = get(portal, "contact", contact)["PHONE"]
    assert [(p["VALUE"], p["VALUE_TYPE"], p["TYPE_ID"]) for p in phones] == [
        ("+7 900 000-00-01", "WORK", "PHONE"),
        ("+7 900 000-00-02", "MOBILE", "PHONE"),
    ]


def test_multifield_item_with_id_and_value_is_overwritten(portal):
    """§4.1 multifield update semantics: ID + VALUE overwrites that value (api-reference/crm/contacts/crm-contact-update.md)."""
    contact = add(portal, "contact", EMAIL=[{"VALUE": "old@fund.example"}])
    email_id = get(portal, "contact", contact)["EMAIL"][0]["ID"]
    update(portal, "contact", contact, EMAIL=[{"ID": email_id, "VALUE": "new@fund.example"}])
    assert [e["VALUE"] for e in get(portal, "contact", contact)["EMAIL"]] == ["new@fund.example"]


def test_multifield_delete_by_flag_empty_or_missing_value(portal):
    """§4.1 multifield update semantics: DELETE=Y, VALUE="" and no VALUE all delete; new one appended (api-reference/crm/contacts/crm-contact-update.md)."""
    phones = [{"VALUE": f"+7900000000{n}"} for n in range(4)]
    contact = add(portal, "contact", PHONE=phones)
    ids = [p["ID"] for p in get(portal, "contact", contact)["PHONE"]]
    update(portal, "contact", contact, form=True, PHONE=[
        {"ID": ids[0], "DELETE": "Y"}, {"ID": ids[1], "VALUE": ""}, {"ID": ids[2]},
        {"VALUE": "55555", "VALUE_TYPE": "WORK"}])  # fmt: skip
    assert [p["VALUE"] for p in get(portal, "contact", contact)["PHONE"]] == [
        "+79000000003",
        "55555",
    ]


def test_get_omits_email_when_there_is_none(portal):
    """§4.1: get omits the EMAIL key entirely when a contact has no e-mails (tutorials/crm/how-to-add-crm-objects/how-to-send-email.md)."""
    contact = add(portal, "contact", NAME="Без почты", EMAIL=[{"VALUE": "a@fund.example"}])
    email_id = get(portal, "contact", contact)["EMAIL"][0]["ID"]
    update(portal, "contact", contact, EMAIL=[{"ID": email_id, "DELETE": "Y"}])
    got = get(portal, "contact", contact)
    assert "EMAIL" not in got and got["HAS_EMAIL"] == "N"


def test_invalid_email_is_error_core(portal):
    """§4.1: validation errors come as ERROR_CORE (api-reference/crm/contacts/crm-contact-add.md)."""
    answer = portal.call("crm.contact.add", {"fields": {"EMAIL": [{"VALUE": "not-an-email"}]}})
    assert answer.status == 400 and answer.body["error"] == "ERROR_CORE"


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"id": "abc"}, "ID is not defined or invalid."),
        ({"id": 999}, "Not found"),
        ({}, "ID is not defined or invalid."),
    ],
)
def test_get_errors_have_empty_code(portal, params, text):
    """§2.3/§4.1: classic errors are 400 with an empty code (api-reference/crm/deals/crm-deal-get.md)."""
    answer = portal.call("crm.deal.get", params)
    assert (answer.status, answer.body) == (400, {"error": "", "error_description": text})


def test_fields_must_be_an_object(portal):
    """§4.1: "Parameter 'fields' must be array." for a non-object fields (api-reference/crm/deals/crm-deal-add.md)."""
    answer = portal.call("crm.deal.add", {"fields": "x"})
    assert answer.body["error_description"] == "Parameter 'fields' must be array."


def test_deal_update_does_not_change_category(portal):
    """§4.1: CATEGORY_ID cannot be changed with crm.deal.update (api-reference/crm/deals/crm-deal-update.md)."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Волонтёры"}})[
        "category"
    ]
    deal = add(portal, "deal", TITLE="x")
    assert update(portal, "deal", deal, CATEGORY_ID=cat["id"], TITLE="y").result is True
    got = get(portal, "deal", deal)
    assert (got["CATEGORY_ID"], got["STAGE_ID"], got["TITLE"]) == ("0", "NEW", "y")


def test_deal_in_pipeline_starts_at_its_first_stage(portal):
    """§4.1: STAGE_ID defaults to the first stage of the deal's pipeline (C<cat>:NEW) (api-reference/crm/deals/crm-deal-add.md)."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Гранты"}})[
        "category"
    ]
    deal = add(portal, "deal", CATEGORY_ID=cat["id"])
    assert get(portal, "deal", deal)["STAGE_ID"] == f"C{cat['id']}:NEW"


def test_deal_stage_must_belong_to_its_pipeline(portal):
    """§4.1/§4.6: a stage of another pipeline is refused (api-reference/crm/deals/crm-deal-add.md)."""
    answer = portal.call("crm.deal.add", {"fields": {"STAGE_ID": "C77:NEW"}})
    assert answer.status == 400 and answer.body["error"] == ""


def test_won_stage_sets_semantics_and_closed(portal):
    """§4.1: STAGE_SEMANTIC_ID follows the stage (P/S/F) and a final stage closes the deal (api-reference/crm/deals/crm-deal-get.md)."""
    deal = add(portal, "deal")
    assert get(portal, "deal", deal)["STAGE_SEMANTIC_ID"] == "P"
    update(portal, "deal", deal, STAGE_ID="WON")
    got = get(portal, "deal", deal)
    assert (got["STAGE_SEMANTIC_ID"], got["CLOSED"]) == ("S", "Y")
    update(portal, "deal", deal, STAGE_ID="APOLOGY")
    assert get(portal, "deal", deal)["STAGE_SEMANTIC_ID"] == "F"


def test_stage_added_by_crm_status_is_usable_by_deals(portal):
    """§4.6: a stage created with crm.status.add can be set on a deal (api-reference/crm/status/crm-status-add.md)."""
    portal.result("crm.status.add", {"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "DECISION",
                                                "NAME": "Решение", "SORT": 55}})  # fmt: skip
    deal = add(portal, "deal", STAGE_ID="DECISION")
    assert get(portal, "deal", deal)["STAGE_ID"] == "DECISION"


def test_lead_status_defaults_to_new_and_must_exist(portal):
    """§4.1: lead STATUS_ID is one of the STATUS list (NEW by default) (api-reference/crm/leads/crm-lead-add.md)."""
    lead = add(portal, "lead", TITLE="Заявка")
    assert get(portal, "lead", lead)["STATUS_ID"] == "NEW"
    assert update(portal, "lead", lead, STATUS_ID="JUNK").result is True
    assert get(portal, "lead", lead)["STATUS_SEMANTIC_ID"] == "F"
    assert portal.call("crm.lead.add", {"fields": {"STATUS_ID": "NOPE"}}).status == 400


def test_only_defined_user_fields_are_stored(portal):
    """§4.7: UF_CRM_* values are kept only for defined user fields; others are ignored like unknown fields (api-reference/crm/deals/crm-deal-add.md)."""
    portal.result(
        "crm.deal.userfield.add", {"fields": {"FIELD_NAME": "NOTE", "USER_TYPE_ID": "string"}}
    )
    deal = add(portal, "deal", UF_CRM_NOTE="да", UF_CRM_GHOST="нет")
    got = get(portal, "deal", deal)
    assert got["UF_CRM_NOTE"] == "да" and "UF_CRM_GHOST" not in got


def test_fields_lists_user_fields(portal):
    """§4.7: crm.deal.fields describes defined user fields (api-reference/crm/deals/crm-deal-fields.md)."""
    portal.result("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "KIND", "USER_TYPE_ID": "enumeration",
                                                         "LIST": [{"VALUE": "A"}]}})  # fmt: skip
    described = portal.result("crm.deal.fields")
    assert (
        described["UF_CRM_KIND"]["type"] == "enumeration"
        and described["UF_CRM_KIND"]["isDynamic"] is True
    )


def test_list_select_star_excludes_user_and_multi_fields(portal):
    """§2.4: select "*" gives no UF_* and no multifields; PHONE and UF_* must be listed (api-reference/crm/contacts/crm-contact-list.md)."""
    portal.result(
        "crm.contact.userfield.add", {"fields": {"FIELD_NAME": "CITY", "USER_TYPE_ID": "string"}}
    )
    add(portal, "contact", NAME="A", UF_CRM_CITY="Казань", PHONE=[{"VALUE": "+7900"}])
    star = portal.result("crm.contact.list", {"select": ["*"]})[0]
    assert "PHONE" not in star and "UF_CRM_CITY" not in star and star["NAME"] == "A"
    explicit = portal.result("crm.contact.list", {"select": ["NAME", "PHONE", "UF_*"]})[0]
    assert set(explicit) == {"ID", "NAME", "PHONE", "UF_CRM_CITY"}


def test_list_filter_prefixes(portal):
    """§2.4: filter prefixes >, >=, <, %, @, !, != work on classic lists (api-reference/crm/deals/crm-deal-list.md)."""
    ids = [add(portal, "deal", TITLE=f"Сбор {n}", OPPORTUNITY=n * 100) for n in range(1, 6)]

    def found(flt):
        return [
            int(r["ID"])
            for r in portal.result("crm.deal.list", {"filter": flt, "order": {"ID": "ASC"}})
        ]

    assert found({">OPPORTUNITY": 300}) == ids[3:]
    assert found({">=OPPORTUNITY": 300, "<OPPORTUNITY": 500}) == ids[2:4]
    assert found({"%TITLE": "бор 2"}) == [ids[1]]
    assert found({"@ID": [ids[0], ids[4]]}) == [ids[0], ids[4]]
    assert found({"!ID": ids[0]}) == ids[1:]


def test_list_filter_by_phone_is_exact(portal):
    """§2.4: multifield filters are exact-match only (api-reference/crm/contacts/crm-contact-list.md)."""
    contact = add(portal, "contact", PHONE=[{"VALUE": "+79001112233"}])
    assert [
        r["ID"] for r in portal.result("crm.contact.list", {"filter": {"PHONE": "+79001112233"}})
    ] == [str(contact)]
    assert portal.result("crm.contact.list", {"filter": {"PHONE": "+7900111"}}) == []


def test_list_order_desc(portal):
    """§2.4: order {"ID": "DESC"} reverses the list (api-reference/crm/deals/crm-deal-list.md)."""
    ids = [add(portal, "deal") for _ in range(3)]
    listed = portal.result("crm.deal.list", {"order": {"ID": "DESC"}, "select": ["ID"]})
    assert [int(r["ID"]) for r in listed] == ids[::-1]


def test_list_pages_by_50_with_total_and_next(portal):
    """§2.4: pages of 50, `next` = offset of the next page only while more remain, `total` always (settings/how-to-call-rest-api/list-methods-pecularities.md)."""
    portal.result("batch", {"cmd": {str(n): f"crm.lead.add?fields[TITLE]=L{n}" for n in range(50)}})
    portal.result("batch", {"cmd": {str(n): f"crm.lead.add?fields[TITLE]=M{n}" for n in range(20)}})
    first = portal.call("crm.lead.list", {"order": {"ID": "ASC"}})
    assert (len(first.body["result"]), first.body["next"], first.body["total"]) == (50, 50, 70)
    second = portal.call("crm.lead.list", {"order": {"ID": "ASC"}, "start": 50}, form=True)
    assert (
        len(second.body["result"]) == 20
        and "next" not in second.body
        and second.body["total"] == 70
    )


def test_list_start_minus_one_skips_counting(portal):
    """§2.4: start=-1 → no `next`, total 0 (settings/performance/huge-data.md)."""
    first = add(portal, "deal")
    [add(portal, "deal") for _ in range(2)]
    answer = portal.call(
        "crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": first}, "start": -1}
    )
    assert (
        len(answer.body["result"]) == 2 and answer.body["total"] == 0 and "next" not in answer.body
    )


def test_delete_then_get_is_not_found(portal):
    """§4.1: delete → true; the record is gone (api-reference/crm/deals/crm-deal-delete.md)."""
    deal = add(portal, "deal")
    assert portal.result("crm.deal.delete", {"id": deal}) is True
    assert portal.call("crm.deal.get", {"id": deal}).body["error_description"] == "Not found"
