"""``batch`` exactly as bitrix24-rest.md §2.5: parse_str'd commands, references, the 50 cap, halt."""

import re
import time
from typing import Any
from urllib.parse import urlsplit

from . import faults
from .call import Auth, Call
from .errors import RestError
from .phpjson import parse_str
from .world import Portal, World

BATCH_MAX_LENGTH = 50
MAPS = {"result": "result", "next": "result_next", "total": "result_total", "time": "result_time",
        "error": "result_error"}  # fmt: skip
REF_RE = re.compile(r"\$(result|next|total|time|error)((?:\[[^\]]*\])+)")


def run_batch(w: World, portal: Portal, auth: Auth, params: dict) -> tuple[dict, list]:
    """Run the commands in order; returns the five result maps and the events they raised."""
    from .rest import execute, time_block  # a cycle: rest dispatches batches here

    cmd = _ci(params, "cmd")
    halt = str(_ci(params, "halt") or "0") not in ("0", "", "false", "N")
    if not isinstance(cmd, dict | list):
        raise RestError("ERROR_BATCH_EMPTY", "Batch commands are empty", 400)
    commands = cmd.items() if isinstance(cmd, dict) else enumerate(cmd)
    maps: dict[str, dict] = {name: {} for name in MAPS.values()}
    events: list = []
    for n, (key, text) in enumerate(commands):
        key = str(key)
        if not isinstance(text, str):
            continue
        if n >= BATCH_MAX_LENGTH:
            maps["result_error"][key] = {
                "error": "ERROR_BATCH_LENGTH_EXCEEDED",
                "error_description": "Max batch length exceeded",
            }
            continue

        began = time.time()
        try:
            method, sub_params = parse_command(text, maps)
            if method == "batch":
                raise RestError(
                    "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405
                )
            portal.count(method)
            fault = faults.take(portal, method)
            if (
                fault and fault["error"] is not None
            ):  # latency is not simulated inside a batch (the lock is held)
                raise RestError(fault["error"], fault["description"], fault["status"])
            call = Call(w, portal, method, sub_params, auth)
            out = execute(call)
        except RestError as err:
            maps["result_error"][key] = err.body()
            if halt:
                break
            continue
        events.extend(call.events)
        maps["result"][key] = out["result"]
        for field, name in (("next", "result_next"), ("total", "result_total")):
            if field in out:
                maps[name][key] = out[field]
        maps["result_time"][key] = time_block(portal, began, out.get("_operating"))
    return maps, events


def _ci(params: dict, name: str) -> Any:
    for k, v in params.items():
        if str(k).lower() == name:
            return v
    return None


def parse_command(text: str, maps: dict) -> tuple[str, dict]:
    """``crm.deal.get?id=$result[a][ID]`` → (method, params with references resolved)."""
    parts = urlsplit(text)
    method = parts.path.strip("/").lower()
    for suffix in (".json", ".xml"):
        method = method.removesuffix(suffix)
    return method, substitute(parse_str(parts.query), maps)


def substitute(value: Any, maps: dict) -> Any:
    """Replace ``$result[cmd][path]`` references in values and keys, recursively."""
    if isinstance(value, dict):
        return {
            substitute(k, maps) if isinstance(k, str) else k: substitute(v, maps)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, maps) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    whole = REF_RE.fullmatch(value)
    if whole:
        return resolve(whole, maps)

    def embed(m: re.Match) -> str:
        found = resolve(m, maps)
        if isinstance(found, str):
            return found
        if isinstance(found, int | float) and not isinstance(found, bool):
            return str(found)
        return m.group(0)

    return REF_RE.sub(embed, value)


def resolve(m: re.Match, maps: dict) -> Any:
    """Walk the path while it exists; a missing segment stops at the deepest existing value."""
    node: Any = maps[MAPS[m.group(1)]]
    for segment in re.findall(r"\[([^\]]*)\]", m.group(2)):
        if isinstance(node, dict) and segment in node:
            node = node[segment]
        elif isinstance(node, list) and segment.isdigit() and int(segment) < len(node):
            node = node[int(segment)]
        else:
            break
    return node
