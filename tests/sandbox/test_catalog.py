"""Products, product properties and deal product rows (api-reference/crm/outdated/products/, crm/deals/)."""

PRODUCTS = "api-reference/crm/outdated/products"


def product(portal, **fields) -> int:
    return portal.result(
        "crm.product.add",
        {"fields": {"NAME": "Пакет помощи", "PRICE": 1500, "CURRENCY_ID": "RUB", **fields}},
    )


def datetime_property(portal) -> int:
    return portal.result("crm.product.property.add", {"fields": {"NAME": "Даты раздачи", "PROPERTY_TYPE": "S",
                                                                 "USER_TYPE": "DateTime", "MULTIPLE": "Y"}})  # fmt: skip


def test_product_add_get_prints_classic_strings(portal):
    """crm.product.add → int id; get prints ID/PRICE as strings (api-reference/crm/outdated/products/crm-product-add.md)."""
    pid = product(portal)
    assert isinstance(pid, int)
    got = portal.result("crm.product.get", {"id": pid})
    assert (got["ID"], got["NAME"], got["PRICE"], got["CURRENCY_ID"], got["ACTIVE"]) == (
        str(pid),
        "Пакет помощи",
        "1500.00",
        "RUB",
        "Y",
    )


def test_product_name_is_required(portal):
    """crm.product.fields marks NAME required; add without it fails (api-reference/crm/outdated/products/crm-product-fields.md)."""
    answer = portal.call("crm.product.add", {"fields": {"PRICE": 1}})
    assert answer.status == 400 and answer.body["error"] == ""


def test_multiple_datetime_property_values_are_valueid_lists(portal):
    """A MULTIPLE S/DateTime property prints as [{"valueId", "value"}, ...] under PROPERTY_<id> (api-reference/crm/outdated/products/crm-product-property-add.md)."""
    prop = datetime_property(portal)
    definition = portal.result("crm.product.property.get", {"id": prop})
    assert (definition["PROPERTY_TYPE"], definition["USER_TYPE"], definition["MULTIPLE"]) == (
        "S",
        "DateTime",
        "Y",
    )
    pid = product(
        portal,
        **{
            f"PROPERTY_{prop}": [
                {"value": "2026-03-01T10:00:00+03:00"},
                {"value": "2026-03-08T10:00:00+03:00"},
            ]
        },
    )
    values = portal.result("crm.product.get", {"id": pid})[f"PROPERTY_{prop}"]
    assert [v["value"] for v in values] == [
        "2026-03-01T10:00:00+03:00",
        "2026-03-08T10:00:00+03:00",
    ]
    assert all(isinstance(v["valueId"], str) for v in values)


def test_property_update_keeps_value_ids_and_replaces_the_rest(portal):
    """crm.product.update: a value naming its valueId keeps it; values not sent are dropped (api-reference/crm/outdated/products/crm-product-update.md)."""
    prop = datetime_property(portal)
    pid = product(
        portal, **{f"PROPERTY_{prop}": ["2026-03-01T10:00:00+03:00", "2026-03-08T10:00:00+03:00"]}
    )
    first = portal.result("crm.product.get", {"id": pid})[f"PROPERTY_{prop}"][0]
    portal.result(
        "crm.product.update",
        {
            "id": pid,
            "fields": {
                f"PROPERTY_{prop}": [
                    {"valueId": first["valueId"], "value": "2026-04-01T10:00:00+03:00"}
                ]
            },
        },
    )
    assert portal.result("crm.product.get", {"id": pid})[f"PROPERTY_{prop}"] == [
        {"valueId": first["valueId"], "value": "2026-04-01T10:00:00+03:00"}
    ]


def test_single_property_prints_object_or_null(portal):
    """A non-multiple property prints one {"valueId","value"} object, or null when empty (api-reference/crm/outdated/products/crm-product-get.md)."""
    prop = portal.result("crm.product.property.add", {"fields": {"NAME": "Склад"}})
    filled, empty = product(portal, **{f"PROPERTY_{prop}": {"value": "Москва"}}), product(portal)
    assert portal.result("crm.product.get", {"id": filled})[f"PROPERTY_{prop}"]["value"] == "Москва"
    assert portal.result("crm.product.get", {"id": empty})[f"PROPERTY_{prop}"] is None


def test_product_list_filter_and_property_select(portal):
    """crm.product.list: filter, order, select with PROPERTY_* (api-reference/crm/outdated/products/crm-product-list.md)."""
    prop = portal.result("crm.product.property.add", {"fields": {"NAME": "Город"}})
    product(portal, NAME="Б", **{f"PROPERTY_{prop}": "Тула"})
    a = product(portal, NAME="А")
    rows = portal.result("crm.product.list", {"order": {"NAME": "ASC"}, "select": ["ID", "NAME"]})
    assert [r["NAME"] for r in rows] == ["А", "Б"] and f"PROPERTY_{prop}" not in rows[0]
    rows = portal.result(
        "crm.product.list", {"filter": {f"PROPERTY_{prop}": "Тула"}, "select": ["ID", "PROPERTY_*"]}
    )
    assert len(rows) == 1 and rows[0][f"PROPERTY_{prop}"]["value"] == "Тула"
    assert portal.call("crm.product.list", {"filter": {"ID": a}}).body["total"] == 1


def test_product_delete_and_not_found(portal):
    """crm.product.delete → true; then get → empty-code "Not found" (api-reference/crm/outdated/products/crm-product-delete.md)."""
    pid = product(portal)
    assert portal.result("crm.product.delete", {"id": pid}) is True
    assert portal.call("crm.product.get", {"id": pid}).body == {
        "error": "",
        "error_description": "Not found",
    }


def test_product_fields_lists_properties(portal):
    """crm.product.fields describes NAME (required) and each PROPERTY_<id> (api-reference/crm/outdated/products/crm-product-fields.md)."""
    prop = datetime_property(portal)
    fields = portal.result("crm.product.fields")
    assert fields["NAME"]["isRequired"] is True
    assert (
        fields[f"PROPERTY_{prop}"]["isMultiple"] is True
        and fields[f"PROPERTY_{prop}"]["userType"] == "DateTime"
    )


def test_property_list_types_update_delete(portal):
    """crm.product.property.list/types/update/delete (api-reference/crm/outdated/products/crm-product-property-*.md)."""
    prop = datetime_property(portal)
    assert {
        "PROPERTY_TYPE": "S",
        "USER_TYPE": "DateTime",
        "DESCRIPTION": "Date/Time",
    } in portal.result("crm.product.property.types")
    assert (
        portal.result("crm.product.property.update", {"id": prop, "fields": {"NAME": "Даты"}})
        is True
    )
    assert [p["NAME"] for p in portal.result("crm.product.property.list")] == ["Даты"]
    assert portal.result("crm.product.property.delete", {"id": prop}) is True
    assert portal.result("crm.product.property.list") == []


def test_productrows_set_replaces_rows_and_recomputes_opportunity(portal):
    """crm.deal.productrows.set replaces all rows; OPPORTUNITY = Σ PRICE×QUANTITY (api-reference/crm/deals/crm-deal-productrows-set.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "Взнос"}})
    pid = product(portal)
    portal.result("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_ID": pid, "PRICE": 1500, "QUANTITY": 2},
                                                                     {"PRODUCT_NAME": "Доставка", "PRICE": 300}]})  # fmt: skip
    assert portal.result("crm.deal.get", {"id": deal})["OPPORTUNITY"] == "3300.00"
    assert (
        portal.result(
            "crm.deal.productrows.set",
            {"id": deal, "rows": [{"PRODUCT_NAME": "Только", "PRICE": 10}]},
        )
        is True
    )
    rows = portal.result("crm.deal.productrows.get", {"id": deal})
    assert [(r["PRODUCT_NAME"], r["PRICE"], r["QUANTITY"], r["OWNER_TYPE"]) for r in rows] == [
        ("Только", 10, 1, "D")
    ]
    assert portal.result("crm.deal.get", {"id": deal})["OPPORTUNITY"] == "10.00"


def test_productrows_name_from_product(portal):
    """PRODUCT_NAME defaults to the product's name (api-reference/crm/deals/crm-deal-productrows-set.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    pid = product(portal, NAME="Тёплые вещи")
    portal.result(
        "crm.deal.productrows.set",
        {"id": deal, "rows": [{"PRODUCT_ID": pid, "PRICE": 5}]},
        form=True,
    )
    [row] = portal.result("crm.deal.productrows.get", {"id": deal})
    assert (
        row["PRODUCT_ID"],
        row["PRODUCT_NAME"],
        row["ORIGINAL_PRODUCT_NAME"],
        row["OWNER_ID"],
    ) == (pid, "Тёплые вещи", "Тёплые вещи", str(deal))


def test_manual_opportunity_is_kept(portal):
    """IS_MANUAL_OPPORTUNITY=Y keeps OPPORTUNITY as entered (api-reference/crm/deals/crm-deal-add.md)."""
    deal = portal.result(
        "crm.deal.add", {"fields": {"TITLE": "x", "OPPORTUNITY": 777, "IS_MANUAL_OPPORTUNITY": "Y"}}
    )
    portal.result(
        "crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "p", "PRICE": 5}]}
    )
    assert portal.result("crm.deal.get", {"id": deal})["OPPORTUNITY"] == "777.00"


def test_productrows_errors(portal):
    """Bad id, unknown deal and the discount checks (api-reference/crm/deals/crm-deal-productrows-set.md)."""
    assert (
        portal.call("crm.deal.productrows.get", {"id": 0}).body["error_description"]
        == "The parameter id is invalid or not defined."
    )
    assert (
        portal.call("crm.deal.productrows.get", {"id": 999}).body["error_description"]
        == "Not found"
    )
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    answer = portal.call(
        "crm.deal.productrows.set", {"id": deal, "rows": [{"PRICE": 5, "DISCOUNT_TYPE_ID": 1}]}
    )
    assert (
        answer.body["error"] == "ERROR_CORE" and "DISCOUNT_SUM" in answer.body["error_description"]
    )


def test_item_productrow_list(portal):
    """crm.item.productrow.list with =ownerType/=ownerId → {"productRows": [...camelCase...]} (api-reference/crm/universal/product-rows/crm-item-productrow-list.md)."""
    deal = portal.result("crm.deal.add", {"fields": {"TITLE": "x"}})
    portal.result(
        "crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "p", "PRICE": 5}]}
    )
    body = portal.call(
        "crm.item.productrow.list", {"filter": {"=ownerType": "D", "=ownerId": deal}}
    ).body
    [row] = body["result"]["productRows"]
    assert (row["ownerId"], row["productName"], row["price"]) == (deal, "p", 5) and body[
        "total"
    ] == 1
