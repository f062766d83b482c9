"""Products and deal product rows: ``crm.product.*``, ``crm.product.property.*``,
``crm.deal.productrows.get/set`` and ``crm.item.productrow.list`` (api-reference/crm/outdated/products/,
api-reference/crm/deals/crm-deal-productrows-*.md).

Products live in ``portal.table("product")``; property values inside a product as
``PROPERTY_<id>: [{"valueId": "...", "value": ...}, ...]`` and print as one such object (or null) for a
single property and a list for a MULTIPLE one. Properties live in ``portal.bucket("product_properties")``
and a deal's rows in ``portal.bucket("product_rows")["D_<id>"]``.
"""

from typing import Any

from .. import records as rec
from ..call import Call, Listing, Method
from ..errors import RestError, bad_id, not_found
from ..world import Portal
from . import crm_entities
from .activities import int_of

CATALOG_ID = "25"
PRODUCT_FIELDS = ("NAME", "CODE", "ACTIVE", "PRICE", "CURRENCY_ID", "SORT", "XML_ID", "SECTION_ID",
                  "DESCRIPTION", "DESCRIPTION_TYPE", "VAT_ID", "VAT_INCLUDED", "MEASURE",
                  "PREVIEW_PICTURE", "DETAIL_PICTURE", "CATALOG_ID")  # fmt: skip
PROPERTY_FIELDS = ("NAME", "ACTIVE", "SORT", "CODE", "DEFAULT_VALUE", "PROPERTY_TYPE", "ROW_COUNT",
                   "COL_COUNT", "LIST_TYPE", "MULTIPLE", "XML_ID", "FILE_TYPE", "LINK_IBLOCK_ID",
                   "IS_REQUIRED", "USER_TYPE", "USER_TYPE_SETTINGS")  # fmt: skip
PROPERTY_TYPES = [("S", "", "String"), ("N", "", "Number"), ("L", "", "List"), ("F", "", "File"),
                  ("G", "", "Link to section"), ("E", "", "Link to element"),
                  ("S", "HTML", "HTML/text"), ("S", "Date", "Date"), ("S", "DateTime", "Date/Time"),
                  ("S", "employee", "Link to user"), ("E", "EList", "Link to elements in list"),
                  ("N", "Sequence", "Counter"), ("S", "ECrm", "Link to CRM elements"),
                  ("S", "Money", "Money"), ("S", "map_yandex", "Yandex Map")]  # fmt: skip


def classic(text: str) -> RestError:
    return RestError("", text, 400)


def fields_param(call: Call) -> dict:
    fields = call.get("fields", "FIELDS")
    if not isinstance(fields, dict):
        raise classic("Parameter 'fields' must be array.")
    return {str(k).upper(): v for k, v in fields.items()}


def find_in(table: dict, raw_id: Any) -> dict:
    if int_of(raw_id) <= 0:
        raise bad_id()
    record = table.get(str(int_of(raw_id)))
    if record is None:
        raise not_found()
    return record


# --- properties -------------------------------------------------------------------------------------


def properties(portal: Portal) -> dict[str, dict]:
    return portal.bucket("product_properties")


def list_values(portal: Portal, raw: Any) -> dict:
    """A list property's VALUES ({"n0": {"VALUE":..}} or a list) as {id: {ID, VALUE, XML_ID, SORT, DEF}}."""
    items = raw.values() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    out = {}
    for item in items:
        if isinstance(item, dict) and str(item.get("VALUE") or "") != "":
            value_id = str(portal.next_id("product_enum"))
            out[value_id] = {"ID": value_id, "VALUE": str(item["VALUE"]), "XML_ID": str(item.get("XML_ID") or value_id),
                             "SORT": str(item.get("SORT", 500)), "DEF": "Y" if item.get("DEF") == "Y" else "N"}  # fmt: skip
    return out


def write_property(portal: Portal, prop: dict, fields: dict) -> None:
    for key in PROPERTY_FIELDS:
        if key in fields:
            prop[key] = fields[key] if key == "USER_TYPE_SETTINGS" else rec.php_value(fields[key])
    if "VALUES" in fields and prop["PROPERTY_TYPE"] == "L":
        prop["VALUES"] = list_values(portal, fields["VALUES"])


def property_add(call: Call) -> int:
    """crm.product.property.add: a product property; NAME is required; returns its id."""
    fields = fields_param(call)
    if str(fields.get("NAME") or "").strip() == "":
        raise classic("The field NAME is required.")
    new_id = call.portal.next_id("product_property")
    prop = {"ID": str(new_id), "IBLOCK_ID": CATALOG_ID, "NAME": "", "ACTIVE": "Y", "SORT": "500",
            "DEFAULT_VALUE": "", "PROPERTY_TYPE": "S", "ROW_COUNT": "1", "COL_COUNT": "30",
            "LIST_TYPE": "L", "MULTIPLE": "N", "XML_ID": "", "FILE_TYPE": "", "LINK_IBLOCK_ID": "0",
            "IS_REQUIRED": "N", "USER_TYPE": None, "USER_TYPE_SETTINGS": None, "CODE": ""}  # fmt: skip
    write_property(call.portal, prop, fields)
    prop["PROPERTY_TYPE"] = str(prop["PROPERTY_TYPE"]).upper() or "S"
    prop["MULTIPLE"] = "Y" if prop["MULTIPLE"] == "Y" else "N"
    properties(call.portal)[str(new_id)] = prop
    return new_id


def property_get(call: Call) -> dict:
    """crm.product.property.get: one property (VALUES for list properties)."""
    return find_in(properties(call.portal), call.get("id", "ID"))


def property_list(call: Call) -> Listing:
    """crm.product.property.list: classic filter and order."""
    rows = [
        p
        for p in properties(call.portal).values()
        if rec.matches(p, call.get("filter", "FILTER") or {})
    ]
    return Listing(rec.order_records(rows, call.get("order", "ORDER")))


def property_update(call: Call) -> bool:
    """crm.product.property.update: change given fields; the type cannot change."""
    prop = find_in(properties(call.portal), call.get("id", "ID"))
    fields = {k: v for k, v in fields_param(call).items() if k != "PROPERTY_TYPE"}
    write_property(call.portal, prop, fields)
    return True


def property_delete(call: Call) -> bool:
    """crm.product.property.delete: the property and every product's values of it."""
    prop = find_in(properties(call.portal), call.get("id", "ID"))
    del properties(call.portal)[prop["ID"]]
    for product in products(call.portal).values():
        product.pop(f"PROPERTY_{prop['ID']}", None)
    return True


def property_types(call: Call) -> list[dict]:
    """crm.product.property.types: the property types products can use."""
    return [{"PROPERTY_TYPE": t, "USER_TYPE": u, "DESCRIPTION": d} for t, u, d in PROPERTY_TYPES]


# --- products ---------------------------------------------------------------------------------------


def products(portal: Portal) -> dict[str, dict]:
    return portal.table("product")


def property_of(portal: Portal, key: str) -> dict | None:
    """``PROPERTY_106`` → that property's definition."""
    if not key.startswith("PROPERTY_"):
        return None
    return properties(portal).get(key[9:])


def value_items(raw: Any) -> list:
    """A property value as sent: scalar, {"value":..}, a list of them or a {"n0": ...} map."""
    if isinstance(raw, dict) and not ({"value", "VALUE", "valueId"} & set(raw)):
        return list(raw.values())
    return raw if isinstance(raw, list) else [raw]


def write_values(portal: Portal, product: dict, key: str, prop: dict, raw: Any) -> None:
    """Replace a property's values; an item naming an existing valueId keeps that id."""
    current = {v["valueId"]: v for v in product.get(key, [])}
    values = []
    for item in value_items(raw):
        value_id = None
        if isinstance(item, dict):
            value_id = str(item.get("valueId") or item.get("VALUE_ID") or "") or None
            item = item.get("value", item.get("VALUE"))
        if item is None or item == "":
            continue
        if value_id not in current:
            value_id = str(portal.next_id("product_value"))
        values.append({"valueId": value_id, "value": rec.php_value(item)})
    if prop["MULTIPLE"] != "Y":
        values = values[:1]
    product[key] = values


def write_product(portal: Portal, product: dict, fields: dict) -> None:
    for key, value in fields.items():
        prop = property_of(portal, key)
        if prop is not None:
            write_values(portal, product, key, prop, value)
        elif key in PRODUCT_FIELDS:
            product[key] = rec.php_value(value)
    if product.get("PRICE", "") != "":
        crm_entities.money(product, "PRICE")


def product_add(call: Call) -> int:
    """crm.product.add: a catalog product; NAME is required; returns its id."""
    fields = fields_param(call)
    if str(fields.get("NAME") or "").strip() == "":
        raise classic("The field NAME is required.")
    new_id = call.portal.next_id("product")
    stamp = rec.now_iso(call.portal.settings["timezone"])
    product = {"ID": str(new_id), "CATALOG_ID": CATALOG_ID, "PRICE": "0.00", "CURRENCY_ID": "RUB",
               "NAME": "", "CODE": "", "DESCRIPTION": "", "DESCRIPTION_TYPE": "text", "ACTIVE": "Y",
               "SECTION_ID": None, "SORT": "500", "VAT_ID": None, "VAT_INCLUDED": "N", "MEASURE": None,
               "XML_ID": str(new_id), "PREVIEW_PICTURE": None, "DETAIL_PICTURE": None,
               "DATE_CREATE": stamp, "TIMESTAMP_X": stamp, "MODIFIED_BY": call.auth.user_id,
               "CREATED_BY": call.auth.user_id}  # fmt: skip
    write_product(call.portal, product, fields)
    products(call.portal)[str(new_id)] = product
    call.emit("ONCRMPRODUCTADD", {"FIELDS": {"ID": new_id}})
    return new_id


def printed(portal: Portal, product: dict, with_properties: bool = True) -> dict:
    """A product as get/list print it: every property key, one object or a list, null when empty."""
    out = {k: v for k, v in product.items() if not k.startswith("PROPERTY_")}
    if with_properties:
        for prop_id, prop in properties(portal).items():
            values = product.get(f"PROPERTY_{prop_id}") or []
            single = values[0] if values else None
            out[f"PROPERTY_{prop_id}"] = (values or None) if prop["MULTIPLE"] == "Y" else single
    return out


def product_get(call: Call) -> dict:
    """crm.product.get: the product with all its PROPERTY_<id> values."""
    return printed(call.portal, find_in(products(call.portal), call.get("id", "ID")))


def flat(product: dict) -> dict:
    """Property values as plain lists so classic filters can test them."""
    return {
        k: [v["value"] for v in val] if k.startswith("PROPERTY_") else val
        for k, val in product.items()
    }


def product_list(call: Call) -> Listing:
    """crm.product.list: filter/order/select; properties only via PROPERTY_* or PROPERTY_<id> in select."""
    flt = call.get("filter", "FILTER") or {}
    rows = [p for p in products(call.portal).values() if rec.matches(flat(p), flt)]
    rows = rec.order_records(rows, call.get("order", "ORDER"))
    select = call.get("select", "SELECT") or ["*"]
    select = (
        list(select.values())
        if isinstance(select, dict)
        else [select]
        if isinstance(select, str)
        else select
    )
    wanted = {str(s).upper() for s in select}
    out = []
    for row in rows:
        full = printed(call.portal, row)
        picked = rec.select_fields(
            {k: v for k, v in full.items() if not k.startswith("PROPERTY_")}, select
        )
        picked.update(
            {
                k: v
                for k, v in full.items()
                if k.startswith("PROPERTY_") and ("PROPERTY_*" in wanted or k in wanted)
            }
        )
        out.append(picked)
    return Listing(out)


def product_update(call: Call) -> bool:
    """crm.product.update: change given fields and properties; others are kept."""
    product = find_in(products(call.portal), call.get("id", "ID"))
    write_product(call.portal, product, {k: v for k, v in fields_param(call).items() if k != "ID"})
    product["TIMESTAMP_X"] = rec.now_iso(call.portal.settings["timezone"])
    product["MODIFIED_BY"] = call.auth.user_id
    call.emit("ONCRMPRODUCTUPDATE", {"FIELDS": {"ID": int(product["ID"])}})
    return True


def product_delete(call: Call) -> bool:
    """crm.product.delete."""
    product = find_in(products(call.portal), call.get("id", "ID"))
    del products(call.portal)[product["ID"]]
    call.emit("ONCRMPRODUCTDELETE", {"FIELDS": {"ID": int(product["ID"])}})
    return True


def describe(
    kind: str, title: str, required: bool = False, read_only: bool = False, **extra: Any
) -> dict:
    return {"type": kind, "isRequired": required, "isReadOnly": read_only, "isImmutable": False,
            "isMultiple": False, "isDynamic": False, "title": title, **extra}  # fmt: skip


def product_fields(call: Call) -> dict:
    """crm.product.fields: the product fields plus one ``product_property`` entry per property."""
    types = {"ID": "integer", "CATALOG_ID": "integer", "PRICE": "double", "SORT": "integer",
             "SECTION_ID": "integer", "VAT_ID": "integer", "MEASURE": "integer", "ACTIVE": "char",
             "VAT_INCLUDED": "char", "DATE_CREATE": "datetime", "TIMESTAMP_X": "datetime",
             "CREATED_BY": "integer", "MODIFIED_BY": "integer",
             "PREVIEW_PICTURE": "product_file", "DETAIL_PICTURE": "product_file"}  # fmt: skip
    read_only = {"ID", "DATE_CREATE", "TIMESTAMP_X", "CREATED_BY", "MODIFIED_BY"}
    names = ("ID",) + PRODUCT_FIELDS + ("DATE_CREATE", "TIMESTAMP_X", "CREATED_BY", "MODIFIED_BY")
    out = {n: describe(types.get(n, "string"), n, n == "NAME", n in read_only) for n in names}
    for prop_id, prop in properties(call.portal).items():
        out[f"PROPERTY_{prop_id}"] = {**describe("product_property", prop["NAME"], prop["IS_REQUIRED"] == "Y"),
                                      "isMultiple": prop["MULTIPLE"] == "Y", "isDynamic": True,
                                      "propertyType": prop["PROPERTY_TYPE"], "userType": prop["USER_TYPE"] or ""}  # fmt: skip
    return out


# --- deal product rows --------------------------------------------------------------------------------


def rows_bucket(portal: Portal) -> dict[str, list]:
    return portal.bucket("product_rows")


def number(row: dict, key: str, default: float) -> float:
    try:
        return float(row.get(key, default) if row.get(key) not in (None, "") else default)
    except (TypeError, ValueError):
        raise RestError("ERROR_CORE", f"Field {key} must be a number.<br>", 400) from None


def check_discount(row: dict) -> None:
    """The three documented discount checks (crm-deal-productrows-set.md)."""
    kind = int_of(row.get("DISCOUNT_TYPE_ID")) if "DISCOUNT_TYPE_ID" in row else None
    if kind == 2 and "DISCOUNT_RATE" not in row:
        raise RestError("ERROR_CORE", "Discount Rate (DISCOUNT_RATE) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined<br>", 400)  # fmt: skip
    if kind == 2 and number(row, "DISCOUNT_RATE", 0) == 100 and "DISCOUNT_SUM" not in row:
        raise RestError("ERROR_CORE", "Discount Sum (DISCOUNT_SUM) is required if Percentage Discount Type (DISCOUNT_TYPE_ID) is defined and Discount Rate (DISCOUNT_RATE) is 100%<br>", 400)  # fmt: skip
    if kind == 1 and "DISCOUNT_SUM" not in row:
        raise RestError("ERROR_CORE", "Discount Sum (DISCOUNT_SUM) is required if Monetary Discount Type (DISCOUNT_TYPE_ID) is defined<br>", 400)  # fmt: skip


def make_row(portal: Portal, deal_id: str, raw: dict, sort: int) -> dict:
    """One stored row as crm.deal.productrows.get prints it (mixed strings and numbers, as documented)."""
    row = {str(k).upper(): v for k, v in raw.items()}
    check_discount(row)
    row_id = portal.next_id("product_row")
    product = products(portal).get(str(int_of(row.get("PRODUCT_ID"))))
    original = product["NAME"] if product else None
    name = str(row.get("PRODUCT_NAME") or original or f"[{row_id}]")
    price = number(row, "PRICE", 0.0)
    return {"ID": str(row_id), "OWNER_ID": deal_id, "OWNER_TYPE": "D",
            "PRODUCT_ID": int(product["ID"]) if product else 0, "PRODUCT_NAME": name,
            "ORIGINAL_PRODUCT_NAME": original or name, "PRODUCT_DESCRIPTION": row.get("PRODUCT_DESCRIPTION"),
            "PRICE": price, "PRICE_EXCLUSIVE": number(row, "PRICE_EXCLUSIVE", price),
            "PRICE_NETTO": number(row, "PRICE_NETTO", price), "PRICE_BRUTTO": number(row, "PRICE_BRUTTO", price),
            "PRICE_ACCOUNT": f"{price:.2f}", "QUANTITY": number(row, "QUANTITY", 1.0),
            "DISCOUNT_TYPE_ID": int_of(row.get("DISCOUNT_TYPE_ID", 2)),
            "DISCOUNT_RATE": number(row, "DISCOUNT_RATE", 0.0), "DISCOUNT_SUM": number(row, "DISCOUNT_SUM", 0.0),
            "TAX_RATE": number(row, "TAX_RATE", 0.0) if row.get("TAX_RATE") not in (None, "") else None,
            "TAX_INCLUDED": "Y" if row.get("TAX_INCLUDED") == "Y" else "N", "CUSTOMIZED": "Y",
            "MEASURE_CODE": int_of(row.get("MEASURE_CODE", 796)), "MEASURE_NAME": str(row.get("MEASURE_NAME", "шт")),
            "SORT": int_of(row.get("SORT", sort)), "XML_ID": str(row.get("XML_ID") or ""), "TYPE": 1, "STORE_ID": 0}  # fmt: skip


def find_deal(call: Call) -> dict:
    raw = call.get("id", "ID")
    if int_of(raw) <= 0:
        raise classic("The parameter id is invalid or not defined.")
    deal = crm_entities.table(call.portal, "deal").get(str(int_of(raw)))
    if deal is None:
        raise not_found()
    return deal


def productrows_set(call: Call) -> bool:
    """crm.deal.productrows.set: replace all rows; OPPORTUNITY becomes their sum unless manual."""
    deal = find_deal(call)
    raw_rows = call.get("rows", "ROWS") or []
    raw_rows = list(raw_rows.values()) if isinstance(raw_rows, dict) else raw_rows
    rows = [
        make_row(call.portal, deal["ID"], r, (i + 1) * 10)
        for i, r in enumerate(raw_rows)
        if isinstance(r, dict)
    ]
    rows_bucket(call.portal)[f"D_{deal['ID']}"] = rows
    if deal.get("IS_MANUAL_OPPORTUNITY") != "Y":
        total = sum(r["PRICE"] * r["QUANTITY"] for r in rows)
        deal["OPPORTUNITY"] = f"{total:.2f}"
        call.emit("ONCRMDEALUPDATE", {"FIELDS": {"ID": int(deal["ID"])}})
    return True


def productrows_get(call: Call) -> list[dict]:
    """crm.deal.productrows.get: the deal's rows in SORT order."""
    deal = find_deal(call)
    return sorted(
        rows_bucket(call.portal).get(f"D_{deal['ID']}", []), key=lambda r: (r["SORT"], int(r["ID"]))
    )


def item_row(row: dict) -> dict:
    """A stored row in crm.item.productrow's camelCase, ints for ids."""
    out = {rec.camel(k): v for k, v in row.items()}
    out.update(id=int(row["ID"]), ownerId=int(row["OWNER_ID"]))
    return out


def item_productrow_list(call: Call) -> Listing:
    """crm.item.productrow.list: rows filtered by =ownerType and =ownerId; result {"productRows": [...]}."""
    flt = call.get("filter") or {}
    owner_type = str(flt.get("=ownerType", flt.get("ownerType", ""))).upper()
    owner_id = str(int_of(flt.get("=ownerId", flt.get("ownerId"))))
    rows = rows_bucket(call.portal).get(f"{owner_type}_{owner_id}", [])
    return Listing([item_row(r) for r in rows], wrap=lambda page: {"productRows": page})


METHODS = [
    Method("crm.product.add", product_add, scope="crm"),
    Method("crm.product.get", product_get, scope="crm"),
    Method("crm.product.list", product_list, scope="crm"),
    Method("crm.product.update", product_update, scope="crm"),
    Method("crm.product.delete", product_delete, scope="crm"),
    Method("crm.product.fields", product_fields, scope="crm"),
    Method("crm.product.property.add", property_add, scope="crm"),
    Method("crm.product.property.get", property_get, scope="crm"),
    Method("crm.product.property.list", property_list, scope="crm"),
    Method("crm.product.property.update", property_update, scope="crm"),
    Method("crm.product.property.delete", property_delete, scope="crm"),
    Method("crm.product.property.types", property_types, scope="crm"),
    Method("crm.deal.productrows.set", productrows_set, scope="crm"),
    Method("crm.deal.productrows.get", productrows_get, scope="crm"),
    Method("crm.item.productrow.list", item_productrow_list, scope="crm"),
]
