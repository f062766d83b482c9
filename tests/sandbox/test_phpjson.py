"""PHP data shapes: parse_str of bracket keys and json_encode of arrays (bitrix24-rest.md §2.1, §2.2)."""

import pytest

from b24app.sandbox.phpjson import build_query, parse_str, to_php

PARSE_CASES = [
    ("fields[TITLE]=x", {"fields": {"TITLE": "x"}}),
    ("fields[PHONE][0][VALUE]=1&fields[PHONE][0][VALUE_TYPE]=WORK",
     {"fields": {"PHONE": [{"VALUE": "1", "VALUE_TYPE": "WORK"}]}}),
    ("select[]=ID&select[]=NAME", {"select": ["ID", "NAME"]}),
    ("filter[%3EID]=0&order[ID]=ASC", {"filter": {">ID": "0"}, "order": {"ID": "ASC"}}),
    ("a=1&a=2", {"a": "2"}),
    ("empty=", {"empty": ""}),
    ("ids[5]=x&ids[7]=y", {"ids": {"5": "x", "7": "y"}}),
]  # fmt: skip


@pytest.mark.parametrize(("query", "expected"), PARSE_CASES)
def test_parse_str_like_php(query, expected):
    """§2.1/§2.5: commands and form bodies are parsed with PHP parse_str (bracket notation)."""
    assert parse_str(query) == expected


def test_json_encode_shapes():
    """§2.2: empty arrays print as [], arrays keyed 0..n-1 as lists, other keys as objects."""
    assert to_php({}) == []
    assert to_php({"0": "a", "1": "b"}) == ["a", "b"]
    assert to_php({"1": "a"}) == {"1": "a"}
    assert to_php({"result": {"x": {}}}) == {"result": {"x": []}}


def test_build_query_round_trips_through_parse_str():
    """http_build_query of nested data is read back by parse_str unchanged (strings)."""
    data = {"fields": {"TITLE": "Пожертвование & co", "CONTACT_IDS": ["1", "2"]}, "start": "-1"}
    assert parse_str(build_query(data)) == data
