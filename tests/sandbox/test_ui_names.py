"""The sandbox portal UI (the demo's first screen) names things as Bitrix24 does: pipelines, stages and
smart processes by name, a merged-away record as «объединён с #N» (crm.entity.mergeBatch,
bitrix24-rest.md §4.4), and ``/_sandbox/`` lists its control API."""

import requests


def test_pipelines_stages_and_smart_processes_by_name(sandbox, portal):
    """A second pipeline «Гранты» with its stages, the default pipeline's stage names, a smart process's
    title with an item's stage name: none as a bare id."""
    cat = portal.result("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Гранты"}})[
        "category"
    ]
    portal.result("crm.deal.add", {"fields": {"TITLE": "Пожертвование", "STAGE_ID": "NEW"}})
    portal.result("crm.deal.add", {"fields": {"TITLE": "Грант", "CATEGORY_ID": cat["id"]}})
    spa = portal.result("crm.type.add", {"fields": {"title": "Мероприятия фонда"}})["type"]
    portal.result(
        "crm.item.add", {"entityTypeId": spa["entityTypeId"], "fields": {"title": "Семинар"}}
    )
    html = requests.get(f"{sandbox.url}/portal/{portal.member_id}/", timeout=10).text
    assert (
        "Воронка «Гранты»" in html and "Воронка «General»" in html
    )  # the default pipeline's own name
    stage_name = portal.result(
        "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW"}}
    )[0]["NAME"]
    assert f'<div class="stage" title="NEW">{stage_name} ' in html
    assert f'data-type-id="{spa["entityTypeId"]}">Мероприятия фонда' in html
    assert "Семинар" in html


def test_a_merged_away_record_says_where_it_went(sandbox, portal):
    """After a merge the merged-away contact's page says «объединён с #root» and links there (not 404);
    an id that never existed is still a 404 page that says so."""
    a = portal.result("crm.contact.add", {"fields": {"NAME": "Мария", "LAST_NAME": "Иванова"}})
    b = portal.result("crm.contact.add", {"fields": {"NAME": "Мария", "LAST_NAME": "Иванова"}})
    merged = portal.result(
        "crm.entity.mergeBatch", {"params": {"entityTypeId": 3, "entityIds": [a, b]}}
    )
    assert merged["STATUS"] == "SUCCESS"
    page = requests.get(f"{sandbox.url}/portal/{portal.member_id}/record/contact/{b}", timeout=10)
    assert page.status_code == 200 and 'объединён с <a id="merged-into"' in page.text
    assert f'/record/contact/{a}">#{a}</a>' in page.text
    never = requests.get(
        f"{sandbox.url}/portal/{portal.member_id}/record/contact/999999", timeout=10
    )
    assert never.status_code == 404 and "такой записи нет" in never.text


def test_the_control_api_lists_itself(sandbox):
    """``/_sandbox/``: a table of the control routes for a browser, the same list as JSON for a script."""
    page = requests.get(f"{sandbox.url}/_sandbox/", headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 200 and "/_sandbox/portals/&lt;member_id&gt;/faults" in page.text
    routes = requests.get(f"{sandbox.url}/_sandbox/", timeout=10).json()["routes"]
    faults = next(r for r in routes if r["path"] == "/_sandbox/portals/<member_id>/faults")
    assert faults["methods"] == ["POST"] and "fail" in faults["doc"]
