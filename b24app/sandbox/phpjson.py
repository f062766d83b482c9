"""PHP's view of request and response data: parse_str, http_build_query and json_encode shapes.

Bitrix24 is PHP: form bodies and batch commands are parsed by ``parse_str`` (bracket keys), and
responses are ``json_encode`` of PHP arrays, so an array with keys 0..n-1 is a JSON list and an
empty array is ``[]``, never ``{}``.
"""

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from b24app import phpquery

_KEY_RE = re.compile(r"\[([^\]]*)\]")


def _split_key(raw: str) -> list[str]:
    """Split ``a[b][]`` into ``["a", "b", ""]`` as PHP does (text after a bad bracket is kept)."""
    head, bracket, rest = raw.partition("[")
    if not bracket or not head:
        return [raw]
    parts = [head]
    rest = "[" + rest
    pos = 0
    while pos < len(rest):
        m = _KEY_RE.match(rest, pos)
        if not m:
            break
        parts.append(m.group(1))
        pos = m.end()
    return parts


def _insert(target: dict, parts: list[str], value: Any) -> None:
    node = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "":
            part = str(_next_index(node))
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child


def _next_index(node: dict) -> int:
    numeric = [int(k) for k in node if isinstance(k, str) and k.lstrip("-").isdigit()]
    return max(numeric) + 1 if numeric else 0


def parse_pairs(pairs: Iterable[tuple[str, Any]]) -> dict:
    """Build nested params from (bracket key, value) pairs, like PHP's $_POST."""
    out: dict = {}
    for key, value in pairs:
        _insert(out, _split_key(key), value)
    return normalise_lists(out)


def parse_str(query: str) -> dict:
    """PHP ``parse_str``: ``fields[PHONE][0][VALUE]=1&select[]=ID`` into nested dicts and lists."""
    return parse_pairs(parse_qsl(query, keep_blank_values=True))


def normalise_lists(value: Any) -> Any:
    """Turn dicts keyed exactly "0".."n-1" into lists, recursively (what PHP arrays look like in JSON)."""
    if isinstance(value, dict):
        value = {k: normalise_lists(v) for k, v in value.items()}
        if value and list(value) == [str(i) for i in range(len(value))]:
            return list(value.values())
        return value
    if isinstance(value, list):
        return [normalise_lists(v) for v in value]
    return value


def to_php(value: Any) -> Any:
    """Shape a Python value as PHP's json_encode would print it: empty map → [], 0..n-1 keys → list."""
    if isinstance(value, Mapping):
        if not value:
            return []
        keys = list(value)
        if all(_is_index(k) for k in keys) and [int(k) for k in keys] == list(range(len(keys))):
            return [to_php(v) for v in value.values()]
        return {str(k): to_php(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_php(v) for v in value]
    return value


def _is_index(key: Any) -> bool:
    return isinstance(key, int) or (isinstance(key, str) and key.isdigit() and str(int(key)) == key)


def build_query(params: Mapping, prefix: str = "") -> str:
    """PHP ``http_build_query``: nested data into bracket-key form encoding (True → "1", None → "")."""
    return phpquery.build_query(params, strict=False)


def flatten(params: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested data into (bracket key, string value) pairs as PHP would (True → "1", None → "")."""
    return phpquery.flatten(params, prefix, strict=False)
