"""Widget placements in the sandbox portal: bind, list, get, unbind and opening one (bitrix24-rest.md §7)."""

import json

import pytest
import requests


def error(resp) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def open_placement(portal, client_id: str, placement: str, **extra) -> requests.Response:
    return requests.post(f"{portal.sandbox.url}/_sandbox/portals/{portal.member_id}/placements/open",
                         json={"client_id": client_id, "placement": placement, **extra}, timeout=10)  # fmt: skip


def user_token(portal, installed_app, recorder, user_id: str) -> str:
    """An app token of another user: open LEFT_MENU as that user and take AUTH_ID from the POST."""
    installed_app.call(
        "placement.bind", {"PLACEMENT": "LEFT_MENU", "HANDLER": recorder.url + "/menu"}
    )
    assert (
        open_placement(
            portal, installed_app.app["client_id"], "LEFT_MENU", user_id=user_id
        ).status_code
        == 200
    )
    return dict(recorder.requests[-1]["form"])["AUTH_ID"]


def test_bind_get_unbind(installed_app, recorder):
    """§7.1 (docs api-reference/widgets/placement-bind.md, placement-get.md, placement-unbind.md)."""
    handler = recorder.url + "/tab"
    bound = installed_app.call("placement.bind", {"placement": "crm_deal_detail_tab", "HANDLER": handler,
                                                  "LANG_ALL": {"ru": {"TITLE": "Пожертвования"},
                                                               "en": {"TITLE": "Donations", "GROUP_NAME": "G"}}})  # fmt: skip
    assert bound.json()["result"] is True
    assert installed_app.call("placement.get").json()["result"] == [{
        "placement": "CRM_DEAL_DETAIL_TAB", "userId": 0, "handler": handler, "options": [],
        "title": "Пожертвования", "description": "",
        "langAll": {"ru": {"TITLE": "Пожертвования", "DESCRIPTION": "", "GROUP_NAME": ""},
                    "en": {"TITLE": "Donations", "DESCRIPTION": "", "GROUP_NAME": "G"}}}]  # fmt: skip
    gone = installed_app.call(
        "placement.unbind", {"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": handler}
    )
    assert gone.json()["result"] == {"count": 2}  # counted once when found and once when deleted
    assert installed_app.call("placement.get").json()["result"] == []


def test_title_defaults_to_the_app_name(installed_app, recorder):
    """§7.1 (docs api-reference/widgets/placement-bind.md): no TITLE/LANG_ALL → the app's name."""
    installed_app.call(
        "placement.bind", {"PLACEMENT": "CRM_DEAL_DETAIL_TOOLBAR", "HANDLER": recorder.url + "/t"}
    )
    row = installed_app.call("placement.get").json()["result"][0]
    assert row["title"] == installed_app.app["name"] and row["langAll"] == {
        "ru": {"TITLE": "Blago24"}
    }


def test_list_shows_codes_of_the_apps_scopes(installed_app):
    """§7.1 (docs api-reference/widgets/placement-list.md): placements of the app's scopes and global ones."""
    codes = installed_app.call("placement.list").json()["result"]
    assert {"CRM_DEAL_DETAIL_TAB", "CRM_DEAL_DETAIL_TOOLBAR", "CRM_CONTACT_LIST_MENU", "LEFT_MENU",
            "REST_APP_URI"} <= set(codes)  # fmt: skip
    assert "TASK_VIEW_TAB" not in codes and "DEFAULT" not in codes


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"PLACEMENT": "CRM_NOWHERE", "HANDLER": "http://127.0.0.1/x"},
         (400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")),
        ({"PLACEMENT": "TASK_VIEW_TAB", "HANDLER": "http://127.0.0.1/x"},  # no task scope
         (400, "ERROR_PLACEMENT_NOT_FOUND", "Placement not found")),
        ({"HANDLER": "http://127.0.0.1/x"}, (400, "ERROR_ARGUMENT", "Argument 'PLACEMENT' is null or empty")),
        ({"PLACEMENT": "DEFAULT", "HANDLER": "http://127.0.0.1/x"}, (400, "ERROR_ARGUMENT", "Wrong value")),
        ({"PLACEMENT": "LEFT_MENU"}, (400, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty")),
        ({"PLACEMENT": "LEFT_MENU", "HANDLER": "http://intranet/x"},
         (400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")),
        ({"PLACEMENT": "LEFT_MENU", "HANDLER": "http://127.0.0.1/x", "USER_ID": 2},
         (400, "ERROR_PLACEMENT_USER_MODE", "User mode is not available.")),
    ],
)  # fmt: skip
def test_bind_refuses_bad_input(installed_app, params, expected):
    """§7.1 (docs api-reference/widgets/placement-bind.md; rest Api\\Placement::bind): codes and texts."""
    assert error(installed_app.call("placement.bind", params)) == expected


def test_missing_placement_names_the_argument(installed_app):
    """§2.3/§7.1 (docs api-reference/widgets/placement-bind.md): ERROR_ARGUMENT carries ``argument``."""
    assert (
        installed_app.call("placement.bind", {"HANDLER": "http://127.0.0.1/x"}).json()["argument"]
        == "PLACEMENT"
    )


def test_repeats_and_single_instance_placements(installed_app, recorder):
    """§7.1 (docs api-reference/widgets/placement-bind.md; rest PlacementTable::checkUniq)."""
    params = {"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": recorder.url + "/tab"}
    installed_app.call("placement.bind", params)
    assert error(installed_app.call("placement.bind", params)) == (
        400,
        "ERROR_CORE",
        "Unable to set placement handler: Handler already binded",
    )
    assert (
        installed_app.call(
            "placement.bind", {**params, "HANDLER": recorder.url + "/tab2"}
        ).status_code
        == 200
    )
    installed_app.call(
        "placement.bind", {"PLACEMENT": "REST_APP_URI", "HANDLER": recorder.url + "/a"}
    )
    second = installed_app.call(
        "placement.bind", {"PLACEMENT": "REST_APP_URI", "HANDLER": recorder.url + "/b"}
    )
    assert error(second) == (400, "ERROR_PLACEMENT_MAX_COUNT", "Placement max count: 1")


def test_webhook_and_non_admin_are_refused(portal, installed_app, recorder):
    """§7.1 (docs api-reference/widgets/placement-bind.md, placement-unbind.md): app context, admin only."""
    answer = portal.call(
        "placement.bind", {"PLACEMENT": "LEFT_MENU", "HANDLER": recorder.url + "/m"}
    )
    assert (answer.status, answer.body["error"]) == (403, "WRONG_AUTH_TYPE")
    assert (
        answer.body["error_description"]
        == "Current authorization type is denied for this method Application context required"
    )
    token = user_token(portal, installed_app, recorder, "2")
    refused = installed_app.call("placement.bind", {"PLACEMENT": "CRM_DEAL_DETAIL_TAB",
                                                    "HANDLER": recorder.url + "/t"}, token=token)  # fmt: skip
    assert error(refused) == (403, "ACCESS_DENIED", "Access denied!")
    assert "LEFT_MENU" in installed_app.call("placement.list", token=token).json()["result"]


def test_open_posts_the_page_request_to_the_bound_handler(portal, installed_app, recorder):
    """§1.2/§7.1 (docs api-reference/widgets/_includes/widget_data.md): PLACEMENT, PLACEMENT_OPTIONS as a JSON string."""
    installed_app.call(
        "placement.bind", {"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": recorder.url + "/tab?x=1"}
    )
    recorder.reply = ("<html>tab</html>", 200)
    opened = open_placement(
        portal, installed_app.app["client_id"], "CRM_DEAL_DETAIL_TAB", options={"ID": "12"}
    )
    page = opened.json()
    assert page["status"] == 200 and page["html"] == "<html>tab</html>"
    hit = recorder.requests[-1]
    assert (
        hit["path"] == "/tab"
        and hit["args"]["x"] == "1"
        and hit["args"]["APP_SID"] == page["app_sid"]
    )
    assert hit["args"]["DOMAIN"] == portal.portal.domain
    form = dict(hit["form"])
    assert form["PLACEMENT"] == "CRM_DEAL_DETAIL_TAB" and json.loads(form["PLACEMENT_OPTIONS"]) == {
        "ID": "12"
    }
    assert form["APPLICATION_TOKEN"] == installed_app.auth["application_token"]
    me = installed_app.call("user.current", token=form["AUTH_ID"]).json()["result"]
    assert me["ID"] == "1"


def test_open_needs_a_bound_placement(portal, installed_app):
    """§7.1 (docs api-reference/widgets/placement-bind.md): nothing to show for an unbound code → 409."""
    resp = open_placement(portal, installed_app.app["client_id"], "CRM_LEAD_DETAIL_TAB")
    assert resp.status_code == 409 and "CRM_LEAD_DETAIL_TAB" in resp.json()["error"]
