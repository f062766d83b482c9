"""crm.category.*, crm.type.* and crm.item.* conformance (bitrix24-rest.md §2.4, §4.2, §4.5)."""

import pytest

from .test_duplicates import bind


def item_add(portal, etid: int, form: bool = False, **fields) -> dict:
    return portal.result("crm.item.add", {"entityTypeId": etid, "fields": fields}, form=form)[
        "item"
    ]


def item_get(portal, etid: int, item_id: int) -> dict:
    return portal.result("crm.item.get", {"entityTypeId": etid, "id": item_id})["item"]


def new_spa(portal, title: str = "Подопечные", **fields) -> dict:
    return portal.result(
        "crm.type.add", {"fields": {"title": title, "isStagesEnabled": "Y", **fields}}
    )["type"]


def events(portal) -> list[tuple[str, dict]]:
    sent = portal.control("GET", "/deliveries", params={"wait": 1})
    return [(d["event"], d["form"]["data"]["FIELDS"]) for d in sent if d["kind"] == "event"]


# --- crm.category ------------------------------------------------------------------------------


def test_category_add_shape(portal):
    """§4.5: add → {"category": {id, name, sort (500), entityTypeId, isDefault "N"}} (api-reference/crm/universal/category/crm-category-add.md)."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Волонтёры"}})[
        "category"
    ]
    assert isinstance(cat["id"], int) and cat["id"] > 0
    assert {k: cat[k] for k in ("name", "sort", "entityTypeId", "isDefault")} == {
        "name": "Волонтёры", "sort": 500, "entityTypeId": 2, "isDefault": "N"}  # fmt: skip


def test_category_list_includes_default_pipeline_zero(portal):
    """§4.5: list → {"categories": [...]} with total; the default deal pipeline has id 0 (crm-category-list.md)."""
    portal.result(
        "crm.category.add", {"entityTypeId": 2, "fields": {"name": "A", "sort": 100}}, form=True
    )
    answer = portal.call("crm.category.list", {"entityTypeId": 2})
    cats = answer.result["categories"]
    assert answer.body["total"] == 2 and [c["name"] for c in cats] == ["A", "General"]
    assert cats[1]["id"] == 0 and cats[1]["isDefault"] == "Y"


def test_deal_pipeline_isdefault_cannot_be_set(portal):
    """§4.5: deals can't change isDefault (crm-category-add.md)."""
    cat = portal.result(
        "crm.category.add", {"entityTypeId": 2, "fields": {"name": "B", "isDefault": "Y"}}
    )["category"]
    assert cat["isDefault"] == "N"
    assert (
        portal.result("crm.category.get", {"entityTypeId": 2, "id": 0})["category"]["isDefault"]
        == "Y"
    )


@pytest.mark.parametrize(
    ("params", "error"),
    [({"entityTypeId": 3}, "ENTITY_TYPE_NOT_SUPPORTED"), ({"entityTypeId": 1}, "ENTITY_TYPE_NOT_SUPPORTED"),
     ({"entityTypeId": 555}, "NOT_FOUND"), ({"entityTypeId": 2, "id": 99}, "NOT_FOUND")],
)  # fmt: skip
def test_category_errors(portal, params, error):
    """§4.5: NOT_FOUND for unknown types or pipelines, ENTITY_TYPE_NOT_SUPPORTED for types without pipelines (crm-category-get.md)."""
    answer = portal.call("crm.category.get", {"id": 0, **params})
    assert answer.status == 400 and answer.body["error"] == error


def test_category_name_is_required(portal):
    """§4.5: code 0 "Field 'NAME' is required" (crm-category-add.md)."""
    answer = portal.call("crm.category.add", {"entityTypeId": 2, "fields": {"sort": 10}})
    assert answer.body == {"error": 0, "error_description": "Field 'NAME' is required"}


def test_category_update_renames(portal):
    """§4.5: update → {"category": {...}} with the new name and sort (crm-category-update.md)."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Old"}})[
        "category"
    ]
    updated = portal.result("crm.category.update", {"entityTypeId": 2, "id": cat["id"],
                                                    "fields": {"name": "New", "sort": -5}})["category"]  # fmt: skip
    assert (updated["name"], updated["sort"]) == ("New", 0)


def test_category_delete_rules(portal):
    """§4.5: default pipeline and pipelines with deals can't be deleted; deleting drops its stages; result null (crm-category-delete.md)."""
    assert portal.call("crm.category.delete", {"entityTypeId": 2, "id": 0}).body[
        "error_description"
    ] == ("Default deal category cannot be deleted")
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Busy"}})[
        "category"
    ]
    deal = portal.result("crm.deal.add", {"fields": {"CATEGORY_ID": cat["id"]}})
    assert (
        portal.call("crm.category.delete", {"entityTypeId": 2, "id": cat["id"]}).body["error"] == 0
    )
    portal.result("crm.deal.delete", {"id": deal})
    assert (
        portal.call("crm.category.delete", {"entityTypeId": 2, "id": cat["id"]}).body["result"]
        is None
    )
    assert (
        portal.result("crm.status.list", {"filter": {"ENTITY_ID": f"DEAL_STAGE_{cat['id']}"}}) == []
    )


def test_category_fields(portal):
    """§4.5: crm.category.fields → {"fields": {id, name, sort, entityTypeId, isDefault, ...}} (crm-category-fields.md)."""
    fields = portal.result("crm.category.fields", {"entityTypeId": 2})["fields"]
    assert fields["isDefault"]["isReadOnly"] is True and fields["name"]["upperName"] == "NAME"


# --- crm.type ----------------------------------------------------------------------------------


def test_type_add_gets_default_category_and_stages(portal):
    """crm.type.add → {"type": {...}} with entityTypeId ≥ 128, a default category and DT<type>_<cat>: stages (api-reference/crm/universal/user-defined-object-types/crm-type-add.md)."""
    typ = new_spa(portal)
    assert (
        typ["entityTypeId"] == 128
        and typ["isStagesEnabled"] == "Y"
        and typ["isCategoriesEnabled"] == "N"
    )
    cats = portal.result("crm.category.list", {"entityTypeId": 128})["categories"]
    assert len(cats) == 1 and cats[0]["isDefault"] == "Y"
    stages = portal.result(
        "crm.status.list", {"filter": {"ENTITY_ID": f"DYNAMIC_128_STAGE_{cats[0]['id']}"}}
    )
    assert stages[0]["STATUS_ID"] == f"DT128_{cats[0]['id']}:NEW" and stages[0][
        "CATEGORY_ID"
    ] == str(cats[0]["id"])


def test_type_entity_type_id_range(portal):
    """crm.type.add: entityTypeId must be 128..192 or even ≥ 1030 → else INVALID_ARG_VALUE (crm-type-add.md)."""
    assert new_spa(portal, entityTypeId=1030)["entityTypeId"] == 1030
    answer = portal.call("crm.type.add", {"fields": {"title": "X", "entityTypeId": 1031}})
    assert answer.body == {
        "error": "INVALID_ARG_VALUE",
        "error_description": "entityTypeId is out of allowed range",
    }


def test_type_list_get_update(portal):
    """crm.type.list → {"types": [...]}; get/update → {"type": {...}} (crm-type-list.md, crm-type-update.md)."""
    typ = new_spa(portal, "Мероприятия")
    new_spa(portal, "Гранты")
    listed = portal.result("crm.type.list", {"filter": {"%title": "Мероп"}})["types"]
    assert [t["id"] for t in listed] == [typ["id"]]
    updated = portal.result(
        "crm.type.update", {"id": typ["id"], "fields": {"isCategoriesEnabled": "Y"}}
    )["type"]
    assert updated["isCategoriesEnabled"] == "Y" and updated["title"] == "Мероприятия"
    assert portal.call("crm.type.get", {"id": 999}).body == {
        "error": 0,
        "error_description": "Smart process not found",
    }


def test_type_with_items_cannot_be_deleted(portal):
    """crm.type.delete: BX_ERROR while items exist; result [] on success (crm-type-delete.md)."""
    typ = new_spa(portal)
    item = item_add(portal, typ["entityTypeId"], title="Семья")
    assert portal.call("crm.type.delete", {"id": typ["id"]}).body["error"] == "BX_ERROR"
    portal.result("crm.item.delete", {"entityTypeId": typ["entityTypeId"], "id": item["id"]})
    assert portal.result("crm.type.delete", {"id": typ["id"]}) == []


def test_spa_stage_added_with_prefix(portal):
    """§4.6: stages of SPA pipelines get the DT<type>_<cat>: prefix (api-reference/crm/status/crm-status-add.md)."""
    typ = new_spa(portal)
    cat = portal.result("crm.category.list", {"entityTypeId": typ["entityTypeId"]})["categories"][
        0
    ]["id"]
    new_id = portal.result("crm.status.add", {"fields": {"ENTITY_ID": f"DYNAMIC_128_STAGE_{cat}", "STATUS_ID": "CHECK",
                                                         "NAME": "Проверка", "SORT": 25}})  # fmt: skip
    assert portal.result("crm.status.get", {"id": new_id})["STATUS_ID"] == f"DT128_{cat}:CHECK"


# --- crm.item over classic types ----------------------------------------------------------------


def test_item_add_deal_prints_camel_case_ints(portal):
    """§2.2/§4.2: crm.item.add → {"item": {...}} camelCase with ints (crm-item-add.md)."""
    item = item_add(portal, 2, title="Взнос", opportunity=1500, assignedById=1)
    assert (item["id"], item["categoryId"], item["stageId"], item["entityTypeId"]) == (
        item["id"],
        0,
        "NEW",
        2,
    )
    assert isinstance(item["id"], int) and item["opportunity"] == 1500 and item["assignedById"] == 1
    assert item["opened"] == "Y" and item["stageSemanticId"] == "P"


def test_item_and_classic_see_the_same_deal(portal):
    """§4.1/§4.2: crm.item and crm.deal share records: strings in classic, ints in crm.item (crm-deal-get.md, crm-item-get.md)."""
    item = item_add(portal, 2, title="Общий", opportunity=10.5, form=True)
    classic = portal.result("crm.deal.get", {"id": item["id"]})
    assert (classic["ID"], classic["TITLE"], classic["OPPORTUNITY"]) == (
        str(item["id"]),
        "Общий",
        "10.50",
    )
    portal.result("crm.deal.update", {"id": item["id"], "fields": {"TITLE": "Изменён"}})
    assert item_get(portal, 2, item["id"])["title"] == "Изменён"


def test_item_update_moves_deal_between_pipelines(portal, world, installed_app, recorder):
    """§4.1: crm.item.update with categoryId moves a deal (first stage of the new pipeline), ONCRMDEALMOVETOCATEGORY (crm-deal-update.md)."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Гранты"}})[
        "category"
    ]["id"]
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    bind(world, portal, installed_app, recorder, "ONCRMDEALMOVETOCATEGORY")
    moved = portal.result(
        "crm.item.update", {"entityTypeId": 2, "id": deal, "fields": {"categoryId": cat}}
    )["item"]
    assert (moved["categoryId"], moved["stageId"]) == (cat, f"C{cat}:NEW")
    assert portal.result("crm.deal.get", {"id": deal})["CATEGORY_ID"] == str(cat)
    assert [(e, str(f["CATEGORY_ID"]), f["STAGE_ID"]) for e, f in events(portal)] == [
        ("ONCRMDEALMOVETOCATEGORY", str(cat), f"C{cat}:NEW")]  # fmt: skip


def test_item_lead_stage_maps_to_status_id(portal):
    """§4.2: a lead's stageId is its classic STATUS_ID (crm-item-add.md)."""
    lead = item_add(portal, 1, title="Заявка", stageId="IN_PROCESS")
    assert portal.result("crm.lead.get", {"id": lead["id"]})["STATUS_ID"] == "IN_PROCESS"
    assert lead["stageId"] == "IN_PROCESS"


def test_item_bad_stage_is_value_error(portal):
    """§4.2: an unknown stage → CRM_FIELD_ERROR_VALUE_NOT_VALID (crm-item-add.md)."""
    answer = portal.call("crm.item.add", {"entityTypeId": 2, "fields": {"stageId": "NOPE"}})
    assert answer.body["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"


def test_item_fm_add_and_get(portal):
    """§4.1: crm.item fm on add is a list of {typeId, valueType, value}; get returns fm with int ids (crm-item-add.md, crm-item-get.md)."""
    fm = [{"typeId": "PHONE", "valueType": "WORK", "value": "+79001112233"},
          {"typeId": "EMAIL", "valueType": "HOME", "value": "a@fund.example"}]  # fmt: skip
    item = item_add(portal, 3, name="Анна", fm=fm)
    got = item_get(portal, 3, item["id"])
    assert [(f["typeId"], f["valueType"], f["value"]) for f in got["fm"]] == [
        ("PHONE", "WORK", "+79001112233"), ("EMAIL", "HOME", "a@fund.example")]  # fmt: skip
    assert all(isinstance(f["id"], int) for f in got["fm"]) and got["hasEmail"] == "Y"
    assert (
        portal.result("crm.contact.get", {"id": item["id"]})["PHONE"][0]["VALUE"] == "+79001112233"
    )


def test_item_fm_update_new_change_delete(portal):
    """§4.1: fm on update: n0 keys add, numeric id changes, id with value "" deletes (crm-item-update.md)."""
    item = item_add(
        portal,
        3,
        fm=[{"typeId": "PHONE", "value": "+7900"}, {"typeId": "EMAIL", "value": "x@f.example"}],
    )
    phone, email = (f["id"] for f in item_get(portal, 3, item["id"])["fm"])
    fm = {"n0": {"typeId": "PHONE", "valueType": "MOBILE", "value": "+7911"},
          str(phone): {"typeId": "PHONE", "valueType": "WORK", "value": "+7922"},
          str(email): {"typeId": "EMAIL", "value": ""}}  # fmt: skip
    portal.result(
        "crm.item.update", {"entityTypeId": 3, "id": item["id"], "fields": {"fm": fm}}, form=True
    )
    got = item_get(portal, 3, item["id"])["fm"]
    assert sorted((f["typeId"], f["value"]) for f in got) == [
        ("PHONE", "+7911"),
        ("PHONE", "+7922"),
    ]
    assert "EMAIL" not in portal.result("crm.contact.get", {"id": item["id"]})


def test_item_user_fields_camel_case_and_original_names(portal):
    """§4.2: UF names camelCase (ufCrm...) unless useOriginalUfNames=Y (crm-item-get.md)."""
    portal.result(
        "crm.deal.userfield.add", {"fields": {"FIELD_NAME": "PAYMENT_ID", "USER_TYPE_ID": "string"}}
    )
    item = item_add(portal, 2, ufCrmPaymentId="P-1")
    assert item["ufCrmPaymentId"] == "P-1"
    original = portal.result(
        "crm.item.get", {"entityTypeId": 2, "id": item["id"], "useOriginalUfNames": "Y"}
    )
    assert original["item"]["UF_CRM_PAYMENT_ID"] == "P-1"


def test_item_get_errors(portal):
    """§4.2: NOT_FOUND for an unknown entityTypeId or item (crm-item-get.md)."""
    assert portal.call("crm.item.get", {"entityTypeId": 999, "id": 1}).body["error"] == "NOT_FOUND"
    assert portal.call("crm.item.get", {"entityTypeId": 2, "id": 12345}).body == {
        "error": "NOT_FOUND", "error_description": "Element not found"}  # fmt: skip


def test_item_delete_returns_empty_array(portal, world, installed_app, recorder):
    """§4.2: delete → [] and the classic ONCRMDEALDELETE event (crm-item-delete.md)."""
    item = item_add(portal, 2)
    bind(world, portal, installed_app, recorder, "ONCRMDEALDELETE")
    assert portal.result("crm.item.delete", {"entityTypeId": 2, "id": item["id"]}) == []
    assert portal.call("crm.deal.get", {"id": item["id"]}).status == 400
    assert [(e, str(f["ID"])) for e, f in events(portal)] == [("ONCRMDEALDELETE", str(item["id"]))]


# --- crm.item.list ----------------------------------------------------------------------------


def test_item_list_filter_logic_or_and_nesting(portal):
    """§2.4: crm.item.list filter supports logic OR and nested groups (crm-item-list.md)."""
    ids = [item_add(portal, 2, title=t, opportunity=o)["id"]
           for t, o in (("Alpha", 100), ("Beta", 200), ("Gamma", 300), ("Delta", 400))]  # fmt: skip
    flt = {
        "logic": "OR",
        "0": {"=title": "Alpha"},
        "1": {"logic": "AND", ">opportunity": 250, "<opportunity": 350},
    }
    listed = portal.result(
        "crm.item.list", {"entityTypeId": 2, "filter": flt, "order": {"id": "ASC"}}
    )["items"]
    assert [i["id"] for i in listed] == [ids[0], ids[2]]
    both = {">=opportunity": 200, "!@id": [ids[3]], "!%title": "eta"}
    listed = portal.result("crm.item.list", {"entityTypeId": 2, "filter": both})["items"]
    assert [i["id"] for i in listed] == [ids[2]]


def test_item_list_order_select_and_fm_only_with_star(portal):
    """§2.4: lower-case id ordering, select keeps named fields (+id), fm only with select ["*"] (crm-item-list.md)."""
    ids = [
        item_add(portal, 3, name=f"N{n}", fm=[{"typeId": "PHONE", "value": f"+7{n}"}])["id"]
        for n in range(3)
    ]
    desc = portal.result(
        "crm.item.list", {"entityTypeId": 3, "order": {"id": "DESC"}, "select": ["id", "name"]}
    )
    assert [i["id"] for i in desc["items"]] == ids[::-1] and set(desc["items"][0]) == {"id", "name"}
    star = portal.result("crm.item.list", {"entityTypeId": 3, "select": ["*"]})["items"]
    assert star[0]["fm"][0]["value"] == "+70"


def test_item_list_pages_by_50(portal):
    """§2.4: crm.item.list pages by 50 with total/next; start=-1 gives total 0 and no next (crm-item-list.md, settings/performance/huge-data.md)."""
    portal.result(
        "batch",
        {"cmd": {str(n): f"crm.item.add?entityTypeId=3&fields[name]=P{n}" for n in range(50)}},
    )
    portal.result(
        "batch",
        {"cmd": {str(n): f"crm.item.add?entityTypeId=3&fields[name]=Q{n}" for n in range(5)}},
    )
    first = portal.call("crm.item.list", {"entityTypeId": 3, "order": {"id": "ASC"}})
    assert (len(first.body["result"]["items"]), first.body["next"], first.body["total"]) == (
        50,
        50,
        55,
    )
    last_id = first.body["result"]["items"][-1]["id"]
    fast = portal.call("crm.item.list", {"entityTypeId": 3, "order": {"id": "ASC"}, "filter": {">id": last_id},
                                         "start": -1})  # fmt: skip
    assert (
        len(fast.body["result"]["items"]) == 5
        and fast.body["total"] == 0
        and "next" not in fast.body
    )


@pytest.mark.parametrize(
    ("params", "text"),
    [({"filter": {"nope": 1}}, "Invalid filter: field 'nope' is not allowed in filter"),
     ({"order": {"nope": "ASC"}}, "Invalid order: field 'nope' is not allowed in order"),
     ({"order": {"id": "UP"}}, "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'id'")],
)  # fmt: skip
def test_item_list_bad_filter_or_order(portal, params, text):
    """§4.2: INVALID_ARG_VALUE for unknown filter/order fields and bad directions (crm-item-list.md)."""
    answer = portal.call("crm.item.list", {"entityTypeId": 2, **params})
    assert answer.body == {"error": "INVALID_ARG_VALUE", "error_description": text}


# --- smart-process items -----------------------------------------------------------------------


def test_spa_item_defaults_and_events(portal, world, installed_app, recorder):
    """§4.2: SPA items get title "<SPA> #id", the first stage, and ONCRMDYNAMICITEM* events with ENTITY_TYPE_ID (api-reference/crm/universal/events/on-crm-dynamic-item-add.md)."""
    new_spa(portal, "Семьи")
    bind(
        world,
        portal,
        installed_app,
        recorder,
        "ONCRMDYNAMICITEMADD",
        "ONCRMDYNAMICITEMUPDATE",
        "ONCRMDYNAMICITEMDELETE",
    )
    item = item_add(portal, 128)
    cat = item["categoryId"]
    assert (item["title"], item["stageId"], item["entityTypeId"]) == (
        f"Семьи #{item['id']}",
        f"DT128_{cat}:NEW",
        128,
    )
    portal.result(
        "crm.item.update",
        {"entityTypeId": 128, "id": item["id"], "fields": {"stageId": f"DT128_{cat}:SUCCESS"}},
    )
    portal.result("crm.item.delete", {"entityTypeId": 128, "id": item["id"]})
    got = [(e, str(f["ID"]), str(f["ENTITY_TYPE_ID"])) for e, f in events(portal)]
    assert got == [(e, str(item["id"]), "128") for e in
                   ("ONCRMDYNAMICITEMADD", "ONCRMDYNAMICITEMUPDATE", "ONCRMDYNAMICITEMDELETE")]  # fmt: skip


def test_spa_item_stage_must_belong_to_category(portal):
    """§4.2: an SPA item's stage must be one of its category (crm-item-add.md)."""
    new_spa(portal)
    answer = portal.call("crm.item.add", {"entityTypeId": 128, "fields": {"stageId": "C1:NEW"}})
    assert answer.body["error"] == "CRM_FIELD_ERROR_VALUE_NOT_VALID"


def test_spa_item_user_fields_from_userfieldconfig(portal):
    """§4.2: SPA user fields defined by userfieldconfig are stored (camelCase); undefined ones are ignored (crm-item-add.md)."""
    typ = new_spa(portal)
    field = {
        "entityId": f"CRM_{typ['id']}",
        "fieldName": f"UF_CRM_{typ['id']}_CITY",
        "userTypeId": "string",
    }
    portal.result("userfieldconfig.add", {"moduleId": "crm", "field": field})
    item = item_add(portal, 128, **{f"ufCrm{typ['id']}City": "Казань", "ufCrm9Ghost": "x"})
    assert item[f"ufCrm{typ['id']}City"] == "Казань" and "ufCrm9Ghost" not in item
    listed = portal.result(
        "crm.item.list", {"entityTypeId": 128, "filter": {f"ufCrm{typ['id']}City": "Казань"}}
    )
    assert [i["id"] for i in listed["items"]] == [item["id"]]


def test_spa_boolean_user_fields_are_filtered_by_1_and_0(portal):
    """§4.2: "Boolean UFs must be filtered with 1/0" (crm-item-list.md); stored and printed as Y/N."""
    typ = new_spa(portal)
    field = {
        "entityId": f"CRM_{typ['id']}",
        "fieldName": f"UF_CRM_{typ['id']}_SEEN",
        "userTypeId": "boolean",
    }
    portal.result("userfieldconfig.add", {"moduleId": "crm", "field": field})
    name = f"ufCrm{typ['id']}Seen"
    yes, no = item_add(portal, 128, **{name: "Y"}), item_add(portal, 128, **{name: "N"})
    for wanted, expected in ((1, yes), (0, no), ("1", yes), ("0", no)):
        listed = portal.result("crm.item.list", {"entityTypeId": 128, "filter": {name: wanted}})[
            "items"
        ]
        assert [i["id"] for i in listed] == [expected["id"]] and listed[0][name] == expected[name]


def test_spa_item_category_move(portal):
    """§4.5: an SPA item moved to another category starts at that category's first stage (crm-item-update.md)."""
    new_spa(portal, isCategoriesEnabled="Y")
    second = portal.result("crm.category.add", {"entityTypeId": 128, "fields": {"name": "Второе"}})[
        "category"
    ]["id"]
    item = item_add(portal, 128)
    moved = portal.result(
        "crm.item.update", {"entityTypeId": 128, "id": item["id"], "fields": {"categoryId": second}}
    )
    assert (
        moved["item"]["stageId"] == f"DT128_{second}:NEW"
        and moved["item"]["previousStageId"] == item["stageId"]
    )


def test_item_fields_lists_camel_case_names(portal):
    """§4.2: crm.item.fields → {"fields": {...}} keyed by camelCase names with upperName (crm-item-fields.md)."""
    fields = portal.result("crm.item.fields", {"entityTypeId": 2})["fields"]
    assert (
        fields["stageId"]["upperName"] == "STAGE_ID" and fields["contactIds"]["isMultiple"] is True
    )
