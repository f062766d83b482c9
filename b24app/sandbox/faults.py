"""Injected faults: the next N calls of a method fail with an error / status, are slowed down, or are
applied and their answer lost (the connection closed, or held past the client's timeout)."""

import time

from .errors import RestError
from .world import Portal

LOST = ("close", "timeout")
HOLD = 5.0  # seconds a ``lost: timeout`` answer is held by default before the connection is closed


def plan(portal: Portal, method: str, count: int = 1, error: str | None = None,
         description: str = "", status: int = 500, latency: float = 0.0, lost: str | None = None,
         command: str | None = None, hold: float | None = None) -> dict:  # fmt: skip
    """Add a fault plan: ``method`` (lower-case, or ``*``) fails ``count`` times / waits ``latency`` s /
    loses its answer (``lost``); ``command`` narrows a plan on ``batch`` to batches holding that command."""
    if lost is not None and lost not in LOST:
        raise ValueError(f"lost must be one of {', '.join(LOST)}")
    entry = {"method": method.lower(), "count": int(count), "error": error,
             "description": description, "status": int(status), "latency": float(latency),
             "lost": lost, "command": command.lower() if command else None,
             "hold": float(HOLD if hold is None else hold)}  # fmt: skip
    portal.world.runtime.setdefault("faults", {}).setdefault(portal.member_id, []).append(entry)
    return entry


def active(portal: Portal) -> list[dict]:
    """The portal's plans that still have calls to spoil."""
    return [dict(e) for e in portal.world.runtime.get("faults", {}).get(portal.member_id, [])
            if e["count"] > 0]  # fmt: skip


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


def take(portal: Portal, method: str, commands: tuple[str, ...] | None = None) -> dict | None:
    """The fault that applies to this HTTP request, if any, counting it down (call under the world lock).

    ``commands`` are the methods of a batch request's commands; ``None`` means a command inside a batch,
    which request-level plans (a lost answer, a ``command`` filter) never hit."""
    for entry in portal.world.runtime.get("faults", {}).get(portal.member_id, []):
        if entry["count"] <= 0 or entry["method"] not in (method, "*"):
            continue
        request_level = entry.get("lost") or entry.get("command")
        if commands is None and request_level:
            continue
        if entry.get("command") and entry["command"] not in (commands or ()):
            continue
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
