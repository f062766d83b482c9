"""Sandbox REST methods about the calling app: ``app.info`` and ``app.option.*`` (§8)."""

from typing import Any

from ..call import Call, Method
from ..errors import RestError


def app_info(call: Call) -> dict:
    """The portal's answer: exactly the documented fields, nothing naming the app or the portal
    (docs api-reference/common/system/app-info.md)."""
    app = call.require_app()
    inst = call.portal.install(app["client_id"]) or {}
    return {
        "ID": app["id"],
        "CODE": app["code"],
        "VERSION": inst.get("version", app["version"]),
        "STATUS": "L",
        "INSTALLED": bool(inst.get("installed")),
        "PAYMENT_EXPIRED": "N",
        "DAYS": None,
        "LANGUAGE_ID": "ru",
        "LICENSE": "ru_project",
        "LICENSE_TYPE": "project",
        "LICENSE_FAMILY": "project",
    }


def option_store(call: Call) -> dict:
    """The app's option map; outside an app: AccessException (docs app-option-set.md, -get.md)."""
    if call.auth.kind != "app":
        raise RestError("AccessException", "Application context required", 400)
    inst = call.portal.install(call.auth.client_id)
    if inst is None:
        raise RestError("APPLICATION_NOT_FOUND", "Application not found", 401)
    return inst.setdefault("options", {})


def option_set(call: Call) -> bool:
    """``app.option.set {options}``: admin only; new keys written, existing ones replaced."""
    store = option_store(call)
    if not (call.portal.user(call.auth.user_id) or {}).get("ADMIN"):
        raise RestError("AccessException", "Administrator authorization required", 400)
    options = call.get("options")
    if not isinstance(options, dict) or not options:
        raise RestError("ArgumentNullException", "options is empty", 400)
    store.update(options)
    return True


def option_get(call: Call) -> Any:
    """``app.option.get {option?}``: the whole map, one value, or null for a missing key."""
    store = option_store(call)
    name = call.get("option")
    if name in (None, ""):
        return dict(store)
    return store.get(str(name))


METHODS = [
    Method("app.info", app_info),
    Method("app.option.set", option_set),
    Method("app.option.get", option_get),
]
