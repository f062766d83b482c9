"""Filtering, ordering and selecting records the way classic ``*.list`` methods do (§2.4)."""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .errors import RestError

PREFIXES = (">=", "<=", "!=", "!@", "=%", "%=", ">", "<", "@", "%", "=", "!")
MULTIFIELDS = ("PHONE", "EMAIL", "WEB", "IM", "LINK")


def php_value(value: Any) -> Any:
    """How classic CRM methods store and print scalars: numbers as strings, booleans as "Y"/"N"."""
    if value is True:
        return "Y"
    if value is False:
        return "N"
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [php_value(v) for v in value]
    if isinstance(value, dict):
        return {k: php_value(v) for k, v in value.items()}
    return value


def now_iso(tz: str = "Europe/Moscow") -> str:
    """Bitrix24's date-time format: ISO 8601 with the portal's offset, seconds precision."""
    return datetime.now(ZoneInfo(tz)).isoformat(timespec="seconds")


def split_key(key: str) -> tuple[str, str]:
    """``>=DATE_CREATE`` → (">=", "DATE_CREATE")."""
    for prefix in PREFIXES:
        if key.startswith(prefix):
            return prefix, key[len(prefix) :]
    return "", key


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _values(record: dict, name: str) -> list:
    """A field's values: multifields give every VALUE, lists every element, scalars themselves."""
    value = record.get(name)
    if name in MULTIFIELDS:
        return [item.get("VALUE") for item in value or []]
    if isinstance(value, list):
        return value or [""]
    return [value if value is not None else ""]


def _compare(left: Any, right: Any) -> int:
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    a_s, b_s = str(left if left is not None else ""), str(right if right is not None else "")
    return (a_s > b_s) - (a_s < b_s)


def _like(value: Any, pattern: Any) -> bool:
    needle = str(pattern).lower().replace("%", "")
    return needle in str(value or "").lower()


def _test(op: str, value: Any, wanted: Any) -> bool:
    if op in ("@", "!@") or (op in ("", "=") and isinstance(wanted, list)):
        options = wanted if isinstance(wanted, list) else [wanted]
        inside = any(_compare(value, w) == 0 for w in options)
        return not inside if op == "!@" else inside
    if op in ("", "="):
        return _compare(value, wanted) == 0
    if op in ("!", "!="):
        return _compare(value, wanted) != 0
    if op in ("%", "=%", "%="):
        return _like(value, wanted)
    cmp = _compare(value, wanted)
    return {">": cmp > 0, ">=": cmp >= 0, "<": cmp < 0, "<=": cmp <= 0}[op]


def matches(record: dict, flt: dict) -> bool:
    """Whether a record passes a classic filter (all keys AND-ed; multifields exact per value)."""
    for key, wanted in (flt or {}).items():
        op, name = split_key(str(key))
        values = _values(record, name.upper())
        if op in ("!", "!=", "!@"):
            if not all(_test(op, v, wanted) for v in values):
                return False
        elif not any(_test(op, v, wanted) for v in values):
            return False
    return True


def order_records(records: list[dict], order: Any) -> list[dict]:
    """Stable sort by an ``order`` map (last key first); ID ascending when no order is given."""
    if not isinstance(order, dict) or not order:
        order = {"ID": "ASC"}
    rows = list(records)
    for field, direction in reversed(list(order.items())):
        if str(direction).upper() not in ("ASC", "DESC"):
            raise RestError("", f"Invalid order direction for {field}", 400)
        reverse = str(direction).upper() == "DESC"
        name = str(field).upper()
        rows.sort(key=lambda r, n=name: _sort_key(r.get(n)), reverse=reverse)
    return rows


def _sort_key(value: Any) -> tuple:
    number = _number(value)
    return (0, number, "") if number is not None else (1, Decimal(0), str(value or ""))


def select_fields(record: dict, select: Any, base: set[str] | None = None) -> dict:
    """Keep the selected fields: ``*`` = every non-UF, non-multifield field; ``UF_*`` = user fields."""
    if not select:
        select = ["*"]
    if isinstance(select, dict):
        select = list(select.values())
    if isinstance(select, str):
        select = [select]
    wanted = {str(s).upper() for s in select}
    out: dict = {}
    for key, value in record.items():
        is_uf = key.startswith("UF_")
        keep = (
            key == "ID"
            or key in wanted
            or ("*" in wanted and not is_uf and key not in MULTIFIELDS)
            or ("UF_*" in wanted and is_uf)
        )
        if keep and (base is None or key in base or is_uf or key in MULTIFIELDS):
            out[key] = value
    return out


def camel(name: str) -> str:
    """``STAGE_ID`` → ``stageId``; ``UF_CRM_5_17218`` → ``ufCrm5_17218`` (crm.item naming)."""
    out = ""
    for i, part in enumerate(name.lower().split("_")):
        if i == 0:
            out = part
        elif part[:1].isdigit() and out[-1:].isdigit():
            out += "_" + part
        else:
            out += part[:1].upper() + part[1:]
    return out


def snake(name: str) -> str:
    """``stageId`` → ``STAGE_ID``; ``ufCrm5_17218`` → ``UF_CRM_5_17218`` (inverse of ``camel``)."""
    if name.isupper() or "_" in name and name.upper() == name:
        return name
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z0-9])", "_", name)
    return spaced.upper()
