"""App robots in the sandbox portal: registration, a fired run, the app's answer (bitrix24-rest.md §5)."""

import time

import pytest
import requests

from b24app.inbound import unflatten
from tests.sandbox.test_placements import user_token

INVALID = "ERROR_ACTIVITY_VALIDATION_FAILURE"


def robot(handler: str, **extra) -> dict:
    return {"CODE": "send_invite", "HANDLER": handler, "AUTH_USER_ID": 1, "NAME": {"ru": "Пригласить"},
            "PROPERTIES": {"text": {"Name": "Text", "Type": "text", "Required": "Y"},
                           "kind": {"Name": "Kind", "Type": "select", "Options": {"a": "A", "b": "B"},
                                    "Default": "a"},
                           "note": {"Name": "Note", "Type": "string"}},
            "RETURN_PROPERTIES": {"result_sum": {"Name": "Sum", "Type": "double"}},
            "DOCUMENT_TYPE": ["crm", "CCrmDocumentDeal", "DEAL"], **extra}  # fmt: skip


def error(resp) -> tuple[int, str, str]:
    body = resp.json()
    return resp.status_code, body["error"], body["error_description"]


def fire(portal, client_id: str, **cfg) -> requests.Response:
    return requests.post(f"{portal.sandbox.url}/_sandbox/portals/{portal.member_id}/robots/fire",
                         json={"client_id": client_id, "code": "send_invite", "document": "DEAL_12", **cfg},
                         timeout=10)  # fmt: skip


def runs(portal) -> list[dict]:
    return portal.control("GET", "/robots/runs?wait=1")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"CODE": ""}, "Empty activity code!"),
        ({"CODE": "bad code!"}, "Wrong activity code!"),
        ({"NAME": ""}, "Empty activity NAME!"),
        ({"PROPERTIES": "text"}, "Wrong properties array!"),
        ({"PROPERTIES": {"1st": {"Name": "x"}}}, "Wrong property key (1st)!"),
        ({"PROPERTIES": {"text": {"Type": "string"}}}, "Empty property NAME (text)!"),
        ({"RETURN_PROPERTIES": {"ok": {"Name": ""}}}, "Empty property NAME (ok)!"),
        ({"DOCUMENT_TYPE": ["crm", "CCrmDocumentDeal", "LEAD"]}, "Wrong activity DOCUMENT_TYPE!"),
        ({"FILTER": "deals"}, "Wrong activity FILTER!"),
    ],
)  # fmt: skip
def test_add_validation_errors(installed_app, recorder, change, expected):
    """§5.1 (docs api-reference/bizproc/bizproc-robot/bizproc-robot-add.md; bizproc RestService::validateRobot)."""
    resp = installed_app.call("bizproc.robot.add", {**robot(recorder.url + "/robot"), **change})
    assert error(resp) == (400, INVALID, expected)


def test_add_handler_url_and_empty_data_errors(installed_app):
    """§5.1 (docs api-reference/bizproc/bizproc-robot/bizproc-robot-add.md): URL checks; nothing at all → Empty data!."""
    assert error(installed_app.call("bizproc.robot.add", robot("http://localhost:5000/r"))) == (
        400,
        "ERROR_WRONG_HANDLER_URL",
        "Wrong handler URL",
    )
    assert error(installed_app.call("bizproc.robot.add", robot("ftp://app.example.com/r"))) == (
        400,
        "ERROR_UNSUPPORTED_PROTOCOL",
        "Unsupported handler protocol",
    )
    assert error(installed_app.call("bizproc.robot.add", {})) == (400, INVALID, "Empty data!")


def test_add_list_update_delete(installed_app, recorder):
    """§5.1 (docs api-reference/bizproc/bizproc-robot/bizproc-robot-{add,list,update,delete}.md)."""
    assert (
        installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot")).json()["result"]
        is True
    )
    assert error(installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))) == (
        400,
        "ERROR_ACTIVITY_ALREADY_INSTALLED",
        "Activity or Robot already installed!",
    )
    assert installed_app.call("bizproc.robot.list").json()["result"] == ["send_invite"]
    updated = installed_app.call("bizproc.robot.update", {"CODE": "send_invite",
                                                          "FIELDS": {"HANDLER": recorder.url + "/robot2"}})  # fmt: skip
    assert updated.json()["result"] is True
    assert error(
        installed_app.call("bizproc.robot.update", {"CODE": "send_invite", "FIELDS": {}})
    ) == (400, INVALID, "No fields to update")
    assert error(
        installed_app.call("bizproc.robot.update", {"CODE": "nope", "FIELDS": {"NAME": "x"}})
    ) == (400, "ERROR_ACTIVITY_NOT_FOUND", "Activity or Robot not found!")
    assert (
        installed_app.call("bizproc.robot.delete", {"code": "send_invite"}).json()["result"] is True
    )
    assert error(installed_app.call("bizproc.robot.delete", {"CODE": "send_invite"})) == (
        400,
        "ERROR_ACTIVITY_NOT_FOUND",
        "Activity or Robot not found!",
    )
    assert installed_app.call("bizproc.robot.list").json()["result"] == []


def test_webhook_and_non_admin_are_refused(portal, installed_app, recorder):
    """§5.1 (docs api-reference/bizproc/bizproc-robot/bizproc-robot-add.md): app context and admin only."""
    hook = portal.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    assert (hook.status, hook.body["error"]) == (403, "ACCESS_DENIED")
    assert hook.body["error_description"] == "Access denied! Application context required"
    token = user_token(portal, installed_app, recorder, "2")
    assert error(installed_app.call("bizproc.robot.list", token=token)) == (
        403,
        "ACCESS_DENIED",
        "Access denied!",
    )


def test_fire_posts_the_robot_form_to_the_handler(portal, installed_app, recorder):
    """§5.2 (docs tutorials/bizproc/activity.md; bizproc CBPRestActivity::Execute): the form and its tokens."""
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    run = fire(portal, installed_app.app["client_id"], properties={"text": "Привет", "note": None},
               timeout_duration=600).json()  # fmt: skip
    assert run["status"] == "waiting"
    hit = recorder.wait(2)[1]
    assert hit["path"] == "/robot" and hit["content_type"] == "application/x-www-form-urlencoded"
    form = unflatten(hit["form"])
    assert form["code"] == "send_invite" and form["workflow_id"] == run["workflow_id"]
    assert form["document_id"] == ["crm", "CCrmDocumentDeal", "DEAL_12"]
    assert form["document_type"] == ["crm", "CCrmDocumentDeal", "DEAL"]
    assert form["properties"] == {"text": "Привет", "kind": "a", "note": ""}
    assert form["use_subscription"] == "Y" and form["timeout_duration"] == "600" and form["ts"]
    token = form["event_token"].split("|")
    assert len(token) == 4 and token[0] == run["workflow_id"]
    auth = form["auth"]
    assert auth["user_id"] == "1" and auth["refresh_token"] and auth["access_token"]
    assert auth["application_token"] == installed_app.auth["application_token"]
    assert installed_app.call("app.info", token=auth["access_token"]).status_code == 200


def test_event_send_completes_the_run_with_return_values(portal, installed_app, recorder):
    """§5.3 (docs api-reference/bizproc/bizproc-robot/bizproc-event-send.md): keys matched case-insensitively,
    unknown ignored; a second send for the same token is ACCESS_DENIED."""
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    fire(portal, installed_app.app["client_id"])
    token = unflatten(recorder.wait(2)[1]["form"])["event_token"]
    sent = installed_app.call("bizproc.event.send", {"event_token": token, "return_values": {
        "RESULT_SUM": 5555, "stranger": 1}, "LOG_MESSAGE": "готово"})  # fmt: skip
    assert sent.json()["result"] is True
    (run,) = runs(portal)
    assert (run["status"], run["return_values"], run["log_message"]) == (
        "completed",
        {"result_sum": 5555},
        "готово",
    )
    again = installed_app.call("bizproc.event.send", {"EVENT_TOKEN": token})
    assert error(again) == (403, "ACCESS_DENIED", "Access denied!")


def test_activity_log_keeps_the_step_open(portal, installed_app, recorder):
    """§5.3 (docs api-reference/bizproc/bizproc-activity/bizproc-activity-log.md): a log line, the step stays open."""
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    fire(portal, installed_app.app["client_id"])
    token = unflatten(recorder.wait(2)[1]["form"])["event_token"]
    assert installed_app.call(
        "bizproc.activity.log", {"EVENT_TOKEN": token, "LOG_MESSAGE": "шаг 1"}
    ).json()["result"]
    assert error(installed_app.call("bizproc.activity.log", {"EVENT_TOKEN": token})) == (
        400,
        "ERROR_EMPTY_LOG_MESSAGE",
        "Empty log message!",
    )
    (run,) = runs(portal)
    assert run["status"] == "waiting" and [e["message"] for e in run["log"]] == ["шаг 1"]


def test_wrong_token_is_access_denied(installed_app):
    """§5.3 (docs api-reference/bizproc/bizproc-robot/bizproc-event-send.md): invalid token → 403."""
    resp = installed_app.call(
        "bizproc.event.send", {"EVENT_TOKEN": "x|y|z|forged", "RETURN_VALUES": {}}
    )
    assert error(resp) == (403, "ACCESS_DENIED", "Access denied!")


def test_run_times_out_and_a_late_answer_is_refused(portal, installed_app, recorder):
    """§5.2/§5.3 (docs api-reference/bizproc/bizproc-robot/bizproc-event-send.md): after timeout_duration the token is stale."""
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    fire(portal, installed_app.app["client_id"], timeout_duration=1)
    token = unflatten(recorder.wait(2)[1]["form"])["event_token"]
    time.sleep(1.2)
    assert runs(portal)[0]["status"] == "timeout"
    assert error(installed_app.call("bizproc.event.send", {"EVENT_TOKEN": token})) == (
        403,
        "ACCESS_DENIED",
        "Access denied!",
    )


def test_robot_without_subscription_completes_at_once(portal, installed_app, recorder):
    """§5.1 (docs api-reference/bizproc/bizproc-robot/bizproc-robot-add.md): USE_SUBSCRIPTION N does not wait."""
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot", USE_SUBSCRIPTION="N"))
    assert fire(portal, installed_app.app["client_id"]).json()["status"] == "completed"
    assert unflatten(recorder.wait(2)[1]["form"])["use_subscription"] == "N"


def test_fire_refuses_unknown_robots_and_documents(portal, installed_app, recorder):
    """§5.4 (docs api-reference/bizproc/bizproc-robot/index.md): only a registered robot on a CRM document runs."""
    assert fire(portal, installed_app.app["client_id"]).status_code == 409
    installed_app.call("bizproc.robot.add", robot(recorder.url + "/robot"))
    assert fire(portal, installed_app.app["client_id"], document="DEAL").status_code == 400
