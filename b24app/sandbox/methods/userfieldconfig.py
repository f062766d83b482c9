"""``userfieldconfig.*``: user fields of smart processes (docs api-reference/crm/universal/userfieldconfig/).

Fields are keyed by ``entityId`` (``CRM_<type id>``) and must be named ``UF_<entityId>_...``; records print
in camelCase with numbers as strings, as the docs' examples show.
"""

from typing import Any

from ..call import Call, Listing, Method
from ..errors import RestError
from ..records import matches

LANGS = ("ru", "en")
LABELS = ("editFormLabel", "listColumnLabel", "listFilterLabel", "errorMessage", "helpMessage")


def store(call: Call) -> dict[str, dict]:
    return call.portal.bucket("userfieldconfig")


def module(call: Call) -> None:
    if call.get("moduleId") != "crm":
        raise RestError("", "Module is not specified or not supported", 400)


def add(call: Call) -> dict:
    """A new field: name must start with UF_<entityId>_; the same name twice is refused."""
    module(call)
    spec = call.get("field") or {}
    if not isinstance(spec, dict):
        raise RestError("", "The 'FIELD_NAME' field is not found", 400)
    entity_id, name = str(spec.get("entityId") or ""), str(spec.get("fieldName") or "").upper()
    if not spec.get("userTypeId"):
        raise RestError("", "The 'USER_TYPE_ID' field is not found", 400)
    if not name:
        raise RestError("", "The 'FIELD_NAME' field is not found", 400)
    if not entity_id.startswith("CRM_") or not name.startswith(f"UF_{entity_id}_"):
        raise RestError("", "You cannot create custom fields", 400)
    if any(f["entityId"] == entity_id and f["fieldName"] == name for f in store(call).values()):
        raise RestError("", f"Field {name} already exists", 400)
    field_id = str(call.portal.next_id("userfield"))
    record = {"id": field_id, "entityId": entity_id, "fieldName": name, "userTypeId": str(spec["userTypeId"]),
              "xmlId": spec.get("xmlId"), "sort": str(spec.get("sort", 100)), "multiple": yn(spec.get("multiple")),
              "mandatory": yn(spec.get("mandatory")), "showFilter": yn(spec.get("showFilter")),
              "showInList": "Y", "editInList": "Y", "isSearchable": yn(spec.get("isSearchable")),
              "settings": spec.get("settings") or {}, "languageId": {lang: lang for lang in LANGS}}  # fmt: skip
    for label in LABELS:
        record[label] = labels(spec.get(label))
    record["enum"] = enum_items(call, field_id, spec.get("enum") or [])
    store(call)[field_id] = record
    return {"field": record}


def yn(value: Any) -> str:
    return "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"


def labels(value: Any) -> dict:
    if isinstance(value, str):
        return dict.fromkeys(LANGS, value)
    value = value if isinstance(value, dict) else {}
    return {lang: value.get(lang) for lang in LANGS}


def enum_items(call: Call, field_id: str, items: Any) -> list[dict]:
    items = items.values() if isinstance(items, dict) else items
    return [{"id": str(call.portal.next_id("userfield_enum")), "userFieldId": field_id, "value": str(i.get("value", "")),
             "def": yn(i.get("def")), "sort": str(i.get("sort", 100)), "xmlId": i.get("xmlId")}
            for i in items if isinstance(i, dict)]  # fmt: skip


def find(call: Call) -> dict:
    record = store(call).get(str(call.get("id") or ""))
    if record is None:
        raise RestError("", "The field is not found", 400)
    return record


def get(call: Call) -> dict:
    module(call)
    return {"field": find(call)}


def list_(call: Call) -> Listing:
    """Fields filtered by camelCase keys (e.g. entityId), ordered, paged by 50 under ``fields``."""
    module(call)
    flt = call.get("filter") or {}
    if not isinstance(flt, dict):
        raise RestError("", "Parameter 'filter' must be array.", 400)
    rows = [r for r in store(call).values() if matches({k.upper(): v for k, v in r.items()}, flt)]
    return Listing(sorted(rows, key=lambda r: int(r["id"])), wrap=lambda page: {"fields": page})


def update(call: Call) -> dict:
    """Change labels, sort, settings or enumeration items (items with an id change, without one are added)."""
    module(call)
    record = find(call)
    spec = call.get("field") or {}
    for key in ("sort", "mandatory", "showFilter", "isSearchable", "settings", "xmlId"):
        if key in spec:
            record[key] = (
                yn(spec[key]) if key in ("mandatory", "showFilter", "isSearchable") else spec[key]
            )
    for label in LABELS:
        if label in spec:
            record[label] = labels(spec[label])
    if "enum" in spec:
        existing = {e["id"]: e for e in record["enum"]}
        new = [i for i in (spec["enum"] or []) if isinstance(i, dict) and not i.get("id")]
        for item in spec["enum"] or []:
            if isinstance(item, dict) and str(item.get("id", "")) in existing:
                existing[str(item["id"])].update(
                    value=str(item.get("value", "")), xmlId=item.get("xmlId")
                )
        record["enum"] = list(existing.values()) + enum_items(call, record["id"], new)
    return {"field": record}


def delete(call: Call) -> None:
    module(call)
    del store(call)[find(call)["id"]]


METHODS = [
    Method("userfieldconfig.add", add, scope="userfieldconfig"),
    Method("userfieldconfig.get", get, scope="userfieldconfig"),
    Method("userfieldconfig.list", list_, scope="userfieldconfig"),
    Method("userfieldconfig.update", update, scope="userfieldconfig"),
    Method("userfieldconfig.delete", delete, scope="userfieldconfig"),
]
