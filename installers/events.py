"""Events from the portal (bitrix24-rest.md §6.2, §1.3–1.4): checked by member_id and application_token;
ONAPPUPDATE, which brings a new application_token, by the OAuth server instead."""

import logging

from flask import Blueprint, jsonify, request

from b24app import context, lessons, lifecycle
from b24app.errors import Unavailable
from b24app.inbound import AppEvent, check_portal, parse, unflatten

log = logging.getLogger(__name__)
bp = Blueprint("bitrix_events", __name__)


def on_uninstall(event: AppEvent) -> dict:
    """ONAPPUNINSTALL: decided in a job, which deletes only what Bitrix24 confirms is uninstalled."""
    check_portal(context.registry(), event.auth.member_id, event.auth.application_token)
    lifecycle.queue_uninstall(event.auth.member_id, str(event.data.get("CLEAN", "0")) == "1")
    return {"queued": True}


def on_update(event: AppEvent) -> dict:
    """ONAPPUPDATE: the new application_token once confirmed; kept and confirmed by a job when the
    confirmation fails for a transient reason (Bitrix24 never repeats an event, §6.2)."""
    auth = event.auth
    access_token = auth.access_token or ""
    try:
        return {
            "update": lifecycle.take_update(auth.member_id, access_token, auth.application_token)
        }
    except Unavailable as exc:
        log.warning("portal %s: ONAPPUPDATE not confirmed now: %s", auth.member_id, exc)
        if not lifecycle.defer_update(auth.member_id, access_token, auth.application_token):
            raise
        return {"update": "kept for a retry"}


def record_id(event: AppEvent) -> int:
    """``data[FIELDS][ID]`` of a CRM event (0 when absent or not a number)."""
    fields = event.data.get("FIELDS") if isinstance(event.data.get("FIELDS"), dict) else {}
    raw = str(fields.get("ID") or "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else 0


def on_product_update(event: AppEvent) -> dict:
    """ONCRMPRODUCTUPDATE: a course's lesson times may have moved; its deals' reminders are re-planned."""
    check_portal(context.registry(), event.auth.member_id, event.auth.application_token)
    return {"deals": lessons.on_product_update(event.auth.member_id, record_id(event))}


def on_deal_update(event: AppEvent) -> dict:
    """ONCRMDEALUPDATE: a deal with reminders (stage, own lesson dates) is re-planned."""
    check_portal(context.registry(), event.auth.member_id, event.auth.application_token)
    return {"replan": lessons.on_deal_update(event.auth.member_id, record_id(event))}


HANDLERS = {"ONAPPUNINSTALL": on_uninstall, "ONAPPUPDATE": on_update,
            "ONCRMPRODUCTUPDATE": on_product_update, "ONCRMDEALUPDATE": on_deal_update}  # fmt: skip


@bp.post("/bitrix/events")
def receive():
    """Verify → parse → queue → 200; a genuine event we do not handle is answered 200 and logged."""
    event = parse(AppEvent, unflatten(request.form.items(multi=True)))
    handler = HANDLERS.get(event.event.upper())
    if handler is None:
        check_portal(context.registry(), event.auth.member_id, event.auth.application_token)
        log.info("portal %s: event %s not handled", event.auth.member_id, event.event)
        return jsonify(ok=True, handled=False)
    return jsonify(ok=True, handled=True, **handler(event))
