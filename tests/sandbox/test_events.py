"""Event handlers and event delivery in the sandbox portal (bitrix24-rest.md §6)."""

import time

import pytest
import requests

from b24app.inbound import unflatten

AUTH_KEYS = {"domain", "client_endpoint", "server_endpoint", "member_id", "application_token"}


def error(resp) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def test_bind_get_unbind_round_trip(installed_app, recorder):
    """§6.1 (docs api-reference/events/event-bind.md, event-get.md, event-unbind.md): keys and event name case-insensitive."""
    handler = recorder.url + "/ev"
    assert (
        installed_app.call("event.bind", {"EVENT": "onCrmDealAdd", "Handler": handler}).json()[
            "result"
        ]
        is True
    )
    assert installed_app.call("event.get").json()["result"] == [
        {"event": "ONCRMDEALADD", "handler": handler, "auth_type": "0", "offline": 0}
    ]
    gone = installed_app.call("event.unbind", {"event": "oncrmdealadd", "handler": handler})
    assert gone.json()["result"] == {"count": 1}
    assert installed_app.call("event.get").json()["result"] == []
    assert installed_app.call("event.unbind", {"event": "ONCRMDEALADD", "handler": handler}).json()[
        "result"
    ] == {"count": 0}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event": "ONNOSUCHTHING", "handler": "http://127.0.0.1/x"},
         (400, "ERROR_EVENT_NOT_FOUND", "Event not found")),
        ({"event": "ONTASKADD", "handler": "http://127.0.0.1/x"},  # the app has no task scope
         (400, "ERROR_EVENT_NOT_FOUND", "Event not found")),
        ({"event": "ONCRMDEALADD", "handler": "http://localhost:5000/x"},
         (400, "ERROR_WRONG_HANDLER_URL", "Wrong handler URL")),
        ({"event": "ONCRMDEALADD", "handler": "ftp://files.example.com/x"},
         (400, "ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol")),
        ({"event": "ONCRMDEALADD"}, (400, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty")),
        ({"event": "ONCRMDEALADD", "handler": "http://127.0.0.1/x", "event_type": "sometimes"},
         (400, "ERROR_ARGUMENT", "Value must be one of {online|offline}")),
    ],
)  # fmt: skip
def test_bind_refuses_bad_input(installed_app, params, expected):
    """§6.1 (docs api-reference/events/event-bind.md; rest module HandlerHelper::checkCallback): error codes and texts."""
    assert error(installed_app.call("event.bind", params)) == expected


def test_duplicate_bind_is_handler_already_binded(installed_app, recorder):
    """§6.1 (docs api-reference/events/event-bind.md; rest EventTable::checkUniq): same app+event+handler+user twice."""
    params = {"event": "ONCRMCONTACTADD", "handler": recorder.url + "/ev"}
    installed_app.call("event.bind", params)
    assert error(installed_app.call("event.bind", params)) == (
        400,
        "ERROR_CORE",
        "Unable to set event handler: Handler already binded",
    )
    assert installed_app.call("event.bind", {**params, "auth_type": 2}).status_code == 200


def test_webhook_cannot_bind(portal, recorder):
    """§6.1 (docs api-reference/events/event-bind.md): application context only."""
    answer = portal.call("event.bind", {"event": "ONCRMDEALADD", "handler": recorder.url + "/ev"})
    assert (answer.status, answer.body["error"]) == (403, "WRONG_AUTH_TYPE")


def test_events_lists_names_of_the_apps_scopes(installed_app):
    """§6.1 (docs api-reference/events/events.md): app scopes plus the global ones."""
    names = installed_app.call("events").json()["result"]
    assert {"ONAPPINSTALL", "ONAPPUNINSTALL", "ONCRMDEALADD", "ONCRMDEALMOVETOCATEGORY",
            "ONCRMDYNAMICITEMADD", "ONCRMACTIVITYADD", "ONUSERADD"} <= set(names)  # fmt: skip
    assert "ONTASKADD" not in names
    assert "ONTASKADD" in installed_app.call("events", {"SCOPE": "task"}).json()["result"]


def test_deal_added_by_the_app_is_delivered_form_encoded_with_tokens(
    portal, installed_app, recorder
):
    """§6.2 (docs api-reference/events/index.md): form body, event_handler_id, data[FIELDS][ID], auth with a token."""
    installed_app.call("event.bind", {"event": "ONCRMDEALADD", "handler": recorder.url + "/ev"})
    deal_id = installed_app.call("crm.deal.add", {"fields": {"TITLE": "Гранты"}}).json()["result"]
    hit = recorder.wait(2)[1]
    assert hit["path"] == "/ev" and hit["content_type"] == "application/x-www-form-urlencoded"
    form = unflatten(hit["form"])
    assert form["event"] == "ONCRMDEALADD" and form["data"] == {"FIELDS": {"ID": str(deal_id)}}
    assert form["event_handler_id"] == "1"  # the portal's first handler binding
    assert int(form["ts"]) <= time.time() + 1
    auth = form["auth"]
    assert set(auth) >= AUTH_KEYS and auth["access_token"] and auth["user_id"] == "1"
    assert "refresh_token" not in auth
    assert auth["application_token"] == installed_app.auth["application_token"]
    assert installed_app.call("app.info", token=auth["access_token"]).status_code == 200


def test_automation_change_is_delivered_without_tokens(portal, installed_app, recorder):
    """§6.2 (docs api-reference/events/index.md): a robot/BP change carries no access token in auth."""
    installed_app.call("event.bind", {"event": "ONCRMDEALUPDATE", "handler": recorder.url + "/ev"})
    deal_id = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    done = portal.control("POST", "/automation/update", json={"entity": "deal", "id": deal_id,
                                                               "fields": {"TITLE": "by robot"}})  # fmt: skip
    assert done == {"result": True}
    form = unflatten(recorder.wait(2)[1]["form"])
    assert form["event"] == "ONCRMDEALUPDATE" and form["data"]["FIELDS"]["ID"] == str(deal_id)
    assert set(form["auth"]) == AUTH_KEYS
    deal = portal.result("crm.deal.get", {"id": deal_id})
    assert deal["TITLE"] == "by robot" and deal["MODIFY_BY_ID"] == "0"


def test_automation_update_answers_rest_errors(portal):
    """§4.1 (docs api-reference/crm/deals/crm-deal-update.md): an unknown id is the classic "Not found"."""
    resp = requests.post(f"{portal.sandbox.url}/_sandbox/portals/{portal.member_id}/automation/update",
                         json={"entity": "deal", "id": 999, "fields": {}}, timeout=10)  # fmt: skip
    assert (resp.status_code, resp.json()) == (400, {"error": "", "error_description": "Not found"})


def test_failed_delivery_is_never_retried(portal, installed_app, recorder):
    """§6.2 (docs api-reference/events/index.md): no retries; the one attempt is logged with its status."""
    installed_app.call("event.bind", {"event": "ONCRMLEADADD", "handler": recorder.url + "/ev"})
    recorder.reply = ("boom", 500)
    installed_app.call("crm.lead.add", {"fields": {"TITLE": "lead"}})
    events = [d for d in portal.control("GET", "/logs/deliveries?wait=1") if d["kind"] == "event"]
    assert [(d["event"], d["status"]) for d in events] == [("ONCRMLEADADD", 500)]
    time.sleep(0.5)
    assert [r["path"] for r in recorder.requests].count("/ev") == 1


def test_offline_binding_is_listed_but_not_delivered(portal, installed_app, recorder):
    """§6.3 (docs api-reference/events/event-bind.md, offline-events.md): offline=1, no online delivery."""
    assert installed_app.call(
        "event.bind", {"event": "ONCRMDEALADD", "event_type": "offline"}
    ).json()["result"]
    assert installed_app.call("event.get").json()["result"] == [
        {"event": "ONCRMDEALADD", "connector_id": "", "offline": 1}
    ]
    installed_app.call("crm.deal.add", {"fields": {"TITLE": "quiet"}})
    assert [
        d for d in portal.control("GET", "/logs/deliveries?wait=1") if d["kind"] == "event"
    ] == []
