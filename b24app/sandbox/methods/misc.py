"""Sandbox REST methods: ``server.time``, ``user.current``, ``profile`` (more in other modules)."""

from ..call import Call, Method
from ..records import now_iso


def server_time(call: Call) -> str:
    return now_iso(call.portal.settings["timezone"])


def user_current(call: Call) -> dict:
    user = call.portal.user(call.auth.user_id) or {}
    return {k: v for k, v in user.items() if k != "ADMIN"} | {
        "ID": str(user.get("ID", call.auth.user_id))
    }


def profile(call: Call) -> dict:
    user = call.portal.user(call.auth.user_id) or {}
    return {"ID": str(user.get("ID")), "ADMIN": bool(user.get("ADMIN")), "NAME": user.get("NAME", ""),
            "LAST_NAME": user.get("LAST_NAME", ""), "PERSONAL_GENDER": "", "TIME_ZONE": user.get("TIME_ZONE", "")}  # fmt: skip


METHODS = [
    Method("server.time", server_time),
    Method("user.current", user_current, scope="user"),
    Method("profile", profile),
]
