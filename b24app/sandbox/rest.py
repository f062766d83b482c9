"""The portal's REST endpoint: request parsing, auth, limits, faults, dispatch, envelopes (§2, §3)."""

import contextlib
import json
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, redirect, request

from . import delivery, faults, limits
from .batch import run_batch
from .call import Auth, Call, Listing
from .errors import (
    EXPIRED_TOKEN,
    INSUFFICIENT_SCOPE,
    INVALID_TOKEN,
    METHOD_NOT_FOUND,
    NO_AUTH_FOUND,
    RestError,
    system,
)
from .methods import METHODS
from .phpjson import parse_pairs, to_php
from .world import Portal, World

PAGE = 50

bp = Blueprint("sandbox_rest", __name__)


def world() -> World:
    return current_app.config["WORLD"]


@bp.route("/rest/<path:path>", methods=["GET", "POST"])
def rest(path: str) -> Response:
    return handle(path, domain=None)


@bp.route("/p/<domain>/rest/<path:path>", methods=["GET", "POST"])
def portal_rest(domain: str, path: str) -> Response:
    w = world()
    with w.lock:
        if not w.portal_by_domain(domain):
            moved = w.portal_by_old_domain(domain)
            if moved:
                qs = ("?" + request.query_string.decode()) if request.query_string else ""
                return redirect(f"{moved.rest_url}{path}{qs}", 302)
            return envelope_error(RestError("PORTAL_NOT_FOUND", f"Portal {domain} not found", 404))
    return handle(path, domain=domain)


def handle(path: str, domain: str | None) -> Response:
    """Parse, authenticate, limit and run one HTTP request; always answers Bitrix-shaped JSON."""
    started = time.time()
    w = world()
    try:
        method, webhook = split_path(path)
        params = request_params()
        with w.lock:
            portal, auth = authenticate(w, params, webhook, domain)
            portal.count(method)
            portal.state["http_requests"] = portal.state.get("http_requests", 0) + 1
            fault = faults.take(portal, method, command_methods(method, params))
        lost = fault.pop("lost", None) if fault else None
        if not lost:
            faults.suffer(fault)
        with w.lock:
            try:
                limits.admit_request(portal)
            except RestError as err:
                portal.count(f"!{err.error}")  # rejected by the bucket: visible to limiter tests
                raise
        payload = run(w, portal, auth, method, params, started)
        if lost:
            lose_answer(lost, fault["hold"])
    except RestError as err:
        return envelope_error(err)
    except LostAnswer:
        return Response(b"", status=200)  # the socket is shut: werkzeug drops the write
    except Exception as exc:  # a sandbox bug: answer like the portal's own 500, with the cause
        current_app.logger.exception("sandbox method %s failed", path)
        return envelope_error(
            RestError("INTERNAL_SERVER_ERROR", f"{type(exc).__name__}: {exc}", 500)
        )
    return json_response(payload, 200)


def command_methods(method: str, params: dict) -> tuple[str, ...]:
    """The methods of a batch request's commands (empty for any other request)."""
    if method != "batch":
        return ()
    cmd = next((v for k, v in params.items() if str(k).lower() == "cmd"), None)
    texts = cmd.values() if isinstance(cmd, dict) else cmd if isinstance(cmd, list) else ()
    return tuple(str(t).partition("?")[0].strip("/").lower().removesuffix(".json") for t in texts)


def lose_answer(how: str, hold: float) -> None:
    """The call was applied; its answer never arrives: the connection is closed at once (``close``) or
    after ``hold`` seconds (``timeout``, past the client's patience)."""
    import socket

    if how == "timeout":
        time.sleep(hold)
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    raise LostAnswer()


class LostAnswer(Exception):
    """Raised after the connection was closed: nothing is written back."""


def split_path(path: str) -> tuple[str, tuple[str, str] | None]:
    """``crm.deal.add.json`` → method; ``1/abc/crm.deal.add`` → (method, (user_id, code))."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise system(METHOD_NOT_FOUND)
    webhook = (parts[0], parts[1]) if len(parts) >= 3 else None
    method = parts[-1].lower()
    for suffix in (".json", ".xml"):
        if method.endswith(suffix):
            method = method[: -len(suffix)]
    return method, webhook


def request_params() -> dict:
    """Query and body merged (body wins); JSON bodies decoded, form bodies parsed like PHP."""
    params = parse_pairs(request.args.items(multi=True))
    body: Any
    if request.is_json:
        body = request.get_json(silent=True)
        if body is None and request.get_data():
            raise RestError("INVALID_REQUEST", "Invalid JSON in request body", 400)
        if body is not None and not isinstance(body, dict):
            raise RestError("INVALID_REQUEST", "Request body must be a JSON object", 400)
    else:
        body = parse_pairs(request.form.items(multi=True))
    params.update(body or {})
    return params


def authenticate(
    w: World, params: dict, webhook: tuple[str, str] | None, domain: str | None
) -> tuple[Portal, Auth]:
    """Find the portal and caller from a webhook path or an OAuth token (param or Bearer header)."""
    if webhook:
        user_id, code = webhook
        rec = w.state["webhooks"].get(code)
        portal = w.portal(rec["member_id"]) if rec else None
        if not rec or rec["user_id"] != user_id or (domain and portal.domain != domain):
            raise system(NO_AUTH_FOUND)
        return portal, Auth("webhook", user_id, rec["scopes"], webhook=code)
    token = params.pop("auth", None) or params.pop("access_token", None) or bearer()
    if not token or not isinstance(token, str):
        raise system(NO_AUTH_FOUND)
    rec = w.state["tokens"].get(token)
    if not rec:
        raise system(INVALID_TOKEN)
    if rec["expires"] < time.time():
        raise system(EXPIRED_TOKEN)
    portal = w.portal(rec["member_id"])
    app = w.app(rec["client_id"])
    if not portal or not app or (domain and portal.domain != domain):
        raise system(INVALID_TOKEN)
    return portal, Auth("app", rec["user_id"], app["scopes"], client_id=app["client_id"])


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def run(w: World, portal: Portal, auth: Auth, method: str, params: dict, started: float) -> dict:
    """Run a method (or a batch) and build the success envelope."""
    if method == "batch":
        with w.lock:
            result, events = run_batch(w, portal, auth, params)
        delivery.enqueue_events(w, portal, auth, events)
        return {"result": result, "time": time_block(portal, started, None)}
    call = Call(w, portal, method, params, auth)
    out = execute(call)
    delivery.enqueue_events(w, portal, auth, call.events)
    out["time"] = time_block(portal, started, out.pop("_operating", None))
    return out


def execute(call: Call) -> dict:
    """Check scope and operating limit, run the method, page a Listing; returns result/next/total."""
    spec = METHODS.get(call.method)
    if spec is None:
        raise system(METHOD_NOT_FOUND)
    if not call.auth.has_scope(spec.scope):
        raise system(INSUFFICIENT_SCOPE)
    if spec.app_only:
        call.require_app()
    key = call.auth.limiter_key
    with call.world.lock:
        limits.check_operating(call.portal, key, call.method)
        call.start = intval(call.params.pop("start", call.params.pop("START", None)))
        began = time.perf_counter()
        result = spec.fn(call)
        elapsed = time.perf_counter() - began
        operating = limits.record_operating(call.portal, key, call.method, elapsed)
    out = page(call, result)
    out["_operating"] = operating
    return out


def page(call: Call, result: Any) -> dict:
    """Turn a Listing into one page of 50 with ``total``/``next``; ``start=-1`` skips counting."""
    if not isinstance(result, Listing):
        return {"result": result}
    wrap = result.wrap or (lambda rows: rows)
    if call.start == -1:
        return {"result": wrap(result.items[:PAGE]), "total": 0}
    start = max(0, call.start or 0)
    rows = result.items[start : start + PAGE]
    out: dict = {"result": wrap(rows)}
    if start + PAGE < len(result.items):
        out["next"] = start + PAGE
    out["total"] = len(result.items)
    return out


def intval(value: Any) -> int | None:
    """PHP intval for ``start``: None stays None, junk becomes 0."""
    if value is None:
        return None
    try:
        return int(str(value).strip() or 0)
    except ValueError:
        return 0


def time_block(portal: Portal, started: float, operating: tuple[float, int] | None) -> dict:
    """The ``time`` block of every response (§2.2)."""
    finished = time.time()
    tz = ZoneInfo(portal.settings["timezone"])
    op, reset_at = operating or (0, int(finished // 60 + limits.WINDOW_BUCKETS) * 60)
    return {
        "start": round(started, 6),
        "finish": round(finished, 6),
        "duration": round(finished - started, 6),
        "processing": round(finished - started, 6),
        "date_start": datetime.fromtimestamp(started, tz).isoformat(timespec="seconds"),
        "date_finish": datetime.fromtimestamp(finished, tz).isoformat(timespec="seconds"),
        "operating_reset_at": reset_at,
        "operating": op,
    }


def envelope_error(err: RestError) -> Response:
    return json_response(err.body(), err.status)


def json_response(payload: Any, status: int) -> Response:
    """PHP-shaped JSON (``[]`` for empty maps, lists for 0..n-1 keys)."""
    body = json.dumps(to_php(payload))
    return Response(body, status=status, mimetype="application/json")
