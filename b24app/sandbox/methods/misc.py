"""Sandbox REST methods: ``server.time``, ``user.current``, ``profile``, ``crm.currency.base.get``
(more in other modules)."""

import json
import uuid

from ..call import Call, Method
from ..errors import RestError
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


def notify_system_add(call: Call) -> int | bool:
    """im.notify.system.add: a system notification, logged to ``notifications`` (§4.9)."""
    user_id = call.get("USER_ID")
    try:
        user_id = int(str(user_id))
    except (TypeError, ValueError):
        user_id = 0
    if user_id <= 0:
        raise RestError("USER_ID_EMPTY", "User ID can't be empty", 400)
    message = str(call.get("MESSAGE") or "").strip()
    if not message:
        raise RestError("MESSAGE_EMPTY", "Message can't be empty", 400)
    attach = call.get("ATTACH")
    if attach is not None and len(json.dumps(attach, ensure_ascii=False)) > 60000:
        raise RestError(
            "ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attach", 400
        )
    if call.portal.user(user_id) is None:
        return False
    notify_id = call.portal.next_id("notification")
    call.portal.log("notifications", {"id": notify_id, "user_id": user_id, "message": message,
                                      "message_out": call.get("MESSAGE_OUT"), "tag": call.get("TAG"),
                                      "sub_tag": call.get("SUB_TAG"), "attach": attach,
                                      "from_user_id": None, "author": call.auth.user_id})  # fmt: skip
    return notify_id


TASK_TIMES = (
    "dateStart",
    "deadline",
    "startDatePlan",
    "endDatePlan",
    "closedDate",
    "statusChangedBy",
    "closedBy",
    "parentId",
    "mark",
    "xmlId",
    "commentsCount",
    "forumTopicId",
    "flowId",
)


def task_person(call: Call, user_id: str) -> dict:
    user = call.portal.user(user_id) or {}
    name = " ".join(p for p in (user.get("NAME"), user.get("LAST_NAME")) if p)
    return {
        "id": str(user_id),
        "name": name,
        "link": f"/company/personal/user/{user_id}/",
        "icon": "/bitrix/images/tasks/default_avatar.png",
        "workPosition": "",
    }


def task_add(call: Call) -> dict:
    """tasks.task.add: a task stored in ``task``; result {"task": {camelCase strings}} (§4.8)."""
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict) or not fields:
        raise RestError(100, "Could not find value for parameter {fields}", 400)
    fields = {str(k).upper(): v for k, v in fields.items()}
    # ERROR_CORE texts end with the vendor's "<br>" separator
    if str(fields.get("TITLE") or "").strip() == "":
        raise RestError("ERROR_CORE", "Task title is not specified<br>", 400)
    responsible = str(fields.get("RESPONSIBLE_ID") or "").strip()
    if responsible in ("", "0"):
        raise RestError("ERROR_CORE", "Responsible person not specified<br>", 400)
    if call.portal.user(responsible) is None:
        raise RestError(
            "ERROR_CORE", 'User specified in the "Responsible" field not found<br>', 400
        )
    task_id = str(call.portal.next_id("task"))
    creator = str(fields.get("CREATED_BY") or call.auth.user_id)
    stamp = now_iso(call.portal.settings["timezone"])
    task = {"id": task_id, **dict.fromkeys(TASK_TIMES), "title": str(fields["TITLE"]),
            "description": str(fields.get("DESCRIPTION") or ""), "priority": str(fields.get("PRIORITY", "1")),
            "multitask": "N", "notViewed": "N", "replicate": "N", "stageId": "0", "createdBy": creator,
            "createdDate": stamp, "responsibleId": responsible, "changedBy": creator, "changedDate": stamp,
            "activityDate": stamp, "guid": "{" + str(uuid.uuid4()) + "}", "allowChangeDeadline": "N",
            "allowTimeTracking": "N", "taskControl": "N", "addInReport": "N", "timeEstimate": "0",
            "matchWorkTime": "N", "siteId": "s1", "subordinate": "Y", "isMuted": "N", "isPinned": "N",
            "descriptionInBbcode": "Y", "status": "2", "statusChangedDate": stamp, "durationType": "days",
            "favorite": "N", "groupId": str(fields.get("GROUP_ID") or "0"), "auditors": [], "accomplices": [],
            "checklist": [], "group": [], "creator": task_person(call, creator),
            "responsible": task_person(call, responsible)}  # fmt: skip
    task["deadline"] = str(fields["DEADLINE"]) if fields.get("DEADLINE") else None
    stored = {**task, "ufCrmTask": [str(b) for b in (fields.get("UF_CRM_TASK") or [])]}
    call.portal.table("task")[task_id] = stored
    call.emit("ONTASKADD", {"FIELDS_AFTER": {"ID": task_id}})
    return {"task": task}


def currency_base_get(call: Call) -> str:
    """crm.currency.base.get: the portal's base currency code as a bare string (b24restdocs
    api-reference/crm/currency/crm-currency-base-get.md); the portal setting ``base_currency``, RUB."""
    return call.portal.settings.get("base_currency", "RUB")


METHODS = [
    Method("server.time", server_time),
    Method("crm.currency.base.get", currency_base_get, scope="crm"),
    Method("user.current", user_current, scope="user"),
    Method("profile", profile),
    Method("im.notify.system.add", notify_system_add, scope="im"),
    Method("tasks.task.add", task_add, scope="task"),
]
