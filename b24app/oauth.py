"""Refreshing a portal's OAuth tokens (bitrix24-rest.md §1.5), serialised per portal.

Refresh tokens rotate: the old one dies the moment a refresh succeeds. So exactly one process refreshes
at a time (a per-portal Redis lock), re-reads the record inside the lock (someone else may have just
refreshed), and stores the new pair before anyone uses it.
"""

import logging
import time

import requests

from .errors import Blago24Error
from .portals import Portal, PortalRegistry
from .trust import OAuthServer, server_for

log = logging.getLogger(__name__)
REFRESH_LOCK = (
    60  # seconds: longer than the refresh request's own deadline (5 s connect + 15 s read)
)


class RefreshFailed(Blago24Error):
    """The OAuth server refused the refresh (e.g. invalid_grant: the app must be reinstalled)."""

    def __init__(self, member_id: str, error: str, description: str):
        super().__init__(f"portal {member_id}: token refresh refused: {error}: {description}")
        self.error = error


class RefreshUnavailable(Blago24Error):
    """The OAuth server could not be reached or failed (5xx): the refresh may be tried again."""

    retryable = True

    def __init__(self, member_id: str, reason: str):
        super().__init__(f"portal {member_id}: token refresh not answered: {reason}")


def refresh_tokens(registry: PortalRegistry, member_id: str, stale_token: str, client_id: str,
                   client_secret: str, allowed: list[OAuthServer]) -> Portal:  # fmt: skip
    """The portal with a fresh access token; refreshes only if ``stale_token`` is still the stored one,
    and only at a trusted OAuth server: the client secret goes nowhere else."""
    with registry.lock(member_id, "refresh", timeout=REFRESH_LOCK):
        portal = registry.require(member_id)
        if portal.access_token != stale_token:
            return portal
        server = server_for(portal.server_endpoint, allowed)
        if server is None:
            raise RefreshFailed(
                member_id, "untrusted_server", "the stored OAuth server is not allowed"
            )
        try:
            resp = requests.get(server.token_url, params={
            "grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
            "refresh_token": portal.refresh_token}, timeout=(5, 15), allow_redirects=False)  # fmt: skip
        except requests.RequestException as exc:
            raise RefreshUnavailable(member_id, type(exc).__name__) from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise RefreshUnavailable(member_id, f"HTTP {resp.status_code}")
        body = _json(resp)
        if resp.status_code != 200 or "access_token" not in body:
            raise RefreshFailed(member_id, str(body.get("error", resp.status_code)),
                                str(body.get("error_description", "")))  # fmt: skip
        portal.access_token = body["access_token"]
        portal.refresh_token = body["refresh_token"]
        portal.expires_at = time.time() + int(body.get("expires_in", 3600))
        registry.save_tokens(portal)
        log.info("portal %s: tokens refreshed", member_id)
        return portal


def _json(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
