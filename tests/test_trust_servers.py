"""The OAuth-server allow-list (B24APP_OAUTH_SERVERS): whole-URL comparison, defaults (bitrix24-rest.md §1.5)."""

import pytest

from b24app.config import Settings
from b24app.trust import server_for, servers

ALLOWED = servers(
    "https://oauth.bitrix.info, https://oauth.bitrix24.tech/ ,http://127.0.0.1:8080/oauth-server"
)


def test_the_default_allow_list_is_bitrix24s_two_servers():
    """§1.5: oauth.bitrix.info and oauth.bitrix24.tech; token and REST endpoints derived from the base."""
    default = servers(Settings().oauth_servers)
    assert [s.base for s in default] == ["https://oauth.bitrix.info", "https://oauth.bitrix24.tech"]
    assert default[0].token_url == "https://oauth.bitrix.info/oauth/token/"
    assert default[1].rest_url == "https://oauth.bitrix24.tech/rest/"


@pytest.mark.parametrize("endpoint, base", [
    ("https://oauth.bitrix.info/rest/", "https://oauth.bitrix.info"),
    ("https://OAUTH.bitrix.info:443/rest", "https://oauth.bitrix.info"),
    ("https://oauth.bitrix24.tech/rest/", "https://oauth.bitrix24.tech"),
    ("http://127.0.0.1:8080/oauth-server/rest/", "http://127.0.0.1:8080/oauth-server"),
])  # fmt: skip
def test_an_allowed_servers_rest_endpoint_is_found(endpoint, base):
    assert server_for(endpoint, ALLOWED).base == base


@pytest.mark.parametrize("endpoint", [
    "https://oauth.bitrix.info.evil.example/rest/", "http://oauth.bitrix.info/rest/",
    "https://oauth.bitrix.info:8443/rest/", "https://evil.example/oauth.bitrix.info/rest/",
    "https://oauth.bitrix.info/rest/../../evil/", "https://oauth.bitrix.info/", "http://127.0.0.1:8081/oauth-server/rest/",
    "http://127.0.0.1:8080/rest/", "", "oauth.bitrix.info/rest/", "https://[::1/rest/", "javascript:alert(1)",
])  # fmt: skip
def test_anything_else_is_not_trusted(endpoint):
    assert server_for(endpoint, ALLOWED) is None


def test_one_server_down_does_not_block_a_token_of_the_other():
    """A token checked at every allowed server: the first one's 503 does not stop the second's answer."""
    import responses

    from b24app.trust import confirm

    answer = {"result": {"client_id": "app.1", "user_id": 1, "scope": "crm", "expires": "2026-12-01T21:00:00+03:00",
                         "install": {"installed": True, "version": "3", "status": "F", "scope": "crm",
                                     "domain": "fund.bitrix24.ru", "uri": "https://fund.bitrix24.ru",
                                     "client_endpoint": "https://fund.bitrix24.ru/rest/", "member_id": "m1",
                                     "member_type": "..."}}}  # fmt: skip
    with responses.RequestsMock() as rsps:
        rsps.post("https://oauth.bitrix.info/rest/app.info", status=503, body="down")
        rsps.post("https://oauth.bitrix24.tech/rest/app.info", json=answer)
        info = confirm("token", servers("https://oauth.bitrix.info,https://oauth.bitrix24.tech"))
    assert (info.member_id, info.version, info.server.base) == (
        "m1",
        3,
        "https://oauth.bitrix24.tech",
    )
