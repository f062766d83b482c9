"""Pipelines ``crm.category.*``, smart processes ``crm.type.*`` and universal ``crm.item.*`` (§4.2, §4.5).

Categories live in ``portal.bucket("categories")[str(entityTypeId)][str(id)]``; the deal pipeline 0
("General") exists from the start. Smart processes live in ``portal.bucket("types")`` keyed by their id.
``crm.item`` over leads, deals, contacts and companies reads and writes the classic tables (records in
classic form, converted to camelCase with ints on the way out); smart-process items are stored as
``crm.item.get`` prints them in ``portal.table("item:<entityTypeId>")``.
"""

import re
from datetime import datetime, timedelta
from typing import Any

from .. import records as rec
from ..call import Call, Listing, Method
from ..errors import RestError
from ..world import Portal
from . import crm_entities, crm_status, userfields

CLASSIC = {1: "lead", 2: "deal", 3: "contact", 4: "company"}
TYPE_NAMES = {
    1: "LEAD",
    3: "CONTACT",
    4: "COMPANY",
    5: "INVOICE",
    7: "QUOTE",
    8: "REQUISITE",
    31: "SMART_INVOICE",
}
NO_SPA = "Smart process not found"
ITEM_NAMES = {"DATE_CREATE": "createdTime", "DATE_MODIFY": "updatedTime", "CREATED_BY_ID": "createdBy",
              "MODIFY_BY_ID": "updatedBy", "MOVED_BY_ID": "movedBy"}  # fmt: skip
ENTITY_NAMES = {"lead": {"STATUS_ID": "stageId", "STATUS_SEMANTIC_ID": "stageSemanticId"},
                "company": {"COMPANY_TYPE": "typeId"}}  # fmt: skip
INT_FIELDS = {"id", "createdBy", "updatedBy", "movedBy", "assignedById", "companyId", "contactId", "leadId",
              "quoteId", "categoryId", "probability", "webformId", "mycompanyId", "contactIds", "companyIds",
              "observers", "entityTypeId"}  # fmt: skip
NUMBER_FIELDS = {"opportunity", "taxValue", "revenue"}
MULTIPLE = {"contactIds", "companyIds", "observers"}
SPA_FIELDS = ["id", "xmlId", "title", "createdBy", "updatedBy", "movedBy", "createdTime", "updatedTime",
              "movedTime", "categoryId", "opened", "stageId", "previousStageId", "begindate", "closedate",
              "companyId", "contactId", "contactIds", "opportunity", "isManualOpportunity", "taxValue",
              "currencyId", "mycompanyId", "sourceId", "sourceDescription", "webformId", "assignedById",
              "observers", "entityTypeId"]  # fmt: skip
SPA_WRITABLE = set(SPA_FIELDS) - {"id", "createdBy", "updatedBy", "movedBy", "createdTime", "updatedTime",
                                  "movedTime", "previousStageId", "entityTypeId"}  # fmt: skip
TYPE_FLAGS = ("isCategoriesEnabled", "isStagesEnabled", "isBeginCloseDatesEnabled", "isClientEnabled",
              "isUseInUserfieldEnabled", "isLinkWithProductsEnabled", "isMycompanyEnabled", "isDocumentsEnabled",
              "isSourceEnabled", "isObserversEnabled", "isRecyclebinEnabled", "isAutomationEnabled",
              "isBizProcEnabled", "isSetOpenPermissions", "isPaymentsEnabled", "isCountersEnabled")  # fmt: skip
NOT_LIKE = ("!=%", "!%=", "!%")


def _now(portal: Portal) -> str:
    return rec.now_iso(portal.settings["timezone"])


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _required(call: Call, name: str) -> Any:
    value = call.get(name)
    if value is None or value == "":
        raise RestError(100, f"Could not find value for parameter {{{name}}}")
    return value


def yn(value: Any) -> str:
    return "Y" if str(value).upper() in ("Y", "1", "TRUE") else "N"


# --- smart processes ---------------------------------------------------------------------------


def types(portal: Portal) -> list[dict]:
    """Every smart process of the portal, by id."""
    return sorted(portal.bucket("types").values(), key=lambda t: t["id"])


def spa(portal: Portal, entity_type_id: Any) -> dict | None:
    """The smart process with this entityTypeId, or None."""
    wanted = _int(entity_type_id)
    return next((t for t in portal.bucket("types").values() if t["entityTypeId"] == wanted), None)


def _type_fields(call: Call) -> dict:
    fields = call.get("fields")
    if not isinstance(fields, dict):
        raise RestError(100, "Could not find value for parameter {fields}")
    return fields


def _new_type_id(portal: Portal, wanted: Any) -> int:
    taken = {t["entityTypeId"] for t in portal.bucket("types").values()}
    if wanted not in (None, ""):
        n = _int(wanted)
        if n is None or not (128 <= n <= 192 or (n >= 1030 and n % 2 == 0)):
            raise RestError("INVALID_ARG_VALUE", "entityTypeId is out of allowed range")
        if n in taken:
            raise RestError("INVALID_ARG_VALUE", f"entityTypeId {n} is already in use")
        return n
    n = next((n for n in range(128, 193) if n not in taken), 1030)
    while n in taken:
        n += 2
    return n


def type_add(call: Call) -> dict:
    """A new smart process with a default category and its default stages; result {"type": {...}}."""
    fields = _type_fields(call)
    if not str(fields.get("title") or "").strip():
        raise RestError(0, "Field 'TITLE' is required")
    entity_type_id = _new_type_id(call.portal, fields.get("entityTypeId"))
    now, user = _now(call.portal), int(call.auth.user_id)
    typ = {"id": call.portal.next_id("type"), "title": str(fields["title"]), "code": "", "createdBy": user,
           "entityTypeId": entity_type_id, "customSectionId": None}  # fmt: skip
    typ.update(
        {
            flag: yn(fields.get(flag, "Y" if flag == "isSetOpenPermissions" else "N"))
            for flag in TYPE_FLAGS
        }
    )
    typ.update(createdTime=now, updatedTime=now, updatedBy=user, relations=_relations(fields.get("relations")),
               linkedUserFields=fields.get("linkedUserFields") or {}, customSections=[])  # fmt: skip
    call.portal.bucket("types")[str(typ["id"])] = typ
    _add_category(call.portal, entity_type_id, "General", 500, default=True)
    return {"type": typ}


def _relations(given: Any) -> dict:
    given = given if isinstance(given, dict) else {}
    return {side: list(given.get(side) or []) for side in ("parent", "child")}


def _find_type(call: Call) -> dict:
    typ = call.portal.bucket("types").get(str(_int(_required(call, "id"))))
    if typ is None:
        raise RestError(0, NO_SPA)
    return typ


def type_get(call: Call) -> dict:
    return {"type": _find_type(call)}


def type_get_by_entity_type_id(call: Call) -> dict:
    typ = spa(call.portal, _required(call, "entityTypeId"))
    if typ is None:
        raise RestError(0, NO_SPA)
    return {"type": typ}


def type_list(call: Call) -> Listing:
    """Smart processes by filter (with ``logic: OR``) and order; result {"types": [...]}."""
    rows = types(call.portal)
    rows = _filtered(rows, call.get("filter"), set(rows[0]) if rows else set())
    return Listing(_ordered(rows, call.get("order")), wrap=lambda page: {"types": page})


def type_update(call: Call) -> dict:
    """Change title, flags or relations (only what is passed); result {"type": {...}}."""
    typ = _find_type(call)
    fields = call.get("fields") or {}
    if str(fields.get("title") or "").strip():
        typ["title"] = str(fields["title"])
    typ.update({flag: yn(fields[flag]) for flag in TYPE_FLAGS if flag in fields})
    if "relations" in fields:
        typ["relations"] = _relations(fields["relations"])
    typ.update(updatedTime=_now(call.portal), updatedBy=int(call.auth.user_id))
    return {"type": typ}


def type_delete(call: Call) -> list:
    """Delete a smart process with no items, its categories and stages; result []."""
    typ = _find_type(call)
    etid = typ["entityTypeId"]
    if call.portal.table(f"item:{etid}"):
        raise RestError("BX_ERROR", "You cannot delete an entity type that has elements")
    for cat in categories(call.portal, etid):
        crm_status.drop_stages(call.portal, crm_status.item_stage_entity(etid, cat["id"]))
    call.portal.bucket("categories").pop(str(etid), None)
    del call.portal.bucket("types")[str(typ["id"])]
    return []


# --- categories (pipelines) --------------------------------------------------------------------


def _category_store(portal: Portal, entity_type_id: int) -> dict[str, dict]:
    store = portal.bucket("categories")
    if "2" not in store:
        store["2"] = {
            "0": {"id": 0, "name": "General", "sort": 300, "entityTypeId": 2, "isDefault": "Y"}
        }
    return store.setdefault(str(entity_type_id), {})


def categories(portal: Portal, entity_type_id: int) -> list[dict]:
    """Categories of a deal or smart-process type by sort, then id."""
    return sorted(
        _category_store(portal, entity_type_id).values(), key=lambda c: (c["sort"], c["id"])
    )


def category(portal: Portal, entity_type_id: int, category_id: int) -> dict | None:
    """One category, or None."""
    return _category_store(portal, entity_type_id).get(str(category_id))


def default_category(portal: Portal, entity_type_id: int) -> dict | None:
    return next((c for c in categories(portal, entity_type_id) if c["isDefault"] == "Y"), None)


def _add_category(portal: Portal, etid: int, name: str, sort: int, default: bool = False) -> dict:
    cat = {"id": portal.next_id("category"), "name": name, "sort": max(sort, 0), "entityTypeId": etid,
           "isDefault": "Y" if default else "N"}  # fmt: skip
    if etid == 2:
        cat.update(originId="", originatorId="")
    else:
        cat.update(isSystem="N", code=None)
    _category_store(portal, etid)[str(cat["id"])] = cat
    entity_id = (
        crm_status.deal_stage_entity(cat["id"])
        if etid == 2
        else crm_status.item_stage_entity(etid, cat["id"])
    )
    crm_status.seed_stages(portal, entity_id)
    return cat


def _category_type(call: Call) -> int:
    """entityTypeId of a category call: deals and smart processes have pipelines, others do not."""
    etid = _int(_required(call, "entityTypeId"))
    if etid == 2 or spa(call.portal, etid):
        return etid
    if etid in TYPE_NAMES:
        raise RestError(
            "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {TYPE_NAMES[etid]} is not supported"
        )
    raise RestError("NOT_FOUND", NO_SPA)


def _find_category(call: Call, etid: int) -> dict:
    cat = category(call.portal, etid, _int(_required(call, "id")))
    if cat is None:
        raise RestError("NOT_FOUND", "Element not found")
    return cat


def category_add(call: Call) -> dict:
    """A new pipeline filled with the default stages; result {"category": {...}}."""
    etid = _category_type(call)
    fields = call.get("fields") if isinstance(call.get("fields"), dict) else {}
    name = str(fields.get("name") or "").strip()
    if not name:
        raise RestError(0, "Field 'NAME' is required")
    default = etid != 2 and yn(fields.get("isDefault")) == "Y"  # deals cannot change isDefault
    if default:
        _clear_default(call.portal, etid)
    return {
        "category": _add_category(call.portal, etid, name, _int(fields.get("sort")) or 500, default)
    }


def _clear_default(portal: Portal, etid: int) -> None:
    for cat in _category_store(portal, etid).values():
        cat["isDefault"] = "N"


def category_list(call: Call) -> Listing:
    etid = _category_type(call)
    return Listing(categories(call.portal, etid), wrap=lambda page: {"categories": page})


def category_get(call: Call) -> dict:
    return {"category": _find_category(call, _category_type(call))}


def category_update(call: Call) -> dict:
    """Rename, resort or (smart processes) make default; result {"category": {...}}."""
    etid = _category_type(call)
    cat = _find_category(call, etid)
    fields = call.get("fields") if isinstance(call.get("fields"), dict) else {}
    if str(fields.get("name") or "").strip():
        cat["name"] = str(fields["name"]).strip()
    if "sort" in fields:
        cat["sort"] = max(_int(fields["sort"]) or 0, 0)
    if etid != 2 and yn(fields.get("isDefault")) == "Y":
        _clear_default(call.portal, etid)
        cat["isDefault"] = "Y"
    return {"category": cat}


def category_delete(call: Call) -> None:
    """Delete an empty, non-default pipeline and its stages; result null."""
    etid = _category_type(call)
    cat = _find_category(call, etid)
    if etid == 2:
        if cat["id"] == 0:
            raise RestError(0, "Default deal category cannot be deleted")
        if any(d.get("CATEGORY_ID") == str(cat["id"]) for d in call.portal.table("deal").values()):
            raise RestError(0, f"Deals related to the funnel {cat['name']} found")
        crm_status.drop_stages(call.portal, crm_status.deal_stage_entity(cat["id"]))
    else:
        if cat["isDefault"] == "Y":
            raise RestError("BX_ERROR", "This funnel is the default funnel")
        if any(
            i.get("categoryId") == cat["id"] for i in call.portal.table(f"item:{etid}").values()
        ):
            raise RestError("BX_ERROR", "Elements related to the funnel found")
        crm_status.drop_stages(call.portal, crm_status.item_stage_entity(etid, cat["id"]))
    del _category_store(call.portal, etid)[str(cat["id"])]


def category_fields(call: Call) -> dict:
    etid = _category_type(call)
    names = [("id", "integer", True), ("name", "string", False), ("sort", "integer", False),
             ("entityTypeId", "integer", True), ("isDefault", "boolean", etid == 2)]  # fmt: skip
    names += [("originId", "string", False), ("originatorId", "string", False)] if etid == 2 else []
    return {"fields": {n: _describe(n, kind, ro) for n, kind, ro in names}}


def _describe(name: str, kind: str, read_only: bool = False, multiple: bool = False) -> dict:
    upper = rec.snake(name)
    return {"type": kind, "isRequired": name == "entityTypeId", "isReadOnly": read_only, "isImmutable": False,
            "isMultiple": multiple, "isDynamic": upper.startswith("UF_"), "title": upper, "upperName": upper}  # fmt: skip


# --- items: shapes -----------------------------------------------------------------------------


def item_name(entity: str, key: str, original_uf: bool = False) -> str:
    """Classic ``STAGE_ID`` → ``stageId`` (lead ``STATUS_ID`` → ``stageId``); UF names kept when asked."""
    if key.startswith("UF_"):
        return key if original_uf else rec.camel(key)
    return ENTITY_NAMES.get(entity, {}).get(key) or ITEM_NAMES.get(key) or rec.camel(key)


def classic_name(entity: str, name: str) -> str:
    """Inverse of ``item_name``: ``stageId`` → ``STAGE_ID`` (lead: ``STATUS_ID``), ``ufCrmX`` → ``UF_CRM_X``."""
    for table in (ENTITY_NAMES.get(entity, {}), ITEM_NAMES):
        for classic, item in table.items():
            if item == name:
                return classic
    return rec.snake(name)


def item_value(name: str, value: Any) -> Any:
    """crm.item's types: ints for ids, numbers for money, null for empty, lists stay lists."""
    if isinstance(value, list):
        return [item_value(name, v) for v in value] if name in INT_FIELDS else value
    if value == "" or value is None:
        return None
    if name in INT_FIELDS or re.fullmatch(r"parentId\d+", name):
        number = _int(value)
        return number if number is not None else value
    if name in NUMBER_FIELDS:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        return int(number) if number.is_integer() else number
    return value


def classic_item(portal: Portal, entity: str, record: dict, original_uf: bool = False) -> dict:
    """A classic record as crm.item prints it; ``fm`` holds the multifields of leads/contacts/companies."""
    out = {}
    for key, value in record.items():
        if key not in rec.MULTIFIELDS:
            name = item_name(entity, key, original_uf)
            out[name] = item_value(name, value)
    if entity in ("deal", "lead"):
        out.setdefault("contactIds", [])
    out["entityTypeId"] = crm_entities.ENTITIES[entity]
    if entity != "deal":
        out["fm"] = [{"id": int(m["ID"]), "valueType": m["VALUE_TYPE"], "value": m["VALUE"], "typeId": m["TYPE_ID"]}
                     for name in crm_entities.VALUE_TYPES for m in record.get(name, [])]  # fmt: skip
    return out


def spa_item(item: dict, original_uf: bool = False) -> dict:
    """A stored smart-process item as printed (UF names original when asked)."""
    if not original_uf:
        return dict(item)
    return {(rec.snake(k) if k.startswith("ufCrm") else k): v for k, v in item.items()}


def classic_fields(entity: str, fields: dict) -> dict:
    """crm.item fields of a classic type as classic upper-case fields (``fm`` → PHONE/EMAIL/... operations)."""
    out: dict = {}
    for key, value in fields.items():
        if key == "fm":
            out.update(fm_operations(value))
        else:
            name = (
                classic_name(entity, str(key))
                if not str(key).startswith("UF_")
                else str(key).upper()
            )
            out[name] = value
    return out


def fm_operations(fm: Any) -> dict[str, list]:
    """``fm`` list (add) or map keyed n0/<id> (update) as classic multifield items."""
    entries = fm.items() if isinstance(fm, dict) else enumerate(fm) if isinstance(fm, list) else []
    ops: dict[str, list] = {}
    for key, item in entries:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("typeId") or "").upper()
        if kind not in crm_entities.VALUE_TYPES:
            continue
        op = {"VALUE": item.get("value"), "VALUE_TYPE": item.get("valueType")}
        ident = item.get("id") or (key if isinstance(fm, dict) and str(key).isdigit() else None)
        if ident:
            op.update(ID=str(ident), VALUE=item.get("value", ""))
        ops.setdefault(kind, []).append(op)
    return ops


# --- items: methods ----------------------------------------------------------------------------


def _item_type(call: Call) -> tuple[int, str | None, dict | None]:
    """(entityTypeId, classic entity or None, smart process or None); NOT_FOUND for anything else."""
    etid = _int(_required(call, "entityTypeId"))
    if etid in CLASSIC:
        return etid, CLASSIC[etid], None
    typ = spa(call.portal, etid)
    if typ is None:
        raise RestError("NOT_FOUND", NO_SPA)
    return etid, None, typ


def _item_fields(call: Call) -> dict:
    fields = call.get("fields")
    if not isinstance(fields, dict):
        raise RestError(100, "Could not find value for parameter {fields}")
    for name in MULTIPLE:
        if name in fields and not isinstance(fields[name], list | dict):
            kind = type(fields[name]).__name__
            raise RestError(
                100, f"Expected iterable value for multiple field, but got {kind} instead"
            )
    return fields


def _original(call: Call) -> bool:
    return yn(call.get("useOriginalUfNames")) == "Y"


def _value_error(field: str) -> RestError:
    return RestError("CRM_FIELD_ERROR_VALUE_NOT_VALID", f'Invalid value for field "{field}"')


def item_add(call: Call) -> dict:
    """Create an item (classic or smart process); result {"item": {...}}."""
    etid, entity, typ = _item_type(call)
    fields = _item_fields(call)
    if entity:
        try:
            record = crm_entities.create(call, entity, classic_fields(entity, fields))
        except RestError as err:
            raise _as_item_error(err) from None
        return {"item": classic_item(call.portal, entity, record, _original(call))}
    item = _spa_defaults(call, typ)
    _write_spa(call, typ, item, fields, new=True)
    call.portal.table(f"item:{etid}")[str(item["id"])] = item
    call.emit("ONCRMDYNAMICITEMADD", {"FIELDS": {"ID": item["id"], "ENTITY_TYPE_ID": etid}})
    return {"item": spa_item(item, _original(call))}


def _as_item_error(err: RestError) -> RestError:
    """Classic validation texts in crm.item's error code."""
    if err.error == "" and ("Stage" in err.description or "Status" in err.description):
        return _value_error("Stage")
    if err.error == "" and "Category" in err.description:
        return _value_error("Pipeline")
    return err


def _spa_defaults(call: Call, typ: dict) -> dict:
    etid, now, user = typ["entityTypeId"], _now(call.portal), int(call.auth.user_id)
    new_id = call.portal.next_id(f"item:{etid}")
    close = (datetime.fromisoformat(now) + timedelta(days=7)).isoformat()
    item = dict.fromkeys(SPA_FIELDS)
    item.update(id=new_id, title=f"{typ['title']} #{new_id}", createdBy=user, updatedBy=user, movedBy=user,
                createdTime=now, updatedTime=now, movedTime=now, opened="Y", begindate=now, closedate=close,
                contactIds=[], observers=[], opportunity=0, isManualOpportunity="N", taxValue=0, currencyId="RUB",
                assignedById=user, entityTypeId=etid)  # fmt: skip
    return item


def _write_spa(call: Call, typ: dict, item: dict, fields: dict, new: bool = False) -> None:
    """Copy writable fields and defined user fields; keep category and stage consistent."""
    known_uf = {rec.camel(f["fieldName"]) for f in call.portal.bucket("userfieldconfig").values()
                if f["entityId"] == f"CRM_{typ['id']}"}  # fmt: skip
    old_category, old_stage = item.get("categoryId"), item.get("stageId")
    for key, value in fields.items():
        name = rec.camel(str(key).upper()) if str(key).startswith("UF_") else str(key)
        if name in SPA_WRITABLE or name in known_uf or re.fullmatch(r"parentId\d+", name):
            item[name] = _typed(name, value)
    _settle_spa(call.portal, typ, item, moved=not new and old_category != item["categoryId"])
    if item["stageId"] != old_stage:
        item.update(
            previousStageId=old_stage, movedTime=_now(call.portal), movedBy=int(call.auth.user_id)
        )


def _typed(name: str, value: Any) -> Any:
    if name in ("opened", "isManualOpportunity"):
        return yn(value)
    if isinstance(value, bool):
        return "Y" if value else "N"
    return item_value(name, value) if name in INT_FIELDS | NUMBER_FIELDS else value


def _settle_spa(portal: Portal, typ: dict, item: dict, moved: bool) -> None:
    etid = typ["entityTypeId"]
    if item.get("categoryId") is None:
        item["categoryId"] = (default_category(portal, etid) or {}).get("id")
    if category(portal, etid, item["categoryId"]) is None:
        raise _value_error("Pipeline")
    entity_id = crm_status.item_stage_entity(etid, item["categoryId"])
    if not item.get("stageId") or (
        moved and crm_status.semantic_in(portal, entity_id, item["stageId"]) is None
    ):
        listed = crm_status.stages(portal, entity_id)
        item["stageId"] = listed[0]["STATUS_ID"] if listed else None
    if item["stageId"] and crm_status.semantic_in(portal, entity_id, item["stageId"]) is None:
        raise _value_error("Stage")


def _find_item(call: Call, etid: int, entity: str | None) -> dict:
    item_id = _int(_required(call, "id"))
    table = call.portal.table(entity or f"item:{etid}")
    found = table.get(str(item_id))
    if found is None:
        raise RestError("NOT_FOUND", "Element not found")
    return found


def item_get(call: Call) -> dict:
    etid, entity, _typ = _item_type(call)
    found = _find_item(call, etid, entity)
    if entity:
        return {"item": classic_item(call.portal, entity, found, _original(call))}
    return {"item": spa_item(found, _original(call))}


def item_update(call: Call) -> dict:
    """Change only the passed fields; categoryId moves a deal or item to another pipeline."""
    etid, entity, typ = _item_type(call)
    found = _find_item(call, etid, entity)
    fields = _item_fields(call)
    if entity:
        try:
            crm_entities.change(call, entity, found, classic_fields(entity, fields), move=True)
        except RestError as err:
            raise _as_item_error(err) from None
        return {"item": classic_item(call.portal, entity, found, _original(call))}
    _write_spa(call, typ, found, fields)
    found.update(updatedTime=_now(call.portal), updatedBy=int(call.auth.user_id))
    call.emit("ONCRMDYNAMICITEMUPDATE", {"FIELDS": {"ID": found["id"], "ENTITY_TYPE_ID": etid}})
    return {"item": spa_item(found, _original(call))}


def item_delete(call: Call) -> list:
    """Delete an item; result []."""
    etid, entity, _typ = _item_type(call)
    found = _find_item(call, etid, entity)
    if entity:
        crm_entities.remove(call, entity, found)
    else:
        del call.portal.table(f"item:{etid}")[str(found["id"])]
        call.emit("ONCRMDYNAMICITEMDELETE", {"FIELDS": {"ID": found["id"], "ENTITY_TYPE_ID": etid}})
    return []


def item_list(call: Call) -> Listing:
    """Items by filter (prefixes, ``logic: OR``, nesting), order and select; result {"items": [...]}."""
    etid, entity, typ = _item_type(call)
    original = _original(call)
    if entity:
        rows = [
            classic_item(call.portal, entity, r, original)
            for r in call.portal.table(entity).values()
        ]
    else:
        rows = [spa_item(i, original) for i in call.portal.table(f"item:{etid}").values()]
    known = set(_field_names(call.portal, etid, entity, typ)) | {k for r in rows for k in r}
    rows = _ordered(_filtered(rows, call.get("filter"), known), call.get("order"), known)
    select = call.get("select") or ["*"]
    return Listing([_selected(r, select) for r in rows], wrap=lambda page: {"items": page})


def _filtered(rows: list[dict], flt: Any, known: set[str]) -> list[dict]:
    if flt in (None, "", []):
        return rows
    if not isinstance(flt, dict):
        raise RestError("INVALID_ARG_VALUE", "Invalid filter")
    _check_filter(flt, {rec.snake(k) for k in known})
    return [r for r in rows if item_matches(r, flt)]


def _check_filter(flt: dict, known: set[str]) -> None:
    for key, value in flt.items():
        if str(key).lower() == "logic":
            continue
        if isinstance(value, dict) and _is_group(key, value):
            _check_filter(value, known)
            continue
        name = _strip_op(str(key))[1]
        if rec.snake(name) not in known:
            raise RestError(
                "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter"
            )


def _is_group(key: Any, value: dict) -> bool:
    return (
        str(key).isdigit()
        or any(str(k).lower() == "logic" for k in value)
        or not str(key)[:1].isalpha()
    )


def _strip_op(key: str) -> tuple[str, str]:
    for prefix in NOT_LIKE:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return rec.split_key(key)


def item_matches(row: dict, flt: dict) -> bool:
    """A crm.item filter: conditions AND-ed unless ``logic: OR``; nested groups; NOT LIKE prefixes too."""
    upper = {rec.snake(k): v for k, v in row.items()}
    logic = str(next((v for k, v in flt.items() if str(k).lower() == "logic"), "AND")).upper()
    results = []
    for key, wanted in flt.items():
        if str(key).lower() == "logic":
            continue
        if isinstance(wanted, dict) and _is_group(key, wanted):
            results.append(item_matches(row, wanted))
            continue
        op, name = _strip_op(str(key))
        if upper.get(rec.snake(name)) in ("Y", "N") and str(wanted).lower() in (
            "0",
            "1",
            "true",
            "false",
        ):
            wanted = (
                "Y" if str(wanted).lower() in ("1", "true") else "N"
            )  # boolean UFs filter by 1/0 (§4.2)
        if op in NOT_LIKE:
            results.append(not rec.matches(upper, {"%" + rec.snake(name): wanted}))
        else:
            results.append(rec.matches(upper, {op + rec.snake(name): _filter_value(wanted)}))
    return any(results) if logic == "OR" else all(results)


def _filter_value(wanted: Any) -> Any:
    return [_filter_value(w) for w in wanted] if isinstance(wanted, list) else wanted


def _ordered(rows: list[dict], order: Any, known: set[str] | None = None) -> list[dict]:
    """Sort by an order map of item field names (``id`` lower-case and so on); id ascending by default."""
    if not isinstance(order, dict) or not order:
        order = {"id": "ASC"}
    for field, direction in order.items():
        if known is not None and rec.snake(str(field)) not in {rec.snake(k) for k in known}:
            raise RestError(
                "INVALID_ARG_VALUE", f"Invalid order: field '{field}' is not allowed in order"
            )
        if str(direction).upper() not in ("ASC", "DESC"):
            raise RestError("INVALID_ARG_VALUE", f"Invalid order: allowed sort directions are ASC, DESC. "
                                                 f"But got '{direction}' for field '{field}'")  # fmt: skip
    keyed = [{**{rec.snake(k): v for k, v in r.items()}, "\0row": r} for r in rows]
    snake_order = {rec.snake(str(k)): v for k, v in order.items()}
    return [k["\0row"] for k in rec.order_records(keyed, snake_order)]


def _selected(row: dict, select: Any) -> dict:
    """``*`` (or nothing) = every field and ``fm``; otherwise the named fields (``ufCrm*`` = all UFs) and id."""
    names = (
        list(select.values())
        if isinstance(select, dict)
        else select
        if isinstance(select, list)
        else [select]
    )
    names = [str(n) for n in names]
    if "*" in names:
        return row
    wanted = {rec.snake(n) for n in names}
    uf_all = any(n in ("ufCrm*", "UF_*", "UF_CRM_*") for n in names)
    return {k: v for k, v in row.items()
            if k != "fm" and (k == "id" or rec.snake(k) in wanted or (uf_all and rec.snake(k).startswith("UF_")))}  # fmt: skip


def _field_names(portal: Portal, etid: int, entity: str | None, typ: dict | None) -> list[str]:
    """Item field names of a type (camelCase), user fields included."""
    if entity:
        base = ["ID", *crm_entities.FIELDS[entity], *sorted(crm_entities.READ_ONLY)]
        names = [item_name(entity, k) for k in base]
        names += [rec.camel(uf["FIELD_NAME"]) for uf in userfields.definitions(portal, entity)]
        return list(dict.fromkeys([*names, "entityTypeId"]))
    ufs = [rec.camel(f["fieldName"]) for f in portal.bucket("userfieldconfig").values()
           if f["entityId"] == f"CRM_{typ['id']}"]  # fmt: skip
    return SPA_FIELDS + ufs


def item_fields(call: Call) -> dict:
    """crm.item.fields: {"fields": {camelName: description}}."""
    etid, entity, typ = _item_type(call)
    out = {}
    for name in _field_names(call.portal, etid, entity, typ):
        kind = "integer" if name in INT_FIELDS else "double" if name in NUMBER_FIELDS else "string"
        out[name] = _describe(name, kind, read_only=name in ("id", "createdTime", "updatedTime"),
                              multiple=name in MULTIPLE)  # fmt: skip
    if entity and entity != "deal":
        out["fm"] = _describe("fm", "crm_multifield", multiple=True)
    return {"fields": out}


METHODS = [
    Method("crm.category.add", category_add, scope="crm"),
    Method("crm.category.list", category_list, scope="crm"),
    Method("crm.category.get", category_get, scope="crm"),
    Method("crm.category.update", category_update, scope="crm"),
    Method("crm.category.delete", category_delete, scope="crm"),
    Method("crm.category.fields", category_fields, scope="crm"),
    Method("crm.type.add", type_add, scope="crm"),
    Method("crm.type.list", type_list, scope="crm"),
    Method("crm.type.get", type_get, scope="crm"),
    Method("crm.type.getbyentitytypeid", type_get_by_entity_type_id, scope="crm"),
    Method("crm.type.update", type_update, scope="crm"),
    Method("crm.type.delete", type_delete, scope="crm"),
    Method("crm.item.add", item_add, scope="crm"),
    Method("crm.item.update", item_update, scope="crm"),
    Method("crm.item.get", item_get, scope="crm"),
    Method("crm.item.list", item_list, scope="crm"),
    Method("crm.item.delete", item_delete, scope="crm"),
    Method("crm.item.fields", item_fields, scope="crm"),
]
