"""«Отменить подписку»: the deal's placement (CRM_DEAL_DETAIL_TOOLBAR) that cancels its subscription.

Opening it is confirmed like the app page (the user's token, the portal, the application token); only an
admin gets the confirmation form, whose signed token names the portal's install, the deal, the
subscription and the user (it is both the proof and the CSRF guard). Confirming queues the job
(b24app/donations/reconcile.py ``cancel_subscription``): CloudPayments' ``subscriptions/cancel`` and a
timeline comment on the deal.
"""

import json

from flask import Blueprint, current_app, render_template, request

from b24app import context, installation
from b24app.donations.reconcile import cancel_subscription
from b24app.errors import BadRequest
from b24app.inbound import PageOpen, parse, unflatten
from b24app.queue import DEFAULT, enqueue_once
from b24app.signing import sign
from b24app.template.resolved import field

from .pages import page_claims, secret

bp = Blueprint("subscriptions", __name__, template_folder="templates")
PURPOSE = "cancel-subscription"


def deal_id_of(options: str) -> int:
    """The deal the placement was opened on: ``PLACEMENT_OPTIONS`` = ``{"ID": "<deal id>"}``."""
    try:
        value = json.loads(options or "{}").get("ID")
        deal_id = int(str(value))
    except (ValueError, AttributeError, TypeError):
        raise BadRequest("PLACEMENT_OPTIONS must carry the deal's ID") from None
    if not 0 < deal_id < 10**12:
        raise BadRequest("PLACEMENT_OPTIONS: the deal's ID is out of range")
    return deal_id


@bp.post("/app/cancel-subscription")
def cancel_page():
    """The placement: the deal's subscription and, for an admin, the confirmation form."""
    form = unflatten(request.form.items(multi=True))
    page = parse(PageOpen, {**unflatten(request.args.items(multi=True)), **form})
    portal, user = installation.open_page(
        page.member_id, page.DOMAIN, page.AUTH_ID, page.APPLICATION_TOKEN
    )
    deal_id = deal_id_of(page.PLACEMENT_OPTIONS)
    admin = user.get("ADMIN") is True
    deal = (
        (context.client(portal.member_id).call("crm.deal.get", {"id": deal_id}) or {})
        if admin
        else {}
    )
    subscription = str(deal.get(field("B24_SUBSCRIPTION_ID")) or "")
    claims = {"m": portal.member_id, "i": portal.install_id, "u": str(user.get("ID", "")), "d": deal_id,
              "s": subscription}  # fmt: skip
    token = sign(secret(), PURPOSE, claims) if admin and subscription else ""
    return render(admin, deal_id, subscription, token, done=False, lang=page.LANG)


@bp.post("/app/cancel-subscription/confirm")
def confirm():
    """The user confirmed: the cancel job queued once per subscription."""
    portal, claims = page_claims(request.form.get("token", ""), PURPOSE)
    if request.form.get("confirm") != "yes":
        raise BadRequest("the cancellation was not confirmed")
    enqueue_once(context.redis(), DEFAULT, f"cancel-subscription-{portal.member_id}-{claims['s']}",
                 cancel_subscription, portal.member_id, int(claims["d"]), claims["s"], claims["u"])  # fmt: skip
    return render(
        True, int(claims["d"]), claims["s"], "", done=True, lang=request.form.get("lang", "ru")
    )


def render(admin: bool, deal_id: int, subscription: str, token: str, done: bool, lang: str) -> str:
    return render_template("cancel_subscription.html", bx24_js=current_app.config["SETTINGS"].bx24_js_url,
                           admin=admin, deal_id=deal_id, subscription=subscription, token=token, done=done,
                           lang=lang)  # fmt: skip
