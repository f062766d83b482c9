"""Sandbox REST methods ``crm.{lead,contact,company,deal}.userfield.*`` (bitrix24-rest.md §4.7).

Definitions live in ``portal.bucket("userfields")[entity][FIELD_NAME]`` in the shape
``crm.deal.userfield.get`` prints: string ids and SORT, "Y"/"N" flags, labels as {lang: text} maps,
and ``LIST`` (enumeration items with their own ids) for enumerations.
"""

import re
import secrets
from typing import Any

from ..call import Call, Listing, Method
from ..errors import RestError, bad_id
from ..records import matches, order_records
from ..world import Portal

ENTITY_IDS = {
    "lead": "CRM_LEAD",
    "deal": "CRM_DEAL",
    "contact": "CRM_CONTACT",
    "company": "CRM_COMPANY",
}
TYPES = ("string", "integer", "double", "boolean", "datetime", "date", "money", "url", "address",
         "enumeration", "file", "employee", "crm_status", "iblock_section", "iblock_element", "crm")  # fmt: skip
LANGS = ("ru", "en", "de")
LABELS = (
    "EDIT_FORM_LABEL",
    "LIST_COLUMN_LABEL",
    "LIST_FILTER_LABEL",
    "ERROR_MESSAGE",
    "HELP_MESSAGE",
)
FLAGS = {
    "MULTIPLE": "N",
    "MANDATORY": "N",
    "SHOW_IN_LIST": "N",
    "EDIT_IN_LIST": "Y",
    "IS_SEARCHABLE": "N",
}
NAME_RE = re.compile(r"^[A-Z0-9_]+$")


def definitions(portal: Portal, entity: str) -> list[dict]:
    """User field definitions of an entity ("deal", "contact", ...)."""
    return list(portal.bucket("userfields").get(entity, {}).values())


def definition(portal: Portal, entity: str, field_name: str) -> dict | None:
    """One definition of an entity by FIELD_NAME, or None."""
    return portal.bucket("userfields").get(entity, {}).get(field_name)


def _fields(call: Call) -> dict:
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise RestError("", "Parameter 'fields' must be array.", 400)
    return {str(k).upper(): v for k, v in fields.items()}


def full_name(raw: Any) -> str:
    """``MANAGER_NOTE``/``UF_MANAGER_NOTE``/``UF_CRM_MANAGER_NOTE`` → ``UF_CRM_MANAGER_NOTE`` (ERROR_CORE if bad)."""
    name = str(raw).strip().upper()
    if not name.startswith("UF_CRM_"):
        name = "UF_CRM_" + (name[3:] if name.startswith("UF_") else name)
    if not NAME_RE.match(name):
        raise RestError(
            "ERROR_CORE",
            "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _.",
        )
    if len(name) > 50:
        raise RestError("ERROR_CORE", "Field name is too long (more than 50 characters).")
    return name


def yn(value: Any, default: str = "N") -> str:
    if value is None or value == "":
        return default
    return "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"


def lang_map(value: Any, fallback: Any) -> dict:
    """A string for every language, or a {lang: text} map with ``fallback`` for the languages not given."""
    if isinstance(value, dict):
        given = {str(k): v for k, v in value.items()}
        return {**{lang: fallback for lang in LANGS}, **given}
    if value is None:
        return dict.fromkeys(LANGS, fallback)
    return dict.fromkeys(LANGS, value)


def enum_items(
    call: Call, items: Any, multiple: bool, existing: list[dict] | None = None
) -> list[dict]:
    """Enumeration items: new ones get ids, ``ID`` ones change, ``DEL=Y`` ones go; XML_ID must be unique."""
    out = [dict(i) for i in existing or []]
    items = items.values() if isinstance(items, dict) else items if isinstance(items, list) else []
    for item in (i for i in items if isinstance(i, dict)):
        item = {str(k).upper(): v for k, v in item.items()}
        current = next((e for e in out if e["ID"] == str(item.get("ID", ""))), None)
        if current is not None and yn(item.get("DEL")) == "Y":
            out.remove(current)
        elif current is not None:
            current.update(
                {k: str(item[k]) for k in ("VALUE", "SORT", "XML_ID") if item.get(k) is not None}
            )
            current["DEF"] = yn(item.get("DEF"), current["DEF"])
        elif str(item.get("VALUE") or "").strip():
            out.append({"ID": str(call.portal.next_id("userfield_enum")), "SORT": str(item.get("SORT") or 0),
                        "VALUE": str(item["VALUE"]), "DEF": yn(item.get("DEF")),
                        "XML_ID": str(item.get("XML_ID") or secrets.token_hex(16))})  # fmt: skip
    _unique_xml_ids(out, update=existing is not None)
    if not multiple:  # only the first default survives on a single-value field
        defaults = [e for e in out if e["DEF"] == "Y"]
        for extra in defaults[1:]:
            extra["DEF"] = "N"
    return sorted(out, key=lambda e: (int(e["SORT"]), int(e["ID"])))


def _unique_xml_ids(items: list[dict], update: bool) -> None:
    seen: set[str] = set()
    for item in items:
        if item["XML_ID"] in seen:
            text = (f"List item with XML_ID='{item['XML_ID']}' already exists" if update
                    else f"List item with value XML_ID={item['XML_ID']} already exists.")  # fmt: skip
            raise RestError("ERROR_CORE", text)
        seen.add(item["XML_ID"])


def add(entity: str):
    def method(call: Call) -> int:
        fields = _fields(call)
        if not str(fields.get("FIELD_NAME") or "").strip():
            raise RestError("", "The 'FIELD_NAME' field is not found.")
        name = full_name(fields["FIELD_NAME"])
        type_id = str(fields.get("USER_TYPE_ID") or "")
        if not type_id:
            raise RestError("", "The 'USER_TYPE_ID' field is not found.")
        if type_id not in TYPES:
            raise RestError("ERROR_CORE", "Incorrect custom type specified.")
        if definition(call.portal, entity, name):
            raise RestError(
                "ERROR_CORE", f'Field "{name}" for object "{ENTITY_IDS[entity]}" already exists.'
            )
        record = _new_record(call, entity, name, type_id, fields)
        call.portal.bucket("userfields").setdefault(entity, {})[name] = record
        return int(record["ID"])

    return method


def _new_record(call: Call, entity: str, name: str, type_id: str, fields: dict) -> dict:
    record = {"ID": str(call.portal.next_id("userfield")), "ENTITY_ID": ENTITY_IDS[entity], "FIELD_NAME": name,
              "USER_TYPE_ID": type_id, "XML_ID": fields.get("XML_ID"), "SORT": str(fields.get("SORT") or 100)}  # fmt: skip
    record.update({flag: yn(fields.get(flag), default) for flag, default in FLAGS.items()})
    if type_id == "boolean":
        record["MULTIPLE"] = "N"  # boolean fields cannot be multiple
    record["SHOW_FILTER"] = "E" if yn(fields.get("SHOW_FILTER")) == "Y" else "N"
    record["SETTINGS"] = _settings(type_id, fields.get("SETTINGS"))
    for label in LABELS:
        record[label] = lang_map(fields.get(label), fields.get("LABEL"))
    if type_id == "enumeration":
        record["LIST"] = enum_items(call, fields.get("LIST"), record["MULTIPLE"] == "Y")
    return record


def _settings(type_id: str, given: Any) -> dict:
    settings = dict(given) if isinstance(given, dict) else {}
    if type_id == "crm" and not any(
        yn(settings.get(k)) == "Y" for k in ("LEAD", "CONTACT", "COMPANY", "DEAL")
    ):
        settings["LEAD"] = "Y"  # no binding given: leads only
    if type_id == "enumeration":
        settings.setdefault("DISPLAY", "LIST")
    return settings


def _find(call: Call, entity: str) -> dict:
    raw = str(call.get("id", "ID") or "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise bad_id()
    for owner, fields in call.portal.bucket("userfields").items():
        for record in fields.values():
            if record["ID"] == raw:
                if owner != entity:
                    raise RestError("ACCESS_DENIED", "Access denied", 403)
                return record
    raise RestError("ERROR_NOT_FOUND", f"The entity with ID '{raw}' is not found")


def get(entity: str):
    def method(call: Call) -> dict:
        return _find(call, entity)

    return method


def list_(entity: str):
    def method(call: Call) -> Listing:
        flt, order = call.get("filter", "FILTER") or {}, call.get("order", "ORDER") or {}
        if not isinstance(flt, dict):
            raise RestError("", "Parameter 'filter' must be array.")
        if not isinstance(order, dict):
            raise RestError("", "Parameter 'order' must be array.")
        flt = {str(k): v for k, v in flt.items()}
        lang = str(next((v for k, v in flt.items() if k.upper() == "LANG"), "ru"))
        flt = {k: v for k, v in flt.items() if k.upper() != "LANG"}
        rows = [r for r in definitions(call.portal, entity) if matches(r, flt)]
        rows = order_records(rows, order or {"SORT": "ASC", "ID": "ASC"})
        return Listing([_in_lang(r, lang) for r in rows])

    return method


def _in_lang(record: dict, lang: str) -> dict:
    """List rows carry labels as plain strings in one language (LANG filter; the portal's by default)."""
    return {
        k: (v.get(lang) if k in LABELS and isinstance(v, dict) else v) for k, v in record.items()
    }


def update(entity: str):
    def method(call: Call) -> bool:
        record = _find(call, entity)
        fields = _fields(call)
        for flag in ("MANDATORY", "SHOW_IN_LIST", "EDIT_IN_LIST", "IS_SEARCHABLE"):
            if flag in fields:
                record[flag] = yn(fields[flag])
        if "SHOW_FILTER" in fields:
            record["SHOW_FILTER"] = "E" if yn(fields["SHOW_FILTER"]) == "Y" else "N"
        for key in ("XML_ID", "SORT"):
            if key in fields:
                record[key] = str(fields[key]) if fields[key] is not None else None
        if isinstance(fields.get("SETTINGS"), dict):
            record["SETTINGS"] = {**(record.get("SETTINGS") or {}), **fields["SETTINGS"]}
        for label in LABELS:
            if label in fields:  # overwritten whole; languages not given become ""
                record[label] = lang_map(fields[label], "")
        if record["USER_TYPE_ID"] == "enumeration" and "LIST" in fields:
            record["LIST"] = enum_items(
                call, fields["LIST"], record["MULTIPLE"] == "Y", record.get("LIST", [])
            )
        return True

    return method


def delete(entity: str):
    def method(call: Call) -> bool:
        record = _find(call, entity)
        del call.portal.bucket("userfields")[entity][record["FIELD_NAME"]]
        return True

    return method


METHODS = [
    Method(f"crm.{entity}.userfield.{verb}", factory(entity), scope="crm")
    for entity in ENTITY_IDS
    for verb, factory in (
        ("add", add),
        ("get", get),
        ("list", list_),
        ("update", update),
        ("delete", delete),
    )
]
