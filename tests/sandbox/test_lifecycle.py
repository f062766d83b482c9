"""App lifecycle in the sandbox portal: UI and no-UI install, update, uninstall (bitrix24-rest.md §1)."""

import requests

from b24app.inbound import unflatten

SCOPES = ["crm", "user", "placement", "bizproc"]


def register(sandbox, recorder, ui: bool) -> dict:
    return requests.post(f"{sandbox.url}/_sandbox/apps", json={
        "handler": recorder.url + "/app", "install_url": recorder.url + "/install",
        "scopes": SCOPES, "ui": ui}, timeout=10).json()  # fmt: skip


def app_call(portal, token: str, method: str, params: dict | None = None) -> requests.Response:
    return requests.post(portal.portal.rest_url + method, json={**(params or {}), "auth": token},
                         timeout=10)  # fmt: skip


def installed_flag(portal, token: str) -> bool:
    return app_call(portal, token, "app.info").json()["result"]["INSTALLED"]


def test_ui_flow_posts_the_install_page_and_waits_for_install_finish(sandbox, portal, recorder):
    """§1.1/§1.2 (docs settings/oauth/simple-way.md, settings/app-installation/installation-finish.md):
    query DOMAIN/PROTOCOL/LANG/APP_SID, form AUTH_ID...; not installed until installFinish."""
    app = register(sandbox, recorder, ui=True)
    result = portal.control("POST", "/install", json={"client_id": app["client_id"], "flow": "ui"})
    hit = recorder.wait(1)[0]
    assert hit["path"] == "/install" and hit["content_type"] == "application/x-www-form-urlencoded"
    assert (
        hit["args"]["DOMAIN"] == portal.portal.domain
        and hit["args"]["APP_SID"] == result["app_sid"]
    )
    assert {"PROTOCOL", "LANG"} <= set(hit["args"])
    form = dict(hit["form"])
    assert {"AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "SERVER_ENDPOINT", "APPLICATION_TOKEN",
            "APPLICATION_SCOPE", "member_id", "status"} <= set(form)  # fmt: skip
    assert form["PLACEMENT"] == "DEFAULT" and form["member_id"] == portal.member_id
    assert result["installed"] is False and installed_flag(portal, form["AUTH_ID"]) is False
    finish = requests.post(
        f"{sandbox.url}/_sandbox/sessions/{result['app_sid']}/install-finish", timeout=10
    )
    assert finish.json() == {"installed": True}
    assert installed_flag(portal, form["AUTH_ID"]) is True


def test_ui_flow_finish_true_needs_a_page_calling_install_finish(sandbox, portal, recorder):
    """§1.1 (docs settings/app-installation/installation-finish.md): finish only when the page runs BX24.installFinish()."""
    recorder.reply = ("<html>no installer here</html>", 200)
    first = register(sandbox, recorder, ui=True)
    quiet = portal.control(
        "POST", "/install", json={"client_id": first["client_id"], "flow": "ui", "finish": True}
    )
    assert quiet["installed"] is False
    recorder.reply = ("<script>BX24.init(function(){BX24.installFinish();});</script>", 200)
    second = register(sandbox, recorder, ui=True)
    done = portal.control(
        "POST", "/install", json={"client_id": second["client_id"], "flow": "ui", "finish": True}
    )
    token = dict(recorder.wait(2)[1]["form"])["AUTH_ID"]
    assert done["installed"] is True and installed_flag(portal, token) is True


def test_no_ui_flow_sends_onappinstall_with_refresh_token(sandbox, portal, recorder):
    """§1.3 (docs api-reference/common/events/on-app-install.md): form-encoded ONAPPINSTALL, installed at once."""
    app = register(sandbox, recorder, ui=False)
    assert portal.control(
        "POST", "/install", json={"client_id": app["client_id"], "flow": "event"}
    )["installed"]
    hit = recorder.wait(1)[0]
    assert hit["path"] == "/install" and hit["content_type"] == "application/x-www-form-urlencoded"
    form = unflatten(hit["form"])
    assert form["event"] == "ONAPPINSTALL"
    assert form["data"] == {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"}
    auth = form["auth"]
    assert (
        auth["refresh_token"]
        and auth["application_token"]
        and auth["member_id"] == portal.member_id
    )
    assert (
        auth["client_endpoint"] == portal.portal.rest_url and auth["domain"] == portal.portal.domain
    )
    assert installed_flag(portal, auth["access_token"]) is True


def test_events_and_placements_wait_for_install_finish(sandbox, portal, recorder):
    """§1.1 (docs settings/app-installation/installation-finish.md): no events, no placements before installFinish."""
    app = register(sandbox, recorder, ui=True)
    sid = portal.control("POST", "/install", json={"client_id": app["client_id"], "flow": "ui"})[
        "app_sid"
    ]
    token = dict(recorder.wait(1)[0]["form"])["AUTH_ID"]
    assert (
        app_call(
            portal, token, "event.bind", {"event": "ONCRMDEALADD", "handler": recorder.url + "/ev"}
        ).status_code
        == 200
    )
    assert (
        app_call(
            portal,
            token,
            "placement.bind",
            {"PLACEMENT": "LEFT_MENU", "HANDLER": recorder.url + "/menu"},
        ).status_code
        == 200
    )
    app_call(portal, token, "crm.deal.add", {"fields": {"TITLE": "before"}})
    assert portal.control("GET", "/logs/deliveries?wait=1") == []
    opened = requests.post(f"{sandbox.url}/_sandbox/portals/{portal.member_id}/placements/open",
                           json={"client_id": app["client_id"], "placement": "LEFT_MENU"}, timeout=10)  # fmt: skip
    assert opened.status_code == 409
    requests.post(f"{sandbox.url}/_sandbox/sessions/{sid}/install-finish", timeout=10)
    app_call(portal, token, "crm.deal.add", {"fields": {"TITLE": "after"}})
    assert [r["path"] for r in recorder.wait(2)] == ["/install", "/ev"]
    assert unflatten(recorder.requests[1]["form"])["data"]["FIELDS"]["ID"] == "2"


def test_update_sends_onappupdate_with_a_new_application_token(
    sandbox, portal, installed_app, recorder
):
    """§1.3 (docs api-reference/common/events/on-app-update.md): ONAPPUPDATE to a bound handler, new application_token."""
    installed_app.call("event.bind", {"event": "onAppUpdate", "handler": recorder.url + "/update"})
    client_id = installed_app.app["client_id"]
    sent = requests.post(
        f"{sandbox.url}/_sandbox/apps/{client_id}/update", json={"version": 2}, timeout=10
    )
    assert sent.json() == {"sent": 1, "version": 2}
    form = unflatten(recorder.wait(2)[1]["form"])
    assert form["event"] == "ONAPPUPDATE" and form["data"]["VERSION"] == "2"
    assert form["data"]["PREVIOUS_VERSION"] == "1"
    assert form["auth"]["application_token"] != installed_app.auth["application_token"]
    assert form["auth"]["access_token"]  # the bound handler gets a token of the installing admin


def test_uninstall_sends_onappuninstall_without_tokens_and_revokes(
    sandbox, portal, installed_app, recorder
):
    """§1.4 (docs api-reference/common/events/on-app-uninstall.md, settings/app-uninstallation.md):
    CLEAN 1, no tokens, options gone, the old access token then gets 401."""
    installed_app.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": recorder.url + "/bye"})
    installed_app.call("app.option.set", {"options": {"k": "v"}})
    portal.control(
        "POST", "/uninstall", json={"client_id": installed_app.app["client_id"], "clean": True}
    )
    form = unflatten(recorder.wait(2)[1]["form"])
    assert form["event"] == "ONAPPUNINSTALL" and form["data"] == {"LANGUAGE_ID": "ru", "CLEAN": "1"}
    assert set(form["auth"]) == {
        "domain",
        "client_endpoint",
        "server_endpoint",
        "member_id",
        "application_token",
    }
    revoked = installed_app.call("app.info")
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_token"
    portal.control(
        "POST", "/install", json={"client_id": installed_app.app["client_id"], "flow": "event"}
    )
    fresh = unflatten(recorder.wait(3)[2]["form"])["auth"]["access_token"]
    assert installed_app.call("app.option.get", token=fresh).json()["result"] == []
    assert installed_app.call("event.get", token=fresh).json()["result"] == []


def test_uninstall_without_clean_says_clean_0(sandbox, portal, installed_app, recorder):
    """§1.4 (docs api-reference/common/events/on-app-uninstall.md): CLEAN 0 when the admin keeps the data."""
    installed_app.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": recorder.url + "/bye"})
    portal.control(
        "POST", "/uninstall", json={"client_id": installed_app.app["client_id"], "clean": False}
    )
    assert unflatten(recorder.wait(2)[1]["form"])["data"]["CLEAN"] == "0"
