"""OAuth server conformance (bitrix24-rest.md §1.5; docs settings/oauth/auto-renewal.md, error-codes.md)."""

import requests


def refresh(sandbox, app, token):
    return requests.get(f"{sandbox.url}/oauth/token/", params={
        "grant_type": "refresh_token", "client_id": app["client_id"],
        "client_secret": app["client_secret"], "refresh_token": token}, timeout=10)  # fmt: skip


def test_refresh_rotates_the_refresh_token(sandbox, portal, installed_app):
    """§1.5: a refresh returns a new pair; the used refresh token stops working at once."""
    old = installed_app.auth["refresh_token"]
    first = refresh(sandbox, installed_app.app, old)
    assert first.status_code == 200
    body = first.json()
    assert set(body) >= {"access_token", "refresh_token", "expires", "expires_in", "client_endpoint",
                         "server_endpoint", "member_id", "scope", "status", "domain", "user_id"}  # fmt: skip
    assert body["refresh_token"] != old and body["member_id"] == portal.member_id
    assert body["client_endpoint"] == installed_app.rest_url and body["expires_in"] == 3600
    again = refresh(sandbox, installed_app.app, old)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert installed_app.call("user.current", token=body["access_token"]).status_code == 200
    assert refresh(sandbox, installed_app.app, body["refresh_token"]).status_code == 200


def test_expired_access_token_then_refresh_then_success(sandbox, installed_app):
    """§1.5: expired_token (401) → refresh → the call succeeds with the new token."""
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    assert installed_app.call("user.current").json()["error"] == "expired_token"
    new = refresh(sandbox, installed_app.app, installed_app.auth["refresh_token"]).json()
    assert (
        installed_app.call("user.current", token=new["access_token"]).json()["result"]["ID"] == "1"
    )


def test_refresh_errors(sandbox, installed_app):
    """§1.5: wrong secret → invalid_client; no refresh_token → invalid_request; wrong grant → invalid_request."""
    app = dict(installed_app.app, client_secret="wrong")
    bad = refresh(sandbox, app, installed_app.auth["refresh_token"])
    assert bad.json()["error"] == "invalid_client"
    missing = requests.get(
        f"{sandbox.url}/oauth/token/", params={"grant_type": "refresh_token"}, timeout=10
    )
    assert missing.json() == {
        "error": "invalid_request",
        "error_description": 'No "refresh_token" parameter found',
    }
    grant = requests.get(
        f"{sandbox.url}/oauth/token/", params={"grant_type": "password"}, timeout=10
    )
    assert grant.json()["error"] == "invalid_request"


def test_access_token_lifetime_is_configurable(sandbox, portal, recorder):
    """§1.5: 3600 s by default; the sandbox can be reset with a short lifetime for expiry tests."""
    import time

    from b24app.inbound import unflatten

    requests.post(f"{sandbox.url}/_sandbox/reset", json={"access_ttl": 1}, timeout=10)
    member = requests.post(
        f"{sandbox.url}/_sandbox/portals", json={"limits": False}, timeout=10
    ).json()
    app = requests.post(f"{sandbox.url}/_sandbox/apps", json={"handler": recorder.url, "ui": False,
                                                              "scopes": ["user"]}, timeout=10).json()  # fmt: skip
    requests.post(f"{sandbox.url}/_sandbox/portals/{member['member_id']}/install",
                  json={"client_id": app["client_id"], "flow": "event"}, timeout=10)  # fmt: skip
    auth = unflatten(recorder.wait(1)[0]["form"])["auth"]
    assert auth["expires_in"] == "1"
    time.sleep(1.2)
    resp = requests.post(
        auth["client_endpoint"] + "user.current", json={"auth": auth["access_token"]}, timeout=10
    )
    assert resp.json()["error"] == "expired_token"
