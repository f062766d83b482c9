"""A fake Timepad in the sandbox world (external-services.md §1): an API under ``/timepad/v1/`` that
behaves as documented, and a control API under ``/_sandbox/timepad/`` that seeds organisations, events,
orders with tickets and check-ins, and sends signed webhooks of either shape (§1.4).

State lives in ``world.state["timepad"]`` (saved and reset with the world). Times go out as Timepad writes
them, ``2024-05-20T19:00:00+0300`` (no colon in the offset); an event may have no ``ends_at``.
"""

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

import requests
from flask import Blueprint, Response, current_app, jsonify, request

from .world import World

api = Blueprint("sandbox_timepad", __name__, url_prefix="/timepad/v1")
control = Blueprint("sandbox_timepad_control", __name__, url_prefix="/_sandbox/timepad")
MOSCOW = ZoneInfo("Europe/Moscow")
STATUS_TITLES = {"booked": "забронировано", "paid": "оплачено", "returned": "возвращён", "notpaid": "не оплачено",
                 "ok": "подтверждено", "pending": "ожидает", "rejected": "отклонено", "return_org": "возврат"}  # fmt: skip


def world() -> World:
    return current_app.config["WORLD"]


def state() -> dict:
    return world().state.setdefault(
        "timepad", {"orgs": {}, "events": {}, "orders": {}, "seq": {}, "requests": 0}
    )


def next_id(kind: str, start: int) -> int:
    seq = state()["seq"]
    seq[kind] = seq.get(kind, start) + 1
    return seq[kind]


def refuse(status: int, message: str) -> tuple[Response, int]:
    return jsonify(response_status={"error_code": status, "message": message}), status


def stamp(value: str | None) -> str | None:
    """An ISO time as Timepad writes it: ``+0300`` without a colon; naive times are Moscow's."""
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=MOSCOW)
    return moment.astimezone(MOSCOW).strftime("%Y-%m-%dT%H:%M:%S%z")


# --- the API --------------------------------------------------------------------------------------


def caller() -> dict | None:
    """The organisation whose token the request carries (``Authorization: Bearer``)."""
    auth = request.headers.get("Authorization", "")
    given = auth[7:].strip() if auth.startswith("Bearer ") else ""
    return next(
        (o for o in state()["orgs"].values() if given and hmac.compare_digest(o["token"], given)),
        None,
    )


def paging(limit_max: int) -> tuple[int, int] | None:
    try:
        limit, skip = int(request.args.get("limit", 10)), int(request.args.get("skip", 0))
    except ValueError:
        return None
    return (limit, skip) if 1 <= limit <= limit_max and skip >= 0 else None


@api.before_request
def count_and_check():
    with world().lock:
        state()["requests"] += 1
    if caller() is None:
        return refuse(403, "Token required")
    return None


@api.get("/events")
def events():
    org, page = caller(), paging(100)
    if page is None:
        return refuse(400, "limit must be 1..100, skip ≥ 0")
    wanted = {
        v for k in ("organization_ids", "organization_ids[]") for v in request.args.getlist(k)
    }
    ids = {int(i) for v in wanted for i in v.split(",") if i.strip().isdigit()} or {org["id"]}
    rows = [e for e in state()["events"].values() if e["organization"]["id"] in ids & {org["id"]}]
    rows.sort(key=lambda e: e["starts_at"], reverse=request.args.get("sort", "+id").startswith("-"))
    limit, skip = page
    return jsonify(total=len(rows), values=[event_out(e) for e in rows[skip : skip + limit]])


@api.get("/events/<int:event_id>")
def event(event_id: int):
    found = own_event(event_id)
    return jsonify(event_out(found)) if found else refuse(404, "Event not found")


@api.get("/events/<int:event_id>/orders")
def orders(event_id: int):
    found, page = own_event(event_id), paging(250)
    if found is None:
        return refuse(404, "Event not found")
    if "view_visitors" not in caller()["permissions"]:
        return refuse(403, "Access denied: view_visitors required")
    if page is None:
        return refuse(400, "limit must be 1..250, skip ≥ 0")
    rows = sorted(
        (o for o in state()["orders"].values() if o["event"]["id"] == event_id),
        key=lambda o: o["id"],
    )
    limit, skip = page
    return jsonify(total=len(rows), values=rows[skip : skip + limit])


@api.get("/events/<int:event_id>/orders/<int:order_id>")
def order(event_id: int, order_id: int):
    if own_event(event_id) is None:
        return refuse(404, "Event not found")
    if "view_visitors" not in caller()["permissions"]:
        return refuse(403, "Access denied: view_visitors required")
    found = state()["orders"].get(str(order_id))
    return (
        jsonify(found)
        if found and found["event"]["id"] == event_id
        else refuse(404, "Order not found")
    )


def own_event(event_id: int) -> dict | None:
    found = state()["events"].get(str(event_id))
    return found if found and found["organization"]["id"] == caller()["id"] else None


def event_out(e: dict) -> dict:
    return {k: v for k, v in e.items() if v is not None}


# --- the control API ------------------------------------------------------------------------------


def body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@control.post("/organizations")
def add_org():
    """``{name, token?, permissions?}`` → the organisation with its API token."""
    data = body()
    with world().lock:
        org = {"id": next_id("org", 29000), "name": data.get("name", "Организация"),
               "token": data.get("token") or secrets.token_hex(16),
               "permissions": data.get("permissions", ["view_visitors"])}  # fmt: skip
        state()["orgs"][str(org["id"])] = org
    return jsonify(org)


@control.post("/events")
def add_event():
    """``{organization_id, name, starts_at, ends_at?, id?}`` (ISO times) → the event as the API shows it."""
    data = body()
    org = state()["orgs"].get(str(data.get("organization_id")))
    if org is None:
        return jsonify(error="no such organization_id"), 404
    with world().lock:
        e = {"id": int(data.get("id") or next_id("event", 215000)), "name": data.get("name", "Мероприятие"),
             "starts_at": stamp(data["starts_at"]), "ends_at": stamp(data.get("ends_at")),
             "created_at": stamp(datetime.now(MOSCOW).isoformat()), "access_status": "public",
             "organization": {"id": org["id"], "name": org["name"]},
             "url": ""}  # fmt: skip
        e["url"] = f"https://org{org['id']}.timepad.ru/event/{e['id']}/"
        state()["events"][str(e["id"])] = e
    return jsonify(event_out(e))


@control.patch("/events/<int:event_id>")
def change_event(event_id: int):
    """``{starts_at?, ends_at?, name?}``: the organiser moved or renamed the event."""
    data = body()
    with world().lock:
        e = state()["events"].get(str(event_id))
        if e is None:
            return jsonify(error="no such event"), 404
        for name in ("starts_at", "ends_at"):
            if name in data:
                e[name] = stamp(data[name])
        e["name"] = data.get("name", e["name"])
    return jsonify(event_out(e))


@control.post("/events/<int:event_id>/orders")
def add_orders(event_id: int):
    """``{orders: [{status, mail?, id?, tickets: [{name, surname, mail, phone?, attended?, status?, id?}]}]}``
    → the orders as the API shows them."""
    if str(event_id) not in state()["events"]:
        return jsonify(error="no such event"), 404
    made = []
    with world().lock:
        for spec in body().get("orders") or []:
            made.append(make_order(event_id, spec))
    return jsonify(orders=made)


def make_order(event_id: int, spec: dict) -> dict:
    status = spec.get("status", "paid")
    order_id = int(spec.get("id") or next_id("order", 4955000))
    tickets = []
    for t in spec.get("tickets") or []:
        number = int(t.get("id") or next_id("ticket", 83845000))
        ticket = {"id": number, "number": str(number), "price_nominal": t.get("price", 1000),
                  "answers": {k: t[k] for k in ("mail", "name", "surname", "phone") if t.get(k)},
                  "ticket_type": {"id": 1, "name": "Входной билет"}, "attendance": None,
                  "codes": {"printed_code": f"{order_id}:{number}"}}  # fmt: skip
        if t.get("status"):
            ticket["status_raw_name"] = t["status"]
        if t.get("attended"):
            ticket["attendance"] = {
                "starts_at": stamp(datetime.now(MOSCOW).isoformat()),
                "ends_at": None,
            }
        tickets.append(ticket)
    first = (spec.get("tickets") or [{}])[0]
    order = {"id": order_id, "created_at": stamp(datetime.now(MOSCOW).isoformat()),
             "status": {"name": status, "title": STATUS_TITLES.get(status, status)},
             "mail": spec.get("mail") or first.get("mail", ""), "payment": {"amount": 1000, "payment_type": "card"},
             "answers": {}, "promocodes": [], "event": {"id": event_id}, "tickets": tickets}  # fmt: skip
    state()["orders"][str(order_id)] = order
    return order


@control.patch("/orders/<int:order_id>")
def change_order(order_id: int):
    """``{status?, checkin?: true | [ticket ids]}``: a status change, or tickets checked in."""
    data = body()
    with world().lock:
        order = state()["orders"].get(str(order_id))
        if order is None:
            return jsonify(error="no such order"), 404
        if data.get("status"):
            order["status"] = {
                "name": data["status"],
                "title": STATUS_TITLES.get(data["status"], data["status"]),
            }
        wanted = data.get("checkin")
        for t in order["tickets"]:
            if wanted is True or (isinstance(wanted, list) and t["id"] in wanted):
                t["attendance"] = {
                    "starts_at": stamp(datetime.now(MOSCOW).isoformat()),
                    "ends_at": None,
                }
    return jsonify(order)


@control.post("/orders/<int:order_id>/hook")
def send_hook(order_id: int):
    """``{url, secret, shape: "order" | "ticket"}``: Timepad's webhook for the order's current state,
    signed ``X-Hub-Signature: sha1=<hex HMAC-SHA1(raw body)>``; one POST per ticket for the flat shape."""
    data = body()
    order = state()["orders"].get(str(order_id))
    if order is None:
        return jsonify(error="no such order"), 404
    bodies = (
        [order]
        if data.get("shape", "order") == "order"
        else [flat(order, t) for t in order["tickets"]]
    )
    sent = []
    for payload in bodies:
        raw = json.dumps(payload, ensure_ascii=False).encode()
        digest = hmac.new(str(data.get("secret", "")).encode(), raw, hashlib.sha1).hexdigest()
        resp = requests.post(data["url"], data=raw, timeout=30, headers={
            "Content-Type": "application/json", "X-Hub-Signature": f"sha1={digest}"})  # fmt: skip
        sent.append({"status": resp.status_code, "body": resp.text[:500], "payload": payload})
    return jsonify(sent=sent)


def flat(order: dict, ticket: dict) -> dict:
    """The classic flat ticket hook (§1.4 a)."""
    answers = ticket.get("answers") or {}
    event = state()["events"][str(order["event"]["id"])]
    status = ticket.get("status_raw_name") or order["status"]["name"]
    return {"id": f"{order['id']}:{ticket['id']}", "event_id": event["id"], "event_name": event["name"],
            "organization_id": event["organization"]["id"], "order_id": str(order["id"]),
            "reg_date": order["created_at"][:19].replace("T", " "), "reg_id": ticket["id"],
            "status": STATUS_TITLES.get(status, status), "status_raw": status, "email": answers.get("mail", ""),
            "surname": answers.get("surname", ""), "name": answers.get("name", ""),
            "attended": bool(ticket.get("attendance")), "code": str(ticket["id"]), "barcode": f"1{ticket['id']:012d}",
            "price_nominal": ticket.get("price_nominal", 0),
            "answers": [{"id": 1, "type": "text", "name": "E-mail", "mandatory": None, "value": answers.get("mail", "")}],
            "aux": []}  # fmt: skip


@control.route("/requests", methods=["GET", "DELETE"])
def api_requests():
    """How many API requests the fake Timepad served (DELETE: from zero again)."""
    with world().lock:
        if request.method == "DELETE":
            state()["requests"] = 0
        return jsonify(requests=state()["requests"])
