"""Universal lists: lists.*, lists.field.*, lists.section.add, lists.element.* (bitrix24-rest.md §4.11)."""

import pytest

BASE = {"IBLOCK_TYPE_ID": "lists"}


def make_list(portal, code="participants") -> int:
    return portal.result(
        "lists.add", {**BASE, "IBLOCK_CODE": code, "FIELDS": {"NAME": "Участники события"}}
    )


def make_field(portal, iblock, **fields) -> str:
    return portal.result(
        "lists.field.add",
        {
            **BASE,
            "IBLOCK_ID": iblock,
            "FIELDS": {"NAME": "Телефон", "TYPE": "S", "CODE": "PHONE", **fields},
        },
    )


def add_element(portal, iblock, code, **extra):
    return portal.call(
        "lists.element.add",
        {**BASE, "IBLOCK_ID": iblock, "ELEMENT_CODE": code, "FIELDS": {"NAME": "Иван", **extra}},
    )


def test_lists_add_and_get(portal):
    """§4.11: lists.add → int id; lists.get returns the list with total (api-reference/lists/lists/lists-add.md)."""
    iblock = make_list(portal)
    assert isinstance(iblock, int)
    body = portal.call("lists.get", {**BASE, "IBLOCK_CODE": "participants"}).body
    assert (
        body["total"] == 1
        and body["result"][0]["ID"] == str(iblock)
        and body["result"][0]["NAME"] == "Участники события"
    )


def test_lists_add_duplicate_code(portal):
    """§4.11: the same IBLOCK_CODE twice → ERROR_IBLOCK_ALREADY_EXISTS (api-reference/lists/lists/lists-add.md)."""
    make_list(portal)
    answer = portal.call(
        "lists.add", {**BASE, "IBLOCK_CODE": "participants", "FIELDS": {"NAME": "x"}}
    )
    assert (answer.status, answer.body["error"]) == (400, "ERROR_IBLOCK_ALREADY_EXISTS")


def test_field_add_returns_property_id_and_field_get_shows_it(portal):
    """§4.11: lists.field.add → "PROPERTY_<id>"; lists.field.get lists it with list values (api-reference/lists/fields/lists-field-add.md)."""
    iblock = make_list(portal)
    phone = make_field(portal, iblock)
    status = make_field(
        portal,
        iblock,
        NAME="Статус",
        TYPE="L",
        CODE="STATUS",
        LIST={"n0": {"VALUE": "Пришёл"}, "n1": {"VALUE": "Нет"}},
    )
    assert phone.startswith("PROPERTY_") and status.startswith("PROPERTY_")
    fields = portal.result("lists.field.get", {**BASE, "IBLOCK_ID": iblock})
    assert fields[phone]["CODE"] == "PHONE" and sorted(
        fields[status]["DISPLAY_VALUES_FORM"].values()
    ) == ["Нет", "Пришёл"]
    assert list(
        portal.result("lists.field.get", {**BASE, "IBLOCK_ID": iblock, "FIELD_ID": phone})
    ) == [phone]


def test_field_add_code_errors(portal):
    """§4.11: no CODE → ERROR_SAVE_FIELD "Please fill the code fields"; repeated CODE → "Property already exists" (api-reference/lists/fields/lists-field-add.md)."""
    iblock = make_list(portal)
    make_field(portal, iblock)
    no_code = portal.call(
        "lists.field.add", {**BASE, "IBLOCK_ID": iblock, "FIELDS": {"NAME": "x", "TYPE": "S"}}
    )
    assert no_code.body == {
        "error": "ERROR_SAVE_FIELD",
        "error_description": "Please fill the code fields",
    }
    again = portal.call(
        "lists.field.add",
        {**BASE, "IBLOCK_ID": iblock, "FIELDS": {"NAME": "x", "TYPE": "S", "CODE": "PHONE"}},
    )
    assert again.body["error_description"] == "Property already exists"


def test_section_add(portal):
    """§4.11: lists.section.add → int id (api-reference/lists/sections/lists-section-add.md)."""
    make_list(portal)
    section = portal.result(
        "lists.section.add",
        {
            **BASE,
            "IBLOCK_CODE": "participants",
            "SECTION_CODE": "march",
            "FIELDS": {"NAME": "Март"},
        },
    )
    assert isinstance(section, int)


def test_element_add_and_get_prints_value_id_maps(portal):
    """§4.11: lists.element.add → int; get prints PROPERTY_<id> as {"<valueId>": value} plus total (api-reference/lists/elements/lists-element-get.md)."""
    iblock = make_list(portal)
    phone = make_field(portal, iblock, MULTIPLE="Y")
    element = add_element(
        portal, iblock, "guest-1", **{phone: ["+79160000001", "+79160000002"]}
    ).result
    assert isinstance(element, int)
    body = portal.call(
        "lists.element.get", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_ID": element}
    ).body
    [row] = body["result"]
    assert body["total"] == 1 and (row["ID"], row["NAME"], row["CODE"]) == (
        str(element),
        "Иван",
        "guest-1",
    )
    assert isinstance(row[phone], dict) and sorted(row[phone].values()) == [
        "+79160000001",
        "+79160000002",
    ]
    assert all(key.isdigit() for key in row[phone])


def test_element_code_is_required_and_unique(portal):
    """§4.11: ELEMENT_CODE required (ERROR_REQUIRED_PARAMETERS_MISSING) and unique (ERROR_ELEMENT_ALREADY_EXISTS) (api-reference/lists/elements/lists-element-add.md)."""
    iblock = make_list(portal)
    assert add_element(portal, iblock, "guest-1").status == 200
    again = add_element(portal, iblock, "guest-1")
    assert again.body == {
        "error": "ERROR_ELEMENT_ALREADY_EXISTS",
        "error_description": "Element already exists",
    }
    no_code = portal.call(
        "lists.element.add", {**BASE, "IBLOCK_ID": iblock, "FIELDS": {"NAME": "x"}}
    )
    assert no_code.body["error"] == "ERROR_REQUIRED_PARAMETERS_MISSING"


@pytest.mark.parametrize("method", ["lists.element.add", "lists.element.get", "lists.field.get"])
def test_unknown_list_is_iblock_not_found(portal, method):
    """§4.11: an unknown IBLOCK_ID/IBLOCK_CODE → ERROR_IBLOCK_NOT_FOUND (api-reference/lists/elements/lists-element-add.md)."""
    answer = portal.call(
        method, {**BASE, "IBLOCK_CODE": "nope", "ELEMENT_CODE": "c", "FIELDS": {"NAME": "x"}}
    )
    assert answer.body == {
        "error": "ERROR_IBLOCK_NOT_FOUND",
        "error_description": "Iblock not found",
    }


def test_element_get_filter_and_select_by_code(portal):
    """§4.11: FILTER on properties, SELECT narrows fields, IBLOCK_CODE and ELEMENT_CODE address records (api-reference/lists/elements/lists-element-get.md)."""
    iblock = make_list(portal)
    phone = make_field(portal, iblock)
    add_element(portal, iblock, "a", **{phone: "111"})
    add_element(portal, iblock, "b", **{phone: "222"})
    rows = portal.result(
        "lists.element.get",
        {**BASE, "IBLOCK_CODE": "participants", "FILTER": {phone: "222"}, "SELECT": ["CODE"]},
    )
    assert rows == [{"ID": rows[0]["ID"], "CODE": "b"}]
    assert (
        portal.result("lists.element.get", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_CODE": "a"})[0][
            "CODE"
        ]
        == "a"
    )


def test_element_update_overwrites_and_clears_unsent_properties(portal):
    """§4.11: lists.element.update overwrites the element; properties not sent are cleared (api-reference/lists/elements/lists-element-update.md)."""
    iblock = make_list(portal)
    phone = make_field(portal, iblock)
    email = make_field(portal, iblock, NAME="E-mail", CODE="EMAIL")
    element = add_element(portal, iblock, "a", **{phone: "111", email: "a@x.example"}).result
    assert portal.result("lists.element.update", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_ID": element,
                                                  "FIELDS": {"NAME": "Пётр", email: "p@x.example"}}, form=True) is True  # fmt: skip
    [row] = portal.result("lists.element.get", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_ID": element})
    assert (
        row["NAME"] == "Пётр" and list(row[email].values()) == ["p@x.example"] and phone not in row
    )


def test_element_delete_and_not_found(portal):
    """§4.11: lists.element.delete → true; afterwards ERROR_ELEMENT_NOT_FOUND (api-reference/lists/elements/lists-element-delete.md)."""
    iblock = make_list(portal)
    element = add_element(portal, iblock, "a").result
    assert (
        portal.result("lists.element.delete", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_ID": element})
        is True
    )
    answer = portal.call(
        "lists.element.delete", {**BASE, "IBLOCK_ID": iblock, "ELEMENT_ID": element}
    )
    assert answer.body == {
        "error": "ERROR_ELEMENT_NOT_FOUND",
        "error_description": "Element not found",
    }


def test_lists_scope_is_required(sandbox, portal):
    """§4.11/§2.3: lists.* need the lists scope — an app without it gets insufficient_scope (api-reference/lists/index.md)."""
    import requests

    with sandbox.world.lock:
        code = "nolists"
        sandbox.world.state["webhooks"][code] = {
            "member_id": portal.member_id,
            "user_id": "1",
            "scopes": ["crm"],
        }
    url = f"{portal.portal.rest_url}1/{code}/lists.get"
    assert requests.post(url, json=BASE, timeout=10).json()["error"] == "insufficient_scope"
