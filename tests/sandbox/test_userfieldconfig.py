"""userfieldconfig.* for smart-process fields (docs api-reference/crm/universal/userfieldconfig/*.md)."""

FIELD = {"entityId": "CRM_7", "fieldName": "UF_CRM_7_TP_EVENT_ID", "userTypeId": "string",
         "editFormLabel": {"ru": "Timepad: ID мероприятия", "en": "Timepad: event id"}}  # fmt: skip


def test_add_get_list_update_delete(portal):
    """userfieldconfig-add.md: the answer is {"field": {...}} in camelCase; list filters by entityId."""
    field = portal.result("userfieldconfig.add", {"moduleId": "crm", "field": FIELD})["field"]
    assert field["fieldName"] == "UF_CRM_7_TP_EVENT_ID" and field["multiple"] == "N"
    assert field["editFormLabel"] == {"ru": "Timepad: ID мероприятия", "en": "Timepad: event id"}
    assert (
        portal.result("userfieldconfig.get", {"moduleId": "crm", "id": field["id"]})["field"]
        == field
    )
    portal.result("userfieldconfig.add", {"moduleId": "crm", "field": {**FIELD, "entityId": "CRM_8",
                                                                        "fieldName": "UF_CRM_8_X"}})  # fmt: skip
    listed = portal.result(
        "userfieldconfig.list", {"moduleId": "crm", "filter": {"entityId": "CRM_7"}}
    )
    assert [f["fieldName"] for f in listed["fields"]] == ["UF_CRM_7_TP_EVENT_ID"]
    portal.result(
        "userfieldconfig.update", {"moduleId": "crm", "id": field["id"], "field": {"sort": "200"}}
    )
    assert (
        portal.result("userfieldconfig.get", {"moduleId": "crm", "id": field["id"]})["field"][
            "sort"
        ]
        == "200"
    )
    portal.result("userfieldconfig.delete", {"moduleId": "crm", "id": field["id"]})
    assert portal.call("userfieldconfig.get", {"moduleId": "crm", "id": field["id"]}).status == 400


def test_enumeration_items(portal):
    """userfieldconfig-add.md: enum items get ids; update adds items without an id."""
    spec = {**FIELD, "fieldName": "UF_CRM_7_STATUS", "userTypeId": "enumeration",
            "enum": [{"value": "Да", "xmlId": "Y"}, {"value": "Нет", "xmlId": "N", "def": "Y"}]}  # fmt: skip
    field = portal.result("userfieldconfig.add", {"moduleId": "crm", "field": spec})["field"]
    assert [(e["value"], e["xmlId"], e["def"]) for e in field["enum"]] == [
        ("Да", "Y", "N"),
        ("Нет", "N", "Y"),
    ]
    portal.result("userfieldconfig.update", {"moduleId": "crm", "id": field["id"],
                                             "field": {"enum": [{"value": "Может быть", "xmlId": "M"}]}})  # fmt: skip
    got = portal.result("userfieldconfig.get", {"moduleId": "crm", "id": field["id"]})["field"]
    assert [e["xmlId"] for e in got["enum"]] == ["Y", "N", "M"]


def test_documented_errors(portal):
    """userfieldconfig-add.md errors: name not starting with UF_<entityId>_, missing type, duplicates."""
    bad_name = portal.call(
        "userfieldconfig.add", {"moduleId": "crm", "field": {**FIELD, "fieldName": "UF_CRM_X"}}
    )
    assert bad_name.body["error_description"] == "You cannot create custom fields"
    no_type = portal.call(
        "userfieldconfig.add", {"moduleId": "crm", "field": {**FIELD, "userTypeId": ""}}
    )
    assert no_type.body["error_description"] == "The 'USER_TYPE_ID' field is not found"
    portal.result("userfieldconfig.add", {"moduleId": "crm", "field": FIELD})
    again = portal.call("userfieldconfig.add", {"moduleId": "crm", "field": FIELD})
    assert again.status == 400 and "already exists" in again.body["error_description"]
