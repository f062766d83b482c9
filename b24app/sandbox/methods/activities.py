"""Activities, to-dos and timeline comments: ``crm.activity.*``, ``crm.activity.todo.add``,
``crm.timeline.comment.*`` (bitrix24-rest.md §4.8, §4.10).

Activities live in ``portal.bucket("activities")`` and comments in ``portal.bucket("timeline_comments")``,
both keyed by string id and printed the classic way (strings, "Y"/"N"). An outgoing completed e-mail
activity is "sent": appended to the portal's ``outbox`` log.
"""

import re
from datetime import datetime
from typing import Any

from .. import records as rec
from ..call import Call, Listing, Method
from ..errors import RestError, bad_id, not_found
from ..world import Portal
from .crm_entities import TYPE_IDS

EMAIL, CALL, MEETING, PROVIDER = 4, 2, 1, 6
PROVIDERS = {MEETING: ("CRM_MEETING", "MEETING"), CALL: ("CRM_CALL", "CALL"),
             EMAIL: ("CRM_EMAIL", "EMAIL")}  # fmt: skip
COMM_TYPES = {EMAIL: "EMAIL", CALL: "PHONE", MEETING: "PHONE"}
TYPE_NAMES = {1: "Meeting", 2: "Call", 3: "Task", 4: "E-mail", 5: "Action", 6: "Custom"}
WRITABLE = ("SUBJECT", "DESCRIPTION", "DESCRIPTION_TYPE", "DIRECTION", "START_TIME", "END_TIME",
            "COMPLETED", "PRIORITY", "LOCATION", "NOTIFY_TYPE", "NOTIFY_VALUE", "ORIGINATOR_ID",
            "ORIGIN_ID", "ORIGIN_VERSION", "ASSOCIATED_ENTITY_ID", "PROVIDER_ID", "PROVIDER_TYPE_ID",
            "PROVIDER_GROUP_ID", "PROVIDER_DATA", "PROVIDER_PARAMS", "SETTINGS",
            "IS_INCOMING_CHANNEL", "RESPONSIBLE_ID", "OWNER_ID", "OWNER_TYPE_ID")  # fmt: skip
ENTITY_TYPE_NAMES = {"lead": 1, "deal": 2, "contact": 3, "company": 4}


def activities(portal: Portal) -> dict[str, dict]:
    return portal.bucket("activities")


def comments(portal: Portal) -> dict[str, dict]:
    return portal.bucket("timeline_comments")


def owner_table(portal: Portal, type_id: Any) -> dict[str, dict] | None:
    """The table holding CRM objects of a type id: classic 1–4, quotes, invoices and SPAs as items."""
    try:
        type_id = int(str(type_id))
    except (TypeError, ValueError):
        return None
    if type_id in TYPE_IDS:
        return portal.table(TYPE_IDS[type_id])
    if type_id in (7, 31) or type_id >= 128:
        return portal.table(f"item:{type_id}")
    return None


def owner_exists(portal: Portal, type_id: Any, owner_id: Any) -> bool:
    table = owner_table(portal, type_id)
    return table is not None and str(owner_id).strip() in table


def rebind(portal: Portal, type_id: int, old_id: int, new_id: int) -> None:
    """Move activities and timeline comments of one CRM object to another (used by merges)."""
    for act in activities(portal).values():
        if act["OWNER_TYPE_ID"] == str(type_id) and act["OWNER_ID"] == str(old_id):
            act["OWNER_ID"] = str(new_id)
        for comm in act.get("COMMUNICATIONS", []):
            if comm.get("ENTITY_TYPE_ID") == str(type_id) and comm.get("ENTITY_ID") == str(old_id):
                comm["ENTITY_ID"] = str(new_id)
    for comment in comments(portal).values():
        if comment["_TYPE_ID"] == type_id and comment["ENTITY_ID"] == str(old_id):
            comment["ENTITY_ID"] = str(new_id)


def now(call: Call) -> str:
    return rec.now_iso(call.portal.settings["timezone"])


def classic_error(text: str) -> RestError:
    """Classic CRM proxies answer with an empty code and a sentence (§2.3)."""
    return RestError("", text, 400)


def fields_param(call: Call) -> dict:
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise classic_error("Parameter 'fields' must be array.")
    return {str(k).upper(): v for k, v in fields.items()}


def int_of(value: Any) -> int:
    """PHP intval: junk is 0."""
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return 0


# --- crm.activity.* -------------------------------------------------------------------------------


def prepare_communications(type_id: int, items: Any) -> list[dict]:
    """Keep communications with a value; a TYPE other than the activity's own drops the item (§4.10)."""
    if isinstance(items, dict):
        items = list(items.values())
    wanted = COMM_TYPES.get(type_id)
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        item = {str(k).upper(): v for k, v in item.items()}
        kind = str(item.get("TYPE") or wanted or "").upper()
        if wanted and kind != wanted or str(item.get("VALUE") or "").strip() == "":
            continue
        out.append({"TYPE": kind, "VALUE": str(item["VALUE"]).strip(),
                    "ENTITY_ID": str(int_of(item.get("ENTITY_ID"))),
                    "ENTITY_TYPE_ID": str(int_of(item.get("ENTITY_TYPE_ID")))})  # fmt: skip
    return out


def check_new_activity(call: Call, fields: dict) -> int:
    """The classic proxy's checks, in its order; returns TYPE_ID."""
    if str(fields.get("SUBJECT") or "").strip() == "":
        raise classic_error("The field SUBJECT is not defined or empty.")
    type_id = int_of(fields.get("TYPE_ID"))
    if type_id not in TYPE_NAMES:
        raise classic_error("The field TYPE_ID is not defined or invalid.")
    if type_id == PROVIDER and not fields.get("PROVIDER_ID"):
        raise classic_error(
            "The custom activity without provider is not supported in current context."
        )
    if type_id not in (CALL, MEETING, EMAIL, PROVIDER):
        # the vendor's message misplaces the closing quote
        raise classic_error(
            f'The activity type "{TYPE_NAMES[type_id]} is not supported in current context".'
        )
    return type_id


def new_activity(call: Call, fields: dict, type_id: int, comms: list[dict]) -> dict:
    new_id = call.portal.next_id("activity")
    provider, provider_type = PROVIDERS.get(type_id, (str(fields.get("PROVIDER_ID", "")), ""))
    completed = "Y" if str(fields.get("COMPLETED", "N")).upper() == "Y" else "N"
    owner_type, owner_id = int_of(fields.get("OWNER_TYPE_ID")), int_of(fields.get("OWNER_ID"))
    if (owner_type <= 0 or owner_id <= 0) and comms:
        owner_type, owner_id = int(comms[0]["ENTITY_TYPE_ID"]), int(comms[0]["ENTITY_ID"])
    record = {"ID": str(new_id), "OWNER_ID": str(owner_id), "OWNER_TYPE_ID": str(owner_type),
              "TYPE_ID": str(type_id), "PROVIDER_ID": provider, "PROVIDER_TYPE_ID": provider_type,
              "PROVIDER_GROUP_ID": None, "ASSOCIATED_ENTITY_ID": "0", "SUBJECT": "",
              "CREATED": now(call), "LAST_UPDATED": now(call), "START_TIME": "", "END_TIME": "",
              "DEADLINE": "", "COMPLETED": completed, "STATUS": "2" if completed == "Y" else "1",
              "RESPONSIBLE_ID": call.auth.user_id, "PRIORITY": "2", "NOTIFY_TYPE": "0",
              "NOTIFY_VALUE": "0", "DESCRIPTION": "", "DESCRIPTION_TYPE": "1", "DIRECTION": "0",
              "LOCATION": "", "SETTINGS": [], "ORIGINATOR_ID": "", "ORIGIN_ID": "",
              "AUTHOR_ID": call.auth.user_id, "EDITOR_ID": call.auth.user_id}  # fmt: skip
    write_activity(record, fields)
    record["OWNER_ID"], record["OWNER_TYPE_ID"] = str(owner_id), str(owner_type)
    record["COMMUNICATIONS"] = [
        {"ID": str(call.portal.next_id("activity_comm")), **c} for c in comms
    ]
    return record


def write_activity(record: dict, fields: dict) -> None:
    for key in WRITABLE:
        if key in fields and key not in ("OWNER_ID", "OWNER_TYPE_ID"):
            record[key] = (
                fields[key]
                if key in ("SETTINGS", "PROVIDER_PARAMS")
                else rec.php_value(fields[key])
            )
    if "COMPLETED" in fields:
        record["COMPLETED"] = "Y" if str(fields["COMPLETED"]).upper() == "Y" else "N"
        record["STATUS"] = "2" if record["COMPLETED"] == "Y" else "1"
    kind = int_of(record["TYPE_ID"])
    record["DEADLINE"] = (
        record["END_TIME"] if kind == 3 else record["START_TIME"] or record["END_TIME"]
    )


def sender(settings: Any) -> str | None:
    """The address inside SETTINGS.MESSAGE_FROM ("Name Surname <a@b.c>" or a bare address)."""
    text = str((settings or {}).get("MESSAGE_FROM", "")) if isinstance(settings, dict) else ""
    match = re.search(r"<([^<>\s]+@[^<>\s]+)>", text) or re.fullmatch(r"\s*(\S+@\S+)\s*", text)
    return match.group(1) if match else None


def connected(portal: Portal, address: str) -> bool:
    """Whether ``address`` is one of the portal's connected mailboxes (setting ``mailboxes``; None: any)."""
    boxes = portal.settings.get("mailboxes")
    return boxes is None or address.lower() in {b.strip().lower() for b in boxes}


def send_email(call: Call, record: dict) -> None:
    """§4.10: log the e-mail in the outbox; the vendor keeps the activity even when sending fails."""
    recipients = [c["VALUE"] for c in record["COMMUNICATIONS"] if "@" in c["VALUE"]]
    if not recipients:
        raise classic_error('Email send error. "To" is not found.')
    from_address = sender(record.get("SETTINGS"))
    if not from_address or not connected(call.portal, from_address):
        raise classic_error('Email send error. "From" is not found.')
    call.portal.log("outbox", {"from": record["SETTINGS"]["MESSAGE_FROM"], "from_address": from_address,
                               "to": recipients, "subject": record["SUBJECT"], "body": record["DESCRIPTION"],
                               "description_type": record["DESCRIPTION_TYPE"],
                               "owner": {"type_id": int(record["OWNER_TYPE_ID"]), "id": int(record["OWNER_ID"])},
                               "activity_id": int(record["ID"])})  # fmt: skip


def activity_add(call: Call) -> int:
    """crm.activity.add: store the activity; send it when it is an outgoing completed e-mail (§4.10)."""
    fields = fields_param(call)
    type_id = check_new_activity(call, fields)
    comms = prepare_communications(type_id, fields.get("COMMUNICATIONS"))
    if not comms:
        raise classic_error("The field COMMUNICATIONS is not defined or invalid.")
    if type_id in (CALL, MEETING) and len(comms) > 1:
        raise classic_error("The only one communication is allowed for activity of specified type.")
    record = new_activity(call, fields, type_id, comms)
    if int(record["OWNER_TYPE_ID"]) <= 0 or int(record["OWNER_ID"]) <= 0:
        raise classic_error(
            "Could not build binding. Please ensure that owner info and communications are defined correctly."
        )
    activities(call.portal)[record["ID"]] = record
    call.emit("ONCRMACTIVITYADD", {"FIELDS": {"ID": int(record["ID"])}})
    if type_id == EMAIL and int_of(record["DIRECTION"]) == 2 and record["COMPLETED"] == "Y":
        send_email(call, record)
    return int(record["ID"])


def find_activity(call: Call, missing: str = "Not found") -> dict:
    raw = call.get("id", "ID")
    if int_of(raw) <= 0:
        raise bad_id()
    record = activities(call.portal).get(str(int_of(raw)))
    if record is None:
        raise not_found(missing)
    return record


def activity_get(call: Call) -> dict:
    """crm.activity.get: the record with its communications."""
    return find_activity(call)


def activity_list(call: Call) -> Listing:
    """crm.activity.list: classic filter/order/select; COMMUNICATIONS only when selected; START_TIME order."""
    flt = call.get("filter", "FILTER") or {}
    if not isinstance(flt, dict):
        raise classic_error("Parameter 'filter' must be array.")
    rows = [r for r in activities(call.portal).values() if rec.matches(r, flt)]
    rows = rec.order_records(rows, call.get("order", "ORDER") or {"START_TIME": "ASC", "ID": "ASC"})
    select = call.get("select", "SELECT") or ["*"]
    wanted = {str(s).upper() for s in (select.values() if isinstance(select, dict) else select)}
    out = []
    for row in rows:
        picked = rec.select_fields({k: v for k, v in row.items() if k != "COMMUNICATIONS"}, select)
        if "COMMUNICATIONS" in wanted:
            picked["COMMUNICATIONS"] = row["COMMUNICATIONS"]
        out.append(picked)
    return Listing(out)


def activity_update(call: Call) -> bool:
    """crm.activity.update: change fields; new COMMUNICATIONS replace the old ones."""
    record = find_activity(call, "Activity is not found.")
    fields = fields_param(call)
    if "COMMUNICATIONS" in fields:
        comms = prepare_communications(int(record["TYPE_ID"]), fields["COMMUNICATIONS"])
        if not comms:
            raise classic_error("The field COMMUNICATIONS is not defined or invalid.")
        record["COMMUNICATIONS"] = [
            {"ID": str(call.portal.next_id("activity_comm")), **c} for c in comms
        ]
    for key in ("OWNER_ID", "OWNER_TYPE_ID"):
        if int_of(fields.get(key)) > 0:
            record[key] = str(int_of(fields[key]))
    write_activity(record, fields)
    record["LAST_UPDATED"], record["EDITOR_ID"] = now(call), call.auth.user_id
    call.emit("ONCRMACTIVITYUPDATE", {"FIELDS": {"ID": int(record["ID"])}})
    return True


def activity_delete(call: Call) -> bool:
    """crm.activity.delete: removes the record (a sent e-mail stays sent)."""
    record = find_activity(call, "Activity is not found.")
    del activities(call.portal)[record["ID"]]
    call.emit("ONCRMACTIVITYDELETE", {"FIELDS": {"ID": int(record["ID"])}})
    return True


# --- crm.activity.todo.add ------------------------------------------------------------------------


def missing_parameter(name: str) -> RestError:
    """Controller-style methods: numeric code 100 for an absent required parameter."""
    return RestError(100, f"Could not find value for parameter {{{name}}}", 400)


def parse_datetime(value: Any) -> datetime | None:
    text = str(value or "").strip()
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            return datetime.fromisoformat(candidate)
        except ValueError:
            pass
    for fmt in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    return None


def todo_add(call: Call) -> dict:
    """crm.activity.todo.add: a universal to-do on a CRM object; result {"id": n} (§4.8)."""
    for name in ("ownerTypeId", "ownerId", "deadline"):
        if call.get(name) in (None, ""):
            raise missing_parameter(name)
    owner_type, owner_id = int_of(call.get("ownerTypeId")), int_of(call.get("ownerId"))
    if not owner_exists(call.portal, owner_type, owner_id):
        raise RestError("OWNER_NOT_FOUND", "Owner was not found", 400)
    deadline = parse_datetime(call.get("deadline"))
    if deadline is None:
        raise RestError("WRONG_DATETIME_FORMAT", "Wrong datetime format", 400)
    if deadline.tzinfo is None:
        from zoneinfo import ZoneInfo

        deadline = deadline.replace(tzinfo=ZoneInfo(call.portal.settings["timezone"]))
    fields = {"SUBJECT": str(call.get("title") or ""), "DESCRIPTION": str(call.get("description") or ""),
              "END_TIME": deadline.isoformat(timespec="seconds"), "PROVIDER_ID": "CRM_TODO",
              "PROVIDER_TYPE_ID": "TODO", "RESPONSIBLE_ID": call.get("responsibleId") or call.auth.user_id,
              "SETTINGS": {"pingOffsets": call.get("pingOffsets") or [], "colorId": call.get("colorId")},
              "OWNER_TYPE_ID": owner_type, "OWNER_ID": owner_id, "TYPE_ID": PROVIDER}  # fmt: skip
    record = new_activity(call, fields, PROVIDER, [])
    record["DEADLINE"] = record["END_TIME"]
    record["PARENT_ID"] = str(int_of(call.get("parentActivityId")))
    activities(call.portal)[record["ID"]] = record
    call.emit("ONCRMACTIVITYADD", {"FIELDS": {"ID": int(record["ID"])}})
    return {"id": int(record["ID"])}


# --- crm.timeline.comment.* -----------------------------------------------------------------------


def entity_type_id(name: Any) -> int | None:
    """``deal`` → 2; ``dynamic_128`` → 128."""
    name = str(name or "").strip().lower()
    if name in ENTITY_TYPE_NAMES:
        return ENTITY_TYPE_NAMES[name]
    if name.startswith("dynamic_") and name[8:].isdigit():
        return int(name[8:])
    return None


def comment_add(call: Call) -> int:
    """crm.timeline.comment.add: a comment on a CRM object's timeline; result int."""
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict) or not fields:
        raise missing_parameter("fields")
    fields = {str(k).upper(): v for k, v in fields.items()}
    type_id = entity_type_id(fields.get("ENTITY_TYPE"))
    if type_id is None or not owner_exists(call.portal, type_id, int_of(fields.get("ENTITY_ID"))):
        raise RestError("OWNER_NOT_FOUND", "Owner was not found", 400)
    if str(fields.get("COMMENT") or "").strip() == "":
        raise RestError("INVALID_ARG_VALUE", "Empty comment", 400)
    new_id = call.portal.next_id("timeline_comment")
    comments(call.portal)[str(new_id)] = {
        "ID": str(new_id), "ENTITY_ID": str(int_of(fields["ENTITY_ID"])),
        "ENTITY_TYPE": str(fields["ENTITY_TYPE"]).lower(), "CREATED": now(call),
        "COMMENT": str(fields["COMMENT"]), "AUTHOR_ID": str(fields.get("AUTHOR_ID") or call.auth.user_id),
        "FILES": {}, "_TYPE_ID": type_id,
    }  # fmt: skip
    call.emit("ONCRMTIMELINECOMMENTADD", {"FIELDS": {"ID": new_id}})
    return new_id


def shown(comment: dict) -> dict:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


def find_comment(call: Call) -> dict:
    raw = call.get("id", "ID")
    if int_of(raw) <= 0:
        raise bad_id()
    comment = comments(call.portal).get(str(int_of(raw)))
    if comment is None:
        raise not_found("Not found.")
    return comment


def comment_get(call: Call) -> dict:
    """crm.timeline.comment.get: one comment; FILES prints as [] when empty (a PHP array)."""
    return shown(find_comment(call))


def comment_list(call: Call) -> Listing:
    """crm.timeline.comment.list: comments filtered by ENTITY_ID/ENTITY_TYPE (classic filter)."""
    flt = call.get("filter", "FILTER") or {}
    if not isinstance(flt, dict):
        raise classic_error("Parameter 'filter' must be array.")
    rows = [shown(c) for c in comments(call.portal).values() if rec.matches(shown(c), flt)]
    rows = rec.order_records(rows, call.get("order", "ORDER"))
    return Listing([rec.select_fields(r, call.get("select", "SELECT")) for r in rows])


def comment_delete(call: Call) -> None:
    """crm.timeline.comment.delete: result null."""
    if call.get("id", "ID") in (None, ""):
        raise missing_parameter("id")
    comment = comments(call.portal).get(str(int_of(call.get("id", "ID"))))
    if comment is None:
        raise RestError("NOT_FOUND", "Not found.", 400)
    del comments(call.portal)[comment["ID"]]
    call.emit("ONCRMTIMELINECOMMENTDELETE", {"FIELDS": {"ID": int(comment["ID"])}})
    return None


METHODS = [
    Method("crm.activity.add", activity_add, scope="crm"),
    Method("crm.activity.get", activity_get, scope="crm"),
    Method("crm.activity.list", activity_list, scope="crm"),
    Method("crm.activity.update", activity_update, scope="crm"),
    Method("crm.activity.delete", activity_delete, scope="crm"),
    Method("crm.activity.todo.add", todo_add, scope="crm"),
    Method("crm.timeline.comment.add", comment_add, scope="crm"),
    Method("crm.timeline.comment.get", comment_get, scope="crm"),
    Method("crm.timeline.comment.list", comment_list, scope="crm"),
    Method("crm.timeline.comment.delete", comment_delete, scope="crm"),
]
