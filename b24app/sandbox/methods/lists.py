"""Universal lists: ``lists.add/get``, ``lists.field.add/get``, ``lists.section.add``,
``lists.element.add/get/update/delete`` (bitrix24-rest.md §4.11, api-reference/lists/).

Everything lives in ``portal.bucket("lists")``: ``iblocks`` by id, and per iblock id ``fields``,
``sections`` and ``elements``. Element property values are stored as {"<valueId>": value} maps, the
way lists.element.get prints them.
"""

from typing import Any

from .. import records as rec
from ..call import Call, Listing, Method
from ..errors import RestError
from ..world import Portal
from .activities import int_of

IBLOCK_TYPES = ("lists", "bitrix_processes", "lists_socnet")
SYSTEM_FIELDS = ("NAME", "SORT", "ACTIVE_FROM", "ACTIVE_TO", "PREVIEW_PICTURE", "PREVIEW_TEXT",
                 "DETAIL_PICTURE", "DETAIL_TEXT", "DATE_CREATE", "CREATED_BY", "TIMESTAMP_X",
                 "MODIFIED_BY")  # fmt: skip
ELEMENT_FIELDS = ("NAME", "SORT", "ACTIVE_FROM", "ACTIVE_TO", "PREVIEW_TEXT", "DETAIL_TEXT")


def store(portal: Portal) -> dict:
    data = portal.bucket("lists")
    for key in ("iblocks", "fields", "sections", "elements"):
        data.setdefault(key, {})
    return data


def missing(name: str) -> RestError:
    return RestError(
        "ERROR_REQUIRED_PARAMETERS_MISSING", f'Required parameter "{name}" is missing', 400
    )


def require(call: Call, *names: str) -> None:
    for name in names:
        if call.get(name) in (None, "", [], {}):
            raise missing(name)


def upper_keys(value: Any) -> dict:
    return {str(k).upper(): v for k, v in value.items()} if isinstance(value, dict) else {}


def find_iblock(call: Call) -> dict:
    """The list named by IBLOCK_TYPE_ID plus IBLOCK_ID or IBLOCK_CODE, or ERROR_IBLOCK_NOT_FOUND."""
    require(call, "IBLOCK_TYPE_ID")
    if call.get("IBLOCK_ID") in (None, "") and call.get("IBLOCK_CODE") in (None, ""):
        raise missing("IBLOCK_ID")
    kind, code = str(call.get("IBLOCK_TYPE_ID")), call.get("IBLOCK_CODE")
    for iblock in store(call.portal)["iblocks"].values():
        same = iblock["ID"] == str(int_of(call.get("IBLOCK_ID"))) or (
            code and iblock["CODE"] == str(code)
        )
        if same and iblock["IBLOCK_TYPE_ID"] == kind:
            return iblock
    raise RestError("ERROR_IBLOCK_NOT_FOUND", "Iblock not found", 400)


# --- lists ------------------------------------------------------------------------------------------


def lists_add(call: Call) -> int:
    """lists.add: a new list (admin only); IBLOCK_CODE unique per type."""
    call.require_admin()
    require(call, "IBLOCK_TYPE_ID", "IBLOCK_CODE", "FIELDS")
    fields = upper_keys(call.get("FIELDS"))
    if str(fields.get("NAME") or "") == "":
        raise missing("NAME")
    data, kind, code = (
        store(call.portal),
        str(call.get("IBLOCK_TYPE_ID")),
        str(call.get("IBLOCK_CODE")),
    )
    if any(i["CODE"] == code and i["IBLOCK_TYPE_ID"] == kind for i in data["iblocks"].values()):
        raise RestError("ERROR_IBLOCK_ALREADY_EXISTS", "Iblock already exists", 400)
    new_id = call.portal.next_id("iblock")
    data["iblocks"][str(new_id)] = {
        "ID": str(new_id), "TIMESTAMP_X": rec.now_iso(call.portal.settings["timezone"]),
        "IBLOCK_TYPE_ID": kind, "LID": "s1", "CODE": code, "API_CODE": None, "NAME": str(fields["NAME"]),
        "ACTIVE": "Y", "SORT": str(fields.get("SORT", 500)), "DESCRIPTION": str(fields.get("DESCRIPTION", "")),
        "DESCRIPTION_TYPE": "text", "BIZPROC": str(fields.get("BIZPROC", "N")), "XML_ID": None,
        "SOCNET_GROUP_ID": str(call.get("SOCNET_GROUP_ID")) if call.get("SOCNET_GROUP_ID") else None,
        "SECTIONS_NAME": "Sections", "SECTION_NAME": "Section", "ELEMENTS_NAME": "Elements",
        "ELEMENT_NAME": "Element", "RIGHTS_MODE": "E",
    }  # fmt: skip
    return new_id


def lists_get(call: Call) -> Listing:
    """lists.get: lists of a type, optionally one by IBLOCK_ID or IBLOCK_CODE."""
    require(call, "IBLOCK_TYPE_ID")
    if call.get("IBLOCK_ID") not in (None, "") or call.get("IBLOCK_CODE") not in (None, ""):
        return Listing([find_iblock(call)])
    kind = str(call.get("IBLOCK_TYPE_ID"))
    return Listing(
        [i for i in store(call.portal)["iblocks"].values() if i["IBLOCK_TYPE_ID"] == kind]
    )


# --- fields -----------------------------------------------------------------------------------------


def fields_of(portal: Portal, iblock: dict) -> dict[str, dict]:
    return store(portal)["fields"].setdefault(iblock["ID"], {})


def enum_values(portal: Portal, raw: Any) -> dict[str, str]:
    """LIST {"n0": {"VALUE": "A", "SORT": 10}} (or a list) → {"<enum id>": "A"}."""
    items = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    out = {}
    for item in items:
        value = item.get("VALUE") if isinstance(item, dict) else item
        if value not in (None, ""):
            out[str(portal.next_id("lists_enum"))] = str(value)
    return out


def field_add(call: Call) -> str:
    """lists.field.add: a property (returns "PROPERTY_<id>") or a system field (returns its code)."""
    iblock = find_iblock(call)
    require(call, "FIELDS")
    fields = upper_keys(call.get("FIELDS"))
    for name in ("NAME", "TYPE"):
        if str(fields.get(name) or "") == "":
            raise missing(name)
    kind, existing = str(fields["TYPE"]), fields_of(call.portal, iblock)
    if kind in SYSTEM_FIELDS:
        existing[kind] = field_record(kind, kind, fields, None)
        return kind
    code = str(fields.get("CODE") or "")
    if not code:
        raise RestError("ERROR_SAVE_FIELD", "Please fill the code fields", 400)
    if any(f.get("CODE") == code for f in existing.values()):
        raise RestError("ERROR_SAVE_FIELD", "Property already exists", 400)
    prop_id = call.portal.next_id("lists_property")
    field_id = f"PROPERTY_{prop_id}"
    existing[field_id] = field_record(field_id, kind, fields, str(prop_id))
    if kind == "L":
        existing[field_id]["DISPLAY_VALUES_FORM"] = enum_values(call.portal, fields.get("LIST"))
    return field_id


def field_record(field_id: str, kind: str, fields: dict, prop_id: str | None) -> dict:
    base, _, user_type = kind.partition(":")
    return {"FIELD_ID": field_id, "SORT": int_of(fields.get("SORT", 500)), "NAME": str(fields["NAME"]),
            "IS_REQUIRED": "Y" if fields.get("IS_REQUIRED") == "Y" else "N",
            "MULTIPLE": "Y" if fields.get("MULTIPLE") == "Y" else "N",
            "DEFAULT_VALUE": fields.get("DEFAULT_VALUE", ""), "TYPE": kind,
            "PROPERTY_TYPE": base if prop_id else None, "PROPERTY_USER_TYPE": user_type or False,
            "CODE": str(fields.get("CODE") or field_id), "ID": prop_id,
            "SETTINGS": fields.get("SETTINGS") or {}}  # fmt: skip


def field_get(call: Call) -> dict:
    """lists.field.get: all fields of a list keyed by FIELD_ID, or one (FIELD_ID); NAME always exists."""
    iblock = find_iblock(call)
    name = field_record("NAME", "NAME", {"NAME": "Name", "IS_REQUIRED": "Y", "SORT": 10}, None)
    every = {"NAME": name, **fields_of(call.portal, iblock)}
    wanted = call.get("FIELD_ID")
    if wanted not in (None, ""):
        return {str(wanted): every[str(wanted)]} if str(wanted) in every else {}
    return every


# --- sections ---------------------------------------------------------------------------------------


def section_add(call: Call) -> int:
    """lists.section.add: a section (folder) of a list; SECTION_CODE and FIELDS.NAME required."""
    iblock = find_iblock(call)
    require(call, "SECTION_CODE", "FIELDS")
    fields = upper_keys(call.get("FIELDS"))
    if str(fields.get("NAME") or "") == "":
        raise missing("NAME")
    new_id = call.portal.next_id("lists_section")
    store(call.portal)["sections"].setdefault(iblock["ID"], {})[str(new_id)] = {
        "ID": str(new_id), "CODE": str(call.get("SECTION_CODE")), "NAME": str(fields["NAME"]),
        "IBLOCK_SECTION_ID": str(int_of(call.get("IBLOCK_SECTION_ID"))) if call.get("IBLOCK_SECTION_ID") else None,
        "SORT": str(fields.get("SORT", 500)),
    }  # fmt: skip
    return new_id


# --- elements ---------------------------------------------------------------------------------------


def elements_of(portal: Portal, iblock: dict) -> dict[str, dict]:
    return store(portal)["elements"].setdefault(iblock["ID"], {})


def as_values(raw: Any) -> list:
    """A property value as sent: one value, a list, or a {"n0": v} map; blanks dropped."""
    items = list(raw.values()) if isinstance(raw, dict) else raw if isinstance(raw, list) else [raw]
    return [rec.php_value(v) for v in items if v not in (None, "")]


def write_element(portal: Portal, iblock: dict, element: dict, fields: dict) -> None:
    """Set NAME and properties; a required property left empty is ERROR_ADD_ELEMENT-style invalid."""
    for key in ELEMENT_FIELDS:
        if key in fields:
            element[key] = rec.php_value(fields[key])
    defined = fields_of(portal, iblock)
    for field_id, field in defined.items():
        if not field_id.startswith("PROPERTY_"):
            continue
        values = as_values(fields.get(field_id))
        if field["MULTIPLE"] != "Y":
            values = values[:1]
        if not values and field["IS_REQUIRED"] == "Y":
            raise RestError(
                "ERROR_ELEMENT_FIELD_VALUE", f'Field "{field["NAME"]}" is required.', 400
            )
        element[field_id] = {str(portal.next_id("lists_value")): v for v in values}


def element_code(call: Call) -> str:
    require(call, "ELEMENT_CODE")
    return str(call.get("ELEMENT_CODE"))


def element_add(call: Call) -> int:
    """lists.element.add: ELEMENT_CODE is required and unique within the list (§4.11)."""
    iblock = find_iblock(call)
    code = element_code(call)
    require(call, "FIELDS")
    fields = upper_keys(call.get("FIELDS"))
    if str(fields.get("NAME") or "") == "":
        raise RestError("ERROR_ADD_ELEMENT", 'Field "Name" is required.', 400)
    elements = elements_of(call.portal, iblock)
    if any(e["CODE"] == code for e in elements.values()):
        raise RestError("ERROR_ELEMENT_ALREADY_EXISTS", "Element already exists", 400)
    new_id = call.portal.next_id("lists_element")
    stamp = rec.now_iso(call.portal.settings["timezone"])
    element = {"ID": str(new_id), "IBLOCK_ID": iblock["ID"], "NAME": "", "CODE": code,
               "IBLOCK_SECTION_ID": str(int_of(call.get("IBLOCK_SECTION_ID"))) if call.get("IBLOCK_SECTION_ID") else None,
               "CREATED_BY": call.auth.user_id, "MODIFIED_BY": call.auth.user_id, "BP_PUBLISHED": "Y",
               "DATE_CREATE": stamp, "TIMESTAMP_X": stamp, "SORT": "500", "ACTIVE_FROM": None}  # fmt: skip
    write_element(call.portal, iblock, element, fields)
    elements[str(new_id)] = element
    return new_id


def find_element(call: Call, iblock: dict) -> dict:
    if call.get("ELEMENT_ID") in (None, "") and call.get("ELEMENT_CODE") in (None, ""):
        raise missing("ELEMENT_ID")
    for element in elements_of(call.portal, iblock).values():
        if element["ID"] == str(int_of(call.get("ELEMENT_ID"))) or element["CODE"] == call.get(
            "ELEMENT_CODE"
        ):
            return element
    raise RestError("ERROR_ELEMENT_NOT_FOUND", "Element not found", 400)


def printed(element: dict) -> dict:
    """Empty properties are left out; the rest print as {"<valueId>": value}."""
    return {k: v for k, v in element.items() if not (k.startswith("PROPERTY_") and not v)}


def flat(element: dict) -> dict:
    return {k: list(v.values()) if k.startswith("PROPERTY_") else v for k, v in element.items()}


def element_get(call: Call) -> Listing:
    """lists.element.get: elements (or one by ELEMENT_ID/ELEMENT_CODE) with SELECT, FILTER, ELEMENT_ORDER."""
    iblock = find_iblock(call)
    if call.get("ELEMENT_ID") not in (None, "") or call.get("ELEMENT_CODE") not in (None, ""):
        try:
            rows = [find_element(call, iblock)]
        except RestError:
            rows = []
    else:
        rows = list(elements_of(call.portal, iblock).values())
    flt = upper_keys(call.get("FILTER"))
    rows = rec.order_records(
        [r for r in rows if rec.matches(flat(r), flt)], call.get("ELEMENT_ORDER")
    )
    select = call.get("SELECT")
    if not select:
        return Listing([printed(r) for r in rows])
    wanted = {str(s).upper() for s in (select.values() if isinstance(select, dict) else select)}
    return Listing(
        [{k: v for k, v in printed(r).items() if k in wanted or k == "ID"} for r in rows]
    )


def element_update(call: Call) -> bool:
    """lists.element.update: overwrites the element; properties not sent are cleared (vendor note)."""
    iblock = find_iblock(call)
    element = find_element(call, iblock)
    require(call, "FIELDS")
    fields = upper_keys(call.get("FIELDS"))
    if str(fields.get("NAME") or "") == "":
        raise RestError("ERROR_UPDATE_ELEMENT", 'Field "Name" is required.', 400)
    write_element(call.portal, iblock, element, fields)
    element["TIMESTAMP_X"] = rec.now_iso(call.portal.settings["timezone"])
    element["MODIFIED_BY"] = call.auth.user_id
    return True


def element_delete(call: Call) -> bool:
    """lists.element.delete."""
    iblock = find_iblock(call)
    element = find_element(call, iblock)
    del elements_of(call.portal, iblock)[element["ID"]]
    return True


METHODS = [
    Method("lists.add", lists_add, scope="lists"),
    Method("lists.get", lists_get, scope="lists"),
    Method("lists.field.add", field_add, scope="lists"),
    Method("lists.field.get", field_get, scope="lists"),
    Method("lists.section.add", section_add, scope="lists"),
    Method("lists.element.add", element_add, scope="lists"),
    Method("lists.element.get", element_get, scope="lists"),
    Method("lists.element.update", element_update, scope="lists"),
    Method("lists.element.delete", element_delete, scope="lists"),
]
