"""The app's minimal install handler against the sandbox portal and a real Redis (bitrix24-rest.md §1)."""

import requests

from b24app.portals import PortalRegistry


def register(sandbox, app_server, ui=True):
    return requests.post(f"{sandbox.url}/_sandbox/apps", json={
        "handler": app_server.url + "/app", "install_url": app_server.url + "/install",
        "scopes": ["crm", "user"], "ui": ui}, timeout=10).json()  # fmt: skip


def test_ui_flow_stores_tokens_and_finishes(sandbox, portal, app_server):
    """§1.1/§1.2: the install page stores the portal's tokens and answers a page calling BX24.installFinish()."""
    app = register(sandbox, app_server)
    result = portal.control(
        "POST", "/install", json={"client_id": app["client_id"], "flow": "ui", "finish": True}
    )
    assert result["status"] == 200 and "BX24.installFinish()" in result["html"]
    assert f"{sandbox.url}/bx24.js" in result["html"]
    assert result["installed"] is True
    record = PortalRegistry(app_server.redis).get(portal.member_id)
    assert record.domain == portal.portal.domain
    assert record.client_endpoint == portal.portal.rest_url
    me = requests.post(
        record.client_endpoint + "user.current", json={"auth": record.access_token}, timeout=10
    )
    assert me.json()["result"]["NAME"] == "Анна"


def test_no_ui_flow_onappinstall_stores_tokens(sandbox, portal, app_server):
    """§1.3: ONAPPINSTALL (form-encoded, auth[...] with refresh_token) registers the portal."""
    app = register(sandbox, app_server, ui=False)
    result = portal.control(
        "POST", "/install", json={"client_id": app["client_id"], "flow": "event"}
    )
    assert result == {"status": 200, "installed": True}
    record = PortalRegistry(app_server.redis).get(portal.member_id)
    assert record.installed and record.refresh_token and record.application_token


def test_install_with_missing_fields_is_400_naming_them(app_server):
    """Bad input gets a 4xx that names the problem, never a 500."""
    resp = requests.post(app_server.url + "/install", data={"DOMAIN": "x.bitrix24.ru"}, timeout=10)
    assert resp.status_code == 400
    assert "AUTH_ID" in resp.json()["message"] and "member_id" in resp.json()["message"]


def test_app_page_refuses_a_forged_application_token(sandbox, portal, app_server):
    """§1.3: the app page checks member_id and application_token; a mismatch is 401."""
    app = register(sandbox, app_server)
    portal.control(
        "POST", "/install", json={"client_id": app["client_id"], "flow": "ui", "finish": True}
    )
    record = PortalRegistry(app_server.redis).get(portal.member_id)
    form = {"AUTH_ID": record.access_token, "REFRESH_ID": "r", "member_id": portal.member_id,
            "APPLICATION_TOKEN": "forged", "PLACEMENT": "DEFAULT"}  # fmt: skip
    resp = requests.post(app_server.url + "/app?DOMAIN=x&APP_SID=1", data=form, timeout=10)
    assert resp.status_code == 401
    form["APPLICATION_TOKEN"] = record.application_token
    assert (
        requests.post(app_server.url + "/app?DOMAIN=x&APP_SID=1", data=form, timeout=10).status_code
        == 200
    )


def test_healthz_pings_redis(app_server):
    """/healthz answers ok when Redis answers."""
    assert requests.get(app_server.url + "/healthz", timeout=10).json() == {"ok": True}
