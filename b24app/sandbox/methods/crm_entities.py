"""Classic CRM methods ``crm.{contact,company,lead,deal}.*`` (bitrix24-rest.md §4.1).

Records are stored the way these methods print them: upper-case keys, numbers and ids as strings,
booleans as "Y"/"N"; multifields (PHONE, EMAIL, WEB, IM) as lists of {ID, TYPE_ID, VALUE, VALUE_TYPE}.
"""

from typing import Any

from .. import records as rec
from ..call import Call, Listing, Method
from ..errors import RestError, bad_id, not_found
from ..world import Portal
from . import crm_items, crm_status, userfields

ENTITIES = {"contact": 3, "company": 4, "lead": 1, "deal": 2}
TYPE_IDS = {v: k for k, v in ENTITIES.items()}
VALUE_TYPES = {
    "PHONE": ("WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"),
    "EMAIL": ("WORK", "HOME", "MAILING", "OTHER"),
    "WEB": ("WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL", "TWITTER", "OTHER"),
    "IM": ("TELEGRAM", "VK", "SKYPE", "VIBER", "BITRIX24", "OPENLINE", "IMOL", "ICQ", "MSN",
           "JABBER", "OTHER"),
}  # fmt: skip
READ_ONLY = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID", "STAGE_SEMANTIC_ID",
             "IS_NEW", "HAS_EMAIL", "HAS_PHONE", "HAS_IMOL", "MOVED_TIME", "MOVED_BY_ID",
             "STATUS_SEMANTIC_ID"}  # fmt: skip

# Fields each entity knows (beyond UF_CRM_* and multifields); unknown fields are ignored on write.
FIELDS = {
    "contact": ["HONORIFIC", "NAME", "SECOND_NAME", "LAST_NAME", "PHOTO", "BIRTHDATE", "TYPE_ID",
                "SOURCE_ID", "SOURCE_DESCRIPTION", "POST", "ADDRESS", "COMMENTS", "OPENED", "EXPORT",
                "ASSIGNED_BY_ID", "COMPANY_ID", "COMPANY_IDS", "LEAD_ID", "ORIGINATOR_ID", "ORIGIN_ID",
                "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"],
    "company": ["TITLE", "COMPANY_TYPE", "INDUSTRY", "EMPLOYEES", "REVENUE", "CURRENCY_ID",
                "COMMENTS", "OPENED", "ASSIGNED_BY_ID", "ADDRESS", "LEAD_ID", "ORIGINATOR_ID",
                "ORIGIN_ID", "CONTACT_ID"],
    "lead": ["TITLE", "HONORIFIC", "NAME", "SECOND_NAME", "LAST_NAME", "BIRTHDATE", "COMPANY_TITLE",
             "SOURCE_ID", "SOURCE_DESCRIPTION", "STATUS_ID", "STATUS_DESCRIPTION", "POST", "ADDRESS",
             "CURRENCY_ID", "OPPORTUNITY", "IS_MANUAL_OPPORTUNITY", "OPENED", "COMMENTS",
             "ASSIGNED_BY_ID", "CONTACT_ID", "COMPANY_ID", "ORIGINATOR_ID", "ORIGIN_ID",
             "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"],
    "deal": ["TITLE", "TYPE_ID", "CATEGORY_ID", "STAGE_ID", "IS_RECURRING", "IS_RETURN_CUSTOMER",
             "PROBABILITY", "CURRENCY_ID", "OPPORTUNITY", "IS_MANUAL_OPPORTUNITY", "TAX_VALUE",
             "COMPANY_ID", "CONTACT_ID", "CONTACT_IDS", "QUOTE_ID", "BEGINDATE", "CLOSEDATE",
             "OPENED", "CLOSED", "COMMENTS", "ASSIGNED_BY_ID", "SOURCE_ID", "SOURCE_DESCRIPTION",
             "LEAD_ID", "ADDITIONAL_INFO", "ORIGINATOR_ID", "ORIGIN_ID",
             "UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM"],
}  # fmt: skip
HIDDEN = {"CONTACT_IDS", "COMPANY_IDS"}  # stored, filterable, not printed by get/list


def table(portal: Portal, entity: str) -> dict[str, dict]:
    return portal.table(entity)


def find(portal: Portal, entity: str, raw_id: Any) -> dict:
    """The record or the classic empty-code errors for a bad or unknown id."""
    try:
        entity_id = int(str(raw_id))
    except (TypeError, ValueError):
        raise bad_id() from None
    if entity_id <= 0:
        raise bad_id()
    record = table(portal, entity).get(str(entity_id))
    if record is None:
        raise not_found()
    return record


def fields_param(call: Call) -> dict:
    """``fields`` as an object; absent or not an object is refused, as the classic methods do
    (docs api-reference/crm/contacts/crm-contact-add.md, "Parameter 'fields' must be array.")."""
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise RestError("", "Parameter 'fields' must be array.", 400)
    return {str(k).upper(): v for k, v in fields.items()}


def apply_multifields(portal: Portal, record: dict, name: str, items: Any) -> None:
    """§4.1 update semantics: no ID → append; ID+VALUE → overwrite; ID with DELETE/empty/no VALUE → delete."""
    if isinstance(items, dict):
        items = list(items.values())
    if not isinstance(items, list):
        return
    current = record.setdefault(name, [])
    for item in items:
        if not isinstance(item, dict):
            continue
        item = {str(k).upper(): v for k, v in item.items()}
        if item.get("ID") not in (None, ""):
            target = next((m for m in current if m["ID"] == str(item["ID"])), None)
            if target is None:
                continue
            value = item.get("VALUE")
            if str(item.get("DELETE", "")).upper() == "Y" or value in (None, ""):
                current.remove(target)
            else:
                target["VALUE"] = str(value)
                if item.get("VALUE_TYPE"):
                    target["VALUE_TYPE"] = str(item["VALUE_TYPE"])
            continue
        if item.get("VALUE") in (None, ""):
            continue
        value_type = str(item.get("VALUE_TYPE") or VALUE_TYPES[name][0]).upper()
        if name == "EMAIL" and "@" not in str(item["VALUE"]):
            raise RestError("ERROR_CORE", f"Invalid e-mail address: {item['VALUE']}", 400)
        current.append({"ID": str(portal.next_id("fm")), "VALUE_TYPE": value_type,
                        "VALUE": str(item["VALUE"]), "TYPE_ID": name})  # fmt: skip
    if not current:
        del record[name]


def write_fields(portal: Portal, entity: str, record: dict, fields: dict) -> None:
    """Copy known fields, user fields and multifields into the record in classic (string) form."""
    known = set(FIELDS[entity])
    for key, value in fields.items():
        if key in VALUE_TYPES:
            apply_multifields(portal, record, key, value)
        elif key in known or (
            key.startswith("UF_CRM_") and userfields.definition(portal, entity, key)
        ):
            record[key] = rec.php_value(
                value
            )  # undefined UF_CRM_* fields are ignored, as Bitrix does
    if entity == "deal":
        if "CONTACT_IDS" in fields:
            ids = fields["CONTACT_IDS"] or []
            record["CONTACT_IDS"] = [
                str(i) for i in (ids.values() if isinstance(ids, dict) else ids)
            ]
            record["CONTACT_ID"] = record["CONTACT_IDS"][0] if record["CONTACT_IDS"] else ""
        elif "CONTACT_ID" in fields:
            record["CONTACT_IDS"] = [record["CONTACT_ID"]] if record["CONTACT_ID"] else []
    if entity in ("contact", "lead", "company"):
        record["HAS_PHONE"] = "Y" if record.get("PHONE") else "N"
        record["HAS_EMAIL"] = "Y" if record.get("EMAIL") else "N"


def defaults(call: Call, entity: str, new_id: int) -> dict:
    now = rec.now_iso(call.portal.settings["timezone"])
    user = call.auth.user_id
    base = {"ID": str(new_id), "DATE_CREATE": now, "DATE_MODIFY": now, "CREATED_BY_ID": user,
            "MODIFY_BY_ID": user, "ASSIGNED_BY_ID": user, "OPENED": "Y", "COMMENTS": "",
            "ORIGINATOR_ID": "", "ORIGIN_ID": "", "SOURCE_ID": ""}  # fmt: skip
    extra = {
        "contact": {"NAME": "", "SECOND_NAME": "", "LAST_NAME": "", "TYPE_ID": "CLIENT",
                    "COMPANY_ID": "", "BIRTHDATE": "", "POST": "", "EXPORT": "Y"},
        "company": {"TITLE": "", "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": "", "CURRENCY_ID": "RUB",
                    "REVENUE": "0.00"},
        "lead": {"TITLE": f"Lead #{new_id}", "NAME": "", "LAST_NAME": "", "SECOND_NAME": "",
                 "STATUS_ID": "NEW", "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00", "IS_RETURN_CUSTOMER": "N"},
        "deal": {"TITLE": f"Deal #{new_id}", "TYPE_ID": "SALE", "CATEGORY_ID": "0", "STAGE_ID": "",
                 "CURRENCY_ID": "RUB", "OPPORTUNITY": "0.00", "IS_MANUAL_OPPORTUNITY": "N",
                 "COMPANY_ID": "0", "CONTACT_ID": "", "CONTACT_IDS": [], "BEGINDATE": now,
                 "CLOSEDATE": "", "CLOSED": "N", "PROBABILITY": "", "IS_NEW": "Y"},
    }[entity]  # fmt: skip
    return {**base, **extra}


def settle_deal(portal: Portal, record: dict, moved: bool) -> None:
    """Deal stage bookkeeping: default stage of the pipeline, semantics, CLOSED, money format."""
    category = record.get("CATEGORY_ID") or "0"
    if not crm_items.category(portal, 2, int(category) if str(category).isdigit() else -1):
        raise RestError("", f"Category {category} is not found.", 400)
    if not record.get("STAGE_ID"):
        record["STAGE_ID"] = crm_status.first_stage(portal, category)
    semantic = crm_status.stage_semantic(portal, record["STAGE_ID"], category)
    if semantic is None:
        raise RestError("", f"Stage {record['STAGE_ID']} is not found in pipeline {category}.", 400)
    record["STAGE_SEMANTIC_ID"] = semantic
    record["CLOSED"] = "N" if semantic == "P" else "Y"
    if moved:
        record["MOVED_TIME"] = rec.now_iso(portal.settings["timezone"])
        record["MOVED_BY_ID"] = record.get("MODIFY_BY_ID", "")


def settle_lead(portal: Portal, record: dict) -> None:
    """Lead status bookkeeping: the status must exist in the STATUS list; STATUS_SEMANTIC_ID follows it."""
    semantic = crm_status.lead_semantic(portal, record.get("STATUS_ID") or "")
    if semantic is None:
        raise RestError("", f"Status {record.get('STATUS_ID')} is not found.", 400)
    record["STATUS_SEMANTIC_ID"] = semantic


def money(record: dict, key: str) -> None:
    if key in record and record[key] != "":
        try:
            record[key] = f"{float(record[key]):.2f}"
        except ValueError:
            raise RestError("", f"Field {key} must be a number.", 400) from None


def create(call: Call, entity: str, fields: dict) -> dict:
    """A new record from classic (upper-case) fields; emits ONCRM<ENTITY>ADD."""
    new_id = call.portal.next_id(entity)
    record = defaults(call, entity, new_id)
    write_fields(
        call.portal, entity, record, {k: v for k, v in fields.items() if k not in READ_ONLY}
    )
    settle(call.portal, entity, record, moved=True)
    table(call.portal, entity)[str(new_id)] = record
    call.emit(f"ONCRM{entity.upper()}ADD", {"FIELDS": {"ID": new_id}})
    return record


def change(call: Call, entity: str, record: dict, fields: dict, move: bool = False) -> None:
    """Update a record from classic fields; only ``move`` (crm.item.update) may change a deal's pipeline."""
    fields = {k: v for k, v in fields.items() if k not in READ_ONLY}
    new_category = fields.pop("CATEGORY_ID", None) if entity == "deal" else None
    moved_category = (
        move and new_category is not None and str(new_category) != record.get("CATEGORY_ID")
    )
    if moved_category:
        record["CATEGORY_ID"] = str(new_category)
        record["STAGE_ID"] = ""  # the first stage of the new pipeline unless STAGE_ID is given
    old_stage = record.get("STAGE_ID")
    write_fields(call.portal, entity, record, fields)
    record["DATE_MODIFY"] = rec.now_iso(call.portal.settings["timezone"])
    record["MODIFY_BY_ID"] = call.auth.user_id
    settle(call.portal, entity, record, moved=record.get("STAGE_ID") != old_stage)
    call.emit(f"ONCRM{entity.upper()}UPDATE", {"FIELDS": {"ID": int(record["ID"])}})
    if moved_category:
        call.emit("ONCRMDEALMOVETOCATEGORY", {"FIELDS": {"ID": int(record["ID"]), "CATEGORY_ID": record["CATEGORY_ID"],
                                                         "STAGE_ID": record["STAGE_ID"]}})  # fmt: skip


def settle(portal: Portal, entity: str, record: dict, moved: bool) -> None:
    """Stage/status bookkeeping and money formatting after a write."""
    if entity == "deal":
        settle_deal(portal, record, moved)
    elif entity == "lead":
        settle_lead(portal, record)
    for key in ("OPPORTUNITY", "REVENUE"):
        money(record, key)


def remove(call: Call, entity: str, record: dict) -> None:
    """Delete a record; emits ONCRM<ENTITY>DELETE."""
    del table(call.portal, entity)[record["ID"]]
    call.emit(f"ONCRM{entity.upper()}DELETE", {"FIELDS": {"ID": int(record["ID"])}})


def add(entity: str):
    def method(call: Call) -> int:
        return int(create(call, entity, fields_param(call))["ID"])

    return method


def update(entity: str):
    def method(call: Call) -> bool:
        record = find(call.portal, entity, call.get("id", "ID"))
        change(
            call, entity, record, fields_param(call)
        )  # crm.deal.update cannot change CATEGORY_ID
        return True

    return method


def visible(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in HIDDEN}


def get(entity: str):
    def method(call: Call) -> dict:
        return visible(find(call.portal, entity, call.get("id", "ID")))

    return method


def list_(entity: str):
    def method(call: Call) -> Listing:
        flt = call.get("filter", "FILTER") or {}
        if not isinstance(flt, dict):
            raise RestError("", "Parameter 'filter' must be array.", 400)
        rows = [r for r in table(call.portal, entity).values() if rec.matches(r, flt)]
        rows = rec.order_records(rows, call.get("order", "ORDER"))
        select = call.get("select", "SELECT")
        return Listing([rec.select_fields(visible(r), select) for r in rows])

    return method


def delete(entity: str):
    def method(call: Call) -> bool:
        remove(call, entity, find(call.portal, entity, call.get("id", "ID")))
        return True

    return method


def fields_description(entity: str):
    def method(call: Call) -> dict:
        out: dict = {"ID": _describe("integer", read_only=True)}
        for name in FIELDS[entity]:
            out[name] = _describe("string")
        for name in VALUE_TYPES:
            if entity != "deal":
                out[name] = _describe("crm_multifield", multiple=True)
        for uf in userfields.definitions(call.portal, entity):
            out[uf["FIELD_NAME"]] = _describe(uf["USER_TYPE_ID"], multiple=uf["MULTIPLE"] == "Y",
                                              title=uf["FIELD_NAME"], is_uf=True, items=uf.get("LIST"))  # fmt: skip
        return out

    return method


def _describe(kind: str, read_only: bool = False, multiple: bool = False, title: str = "",
              is_uf: bool = False, items: list | None = None) -> dict:  # fmt: skip
    desc = {"type": kind, "isRequired": False, "isReadOnly": read_only, "isImmutable": False,
            "isMultiple": multiple, "isDynamic": is_uf, "title": title}  # fmt: skip
    if is_uf:
        desc.update(listLabel=title, formLabel=title, filterLabel=title)
    if items is not None:
        desc["items"] = items
    return desc


METHODS = [
    Method(f"crm.{entity}.{verb}", factory(entity), scope="crm")
    for entity in ENTITIES
    for verb, factory in (
        ("add", add),
        ("update", update),
        ("get", get),
        ("list", list_),
        ("delete", delete),
        ("fields", fields_description),
    )  # fmt: skip
]
