"""App robots and their answers (bitrix24-rest.md §5.1, §5.3).

``bizproc.robot.*`` register robot types in ``install["robots"]`` (docs
api-reference/bizproc/bizproc-robot/bizproc-robot-*.md; validation as in the bizproc module's
``RestService``). ``bizproc.event.send`` / ``bizproc.activity.log`` answer a robot run that the
control call ``robots/fire`` started; runs are entries of the portal's ``robots`` log.
"""

import re
import time
from typing import Any

from ..call import Call, Method
from ..errors import RestError, access_denied
from ..world import Portal
from .events import check_handler, upper_keys

INVALID = "ERROR_ACTIVITY_VALIDATION_FAILURE"
CODE_RE = re.compile(r"^[a-z0-9.\-_]+$", re.I)
PROPERTY_RE = re.compile(r"^[a-z][a-z0-9_]*$", re.I)
PROPERTY_TYPES = {"bool", "date", "datetime", "double", "file", "int", "select", "string", "text",
                  "user"}  # fmt: skip
DOCUMENT_CLASSES = {
    "CCrmDocumentLead": re.compile(r"^LEAD$"),
    "CCrmDocumentDeal": re.compile(r"^DEAL$"),
    "CCrmDocumentContact": re.compile(r"^CONTACT$"),
    "CCrmDocumentCompany": re.compile(r"^COMPANY$"),
    "Bitrix\\Crm\\Integration\\BizProc\\Document\\Quote": re.compile(r"^QUOTE$"),
    "Bitrix\\Crm\\Integration\\BizProc\\Document\\SmartInvoice": re.compile(r"^SMART_INVOICE$"),
    "Bitrix\\Crm\\Integration\\BizProc\\Document\\Dynamic": re.compile(r"^DYNAMIC_\d+$"),
}
FIELDS = ("HANDLER", "AUTH_USER_ID", "USE_SUBSCRIPTION", "NAME", "DESCRIPTION", "PROPERTIES",
          "RETURN_PROPERTIES", "DOCUMENT_TYPE", "FILTER", "USE_PLACEMENT", "PLACEMENT_HANDLER")  # fmt: skip


def invalid(text: str) -> RestError:
    return RestError(INVALID, text, 400)


def robot_store(call: Call) -> dict:
    """The app's robots; webhooks and non-admins get ACCESS_DENIED (``AccessException``)."""
    if call.auth.kind != "app":
        raise access_denied("Access denied! Application context required")
    if not (call.portal.user(call.auth.user_id) or {}).get("ADMIN"):
        raise access_denied()
    inst = call.portal.install(call.auth.client_id)
    if inst is None:
        raise RestError("APPLICATION_NOT_FOUND", "Application not found", 401)
    return inst.setdefault("robots", {})


def prepare(data: Any, keep_keys: bool = False) -> Any:
    """``prepareActivityData``: upper-case keys at every level but the property names themselves."""
    if isinstance(data, list):
        data = {str(i): v for i, v in enumerate(data)}
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        key = str(key) if keep_keys else str(key).upper()
        nested = key in ("PROPERTIES", "RETURN_PROPERTIES", "OPTIONS")
        out[key] = prepare(value, nested) if isinstance(value, dict | list) else value
    return out


def validate_code(code: Any) -> str:
    if not code:
        raise invalid("Empty activity code!")
    if not CODE_RE.match(str(code)):
        raise invalid("Wrong activity code!")
    return str(code)


def validate_properties(props: Any) -> None:
    """Property keys start with a letter; each property needs a NAME and a known Type."""
    if not isinstance(props, dict):
        raise invalid("Wrong properties array!")
    for key, prop in props.items():
        if not PROPERTY_RE.match(key):
            raise invalid(f"Wrong property key ({key})!")
        if not isinstance(prop, dict) or not prop.get("NAME"):
            raise invalid(f"Empty property NAME ({key})!")
        kind = str(prop.get("TYPE") or "string")
        if kind not in PROPERTY_TYPES:
            raise invalid(f"Unsupported property type ({kind})!")


def validate_document_type(value: Any) -> None:
    parts = list(value.values()) if isinstance(value, dict) else value
    ok = (isinstance(parts, list) and len(parts) == 3 and parts[0] == "crm"
          and parts[1] in DOCUMENT_CLASSES and DOCUMENT_CLASSES[parts[1]].match(str(parts[2])))  # fmt: skip
    if not ok:
        raise invalid("Wrong activity DOCUMENT_TYPE!")


def validate_fields(data: dict) -> None:
    """The optional fields' checks shared by add and update."""
    if "HANDLER" in data:
        check_handler(data["HANDLER"])
    for key in ("PROPERTIES", "RETURN_PROPERTIES"):
        if key in data:
            validate_properties(data[key])
    if data.get("DOCUMENT_TYPE"):
        validate_document_type(data["DOCUMENT_TYPE"])
    if data.get("FILTER") and not isinstance(data["FILTER"], dict | list):
        raise invalid("Wrong activity FILTER!")
    if data.get("PLACEMENT_HANDLER"):
        check_handler(data["PLACEMENT_HANDLER"])


def robot_add(call: Call) -> bool:
    """``bizproc.robot.add``: register a robot type of the app (§5.1 validation order)."""
    robots = robot_store(call)
    data = prepare(call.params)
    if not data:
        raise invalid("Empty data!")
    code = validate_code(data.get("CODE"))
    check_handler(data.get("HANDLER"))
    if not data.get("NAME"):
        raise invalid("Empty activity NAME!")
    validate_fields(data)
    if code in robots:
        raise RestError(
            "ERROR_ACTIVITY_ALREADY_INSTALLED", "Activity or Robot already installed!", 400
        )
    robots[code] = {"CODE": code, **{k: data[k] for k in FIELDS if k in data}}
    robots[code]["AUTH_USER_ID"] = int(data.get("AUTH_USER_ID") or 0)
    return True


def robot_update(call: Call) -> bool:
    """``bizproc.robot.update {CODE, FIELDS}``: change given fields; "No fields to update"."""
    robots = robot_store(call)
    data = prepare(call.params)
    code = validate_code(data.get("CODE"))
    if code not in robots:
        raise RestError("ERROR_ACTIVITY_NOT_FOUND", "Activity or Robot not found!", 400)
    fields = data.get("FIELDS")
    fields = {k: v for k, v in fields.items() if k in FIELDS} if isinstance(fields, dict) else {}
    validate_fields(fields)
    if "NAME" in fields and not fields["NAME"]:
        del fields["NAME"]
    if not fields:
        raise invalid("No fields to update")
    if "AUTH_USER_ID" in fields:
        fields["AUTH_USER_ID"] = int(fields["AUTH_USER_ID"] or 0)
    robots[code].update(fields)
    return True


def robot_delete(call: Call) -> bool:
    """``bizproc.robot.delete {CODE}``."""
    robots = robot_store(call)
    code = validate_code(upper_keys(call.params).get("CODE"))
    if robots.pop(code, None) is None:
        raise RestError("ERROR_ACTIVITY_NOT_FOUND", "Activity or Robot not found!", 400)
    return True


def robot_list(call: Call) -> list[str]:
    """``bizproc.robot.list``: the app's robot codes."""
    return list(robot_store(call))


# --- robot runs ---------------------------------------------------------------------------------


def settle_runs(portal: Portal, now: float | None = None) -> None:
    """Waiting runs whose timeout passed close as "timeout" (evaluated lazily, on read or answer)."""
    now = time.time() if now is None else now
    for run in portal.logs("robots"):
        if run["status"] == "waiting" and run.get("deadline") and now >= run["deadline"]:
            run.update(status="timeout", finished=run["deadline"])


def waiting_run(call: Call) -> tuple[dict, dict]:
    """(params with upper-case keys, the run waiting on EVENT_TOKEN) or 403 "Access denied!"."""
    query = upper_keys(call.params)
    settle_runs(call.portal)
    token = str(query.get("EVENT_TOKEN") or "")
    for run in call.portal.logs("robots"):
        if token and run["event_token"] == token and run["status"] == "waiting":
            return query, run
    raise access_denied()


def event_send(call: Call) -> bool:
    """``bizproc.event.send``: return values (keys matched case-insensitively) close the step."""
    query, run = waiting_run(call)
    given = query.get("RETURN_VALUES")
    given = {str(k).lower(): v for k, v in given.items()} if isinstance(given, dict) else {}
    declared = run.get("return_properties") or {}
    run["return_values"] = {k: given[k.lower()] for k in declared if k.lower() in given}
    run["log_message"] = str(query.get("LOG_MESSAGE") or "")
    run.update(status="completed", finished=time.time(), answered_by=call.auth.user_id)
    return True


def activity_log(call: Call) -> bool:
    """``bizproc.activity.log``: a log line for a waiting step; the step stays open."""
    query, run = waiting_run(call)
    message = query.get("LOG_MESSAGE")
    if not message:
        raise RestError("ERROR_EMPTY_LOG_MESSAGE", "Empty log message!", 400)
    run.setdefault("log", []).append({"ts": time.time(), "message": str(message)})
    return True


METHODS = [
    Method("bizproc.robot.add", robot_add, scope="bizproc"),
    Method("bizproc.robot.update", robot_update, scope="bizproc"),
    Method("bizproc.robot.delete", robot_delete, scope="bizproc"),
    Method("bizproc.robot.list", robot_list, scope="bizproc"),
    Method("bizproc.event.send", event_send, scope="bizproc"),
    Method("bizproc.activity.log", activity_log, scope="bizproc"),
]
