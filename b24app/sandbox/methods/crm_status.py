"""Sandbox REST methods ``crm.status.*``: reference lists and stages (bitrix24-rest.md §4.6).

Rows live in ``portal.bucket("statuses")["rows"]`` keyed by string id, in the shape ``crm.status.get``
prints (strings for ids and SORT, SEMANTICS "S"/"F"/None). The portal's default lists are seeded on
first use. Stage lists are ``STATUS`` (leads), ``DEAL_STAGE[_<cat>]`` and ``DYNAMIC_<type>_STAGE_<cat>``.
"""

import re
from typing import Any

from ..call import Call, Listing, Method
from ..errors import RestError
from ..records import matches, order_records
from ..world import Portal

PROCESS, SUCCESS, FAILURE = "#ACE9FB", "#DBF199", "#FFBEBD"
# (STATUS_ID, NAME, SEMANTICS, SYSTEM, COLOR) in SORT order 10, 20, ...
DEAL_STAGES = [("NEW", "New", "", "Y", "#39A8EF"), ("PREPARATION", "Document preparation", "", "N", "#2FC6F6"),
               ("PREPAYMENT_INVOICE", "Prepayment invoice", "", "N", "#55D0E0"),
               ("EXECUTING", "In progress", "", "N", "#47E4C2"), ("FINAL_INVOICE", "Final invoice", "", "N", "#FFA900"),
               ("WON", "Deal successful", "S", "Y", "#7BD500"), ("LOSE", "Deal failed", "F", "Y", "#FF5752"),
               ("APOLOGY", "Failure reason analysis", "F", "N", "#FF5752")]  # fmt: skip
LEAD_STAGES = [("NEW", "Unassigned", "", "Y", "#39A8EF"), ("IN_PROCESS", "In progress", "", "N", "#2FC6F6"),
               ("PROCESSED", "Processed", "", "N", "#55D0E0"), ("CONVERTED", "Good lead", "S", "Y", "#7BD500"),
               ("JUNK", "Junk lead", "F", "Y", "#FF5752")]  # fmt: skip
SPA_STAGES = [("NEW", "Start", "", "Y", "#39A8EF"), ("PREPARATION", "Preparation", "", "N", "#2FC6F6"),
              ("CLIENT", "Client approval", "", "N", "#55D0E0"), ("SUCCESS", "Success", "S", "Y", "#7BD500"),
              ("FAIL", "Failure", "F", "Y", "#FF5752")]  # fmt: skip
LISTS = {
    "SOURCE": ("Sources", [("CALL", "Call"), ("EMAIL", "E-Mail"), ("WEB", "Website"),
                           ("ADVERTISING", "Advertising"), ("PARTNER", "Existing client"),
                           ("RECOMMENDATION", "By recommendation"), ("TRADE_SHOW", "Show/Exhibition"),
                           ("WEBFORM", "CRM form"), ("CALLBACK", "Callback"), ("OTHER", "Other")]),
    "CONTACT_TYPE": ("Contact type", [("CLIENT", "Clients"), ("SUPPLIER", "Suppliers"),
                                      ("PARTNER", "Partners"), ("OTHER", "Other")]),
    "COMPANY_TYPE": ("Company type", [("CUSTOMER", "Client"), ("SUPPLIER", "Supplier"),
                                      ("COMPETITOR", "Competitor"), ("PARTNER", "Partner"), ("OTHER", "Other")]),
    "EMPLOYEES": ("Number of employees", [("EMPLOYEES_1", "less than 50"), ("EMPLOYEES_2", "50-250"),
                                          ("EMPLOYEES_3", "250-500"), ("EMPLOYEES_4", "over 500")]),
    "INDUSTRY": ("Industry", [("IT", "Information Technology"), ("TELECOM", "Telecommunication"),
                              ("MANUFACTURING", "Manufacturing"), ("BANKING", "Banking Services"),
                              ("CONSULTING", "Consulting"), ("FINANCE", "Finance"), ("GOVERNMENT", "Government"),
                              ("DELIVERY", "Delivery"), ("ENTERTAINMENT", "Entertainment"),
                              ("NOTPROFIT", "Not for profit"), ("OTHER", "Other")]),
    "DEAL_TYPE": ("Deal type", [("SALE", "Sales"), ("COMPLEX", "Complex sale"), ("GOODS", "Merchandise sales"),
                                ("SERVICES", "Services sales"), ("SERVICE", "After-sales service")]),
    "HONORIFIC": ("Inquiries", [("HNR_RU_1", "Г-н"), ("HNR_RU_2", "Г-жа")]),
}  # fmt: skip
STAGE_CODE = re.compile(r"^[A-Za-z0-9_-]+$")
AFTER_FINAL = ("Cannot create more stages after the final stage because the final successful stage already "
               "exists. Try using sort order values less than that of the final stage.")  # fmt: skip
FORCED_ONLY = (
    'CRM System Status can be deleted only if parameter FORCED is specified and equal to "Y".'
)


# --- storage and the portal's lists ------------------------------------------------------------


def rows(portal: Portal) -> dict[str, dict]:
    """Every status row of the portal, the default lists seeded on first use."""
    store = portal.bucket("statuses")
    if not store.get("seeded"):
        store["seeded"], store["rows"] = True, {}
        for entity_id, (_title, items) in LISTS.items():
            for n, (code, name) in enumerate(items, 1):
                _insert(portal, entity_id, code, name, n * 10, system="Y")
        seed_stages(portal, "STATUS")
        seed_stages(portal, "DEAL_STAGE")
    return store["rows"]


def _insert(portal: Portal, entity_id: str, status_id: str, name: str, sort: int, system: str = "N",
            semantics: str = "", color: str | None = None, category: str | None = None) -> dict:  # fmt: skip
    row_id = str(portal.next_id("status"))
    row = {"ID": row_id, "ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name,
           "NAME_INIT": name if system == "Y" else "", "SORT": str(sort), "SYSTEM": system,
           "CATEGORY_ID": category, "COLOR": color, "SEMANTICS": semantics or None}  # fmt: skip
    portal.bucket("statuses")["rows"][row_id] = row
    return row


def seed_stages(portal: Portal, entity_id: str) -> None:
    """Create the default stages of a stage list: lead stages, a deal pipeline or an SPA category."""
    rows(portal)
    spec = entity_spec(portal, entity_id)
    defaults = {"lead": LEAD_STAGES, "deal": DEAL_STAGES, "spa": SPA_STAGES}[spec["kind"]]
    for n, (code, name, semantics, system, color) in enumerate(defaults, 1):
        _insert(portal, entity_id, spec["prefix"] + code, name, n * 10, system, semantics, color,
                spec["category"])  # fmt: skip


def drop_stages(portal: Portal, entity_id: str) -> None:
    """Forget every row of a list (its pipeline or smart process is gone)."""
    table = rows(portal)
    for row_id in [k for k, r in table.items() if r["ENTITY_ID"] == entity_id]:
        del table[row_id]


def deal_stage_entity(category_id: Any) -> str:
    """``DEAL_STAGE`` for the default pipeline, ``DEAL_STAGE_<id>`` for the others."""
    return "DEAL_STAGE" if str(category_id or "0") == "0" else f"DEAL_STAGE_{category_id}"


def item_stage_entity(entity_type_id: int, category_id: Any) -> str:
    """The stage list of a smart-process category: ``DYNAMIC_<type>_STAGE_<cat>``."""
    return f"DYNAMIC_{entity_type_id}_STAGE_{category_id}"


def entity_spec(portal: Portal, entity_id: str) -> dict | None:
    """What a list id means: kind (lead/deal/spa/list), STATUS_ID prefix and category; None if unknown."""
    from . import crm_items  # categories and smart processes live there

    if entity_id in LISTS:
        return {"kind": "list", "prefix": "", "category": None, "max": 50}
    if entity_id == "STATUS":
        return {"kind": "lead", "prefix": "", "category": None, "max": 21}
    if entity_id == "DEAL_STAGE":
        return {"kind": "deal", "prefix": "", "category": None, "max": 22}
    m = re.fullmatch(r"DEAL_STAGE_(\d+)", entity_id)
    if m and crm_items.category(portal, 2, int(m.group(1))):
        return {"kind": "deal", "prefix": f"C{m.group(1)}:", "category": m.group(1), "max": 22}
    m = re.fullmatch(r"DYNAMIC_(\d+)_STAGE_(\d+)", entity_id)
    if m and crm_items.category(portal, int(m.group(1)), int(m.group(2))):
        prefix = f"DT{m.group(1)}_{m.group(2)}:"
        return {"kind": "spa", "prefix": prefix, "category": m.group(2), "max": 50}
    return None


def stages(portal: Portal, entity_id: str) -> list[dict]:
    """Rows of one list in SORT order."""
    listed = [r for r in rows(portal).values() if r["ENTITY_ID"] == entity_id]
    return sorted(listed, key=lambda r: (int(r["SORT"]), int(r["ID"])))


def first_stage(portal: Portal, category_id: str) -> str:
    """The first stage of a deal pipeline (the default stage of a new deal)."""
    listed = stages(portal, deal_stage_entity(category_id))
    return listed[0]["STATUS_ID"] if listed else ""


def stage_semantic(portal: Portal, stage_id: str, category_id: str) -> str | None:
    """ "P" / "S" / "F" for a stage of a deal pipeline, or None when the pipeline has no such stage."""
    return semantic_in(portal, deal_stage_entity(category_id), stage_id)


def lead_semantic(portal: Portal, status_id: str) -> str | None:
    """ "P" / "S" / "F" for a lead status, or None when there is no such status."""
    return semantic_in(portal, "STATUS", status_id)


def semantic_in(portal: Portal, entity_id: str, status_id: str) -> str | None:
    """ "P" / "S" / "F" of a status in a stage list, or None when the list has no such status."""
    row = next((r for r in stages(portal, entity_id) if r["STATUS_ID"] == status_id), None)
    return None if row is None else (row["SEMANTICS"] or "P")


def _extra(portal: Portal, row: dict) -> dict:
    """``EXTRA`` of a stage: process/success, and failure for the first failure stage, apology after."""
    if row["SEMANTICS"] == "S":
        return {"SEMANTICS": "success", "COLOR": row["COLOR"]}
    if row["SEMANTICS"] != "F":
        return {"SEMANTICS": "process", "COLOR": row["COLOR"]}
    fails = [r for r in stages(portal, row["ENTITY_ID"]) if r["SEMANTICS"] == "F"]
    first = fails[0]["ID"] == row["ID"] if fails else True
    return {"SEMANTICS": "failure" if first else "apology", "COLOR": row["COLOR"]}


# --- methods -----------------------------------------------------------------------------------


def _fields(call: Call) -> dict:
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise RestError("", "Parameter 'fields' must be array.", 400)
    return {str(k).upper(): v for k, v in fields.items()}


def _find(call: Call) -> dict:
    raw = str(call.get("id", "ID") or "").strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise RestError("", "Invalid identifier.", 400)
    row = rows(call.portal).get(raw)
    if row is None:
        raise RestError("", "Status is not found.", 400)
    return row


def add(call: Call) -> int:
    """A new list value or stage; pipeline prefix added, code rules and the final-stage rule enforced."""
    fields = _fields(call)
    entity_id, code = str(fields.get("ENTITY_ID") or ""), str(fields.get("STATUS_ID") or "")
    missing = [
        f"The field {n} is required."
        for n, v in (("ENTITY_ID", entity_id), ("STATUS_ID", code))
        if not v
    ]
    if missing:
        raise RestError("", "<br>".join(missing), 400)
    spec = entity_spec(call.portal, entity_id)
    if spec is None:
        raise RestError("", "Specified entity type is not supported.", 400)
    if not str(fields.get("NAME") or "").strip():
        raise RestError("", "The field Title is required.", 400)
    status_id = code if code.startswith(spec["prefix"]) else spec["prefix"] + code
    _check_code(spec, status_id)
    if any(r["STATUS_ID"] == status_id for r in stages(call.portal, entity_id)):
        raise RestError("ERROR_CORE", "The specified status ID already exists.", 400)
    semantics = str(fields.get("SEMANTICS") or "").upper() if spec["kind"] != "list" else ""
    sort = _int(fields.get("SORT"), 10)
    _check_after_final(call.portal, entity_id, spec, semantics, sort)
    color = fields.get("COLOR") or (None if spec["kind"] == "list" else _default_color(semantics))
    row = _insert(call.portal, entity_id, status_id, str(fields["NAME"]), sort, "N",
                  semantics if semantics in ("S", "F") else "", color, spec["category"])  # fmt: skip
    return int(row["ID"])


def _check_code(spec: dict, status_id: str) -> None:
    code = status_id[len(spec["prefix"]) :]
    if spec["kind"] in ("lead", "deal") and not STAGE_CODE.match(code):
        raise RestError("ERROR_CORE", "The field STATUS_ID contains invalid characters.", 400)
    if len(status_id) > spec["max"]:
        raise RestError("ERROR_CORE", f"The field STATUS_ID is too long (max {spec['max']}).", 400)


def _check_after_final(
    portal: Portal, entity_id: str, spec: dict, semantics: str, sort: int
) -> None:
    """Stage zones: in progress < success < failure (SORT compared with the success stage's)."""
    success = [int(r["SORT"]) for r in stages(portal, entity_id) if r["SEMANTICS"] == "S"]
    if spec["kind"] == "list" or semantics == "S" or not success:
        return
    if semantics != "F" and sort > min(success):
        raise RestError("", AFTER_FINAL, 400)
    if semantics == "F" and sort < min(success):
        # observed on live portals (third-party notes), not in the docs
        raise RestError("", "Cannot add semantics with the specified sort order", 400)


def _default_color(semantics: str) -> str:
    return {"S": SUCCESS, "F": FAILURE}.get(semantics, PROCESS)


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def get(call: Call) -> dict:
    """One row as crm.status.get prints it (no EXTRA)."""
    return dict(_find(call))


def list_(call: Call) -> Listing:
    """Rows by filter and order (default SORT ascending); stages carry EXTRA, in-progress SEMANTICS null."""
    flt, order = call.get("filter", "FILTER") or {}, call.get("order", "ORDER") or {"SORT": "ASC"}
    if not isinstance(flt, dict) or not isinstance(order, dict):
        raise RestError("", "Invalid parameters.", 400)
    found = [r for r in rows(call.portal).values() if matches(r, flt)]
    return Listing([_listed(call.portal, r) for r in order_records(found, order)])


def _listed(portal: Portal, row: dict) -> dict:
    spec = entity_spec(portal, row["ENTITY_ID"])
    if spec is None or spec["kind"] == "list":
        return dict(row)
    return {**row, "EXTRA": _extra(portal, row)}


def update(call: Call) -> bool:
    """Change NAME, SORT or COLOR (ENTITY_ID, STATUS_ID and SEMANTICS are immutable)."""
    row = _find(call)
    fields = _fields(call)
    if "NAME" in fields and str(fields["NAME"]).strip():
        row["NAME"] = str(fields["NAME"])
    if "SORT" in fields:
        row["SORT"] = str(_int(fields["SORT"], int(row["SORT"])))
    if "COLOR" in fields:
        row["COLOR"] = fields["COLOR"]
    return True


def delete(call: Call) -> bool:
    """Delete a row; system rows need params.FORCED=Y; stages still holding items are refused."""
    row = _find(call)
    params = call.get("params", "PARAMS") or {}
    forced = isinstance(params, dict) and str(params.get("FORCED", "")).upper() == "Y"
    if row["SYSTEM"] == "Y" and not forced:
        raise RestError("", FORCED_ONLY, 400)
    if _in_use(call.portal, row):
        raise RestError("", "There are active items in this status.", 400)
    del rows(call.portal)[row["ID"]]
    return True


def _in_use(portal: Portal, row: dict) -> bool:
    entity_id, status_id = row["ENTITY_ID"], row["STATUS_ID"]
    if entity_id.startswith("DEAL_STAGE"):
        return any(d.get("STAGE_ID") == status_id for d in portal.table("deal").values())
    if entity_id == "STATUS":
        return any(d.get("STATUS_ID") == status_id for d in portal.table("lead").values())
    m = re.fullmatch(r"DYNAMIC_(\d+)_STAGE_\d+", entity_id)
    if m:
        return any(
            i.get("stageId") == status_id for i in portal.table(f"item:{m.group(1)}").values()
        )
    return False


def fields(call: Call) -> dict:
    """crm.status.fields: the row's field descriptions."""
    specs = [("ID", "integer", "ID", True, False), ("ENTITY_ID", "string", "Entity ID", False, True),
             ("STATUS_ID", "string", "Status", False, True), ("SORT", "integer", "Sorting", False, False),
             ("NAME", "string", "Name", False, False), ("NAME_INIT", "string", "Default Name", True, False),
             ("SYSTEM", "char", "System", True, False), ("CATEGORY_ID", "integer", "CATEGORY_ID", False, True),
             ("COLOR", "string", "COLOR", False, False), ("SEMANTICS", "char", "SEMANTICS", False, True),
             ("EXTRA", "crm_status_extra", "Additional Fields", False, False)]  # fmt: skip
    return {name: {"type": kind, "isRequired": name in ("ENTITY_ID", "STATUS_ID", "NAME"),
                   "isReadOnly": ro, "isImmutable": imm, "isMultiple": False, "isDynamic": False,
                   "title": title} for name, kind, title, ro, imm in specs}  # fmt: skip


def entity_types(call: Call) -> list[dict]:
    """crm.status.entity.types: fixed lists, lead stages, each deal pipeline and SPA category."""
    from . import crm_items

    out: list[dict] = [{"ID": "STATUS", "NAME": "Lead stages", "SEMANTIC_INFO": _semantic_info(call.portal, "STATUS"),
                        "ENTITY_TYPE_ID": 1}]  # fmt: skip
    out += [{"ID": entity_id, "NAME": title} for entity_id, (title, _) in LISTS.items()]
    for cat in crm_items.categories(call.portal, 2):
        entity_id = deal_stage_entity(cat["id"])
        entry = {"ID": entity_id, "NAME": cat["name"], "SEMANTIC_INFO": _semantic_info(call.portal, entity_id),
                 "FIELD_ATTRIBUTE_SCOPE": "" if cat["id"] == 0 else f"category_{cat['id']}", "ENTITY_TYPE_ID": 2,
                 "CATEGORY_ID": cat["id"] if cat["id"] == 0 else str(cat["id"])}  # fmt: skip
        if cat["id"]:
            entry.update(PARENT_ID="DEAL_STAGE", PREFIX=f"C{cat['id']}")
        out.append(entry)
    for typ in crm_items.types(call.portal):
        for cat in crm_items.categories(call.portal, typ["entityTypeId"]):
            out.append({"ID": item_stage_entity(typ["entityTypeId"], cat["id"]),
                        "NAME": f"{typ['title']} ({cat['name']})", "SEMANTIC_INFO": [],
                        "PREFIX": f"DT{typ['entityTypeId']}_{cat['id']}", "FIELD_ATTRIBUTE_SCOPE": f"category_{cat['id']}",
                        "ENTITY_TYPE_ID": typ["entityTypeId"], "IS_ENABLED": True, "CATEGORY_ID": cat["id"],
                        "CATEGORY_NAME": cat["name"], "CATEGORY_SORT": cat["sort"],
                        "IS_DEFAULT_CATEGORY": cat["isDefault"] == "Y"})  # fmt: skip
    return out


def _semantic_info(portal: Portal, entity_id: str) -> dict:
    listed = stages(portal, entity_id)
    pick = lambda sem: next((r["STATUS_ID"] for r in listed if r["SEMANTICS"] == sem), "")  # noqa: E731
    return {"START_FIELD": listed[0]["STATUS_ID"] if listed else "", "FINAL_SUCCESS_FIELD": pick("S"),
            "FINAL_UNSUCCESS_FIELD": pick("F"), "FINAL_SORT": 0}  # fmt: skip


def entity_items(call: Call) -> list[dict]:
    """crm.status.entity.items {entityId}: NAME, SORT (int) and STATUS_ID of one list in SORT order."""
    entity_id = str(call.get("entityId") or "")
    if not entity_id or entity_spec(call.portal, entity_id) is None:
        raise RestError("", "The parameter entityId is not defined or invalid.", 400)
    return [{"NAME": r["NAME"], "SORT": int(r["SORT"]), "STATUS_ID": r["STATUS_ID"]}
            for r in stages(call.portal, entity_id)]  # fmt: skip


METHODS = [
    Method("crm.status.add", add, scope="crm"),
    Method("crm.status.get", get, scope="crm"),
    Method("crm.status.list", list_, scope="crm"),
    Method("crm.status.update", update, scope="crm"),
    Method("crm.status.delete", delete, scope="crm"),
    Method("crm.status.fields", fields, scope="crm"),
    Method("crm.status.entity.types", entity_types, scope="crm"),
    Method("crm.status.entity.items", entity_items, scope="crm"),
]
