"""Who a Bitrix24 request comes from, confirmed with Bitrix24 itself (bitrix24-rest.md §1.5–§1.6).

A token is confirmed only at an OAuth server on the deployment's allow-list (``B24APP_OAUTH_SERVERS``),
never at an endpoint the request names. The server's ``app.info`` says which app, portal (member_id,
domain, REST endpoint), user and installed version a token belongs to; the portal's own ``app.info``
says none of that, so a token checked there proves nothing. The portal's REST endpoint the app ever
calls is the one the OAuth server confirms, so no request can point the app (and its tokens) elsewhere.
"""

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .errors import Unauthorized, Unavailable

log = logging.getLogger(__name__)
TIMEOUT = (3.05, 10)  # connect, read: an inline check must not hold a request for long


@dataclass(frozen=True)
class OAuthServer:
    """A trusted OAuth server: its token endpoint and its REST endpoint (``server_endpoint``)."""

    base: str

    @property
    def rest_url(self) -> str:
        return f"{self.base}/rest/"

    @property
    def token_url(self) -> str:
        return f"{self.base}/oauth/token/"


def servers(setting: str) -> list[OAuthServer]:
    """The allow-list from its comma-separated setting (base URLs, trailing slashes ignored)."""
    return [OAuthServer(b.strip().rstrip("/")) for b in setting.split(",") if b.strip()]


def _parts(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path) with default ports filled in and the path without trailing slashes."""
    try:
        split = urlsplit(url.strip())
        port = split.port or {"https": 443, "http": 80}.get(split.scheme.lower())
    except ValueError:
        return ("", "", None, "")
    return (split.scheme.lower(), (split.hostname or "").lower(), port, split.path.rstrip("/"))


def server_for(endpoint: str, allowed: list[OAuthServer]) -> OAuthServer | None:
    """The allowed server whose REST endpoint ``endpoint`` is (whole URL: scheme, host, port, path)."""
    wanted = _parts(endpoint)
    if not wanted[1]:
        return None
    return next((s for s in allowed if _parts(s.rest_url) == wanted), None)


class TokenNotConfirmed(Unauthorized):
    """The OAuth server refused the token; ``code`` is its error (invalid_token, NOT_INSTALLED, …)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AppInfo:
    """The OAuth server's word on a token: the app, the user and the install it belongs to."""

    server: OAuthServer
    client_id: str
    user_id: int
    installed: bool
    version: int
    member_id: str
    domain: str
    client_endpoint: str


def app_info(server: OAuthServer, access_token: str) -> AppInfo:
    """``app.info`` at ``server`` with ``access_token``; TokenNotConfirmed or Unavailable otherwise."""
    try:
        resp = requests.post(server.rest_url + "app.info", json={"auth": access_token},
                             timeout=TIMEOUT, allow_redirects=False)  # fmt: skip
        body = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise Unavailable(
            f"the OAuth server could not be asked ({type(exc).__name__}); try again"
        ) from None
    if resp.status_code >= 500 or resp.status_code == 429 or not isinstance(body, dict):
        raise Unavailable(f"the OAuth server answered HTTP {resp.status_code}; try again")
    if "error" in body or resp.status_code != 200:
        code = str(body.get("error", resp.status_code))
        raise TokenNotConfirmed(code, f"the OAuth server did not confirm the token: {code}")
    return _parse(server, body.get("result"))


def _parse(server: OAuthServer, result: Any) -> AppInfo:
    install = result.get("install") if isinstance(result, dict) else None
    try:
        return AppInfo(server, str(result["client_id"]), int(result["user_id"]), install["installed"] is True,
                       int(install["version"]), str(install["member_id"]), str(install["domain"]),
                       str(install["client_endpoint"]))  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise TokenNotConfirmed(
            "MALFORMED", "the OAuth server's app.info answer lacks the install"
        ) from None


def confirm(access_token: str, allowed: list[OAuthServer], endpoint: str = "") -> AppInfo:
    """The token confirmed at the allowed server ``endpoint`` names (every allowed one when it is empty)."""
    if not access_token:
        raise Unauthorized("no access token to confirm")
    if endpoint:
        server = server_for(endpoint, allowed)
        if server is None:
            raise Unauthorized("the request names an OAuth server this deployment does not trust")
        return app_info(server, access_token)
    refused: TokenNotConfirmed | None = None
    unavailable: Unavailable | None = None
    for server in allowed:
        try:
            return app_info(server, access_token)
        except TokenNotConfirmed as exc:
            refused = exc
        except Unavailable as exc:  # the token may be the other server's: ask it before giving up
            unavailable = exc
    raise (
        unavailable
        or refused
        or Unauthorized("no OAuth server is configured (B24APP_OAUTH_SERVERS)")
    )


def require_app_and_portal(info: AppInfo, client_id: str, member_id: str,
                           domain: str | None = None) -> AppInfo:  # fmt: skip
    """``info`` if it names this app, the request's member_id and (unless None) its domain."""
    if not client_id:
        raise Unavailable("this deployment has no B24APP_CLIENT_ID; tokens cannot be confirmed")
    if info.client_id != client_id:
        raise Unauthorized("the token belongs to another application")
    if info.member_id != member_id:
        raise Unauthorized("the token belongs to another portal than member_id")
    if domain is not None and info.domain.lower() != domain.lower():
        raise Unauthorized("the token belongs to another portal than DOMAIN")
    return info
