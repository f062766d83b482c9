"""crm.duplicate.findbycomm and crm.entity.mergeBatch conformance (bitrix24-rest.md §4.3, §4.4)."""

import pytest

FIND = "api-reference/crm/duplicates/crm-duplicate-find-by-comm.md"
MERGE = "api-reference/crm/duplicates/crm-entity-merge-batch.md"


def add(portal, entity: str, **fields) -> int:
    return portal.result(f"crm.{entity}.add", {"fields": fields})


def find(portal, **params):
    return portal.call("crm.duplicate.findbycomm", params)


def merge(portal, type_id, ids, form=False):
    return portal.call(
        "crm.entity.mergeBatch", {"params": {"entityTypeId": type_id, "entityIds": ids}}, form=form
    )


def bind(world, portal, installed_app, recorder, *events):
    """Bind events for the installed app straight in the portal state (event.bind lives elsewhere)."""
    with world.lock:
        inst = world.portal(portal.member_id).install(installed_app.app["client_id"])
        inst.setdefault("events", []).extend(
            {"id": n, "event": e, "handler": f"{recorder.url}/events", "auth_type": "0"}
            for n, e in enumerate(events, 100)
        )


def test_findbycomm_returns_int_ids_per_matched_type_only(portal):
    """§4.3: result maps only the types that matched to int ids ({"CONTACT": [275]}) (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    contact = add(portal, "contact", NAME="A", EMAIL=[{"VALUE": "donor@fund.example"}])
    add(portal, "company", TITLE="Other", EMAIL=[{"VALUE": "other@fund.example"}])
    assert find(portal, type="EMAIL", values=["donor@fund.example"]).result == {
        "CONTACT": [contact]
    }


def test_findbycomm_nothing_found_is_empty_list(portal):
    """§2.2/§4.3: nothing found prints as the empty PHP array [] (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    assert find(portal, type="PHONE", values=["+7 900 000-00-00"]).result == []


def test_findbycomm_email_is_case_insensitive(portal):
    """§4.3: e-mails match regardless of case (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    lead = add(portal, "lead", TITLE="L", EMAIL=[{"VALUE": "Ivan@Mail.Example"}])
    assert find(portal, type="EMAIL", values=["ivan@mail.example"]).result == {"LEAD": [lead]}


def test_findbycomm_phone_ignores_formatting_and_extension(portal):
    """§4.3: phones match on digits; the extension is not considered (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    contact = add(portal, "contact", NAME="P", PHONE=[{"VALUE": "+7 (916) 123-45-67"}])
    got = find(portal, type="PHONE", values=["79161234567 доб. 12"]).result
    assert got == {"CONTACT": [contact]}


def test_findbycomm_entity_type_limits_the_search(portal):
    """§4.3: entity_type LEAD|CONTACT|COMPANY restricts the search (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    add(portal, "lead", TITLE="L", PHONE=[{"VALUE": "111"}])
    contact = add(portal, "contact", NAME="C", PHONE=[{"VALUE": "111"}])
    assert find(portal, type="PHONE", values=["111"], entity_type="CONTACT").result == {
        "CONTACT": [contact]
    }


def test_findbycomm_stops_silently_after_20_values(portal):
    """§4.3: more than 20 values is not an error; only the first 20 distinct ones are searched (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    contact = add(portal, "contact", NAME="Late", EMAIL=[{"VALUE": "late@x.example"}])
    first = [f"v{i}@x.example" for i in range(20)]
    assert find(portal, type="EMAIL", values=[*first, "late@x.example"]).result == []
    repeated = ["v0@x.example"] * 25 + [
        "",
        "late@x.example",
    ]  # duplicates and blanks are not counted
    assert find(portal, type="EMAIL", values=repeated).result == {"CONTACT": [contact]}


def test_findbycomm_twenty_matches_in_leads_hide_other_types(portal):
    """§4.3: 20 or more duplicates in one type → the other types are not returned (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    for i in range(20):
        add(portal, "lead", TITLE=f"L{i}", PHONE=[{"VALUE": "5550000"}])
    add(portal, "contact", NAME="C", PHONE=[{"VALUE": "5550000"}])
    got = find(portal, type="PHONE", values=["5550000"]).result
    assert list(got) == ["LEAD"] and len(got["LEAD"]) == 20


@pytest.mark.parametrize(
    ("params", "error", "description"),
    [
        (
            {"values": ["a@b.c"]},
            "Communication type is not defined",
            "Parameter 'type' is required.",
        ),
        (
            {"type": "FAX", "values": ["1"]},
            "Communication type 'FAX' is not supported in current context",
            None,
        ),
        (
            {"type": "EMAIL"},
            "Communication values is not defined",
            "Parameter 'values' is required.",
        ),
        ({"type": "EMAIL", "values": "a@b.c"}, "Communication values is not defined", None),
        (
            {"type": "EMAIL", "values": ["a@b.c"], "entity_type": "DEAL"},
            "Deal is not supported in current context",
            None,
        ),
    ],
)
def test_findbycomm_documented_errors(portal, params, error, description):
    """§4.3: missing/unsupported type, missing or non-array values and DEAL are 400 errors (api-reference/crm/duplicates/crm-duplicate-find-by-comm.md)."""
    answer = find(portal, **params)
    assert answer.status == 400 and answer.body["error"] == error
    if description:
        assert answer.body["error_description"] == description


def test_merge_success_fills_blanks_unions_multifields_and_deletes_others(portal):
    """§4.4: first id survives, blanks filled, multifields unioned, others deleted; ENTITY_IDS are ints (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    root = add(portal, "contact", NAME="Анна", EMAIL=[{"VALUE": "anna@x.example"}])
    twin = add(portal, "contact", NAME="Анна", LAST_NAME="Иванова", EMAIL=[{"VALUE": "ANNA@x.example"}],
               PHONE=[{"VALUE": "+79160000000"}])  # fmt: skip
    assert merge(portal, 3, [root, twin]).result == {"STATUS": "SUCCESS", "ENTITY_IDS": [twin]}
    got = portal.result("crm.contact.get", {"id": root})
    assert got["LAST_NAME"] == "Иванова"
    assert [e["VALUE"] for e in got["EMAIL"]] == ["anna@x.example"]
    assert [p["VALUE"] for p in got["PHONE"]] == ["+79160000000"]
    assert portal.call("crm.contact.get", {"id": twin}).body["error_description"] == "Not found"


def test_merge_form_encoded_params_wrapper(portal):
    """§4.4: the form equivalent params[entityTypeId]=3&params[entityIds][0]=… works (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a, b = add(portal, "contact", NAME="X"), add(portal, "contact", NAME="X")
    assert merge(portal, 3, [a, b], form=True).result == {"STATUS": "SUCCESS", "ENTITY_IDS": [b]}


def test_merge_conflict_changes_nothing(portal):
    """§4.4: different non-empty values → STATUS CONFLICT (200) and every record stays (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a, b = add(portal, "contact", NAME="Анна"), add(portal, "contact", NAME="Борис")
    answer = merge(portal, 3, [a, b])
    assert answer.status == 200 and answer.body["result"]["STATUS"] == "CONFLICT"
    assert portal.result("crm.contact.get", {"id": b})["NAME"] == "Борис"


def test_merge_ignores_system_fields(portal):
    """§4.4: system fields (ASSIGNED_BY_ID, dates, authors) never conflict; the root keeps its own (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a = add(portal, "contact", NAME="Same", ASSIGNED_BY_ID=1)
    b = add(portal, "contact", NAME="Same", ASSIGNED_BY_ID=2)
    assert merge(portal, 3, [a, b]).result["STATUS"] == "SUCCESS"
    assert portal.result("crm.contact.get", {"id": a})["ASSIGNED_BY_ID"] == "1"


def test_merge_drops_missing_ids_and_survivor_is_first_existing(portal):
    """§4.4: non-existent ids are dropped before counting; the first existing id survives (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a, b = add(portal, "lead", TITLE="T"), add(portal, "lead", TITLE="T")
    assert merge(portal, 1, [999, a, b]).result == {"STATUS": "SUCCESS", "ENTITY_IDS": [b]}
    assert portal.result("crm.lead.get", {"id": a})["ID"] == str(a)


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"entityIds": [1, 2]}, "The parameter entityTypeId is required."),
        (
            {"entityTypeId": 3, "entityIds": [998, 999]},
            "The parameter entityIds does not contains valid elements.",
        ),
        (
            {"entityTypeId": 3, "entityIds": "FIRST"},
            "The parameter entityIds must contains at least two elements.",
        ),
        ({"entityTypeId": 5, "entityIds": [1, 2]}, "Entity type 5 is not supported"),
    ],
)
def test_merge_documented_errors_have_code_0(portal, params, description):
    """§4.4: bad input → 400 with numeric error 0 and the documented text (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    first = add(portal, "contact", NAME="Only")
    if params.get("entityIds") == "FIRST":
        params = {**params, "entityIds": [first, 999]}
    answer = portal.call("crm.entity.mergeBatch", {"params": params})
    assert (answer.status, answer.body) == (400, {"error": 0, "error_description": description})


def test_merge_moves_deal_contact_links_activities_and_comments(portal):
    """§4.4: deals, activities and timeline comments of merged-away contacts move to the survivor (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a, b = add(portal, "contact", NAME="K"), add(portal, "contact", NAME="K")
    deal = add(portal, "deal", TITLE="D", CONTACT_IDS=[b])
    act = portal.result("crm.activity.add", {"fields": {
        "OWNER_TYPE_ID": 3, "OWNER_ID": b, "TYPE_ID": 2, "SUBJECT": "Звонок",
        "COMMUNICATIONS": [{"VALUE": "+79160000001", "ENTITY_ID": b, "ENTITY_TYPE_ID": 3}]}})  # fmt: skip
    note = portal.result(
        "crm.timeline.comment.add",
        {"fields": {"ENTITY_ID": b, "ENTITY_TYPE": "contact", "COMMENT": "hi"}},
    )
    assert merge(portal, 3, [a, b]).result["STATUS"] == "SUCCESS"
    assert portal.result("crm.deal.list", {"filter": {"CONTACT_ID": a}})[0]["ID"] == str(deal)
    assert portal.result("crm.activity.get", {"id": act})["OWNER_ID"] == str(a)
    assert portal.result("crm.timeline.comment.get", {"id": note})["ENTITY_ID"] == str(a)


def test_merge_works_for_deals_and_companies(portal):
    """§4.4: deals and companies merge too (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    d1, d2 = add(portal, "deal", TITLE="Взнос"), add(portal, "deal", TITLE="Взнос", COMMENTS="note")
    assert merge(portal, 2, [d1, d2]).result["STATUS"] == "SUCCESS"
    assert portal.result("crm.deal.get", {"id": d1})["COMMENTS"] == "note"
    c1, c2 = add(portal, "company", TITLE="Фонд"), add(portal, "company", TITLE="Фонд")
    assert merge(portal, 4, [c1, c2]).result == {"STATUS": "SUCCESS", "ENTITY_IDS": [c2]}


def test_merge_spa_items(portal, world):
    """§4.4: SPA items (entityTypeId ≥ 128) merge in their item table (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    with world.lock:
        items = world.portal(portal.member_id).table("item:128")
        items["1"] = {
            "id": 1,
            "title": "Семья",
            "createdTime": "2026-01-01T10:00:00+03:00",
            "ufCrm5_1": "",
        }
        items["2"] = {
            "id": 2,
            "title": "Семья",
            "createdTime": "2026-01-02T10:00:00+03:00",
            "ufCrm5_1": "x",
        }
    assert merge(portal, 128, [1, 2]).result == {"STATUS": "SUCCESS", "ENTITY_IDS": [2]}
    with world.lock:
        items = world.portal(portal.member_id).table("item:128")
        assert list(items) == ["1"] and items["1"]["ufCrm5_1"] == "x"


def test_merge_emits_delete_and_update_events(portal, world, installed_app, recorder):
    """§4.4/§6.2: ONCRMCONTACTDELETE for each merged-away id, ONCRMCONTACTUPDATE for the survivor (api-reference/crm/duplicates/crm-entity-merge-batch.md)."""
    a, b = add(portal, "contact", NAME="E"), add(portal, "contact", NAME="E")
    bind(world, portal, installed_app, recorder, "ONCRMCONTACTDELETE", "ONCRMCONTACTUPDATE")
    assert merge(portal, 3, [a, b]).result["STATUS"] == "SUCCESS"
    sent = portal.control("GET", "/deliveries", params={"wait": 1})
    got = {(d["event"], d["form"]["data"]["FIELDS"]["ID"]) for d in sent if d["kind"] == "event"}
    assert got == {("ONCRMCONTACTDELETE", b), ("ONCRMCONTACTUPDATE", a)}
