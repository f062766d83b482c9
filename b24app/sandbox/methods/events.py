"""Event handlers and widget placements of the calling app (bitrix24-rest.md §6.1, §7.1).

``event.bind/unbind/get`` and ``events`` follow the rest module's ``Api\\Event`` (docs
api-reference/events/event-*.md); ``placement.*`` follow ``Api\\Placement`` (docs
api-reference/widgets/placement-*.md). Bindings live in the app's install record:
``install["events"]`` and ``install["placements"]``.
"""

import re
from typing import Any
from urllib.parse import urlsplit

from ..call import Call, Method
from ..errors import RestError, argument, system

GLOBAL = "*"  # the rest module's global scope: available to every app

CRM_EVENTS = [
    f"ONCRM{entity}{action}"
    for entity in ("LEAD", "DEAL", "CONTACT", "COMPANY", "QUOTE", "ACTIVITY", "DYNAMICITEM",
                   "TIMELINECOMMENT", "REQUISITE", "PRODUCT")
    for action in ("ADD", "UPDATE", "DELETE")
] + ["ONCRMDEALMOVETOCATEGORY", "ONCRMTYPEADD", "ONCRMTYPEUPDATE", "ONCRMTYPEDELETE"]  # fmt: skip
EVENTS: dict[str, list[str]] = {
    GLOBAL: ["ONAPPUNINSTALL", "ONAPPINSTALL", "ONAPPUPDATE", "ONAPPPAYMENT", "ONAPPTEST",
             "ONAPPMETHODCONFIRM", "ONOFFLINEEVENT"],
    "user": ["ONUSERADD"],
    "crm": CRM_EVENTS,
    "task": ["ONTASKADD", "ONTASKUPDATE", "ONTASKDELETE", "ONTASKCOMMENTADD",
             "ONTASKCOMMENTUPDATE", "ONTASKCOMMENTDELETE"],
}  # fmt: skip
DYNAMIC_EVENT = re.compile(r"^ONCRMDYNAMICITEM(ADD|UPDATE|DELETE)_\d+$")  # per-SPA variants
NO_OFFLINE = {"ONOFFLINEEVENT"}

WRONG_AUTH = "Current authorization type is denied for this method"


def require_app_token(call: Call, detail: str = "") -> dict:
    """The calling app; a webhook gets 403 WRONG_AUTH_TYPE (rest module's AuthTypeException)."""
    if call.auth.kind != "app":
        raise RestError("WRONG_AUTH_TYPE", f"{WRONG_AUTH} {detail}".strip(), 403)
    return call.world.state["apps"][call.auth.client_id]


def is_admin(call: Call) -> bool:
    return bool((call.portal.user(call.auth.user_id) or {}).get("ADMIN"))


def upper_keys(params: dict) -> dict:
    """PHP ``array_change_key_case(CASE_UPPER)`` of the top level."""
    return {str(k).upper(): v for k, v in params.items()}


def check_handler(url: Any) -> None:
    """``HandlerHelper::checkCallback``: a host with a dot, then scheme http or https."""
    parts = urlsplit(str(url or ""))
    host = parts.hostname or ""
    if not host or host.find(".") <= 0:
        raise RestError("ERROR_WRONG_HANDLER_URL", "Wrong handler URL", 400)
    if parts.scheme not in ("http", "https"):
        raise RestError("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol", 400)


def install_of(call: Call) -> dict:
    """The caller's install record in this portal (created by the install flows)."""
    inst = call.portal.install(call.auth.client_id)
    if inst is None:
        raise system(("APPLICATION_NOT_FOUND", "Application not found", 401))
    return inst


# --- events -------------------------------------------------------------------------------------


def app_scopes(call: Call, query: dict) -> list[str]:
    """Scopes whose events/placements to consider: SCOPE, FULL, or the app's own plus global."""
    if query.get("SCOPE") not in (None, ""):
        return [str(query["SCOPE"])]
    if str(query.get("FULL", "")).lower() in ("1", "true", "y"):
        return list(EVENTS)
    return [*call.auth.scopes, GLOBAL]


def event_known(name: str, scopes: list[str]) -> bool:
    if "crm" in scopes and DYNAMIC_EVENT.match(name):
        return True
    return any(name in EVENTS.get(scope, []) for scope in scopes)


def events_list(call: Call) -> list[str]:
    """``events``: names of the events available to the app's scopes (or SCOPE / FULL)."""
    require_app_token(call)
    scopes = app_scopes(call, upper_keys(call.params))
    return [name for scope in EVENTS if scope in scopes for name in EVENTS[scope]]


def event_type(query: dict) -> str:
    kind = str(query.get("EVENT_TYPE") or "").lower() or "online"
    if kind not in ("online", "offline"):
        raise argument("EVENT_TYPE", "Value must be one of {online|offline}")
    return kind


def bind_user(call: Call, query: dict) -> str:
    """The binding's user: AUTH_TYPE (others' only for admins), else 0, or the caller if not admin."""
    user = int_or_zero(query.get("AUTH_TYPE"))
    if user > 0 and not is_admin(call) and str(user) != call.auth.user_id:
        raise RestError("ACCESS_DENIED",
                        "Access denied! Event binding with AUTH_TYPE requires administrator access rights", 403)  # fmt: skip
    if user <= 0 and not is_admin(call):
        return call.auth.user_id
    return str(user)


def int_or_zero(value: Any) -> int:
    try:
        return int(str(value or 0).strip() or 0)
    except ValueError:
        return 0


def event_bind(call: Call) -> bool:
    """``event.bind``: add a handler; ERROR_EVENT_NOT_FOUND, "Handler already binded" (ERROR_CORE)."""
    require_app_token(call)
    query = upper_keys(call.params)
    name = str(query.get("EVENT") or "").upper()
    user = bind_user(call, query)
    if not name:
        raise argument("EVENT")
    kind = event_type(query)
    handler = query.get("HANDLER") or ""
    if kind == "offline":
        if not is_admin(call):
            raise RestError("ACCESS_DENIED",
                            "Access denied! Offline events binding requires administrator access rights", 403)  # fmt: skip
        handler, user = "", "0"
    elif not handler:
        raise argument("HANDLER")
    if handler:
        check_handler(handler)
    if not event_known(name, [*call.auth.scopes, GLOBAL]):
        raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
    if not handler and name in NO_OFFLINE:
        raise RestError("ERROR_ARGUMENT", "Offline event cannot be registered for this event.", 400)
    add_binding(call, name, str(handler), user, str(query.get("AUTH_CONNECTOR") or ""))
    return True


def add_binding(call: Call, name: str, handler: str, user: str, connector: str) -> None:
    inst = install_of(call)
    for b in inst["events"]:
        if (b["event"], b["handler"], b["auth_type"], b.get("connector", "")) == (
            name, handler, user, connector):  # fmt: skip
            raise RestError(
                "ERROR_CORE", "Unable to set event handler: Handler already binded", 400
            )
    inst["events"].append({"id": call.portal.next_id("event_handler"), "event": name,
                           "handler": handler, "auth_type": user, "offline": 0 if handler else 1,
                           "connector": connector})  # fmt: skip


def event_unbind(call: Call) -> dict:
    """``event.unbind``: remove matching handlers of the app; ``{"count": n}``."""
    require_app_token(call)
    query = upper_keys(call.params)
    name = str(query.get("EVENT") or "").upper()
    if not name:
        raise argument("EVENT")
    kind = event_type(query)
    handler = str(query.get("HANDLER") or "")
    if kind == "offline":
        if not is_admin(call):
            raise RestError("ACCESS_DENIED",
                            "Access denied! Offline events unbinding requires administrator access rights", 403)  # fmt: skip
        handler = ""
    elif not handler:
        raise argument("HANDLER")
    user = unbind_user(call, query) if kind == "online" else None
    inst = install_of(call)
    keep = [b for b in inst["events"] if not unbind_matches(b, name, handler, user)]
    count = len(inst["events"]) - len(keep)
    inst["events"] = keep
    return {"count": count}


def unbind_user(call: Call, query: dict) -> str | None:
    if "AUTH_TYPE" in query:
        user = str(int_or_zero(query["AUTH_TYPE"]))
        if not is_admin(call) and user != call.auth.user_id:
            raise RestError("ACCESS_DENIED",
                            "Access denied! Event unbinding with AUTH_TYPE requires administrator access rights", 403)  # fmt: skip
        return user
    return None if is_admin(call) else call.auth.user_id


def unbind_matches(binding: dict, name: str, handler: str, user: str | None) -> bool:
    return (binding["event"] == name and binding["handler"] == handler
            and (user is None or binding["auth_type"] == user))  # fmt: skip


def event_get(call: Call) -> list[dict]:
    """``event.get``: the app's handlers in bind order (non-admins: only their own)."""
    require_app_token(call)
    rows = []
    for b in install_of(call)["events"]:
        if not is_admin(call) and b["auth_type"] != call.auth.user_id:
            continue
        if b["handler"]:
            rows.append({"event": b["event"], "handler": b["handler"], "auth_type": b["auth_type"],
                         "offline": 0})  # fmt: skip
        else:
            rows.append({"event": b["event"], "connector_id": b.get("connector", ""), "offline": 1})
    return rows


# --- placements ---------------------------------------------------------------------------------

CRM_PLACEMENT_OWNERS = ("LEAD", "DEAL", "CONTACT", "COMPANY", "QUOTE", "SMART_INVOICE", "INVOICE")
CRM_PLACEMENT_SPOTS = ("DETAIL_TAB", "DETAIL_TOOLBAR", "DETAIL_ACTIVITY", "LIST_MENU",
                       "LIST_TOOLBAR", "ACTIVITY_TIMELINE_MENU")  # fmt: skip
PLACEMENTS: dict[str, dict] = {
    **{f"CRM_{o}_{s}": {"scope": "crm"} for o in CRM_PLACEMENT_OWNERS for s in CRM_PLACEMENT_SPOTS},
    "CRM_ANALYTICS_MENU": {"scope": "crm"},
    "CRM_FUNNELS_TOOLBAR": {"scope": "crm"},
    "CRM_ROBOT_DESIGNER_TOOLBAR": {"scope": "crm"},
    "LEFT_MENU": {"scope": GLOBAL},
    "REST_APP_URI": {"scope": GLOBAL, "max_count": 1},
    "PAGE_BACKGROUND_WORKER": {"scope": GLOBAL, "max_count": 1, "user_mode": True,
                               "options": {"errorHandlerUrl": "string"}},
    "USER_PROFILE_MENU": {"scope": GLOBAL},
    "USER_PROFILE_TOOLBAR": {"scope": GLOBAL},
    "TASK_VIEW_TAB": {"scope": "task"},
    "TASK_VIEW_SIDEBAR": {"scope": "task"},
    "IM_CONTEXT_MENU": {"scope": "im"},
    "IM_NAVIGATION": {"scope": "im"},
    "CALENDAR_GRIDVIEW": {"scope": "calendar"},
}  # fmt: skip
DYNAMIC_PLACEMENT = re.compile(r"^CRM_DYNAMIC_\d+_(" + "|".join(CRM_PLACEMENT_SPOTS) + ")$")
PLACEMENT_AUTH = "Application context required"
LANG_DEFAULT = "ru"


def placement_info(code: str, scopes: list[str]) -> dict | None:
    """A placement's description if the code exists within ``scopes``, else None."""
    info = PLACEMENTS.get(code) or ({"scope": "crm"} if DYNAMIC_PLACEMENT.match(code) else None)
    return info if info and info["scope"] in scopes else None


def require_placement_admin(call: Call) -> dict:
    """``Api\\Placement::checkPermission``: app context (WRONG_AUTH_TYPE) and an admin (ACCESS_DENIED)."""
    app = require_app_token(call, PLACEMENT_AUTH)
    if not is_admin(call):
        raise RestError("ACCESS_DENIED", "Access denied!", 403)
    return app


def placement_list(call: Call) -> list[str]:
    """``placement.list``: codes available to the app's scopes (or SCOPE / FULL)."""
    require_app_token(call, PLACEMENT_AUTH)
    query = upper_keys(call.params)
    scopes = app_scopes(call, query)
    if query.get("SCOPE") in (None, "") and str(query.get("FULL", "")).lower() in (
        "1",
        "true",
        "y",
    ):
        scopes = [GLOBAL, "crm", "task", "im", "calendar"]
    return [code for code, info in PLACEMENTS.items() if info["scope"] in scopes]


def placement_bind(call: Call) -> bool:
    """``placement.bind``: register a widget handler (shown only once the install is finished)."""
    app = require_placement_admin(call)
    query = upper_keys(call.params)
    code = str(query.get("PLACEMENT") or "").upper()
    handler = query.get("HANDLER") or ""
    if not code:
        raise argument("PLACEMENT")
    if code == "DEFAULT":
        raise argument("PLACEMENT", "Wrong value")
    if not handler:
        raise argument("HANDLER")
    check_handler(handler)
    info = placement_info(code, [*call.auth.scopes, GLOBAL])
    if info is None:
        raise RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found", 400)
    user_id = max(int_or_zero(query.get("USER_ID")), 0)
    if user_id and not info.get("user_mode"):
        raise RestError("ERROR_PLACEMENT_USER_MODE", "User mode is not available.", 400)
    inst = install_of(call)
    check_placement_limits(inst, code, str(handler), user_id, info)
    langs = placement_langs(query, app)
    title = langs.get(LANG_DEFAULT, next(iter(langs.values()), {}))
    inst["placements"].append({
        "id": call.portal.next_id("placement"), "placement": code, "handler": str(handler),
        "user_id": user_id, "options": placement_options(query.get("OPTIONS"), info),
        "title": title.get("TITLE", ""), "description": title.get("DESCRIPTION", ""),
        "group_name": title.get("GROUP_NAME", ""), "lang_all": langs,
    })  # fmt: skip
    return True


def check_placement_limits(inst: dict, code: str, handler: str, user_id: int, info: dict) -> None:
    """ERROR_PLACEMENT_MAX_COUNT for single-instance codes; "Handler already binded" for repeats."""
    same = [p for p in inst["placements"] if p["placement"] == code]
    if info.get("max_count") and len(same) >= info["max_count"]:
        raise RestError(
            "ERROR_PLACEMENT_MAX_COUNT", f"Placement max count: {info['max_count']}", 400
        )
    if any(p["handler"] == handler and p["user_id"] == user_id for p in same):
        raise RestError(
            "ERROR_CORE", "Unable to set placement handler: Handler already binded", 400
        )


def placement_langs(query: dict, app: dict) -> dict:
    """LANG_ALL, else TITLE/DESCRIPTION/GROUP_NAME for the default language, else the app's name."""
    lang_all = query.get("LANG_ALL")
    if isinstance(lang_all, dict) and lang_all:
        return {str(lang): {f: str((item or {}).get(f) or "").strip()
                            for f in ("TITLE", "DESCRIPTION", "GROUP_NAME")}
                for lang, item in lang_all.items() if isinstance(item, dict)}  # fmt: skip
    own = {f: str(query[f]).strip() for f in ("TITLE", "DESCRIPTION", "GROUP_NAME") if query.get(f)}
    return {LANG_DEFAULT: own or {"TITLE": app["name"]}}


def placement_options(options: Any, info: dict) -> dict:
    """Only the options a placement declares survive, cast to their type (``prepareOptions``)."""
    declared = info.get("options") or {}
    if not isinstance(options, dict):
        return {}
    cast = {"int": int_or_zero, "string": str}
    return {k: cast[declared[k]](v) for k, v in options.items() if k in declared}


def placement_unbind(call: Call) -> dict:
    """``placement.unbind``: remove the app's handlers of PLACEMENT (and HANDLER/USER_ID if given)."""
    require_placement_admin(call)
    query = upper_keys(call.params)
    raw = query.get("PLACEMENT")
    if raw is not None and not isinstance(raw, str):
        raise argument("PLACEMENT", "The value of an argument 'PLACEMENT' must be of type string")
    code = str(raw or "").upper()
    if not code:
        raise argument("PLACEMENT")
    handler = str(query.get("HANDLER") or "")
    inst = install_of(call)
    gone = [p for p in inst["placements"] if p["placement"] == code
            and (not handler or p["handler"] == handler)
            and ("USER_ID" not in query or p["user_id"] == int_or_zero(query["USER_ID"]))]  # fmt: skip
    inst["placements"] = [p for p in inst["placements"] if p not in gone]
    # Bitrix counts each handler twice: once when found, once when deleted (docs example: 4 for 2).
    return {"count": 2 * len(gone)}


def placement_get(call: Call) -> list[dict]:
    """``placement.get``: the app's registered handlers in bind order."""
    require_placement_admin(call)
    return [{"placement": p["placement"], "userId": p["user_id"], "handler": p["handler"],
             "options": p["options"], "title": p["title"], "description": p["description"],
             "langAll": p["lang_all"]} for p in install_of(call)["placements"]]  # fmt: skip


# The rest module checks the auth type itself (texts differ per family), so app_only stays off.
METHODS = [
    Method("events", events_list),
    Method("event.bind", event_bind),
    Method("event.unbind", event_unbind),
    Method("event.get", event_get),
    Method("placement.list", placement_list, scope="placement"),
    Method("placement.bind", placement_bind, scope="placement"),
    Method("placement.unbind", placement_unbind, scope="placement"),
    Method("placement.get", placement_get, scope="placement"),
]
