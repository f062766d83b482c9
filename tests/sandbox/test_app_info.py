"""``app.info`` as the portal and as the OAuth server answer it (bitrix24-rest.md §1.6).

Sources: docs api-reference/common/system/app-info.md (the portal's fields), settings/oauth/simple-way.md
(call it on the authorization server for a trusted answer) and the official SDK's parser,
b24pysdk api/responses/bitrix_app_info_response.py (the OAuth server's shape).
"""

import requests
from b24pysdk.api.responses import BitrixAppInfoResponse

PORTAL_FIELDS = {"ID", "CODE", "VERSION", "STATUS", "INSTALLED", "PAYMENT_EXPIRED", "DAYS", "LANGUAGE_ID",
                 "LICENSE", "LICENSE_TYPE", "LICENSE_FAMILY"}  # fmt: skip


def oauth_app_info(installed_app, token: str) -> requests.Response:
    return requests.post(installed_app.auth["server_endpoint"] + "app.info", json={"auth": token},
                         timeout=10)  # fmt: skip


def test_the_portal_answers_exactly_the_documented_fields(installed_app):
    """docs app-info.md: no client_id, member_id or domain on the portal; INSTALLED is a boolean."""
    info = installed_app.call("app.info").json()["result"]
    assert set(info) == PORTAL_FIELDS
    assert info["INSTALLED"] is True and info["CODE"] == installed_app.app["code"]


def test_the_oauth_server_answers_the_app_the_user_and_the_install(portal, installed_app):
    """simple-way.md + b24pysdk: client_id, scope, expires, user_id and an install object at the top."""
    resp = oauth_app_info(installed_app, installed_app.auth["access_token"])
    assert resp.status_code == 200
    info = resp.json()["result"]
    assert set(info) == {"client_id", "scope", "expires", "user_id", "install"}
    assert info["client_id"] == installed_app.app["client_id"] and info["user_id"] == 1
    assert info["scope"] == "crm,user,placement,bizproc"
    install = info["install"]
    assert set(install) == {"installed", "version", "status", "scope", "domain", "uri",
                            "client_endpoint", "member_id", "member_type"}  # fmt: skip
    assert install["member_id"] == portal.member_id and install["domain"] == portal.portal.domain
    assert install["client_endpoint"] == installed_app.rest_url and install["installed"] is True
    assert isinstance(install["scope"], str) and int(install["version"]) == 1


def test_the_official_sdk_parses_the_oauth_servers_answer(portal, installed_app):
    """b24pysdk BitrixAppInfoResponse.from_dict reads the whole answer (time block included)."""
    body = oauth_app_info(installed_app, installed_app.auth["access_token"]).json()
    parsed = BitrixAppInfoResponse.from_dict(body)
    assert parsed.result.client_id == installed_app.app["client_id"]
    assert parsed.result.install.member_id == portal.member_id
    assert parsed.result.install.version == 1 and parsed.result.expires.tzinfo is not None
    assert parsed.result.scope == ["crm", "user", "placement", "bizproc"]


def test_an_install_not_yet_finished_is_answered_with_installed_false(sandbox, portal, recorder):
    """installation-finish.md: before BX24.installFinish() the app is not installed, yet its token works."""
    app = requests.post(f"{sandbox.url}/_sandbox/apps", json={"handler": recorder.url + "/install",
                                                              "scopes": ["user"]}, timeout=10).json()  # fmt: skip
    portal.control(
        "POST", "/install", json={"client_id": app["client_id"], "flow": "ui", "finish": False}
    )
    form = dict(recorder.wait(1)[0]["form"])
    resp = requests.post(
        form["SERVER_ENDPOINT"] + "app.info", json={"auth": form["AUTH_ID"]}, timeout=10
    )
    assert resp.json()["result"]["install"]["installed"] is False


def test_bad_expired_and_revoked_tokens_are_401(sandbox, portal, installed_app):
    """§1.6/§2.3: invalid_token and expired_token as for REST calls; after uninstall the token is dead."""
    bad = oauth_app_info(installed_app, "0" * 32)
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_token")
    requests.post(f"{sandbox.url}/_sandbox/tokens/expire", json={}, timeout=10)
    expired = oauth_app_info(installed_app, installed_app.auth["access_token"])
    assert (expired.status_code, expired.json()["error"]) == (401, "expired_token")
    missing = requests.post(installed_app.auth["server_endpoint"] + "app.info", json={}, timeout=10)
    assert missing.status_code == 401
    other = requests.post(
        installed_app.auth["server_endpoint"] + "crm.contact.list", json={}, timeout=10
    )
    assert other.status_code == 404


def test_crm_add_without_fields_is_refused(portal):
    """docs crm-contact-add.md: "Parameter 'fields' must be array." (400, empty code); nothing created."""
    for entity in ("contact", "company", "deal", "lead"):
        for params in ({}, {"fields": "x"}, {"fields": ["a"]}):
            answer = portal.call(f"crm.{entity}.add", params)
            assert answer.status == 400, (entity, params, answer.body)
            assert answer.body == {
                "error": "",
                "error_description": "Parameter 'fields' must be array.",
            }
        assert portal.result(f"crm.{entity}.list") == []
    assert portal.result("crm.contact.add", {"fields": {"NAME": "Ольга"}}) == 1
