"""Duplicates: ``crm.duplicate.findbycomm`` and ``crm.entity.mergeBatch`` (bitrix24-rest.md §4.3, §4.4).

Merge rules (decided here, after the vendor's EntityMerger): the first existing id is the root; a field
conflicts when the root and another record hold different non-empty scalar values, where empty means
"", null, [] or a zero number. System and bookkeeping fields are never compared (``SYSTEM``) and keep
the root's value, as do progress fields (stage/status). List fields (CONTACT_IDS, COMPANY_IDS...) are
unioned; multifields are unioned without repeating a value. On CONFLICT nothing changes (the vendor
merges the whole batch in one update, so a conflict anywhere stops it before any write).
"""

import re
from typing import Any

from .. import records as rec
from ..call import Call, Method
from ..errors import RestError
from ..world import Portal
from . import activities
from .crm_entities import ENTITIES, TYPE_IDS, VALUE_TYPES

MAX_VALUES = 20
MAX_PER_VALUE = 20
SEARCH_ORDER = ("LEAD", "CONTACT", "COMPANY")
SYSTEM = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "ASSIGNED_BY_ID",
          "CREATED_BY", "UPDATED_BY", "CREATED_TIME", "UPDATED_TIME", "MOVED_TIME", "MOVED_BY_ID",
          "MOVED_BY", "LAST_ACTIVITY_TIME", "LAST_ACTIVITY_BY", "STAGE_SEMANTIC_ID", "IS_NEW",
          "HAS_EMAIL", "HAS_PHONE", "HAS_IMOL", "OPENED", "EXPORT", "BEGINDATE", "CLOSEDATE",
          "STAGE_ID", "STATUS_ID", "PREVIOUS_STAGE_ID", "CATEGORY_ID", "CLOSED", "ENTITY_TYPE_ID",
          "OPPORTUNITY_ACCOUNT", "ACCOUNT_CURRENCY_ID", "TITLE_DEFAULT"}  # fmt: skip
ITEM_MULTIFIELDS = "FM"
DERIVED = {"CONTACT_ID": "CONTACT_IDS", "COMPANY_ID": "COMPANY_IDS"}  # the first of a bound list


# --- crm.duplicate.findbycomm -----------------------------------------------------------------------


def comm_error(text: str, description: str | None = None) -> RestError:
    """findbycomm errors: the sentence is the code, as in the docs' JSON (§4.3)."""
    return RestError(text, description or f"{text}.", 400)


def normalize(kind: str, value: str) -> str:
    """E-mails compare case-insensitively; phones by digits, ignoring formatting and the extension."""
    if kind == "EMAIL":
        return value.strip().lower()
    number = re.split(r"(?i)\s*(?:ext\.?|доб\.?|#|,)", value, maxsplit=1)[0]
    return re.sub(r"\D", "", number)


def record_keys(record: dict, kind: str) -> set[str]:
    values = [item.get("VALUE", "") for item in record.get(kind) or []]
    return {normalize(kind, str(v)) for v in values} - {""}


def find_by_value(
    portal: Portal, kind: str, key: str, types: tuple[str, ...]
) -> list[tuple[str, int]]:
    """Up to 20 matches of one value, leads first: 20 in one type hide the types after it."""
    found: list[tuple[str, int]] = []
    for entity_type in types:
        table = portal.table(entity_type.lower())
        for record_id in sorted(table, key=int):
            if len(found) >= MAX_PER_VALUE:
                return found
            if key in record_keys(table[record_id], kind):
                found.append((entity_type, int(record_id)))
    return found


def comm_values(call: Call) -> list:
    values = call.get("values")
    if isinstance(values, dict):
        values = list(values.values())
    if not isinstance(values, list) or not values:
        raise comm_error("Communication values is not defined", "Parameter 'values' is required.")
    return values


def search_types(call: Call) -> tuple[str, ...]:
    entity_type = str(call.get("entity_type", "entityType") or "").strip().upper()
    if entity_type == "DEAL":
        raise comm_error("Deal is not supported in current context")
    return (entity_type,) if entity_type in SEARCH_ORDER else SEARCH_ORDER


def find_by_comm(call: Call) -> dict:
    """crm.duplicate.findbycomm: ids of leads/contacts/companies holding any of the values (§4.3)."""
    kind = str(call.get("type") or "").strip().upper()
    if kind == "":
        raise comm_error("Communication type is not defined", "Parameter 'type' is required.")
    if kind not in ("EMAIL", "PHONE"):
        raise comm_error(f"Communication type '{kind}' is not supported in current context")
    values, types = comm_values(call), search_types(call)
    seen: list[str] = []
    result: dict[str, list[int]] = {}
    for value in values:
        # the vendor skips non-strings and blanks and silently stops after 20 distinct values
        if not isinstance(value, str) or value == "" or normalize(kind, value) in seen:
            continue
        seen.append(normalize(kind, value))
        if seen[-1]:
            for entity_type, record_id in find_by_value(call.portal, kind, seen[-1], types):
                ids = result.setdefault(entity_type, [])
                if record_id not in ids:
                    ids.append(record_id)
        if len(seen) >= MAX_VALUES:
            break
    return result


# --- crm.entity.mergeBatch --------------------------------------------------------------------------


def merge_error(text: str) -> RestError:
    """Controller errors carry the numeric code 0 (§4.4)."""
    return RestError(0, text, 400)


def is_empty(value: Any) -> bool:
    if value is None or value == "" or value == [] or value == {}:
        return True
    number = rec._number(value)
    return number is not None and number == 0


def is_system(key: str) -> bool:
    return key.startswith("_") or key.upper() in SYSTEM or rec.snake(key) in SYSTEM


def merge_scalars(root: dict, others: list[dict]) -> dict | None:
    """Blank root fields filled from the others; None when two non-empty values differ."""
    changes: dict = {}
    for other in others:
        for key, value in other.items():
            if is_system(key) or key in VALUE_TYPES or key == ITEM_MULTIFIELDS or is_empty(value):
                continue
            if DERIVED.get(key) in other:
                continue
            if isinstance(value, list):
                current = changes.get(key, root.get(key)) or []
                changes[key] = current + [v for v in value if v not in current]
                continue
            current = changes.get(key, root.get(key))
            if is_empty(current):
                changes[key] = value
            elif str(current) != str(value):
                return None
    for single, plural in DERIVED.items():
        if changes.get(plural) and plural in root:
            changes[single] = changes[plural][0]
    return changes


def union_multifields(portal: Portal, root: dict, others: list[dict]) -> None:
    """PHONE/EMAIL/WEB/IM of the others appended to the root unless the value is already there."""
    for name in VALUE_TYPES:
        items = list(root.get(name) or [])
        known = {normalize("EMAIL" if name != "PHONE" else "PHONE", i["VALUE"]) for i in items}
        for other in others:
            for item in other.get(name) or []:
                key = normalize("EMAIL" if name != "PHONE" else "PHONE", item["VALUE"])
                if key not in known:
                    known.add(key)
                    items.append({**item, "ID": str(portal.next_id("fm"))})
        if items:
            root[name] = items
    if "HAS_PHONE" in root:
        root["HAS_PHONE"] = "Y" if root.get("PHONE") else "N"
        root["HAS_EMAIL"] = "Y" if root.get("EMAIL") else "N"


def relink(portal: Portal, type_id: int, old: str, new: str) -> None:
    """Point deals, contacts and leads that referenced a merged-away contact or company at the root."""
    single = {3: "CONTACT_ID", 4: "COMPANY_ID"}.get(type_id)
    plural = {3: "CONTACT_IDS", 4: "COMPANY_IDS"}.get(type_id)
    if not single:
        return
    for entity in ENTITIES:
        for record in portal.table(entity).values():
            ids = record.get(plural)
            if isinstance(ids, list) and old in ids:
                record[plural] = list(dict.fromkeys(new if i == old else i for i in ids))
            if record.get(single) == old:
                record[single] = new


def event_names(type_id: int) -> tuple[str, str, dict]:
    """(update event, delete event, extra event data) for a CRM type."""
    if type_id in TYPE_IDS:
        name = TYPE_IDS[type_id].upper()
        return f"ONCRM{name}UPDATE", f"ONCRM{name}DELETE", {}
    return "ONCRMDYNAMICITEMUPDATE", "ONCRMDYNAMICITEMDELETE", {"ENTITY_TYPE_ID": type_id}


def merge_params(call: Call) -> tuple[int, list]:
    params = call.get("params")
    if not isinstance(params, dict):
        raise RestError(100, "Could not find value for parameter {params}", 400)
    type_id = activities.int_of(params.get("entityTypeId"))
    if type_id <= 0:
        raise merge_error("The parameter entityTypeId is required.")
    ids = params.get("entityIds")
    if isinstance(ids, dict):
        ids = list(ids.values())
    return type_id, ids if isinstance(ids, list) else []


def merge_batch(call: Call) -> dict:
    """crm.entity.mergeBatch: merge records of one type into the first existing id (§4.4)."""
    type_id, raw_ids = merge_params(call)
    table = activities.owner_table(call.portal, type_id)
    if table is None:
        raise merge_error(f"Entity type {type_id} is not supported")
    ids = [str(i) for i in dict.fromkeys(activities.int_of(x) for x in raw_ids) if str(i) in table]
    if not ids:
        raise merge_error("The parameter entityIds does not contains valid elements.")
    if len(ids) < 2:
        raise merge_error("The parameter entityIds must contains at least two elements.")
    root, others = table[ids[0]], [table[i] for i in ids[1:]]
    merged_away = [int(i) for i in ids[1:]]
    changes = merge_scalars(root, others)
    if changes is None:
        return {"STATUS": "CONFLICT", "ENTITY_IDS": merged_away}
    apply_merge(call, type_id, table, root, ids, changes)
    return {"STATUS": "SUCCESS", "ENTITY_IDS": merged_away}


def apply_merge(
    call: Call, type_id: int, table: dict, root: dict, ids: list[str], changes: dict
) -> None:
    others = [table[i] for i in ids[1:]]
    root.update(changes)
    union_multifields(call.portal, root, others)
    if ITEM_MULTIFIELDS in root or any(ITEM_MULTIFIELDS in o for o in others):
        items = list(root.get(ITEM_MULTIFIELDS) or [])
        values = {str(i.get("value", "")).lower() for i in items}
        items += [
            i
            for o in others
            for i in o.get(ITEM_MULTIFIELDS) or []
            if str(i.get("value", "")).lower() not in values
        ]
        root[ITEM_MULTIFIELDS] = items
    if "DATE_MODIFY" in root:
        root["DATE_MODIFY"] = rec.now_iso(call.portal.settings["timezone"])
        root["MODIFY_BY_ID"] = call.auth.user_id
    update_event, delete_event, extra = event_names(type_id)
    root_id = ids[0]
    merged = call.portal.bucket("merged").setdefault(str(type_id), {})
    for seed in ids[1:]:
        merged[str(seed)] = (
            root_id  # the portal UI says «объединён с #N» instead of a bare Not Found
        )
        relink(call.portal, type_id, seed, root_id)
        activities.rebind(call.portal, type_id, int(seed), int(root_id))
        del table[seed]
        call.emit(delete_event, {"FIELDS": {"ID": int(seed), **extra}})
    call.emit(update_event, {"FIELDS": {"ID": int(root_id), **extra}})


METHODS = [
    Method("crm.duplicate.findbycomm", find_by_comm, scope="crm"),
    Method("crm.entity.mergebatch", merge_batch, scope="crm"),
]
