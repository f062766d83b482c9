"""Injected faults: the next N calls of a method fail with an error / status, or are slowed down."""

import time

from .errors import RestError
from .world import Portal


def plan(portal: Portal, method: str, count: int = 1, error: str | None = None,
         description: str = "", status: int = 500, latency: float = 0.0) -> dict:  # fmt: skip
    """Add a fault plan: ``method`` (lower-case, or ``*``) fails ``count`` times / waits ``latency`` s."""
    entry = {"method": method.lower(), "count": int(count), "error": error,
             "description": description, "status": int(status), "latency": float(latency)}  # fmt: skip
    portal.world.runtime.setdefault("faults", {}).setdefault(portal.member_id, []).append(entry)
    return entry


OAUTH_SERVER = (
    "oauth-server"  # the key of the OAuth server's own fault plans (it fails for every portal)
)


def plan_server(world, method: str, **kw) -> dict:
    """A fault plan of the OAuth server itself: ``oauth.token`` or ``oauth.app.info`` fails whatever the token."""
    return plan(_ServerKey(world), method, **kw)


class _ServerKey:
    def __init__(self, world):
        self.world, self.member_id = world, OAUTH_SERVER


def take_server(world, method: str) -> dict | None:
    """The OAuth server's own fault for this call, if any (call under the world lock)."""
    return take(_ServerKey(world), method)


def take(portal: Portal, method: str) -> dict | None:
    """The fault that applies to this call, if any, counting it down (call under the world lock)."""
    for entry in portal.world.runtime.get("faults", {}).get(portal.member_id, []):
        if entry["count"] > 0 and entry["method"] in (method, "*"):
            entry["count"] -= 1
            return dict(entry)
    return None


def suffer(fault: dict | None) -> None:
    """Sleep the fault's latency and raise its error (call outside the world lock)."""
    if not fault:
        return
    if fault["latency"]:
        time.sleep(fault["latency"])
    if fault["error"] is not None:
        raise RestError(fault["error"], fault["description"], fault["status"])
