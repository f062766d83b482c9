"""Events from the portal (bitrix24-rest.md §6.2, §1.3–1.4): checked by member_id and application_token."""

import logging

from flask import Blueprint, jsonify, request

from b24app import context, installation
from b24app.bitrix import BitrixError
from b24app.errors import Unauthorized
from b24app.inbound import AppEvent, check_portal, parse, unflatten

log = logging.getLogger(__name__)
bp = Blueprint("bitrix_events", __name__)


def on_uninstall(event: AppEvent) -> None:
    """ONAPPUNINSTALL: forget the portal at once (Redis only, no REST); CLEAN=1 deletes all of it."""
    installation.forget(event.auth.member_id, str(event.data.get("CLEAN", "0")) == "1")


def on_update(event: AppEvent) -> None:
    """ONAPPUPDATE: keep the new application_token and re-apply the template."""
    installation.queue_template(event.auth.member_id)


HANDLERS = {"ONAPPUNINSTALL": on_uninstall, "ONAPPUPDATE": on_update}


@bp.post("/bitrix/events")
def receive():
    """Verify → parse → queue → 200; a genuine event we do not handle is answered 200 and logged."""
    event = parse(AppEvent, unflatten(request.form.items(multi=True)))
    if event.event.upper() == "ONAPPUPDATE":
        accept_new_application_token(event)
    else:
        check_portal(context.registry(), event.auth.member_id, event.auth.application_token)
    handler = HANDLERS.get(event.event.upper())
    if handler is None:
        log.info("portal %s: event %s not handled", event.auth.member_id, event.event)
        return jsonify(ok=True, handled=False)
    handler(event)
    return jsonify(ok=True, handled=True)


def accept_new_application_token(event: AppEvent) -> None:
    """ONAPPUPDATE brings a new application_token: trust it only if its access token is confirmed."""
    registry = context.registry()
    portal = registry.get(event.auth.member_id)
    if portal is None or not event.auth.access_token:
        raise Unauthorized("ONAPPUPDATE for an unknown portal or without an access token")
    try:
        installation.user_client(
            portal.client_endpoint, event.auth.access_token, portal.member_id
        ).call("app.info")
    except BitrixError as exc:
        raise Unauthorized(f"ONAPPUPDATE token not confirmed by the portal: {exc.code}") from exc
    portal.application_token = event.auth.application_token
    registry.save(portal)
