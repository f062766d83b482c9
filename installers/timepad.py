"""The Timepad resync page (product.md C6): the organisation's recent events with the last sync time and
result, «Синхронизировать» per event and for a typed event id, the live progress of a running sync and its
kept summary (created / linked / updated / skipped, each with reasons).

Opened from the smart process's list toolbar (``CRM_DYNAMIC_<entityTypeId>_LIST_TOOLBAR``, a §1.2 POST
confirmed like the app page) or from the app page (its signed token). The page signs its own token for the
"timepad" purpose: the caller's proof and the CSRF guard of its POSTs. It starts a job and shows its
progress; the only outside call it makes is one page of the organisation's events from Timepad.
"""

import logging
import time

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from b24app import context, installation
from b24app.errors import BadRequest, Forbidden
from b24app.i18n import request_language
from b24app.inbound import PageOpen, parse, unflatten
from b24app.portals import portal_key
from b24app.signing import sign
from b24app.timepad.client import TimepadError
from b24app.timepad.sync import reasons, results, run_state, start_sync, summary, timepad_client

from . import pages

log = logging.getLogger(__name__)
bp = Blueprint("timepad_page", __name__, template_folder="templates")
PURPOSE = "timepad"
TTL = 3600
RECENT = 20


@bp.post("/app/timepad")
def placement():
    """Opened from the portal (a placement's §1.2 POST) or from the app page's link (its signed token)."""
    if request.form.get("token"):
        return show(*token_of(request.form["token"]), event_id=0, message="")
    form = unflatten(request.form.items(multi=True))
    page = parse(PageOpen, {**unflatten(request.args.items(multi=True)), **form})
    portal, user = installation.open_page(
        page.member_id, page.DOMAIN, page.AUTH_ID, page.APPLICATION_TOKEN
    )
    if user.get("ADMIN") is not True:  # the page starts jobs that write into the portal
        raise Forbidden("only a portal administrator can sync Timepad events")
    token = sign(secret(), PURPOSE, pages.claims(portal, user), TTL)
    return show(portal, token, event_id=0, message="")


@bp.post("/app/timepad/sync")
def sync():
    """Start the sync of one event (a listed one or a typed id); the page then follows its progress."""
    portal, token = token_of(request.form.get("token", ""))
    text = (request.form.get("event_id") or "").strip()
    if not text.isdigit() or not 0 < int(text) < 10**12:
        raise BadRequest(
            "event_id: введите номер мероприятия Timepad (цифры) / a Timepad event id (digits)"
        )
    event_id = int(text)
    started = start_sync(context.redis(), portal.member_id, event_id)
    message = _("Sync started") if started else _("This event's sync is already running")
    return show(portal, token, event_id=event_id, message=message)


@bp.post("/app/timepad/status")
def status():
    """The event's sync as JSON, for the page's live progress (the token only in the POST body: a query
    string ends up in logs and in the browser's history)."""
    portal, _ = token_of(request.form.get("token", ""))
    event_id = request.form.get("event_id", "")
    if not event_id.isdigit():
        raise BadRequest("event_id must be digits")
    return jsonify(summary(run_state(context.redis(), portal.member_id, int(event_id))))


@bp.post("/app/timepad/event")
def event_page():
    """The page showing one event's sync (where the live progress lands when done)."""
    portal, token = token_of(request.form.get("token", ""))
    event_id = request.form.get("event_id", "")
    return show(portal, token, event_id=int(event_id) if event_id.isdigit() else 0, message="")


def token_of(token: str):
    """(portal, the page's own token) from the page's token or the app page's; Unauthorized otherwise."""
    portal, claims = pages.page_claims(token, PURPOSE, pages.PURPOSE)
    ttl = max(1, int(claims["_exp"] - time.time()))  # never longer than the token it came with
    return portal, sign(
        secret(),
        PURPOSE,
        {"m": portal.member_id, "i": portal.install_id, "u": claims.get("u", "")},
        ttl,
    )


def show(portal, token: str, event_id: int, message: str):
    redis = context.redis()
    events, problem = recent_events(portal)
    known = {e["id"] for e in events}
    synced = [
        int(i)
        for i in redis.zrevrange(portal_key(portal.member_id, "timepad", "synced"), 0, RECENT - 1)
    ]
    for other in synced:
        if other not in known:
            state = run_state(redis, portal.member_id, other)
            events.append({"id": other, "name": state.get("name") or f"#{other}", "starts": ""})
    for e in events:
        e["sync"] = summary(run_state(redis, portal.member_id, e["id"]))
    chosen = summary(run_state(redis, portal.member_id, event_id)) if event_id else None
    rows = (
        results(redis, portal.member_id, event_id) if chosen and chosen["phase"] == "done" else []
    )
    return render_template("timepad.html", token=token, events=events, problem=problem, message=message,
                           event_id=event_id, chosen=chosen, reasons=reasons(rows) if rows else {}, rows=rows[:200],
                           bx24_js=current_app.config["SETTINGS"].bx24_js_url, lang=request_language())  # fmt: skip


def recent_events(portal) -> tuple[list[dict], str]:
    """The organisation's recent events from Timepad, and a sentence when they could not be read."""
    org = portal.settings.get("timepad_organization_id", "")
    if not org or not portal.settings.get("timepad_token"):
        return [], _(
            "Timepad is not connected: set the API token and the organisation id on the app page"
        )
    try:
        events = timepad_client(portal).events(int(org), limit=RECENT)
    except TimepadError as exc:
        log.info("portal %s: Timepad events not read: %s", portal.member_id, exc)
        return [], str(exc)
    return [{"id": e.id, "name": e.name, "starts": e.starts_at.strftime("%d.%m.%Y %H:%M") if e.starts_at else ""}
            for e in events], ""  # fmt: skip


def secret() -> str:
    return current_app.config["SETTINGS"].secret_key.get_secret_value()
