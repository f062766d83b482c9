"""crm.status.* conformance: reference lists and stages (bitrix24-rest.md §4.6)."""

import pytest

AFTER_FINAL = ("Cannot create more stages after the final stage because the final successful stage already "
               "exists. Try using sort order values less than that of the final stage.")  # fmt: skip


def statuses(portal, entity_id: str) -> list[dict]:
    return portal.result(
        "crm.status.list", {"filter": {"ENTITY_ID": entity_id}, "order": {"SORT": "ASC"}}
    )


def add_status(portal, form: bool = False, **fields):
    return portal.call("crm.status.add", {"fields": fields}, form=form)


def new_pipeline(portal, name: str = "Волонтёры") -> int:
    return portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": name}})[
        "category"
    ]["id"]


def test_default_deal_stages_as_documented(portal):
    """§4.6: DEAL_STAGE holds NEW…APOLOGY with string SORT, SYSTEM, null CATEGORY_ID (api-reference/crm/status/crm-status-list.md)."""
    rows = statuses(portal, "DEAL_STAGE")
    assert [(r["STATUS_ID"], r["SORT"], r["SYSTEM"]) for r in rows] == [
        ("NEW", "10", "Y"), ("PREPARATION", "20", "N"), ("PREPAYMENT_INVOICE", "30", "N"), ("EXECUTING", "40", "N"),
        ("FINAL_INVOICE", "50", "N"), ("WON", "60", "Y"), ("LOSE", "70", "Y"), ("APOLOGY", "80", "N")]  # fmt: skip
    assert all(isinstance(r["ID"], str) and r["CATEGORY_ID"] is None for r in rows)


def test_list_semantics_null_in_progress_and_extra(portal):
    """§4.6: in-progress stages have SEMANTICS null; EXTRA.SEMANTICS is process/success/failure/apology (crm-status-list.md)."""
    rows = {r["STATUS_ID"]: r for r in statuses(portal, "DEAL_STAGE")}
    assert (rows["NEW"]["SEMANTICS"], rows["NEW"]["EXTRA"]["SEMANTICS"]) == (None, "process")
    assert (rows["WON"]["SEMANTICS"], rows["WON"]["EXTRA"]["SEMANTICS"]) == ("S", "success")
    assert (rows["LOSE"]["SEMANTICS"], rows["LOSE"]["EXTRA"]["SEMANTICS"]) == ("F", "failure")
    assert rows["APOLOGY"]["EXTRA"]["SEMANTICS"] == "apology"


def test_default_lead_stages_and_reference_lists(portal):
    """§4.1/§4.6: STATUS holds NEW, IN_PROCESS, PROCESSED, CONVERTED (S), JUNK (F); SOURCE, CONTACT_TYPE... are seeded (crm-status-list.md)."""
    lead = {r["STATUS_ID"]: r["SEMANTICS"] for r in statuses(portal, "STATUS")}
    assert lead == {
        "NEW": None,
        "IN_PROCESS": None,
        "PROCESSED": None,
        "CONVERTED": "S",
        "JUNK": "F",
    }
    for entity_id, code in (("SOURCE", "CALL"), ("CONTACT_TYPE", "CLIENT"), ("COMPANY_TYPE", "CUSTOMER"),
                            ("DEAL_TYPE", "SALE"), ("INDUSTRY", "IT"), ("HONORIFIC", "HNR_RU_1")):  # fmt: skip
        row = next(r for r in statuses(portal, entity_id) if r["STATUS_ID"] == code)
        assert row["SYSTEM"] == "Y" and "EXTRA" not in row


def test_add_returns_int_id_and_get_prints_row(portal):
    """§4.6: add → int id (SORT default 10); get prints the row without EXTRA (crm-status-add.md, crm-status-get.md)."""
    new_id = add_status(portal, ENTITY_ID="SOURCE", STATUS_ID="TELEGRAM", NAME="Телеграм").result
    assert isinstance(new_id, int)
    got = portal.result("crm.status.get", {"id": new_id})
    assert got == {"ID": str(new_id), "ENTITY_ID": "SOURCE", "STATUS_ID": "TELEGRAM", "NAME": "Телеграм",
                   "NAME_INIT": "", "SORT": "10", "SYSTEM": "N", "CATEGORY_ID": None, "COLOR": None,
                   "SEMANTICS": None}  # fmt: skip


def test_pipeline_stage_gets_prefix_once(portal):
    """§4.6: DEAL_STAGE_<cat> stages get prefix C<cat>: automatically, and not twice (crm-status-add.md)."""
    cat = new_pipeline(portal)
    first = add_status(
        portal, ENTITY_ID=f"DEAL_STAGE_{cat}", STATUS_ID="DECISION", NAME="Решение", SORT=45
    ).result
    second = add_status(portal, form=True, ENTITY_ID=f"DEAL_STAGE_{cat}", STATUS_ID=f"C{cat}:CHECK",
                        NAME="Проверка", SORT=46).result  # fmt: skip
    got = [portal.result("crm.status.get", {"id": i}) for i in (first, second)]
    assert [g["STATUS_ID"] for g in got] == [f"C{cat}:DECISION", f"C{cat}:CHECK"]
    assert got[0]["CATEGORY_ID"] == str(cat)


def test_new_pipeline_has_default_stages(portal):
    """§4.5: a new pipeline is filled with C<id>:NEW … C<id>:WON, C<id>:LOSE, C<id>:APOLOGY (api-reference/crm/universal/category/crm-category-add.md)."""
    cat = new_pipeline(portal)
    codes = [r["STATUS_ID"] for r in statuses(portal, f"DEAL_STAGE_{cat}")]
    assert codes[0] == f"C{cat}:NEW" and codes[-3:] == [
        f"C{cat}:WON",
        f"C{cat}:LOSE",
        f"C{cat}:APOLOGY",
    ]


@pytest.mark.parametrize(
    ("entity_id", "code"),
    [
        ("DEAL_STAGE", "БУКВЫ"),
        ("DEAL_STAGE", "A" * 23),
        ("STATUS", "B" * 22),
        ("STATUS", "with space"),
    ],
)
def test_stage_code_length_and_charset(portal, entity_id, code):
    """§4.6: stage STATUS_ID ≤ 21 (STATUS) / 22 (DEAL_STAGE) chars of [A-Za-z0-9_-] (crm-status-add.md)."""
    answer = add_status(portal, ENTITY_ID=entity_id, STATUS_ID=code, NAME="x", SORT=5)
    assert answer.status == 400


def test_other_lists_accept_any_characters(portal):
    """§4.6: other lists take up to 50 characters of any kind (crm-status-add.md)."""
    assert add_status(portal, ENTITY_ID="SOURCE", STATUS_ID="Сайт фонда", NAME="x").status == 200


def test_in_progress_stage_after_won_is_refused(portal):
    """§4.6: an in-progress stage sorted after the success stage is refused; a failure stage is fine (crm-status-add.md)."""
    late = add_status(portal, ENTITY_ID="DEAL_STAGE", STATUS_ID="LATE", NAME="Поздно", SORT=65)
    assert late.body == {"error": "", "error_description": AFTER_FINAL}
    assert add_status(portal, ENTITY_ID="DEAL_STAGE", STATUS_ID="REFUSED", NAME="Отказ", SORT=90,
                      SEMANTICS="F").status == 200  # fmt: skip


def test_failure_stage_before_won_is_refused(portal):
    """§4.6: a failure stage sorted before the success stage is refused (observed: "Cannot add semantics with the specified sort order"; crm-status-add.md "Restrictions for SORT")."""
    early = add_status(
        portal, ENTITY_ID="DEAL_STAGE", STATUS_ID="EARLY_FAIL", NAME="x", SORT=55, SEMANTICS="F"
    )
    assert early.body == {
        "error": "",
        "error_description": "Cannot add semantics with the specified sort order",
    }


def test_duplicate_status_id_is_error_core(portal):
    """§4.6: the same STATUS_ID twice in a list → ERROR_CORE (crm-status-add.md)."""
    answer = add_status(portal, ENTITY_ID="SOURCE", STATUS_ID="CALL", NAME="Звонок")
    assert answer.body == {
        "error": "ERROR_CORE",
        "error_description": "The specified status ID already exists.",
    }


def test_add_errors(portal):
    """§4.6: missing ENTITY_ID/STATUS_ID, unknown list, missing NAME, non-object fields (crm-status-add.md)."""
    assert (
        add_status(portal, STATUS_ID="X", NAME="x").body["error_description"]
        == "The field ENTITY_ID is required."
    )
    both = add_status(portal, NAME="x").body["error_description"]
    assert "The field ENTITY_ID is required." in both and "The field STATUS_ID is required." in both
    unknown = add_status(portal, ENTITY_ID="DEAL_STAGE_999", STATUS_ID="X", NAME="x").body
    assert unknown == {"error": "", "error_description": "Specified entity type is not supported."}
    assert (
        add_status(portal, ENTITY_ID="SOURCE", STATUS_ID="X").body["error_description"]
        == "The field Title is required."
    )
    assert (
        portal.call("crm.status.add", {"fields": "x"}).body["error_description"]
        == "Parameter 'fields' must be array."
    )


def test_update_changes_name_sort_color_only(portal):
    """§4.6: update changes NAME, SORT, COLOR; STATUS_ID is immutable (crm-status-update.md)."""
    new_id = add_status(portal, ENTITY_ID="SOURCE", STATUS_ID="FAIR", NAME="Ярмарка").result
    fields = {"NAME": "Выставка", "SORT": 70, "COLOR": "#FFA900", "STATUS_ID": "OTHER_ID"}
    assert portal.result("crm.status.update", {"id": new_id, "fields": fields}) is True
    got = portal.result("crm.status.get", {"id": new_id})
    assert (got["NAME"], got["SORT"], got["COLOR"], got["STATUS_ID"]) == (
        "Выставка",
        "70",
        "#FFA900",
        "FAIR",
    )


def test_get_update_delete_unknown_id(portal):
    """§4.6: unknown id → "Status is not found."; a bad id → "Invalid identifier." (crm-status-get.md, crm-status-delete.md)."""
    assert (
        portal.call("crm.status.get", {"id": 99999}).body["error_description"]
        == "Status is not found."
    )
    assert (
        portal.call("crm.status.delete", {"id": "x"}).body["error_description"]
        == "Invalid identifier."
    )


def test_system_value_needs_forced_to_delete(portal):
    """§4.6: SYSTEM=Y rows need params.FORCED=Y to be deleted (crm-status-delete.md)."""
    call_id = next(r["ID"] for r in statuses(portal, "SOURCE") if r["STATUS_ID"] == "CALL")
    refused = portal.call("crm.status.delete", {"id": call_id})
    assert refused.body["error_description"].startswith(
        "CRM System Status can be deleted only if parameter FORCED"
    )
    assert (
        portal.result("crm.status.delete", {"id": call_id, "params": {"FORCED": "Y"}}, form=True)
        is True
    )
    assert "CALL" not in {r["STATUS_ID"] for r in statuses(portal, "SOURCE")}


def test_stage_with_deals_cannot_be_deleted(portal):
    """§4.6: a stage still holding deals is refused (crm-status-delete.md)."""
    portal.result("crm.deal.add", {"fields": {"STAGE_ID": "PREPARATION"}})
    prep = next(r["ID"] for r in statuses(portal, "DEAL_STAGE") if r["STATUS_ID"] == "PREPARATION")
    answer = portal.call("crm.status.delete", {"id": prep})
    assert answer.body == {
        "error": "",
        "error_description": "There are active items in this status.",
    }


def test_deleted_first_stage_moves_new_deals_default(portal):
    """§4.1/§4.6: a new deal starts at the first remaining stage of its pipeline (crm-deal-add.md)."""
    cat = new_pipeline(portal)
    new = next(
        r["ID"] for r in statuses(portal, f"DEAL_STAGE_{cat}") if r["STATUS_ID"] == f"C{cat}:NEW"
    )
    portal.result("crm.status.delete", {"id": new, "params": {"FORCED": "Y"}})
    deal = portal.result("crm.deal.add", {"fields": {"CATEGORY_ID": cat}})
    assert portal.result("crm.deal.get", {"id": deal})["STAGE_ID"] == f"C{cat}:PREPARATION"


def test_entity_types_lists_pipelines(portal):
    """§4.6: crm.status.entity.types lists STATUS, SOURCE..., DEAL_STAGE and DEAL_STAGE_<cat> with PREFIX (crm-status-entity-types.md)."""
    cat = new_pipeline(portal, "Гранты")
    types = {t["ID"]: t for t in portal.result("crm.status.entity.types")}
    assert {"STATUS", "SOURCE", "CONTACT_TYPE", "DEAL_STAGE", "HONORIFIC"} <= set(types)
    assert types["DEAL_STAGE"]["SEMANTIC_INFO"]["FINAL_SUCCESS_FIELD"] == "WON"
    piped = types[f"DEAL_STAGE_{cat}"]
    assert (piped["PREFIX"], piped["NAME"], piped["PARENT_ID"]) == (
        f"C{cat}",
        "Гранты",
        "DEAL_STAGE",
    )


def test_entity_items_lists_name_sort_code(portal):
    """§4.6: crm.status.entity.items {entityId} → NAME, int SORT, STATUS_ID in order (crm-status-entity-items.md)."""
    items = portal.result("crm.status.entity.items", {"entityId": "DEAL_STAGE"})
    assert items[0] == {"NAME": "New", "SORT": 10, "STATUS_ID": "NEW"} and len(items) == 8
    assert portal.call("crm.status.entity.items", {"entityId": "NOPE"}).status == 400


def test_fields_describes_the_row(portal):
    """§4.6: crm.status.fields describes ENTITY_ID, STATUS_ID (required, immutable), SEMANTICS, EXTRA (crm-status-fields.md)."""
    described = portal.result("crm.status.fields")
    assert described["STATUS_ID"]["isRequired"] and described["STATUS_ID"]["isImmutable"]
    assert described["EXTRA"]["type"] == "crm_status_extra"
