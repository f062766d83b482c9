"""PHP ``http_build_query`` for Bitrix24 batch commands (bracket keys; lists numbered 0..n-1)."""

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote


def flatten(params: Any, prefix: str = "", strict: bool = True) -> list[tuple[str, str]]:
    """Nested data as (bracket key, text) pairs; ``strict`` refuses True/False/None (no "True" strings)."""
    if isinstance(params, Mapping):
        items = params.items()
    elif isinstance(params, list | tuple):
        items = enumerate(params)
    else:
        return [(prefix, scalar(params, prefix, strict))]
    pairs: list[tuple[str, str]] = []
    for k, v in items:
        key = f"{prefix}[{k}]" if prefix else str(k)
        if isinstance(v, Mapping | list | tuple):
            pairs.extend(flatten(v, key, strict))
        else:
            pairs.append((key, scalar(v, key, strict)))
    return pairs


def scalar(value: Any, key: str, strict: bool) -> str:
    """One value as PHP would print it into a query; strict mode refuses values PHP would mangle."""
    if isinstance(value, bool) or value is None:
        if strict:
            raise TypeError(
                f"{key}: pass 'Y'/'N' or a string, not {value!r}, in a query-string command"
            )
        return "1" if value else ""
    return str(value)


def build_query(params: Mapping, strict: bool = True) -> str:
    """``{"fields": {"TITLE": "x"}}`` → ``fields[TITLE]=x`` (percent-encoded, brackets kept)."""
    return "&".join(
        f"{quote(k, safe='[]')}={quote(v, safe='')}" for k, v in flatten(params, strict=strict)
    )
