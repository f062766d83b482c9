"""Nothing missed: CloudPayments' own list of payments (external-services.md §3.4) fed through the intake.

``/v2/payments/list`` is read a day at a time (HTTP Basic auth with the site's Public ID and API secret,
pages by ``PageNumber`` until an empty one). Each transaction is read by the notification parser into the
Donation and the delivery id its notification would have had (a Completed one is its Pay, a Declined one
its Fail...), so the payment's key is the intake's own (``cp:<InvoiceId>``, else ``cp:tx:<TransactionId>``)
and a payment whose notification did arrive is recognised twice over: by its delivery and by its deal.
The portal is asked first which of the day's keys it holds (one batch); only a payment it lacks, or holds
at a less advanced stage, goes through the intake. The daily job reconciles the last RECENT_DAYS days
through the queue; the backfill (``b24app donations backfill``) runs a day a step, resumable, inline.
"""

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests
from pydantic import ValidationError
from redis import Redis

from .. import context
from ..bitrix import BitrixClient
from ..errors import Blago24Error
from ..jobs import portal_job
from ..portals import Portal, portal_key
from ..template.resolved import Resolved, field, resolve
from . import PRECEDENCE, Donation, SubscriptionChange
from .intake import PIPELINE, STATUS_OF_STAGE, record_delivery, record_donation

log = logging.getLogger(__name__)
RECENT_DAYS = 3
MAX_PAGES = 1000
KEYS_PER_LIST = 50
KINDS = {"Completed": "pay", "Authorized": "pay", "AwaitingAuthentication": "check", "Declined": "fail",
         "Cancelled": "cancel"}  # fmt: skip
KEEP = 30 * 86400
Progress = Callable[[int, int, str], None]


class CloudPaymentsError(Blago24Error):
    """The CloudPayments API refused or failed a call (or is not set up for the portal)."""


class CloudPaymentsApi:
    """The CloudPayments API of one site: POST with a JSON body, Basic auth, ``{"Success", "Model"}``."""

    def __init__(self, public_id: str, secret: str, base: str):
        self.auth, self.base = (public_id, secret), base.rstrip("/")

    def post(self, path: str, body: dict, request_id: str = "") -> Any:
        headers = {"X-Request-ID": request_id} if request_id else {}
        try:
            resp = requests.post(
                self.base + path, json=body, auth=self.auth, headers=headers, timeout=30
            )
        except requests.RequestException as exc:
            raise CloudPaymentsError(f"CloudPayments {path}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise CloudPaymentsError(f"CloudPayments {path}: HTTP {resp.status_code}")
        data = resp.json()
        if not data.get("Success"):
            raise CloudPaymentsError(
                f"CloudPayments {path}: {str(data.get('Message') or 'refused')[:200]}"
            )
        return data.get("Model")


def api_of(portal: Portal) -> CloudPaymentsApi:
    """The portal's CloudPayments API (settings cloudpayments_public_id and cloudpayments_secret)."""
    public_id, secret = (
        portal.settings.get(k, "") for k in ("cloudpayments_public_id", "cloudpayments_secret")
    )
    if not public_id or not secret:
        raise CloudPaymentsError(
            "set cloudpayments_public_id and cloudpayments_secret on the app page first"
        )
    return CloudPaymentsApi(public_id, secret, context.settings().cloudpayments_api_url)


def day_payments(api: CloudPaymentsApi, day: date) -> list[dict]:
    """Every transaction CloudPayments created on ``day`` (UTC), page by page."""
    out: list[dict] = []
    for page in range(1, MAX_PAGES + 1):
        model = api.post("/v2/payments/list", {"CreatedDateGte": f"{day}T00:00:00", "CreatedDateLte": f"{day}T23:59:59",
                                               "PageNumber": page, "TimeZone": "UTC"})  # fmt: skip
        items = model.get("Items") if isinstance(model, dict) else model
        if not items:
            break
        out.extend(i for i in items if isinstance(i, dict))
    return out


def donation_of(item: dict) -> Donation | None:
    """The Donation a transaction's notification would have made (None: a refund or an unknown status)."""
    from handlers.cloudpayments import Notification
    from handlers.cloudpayments import donation_of as of_notification

    kind = KINDS.get(str(item.get("Status") or ""))
    if kind is None or str(item.get("OperationType") or item.get("Type") or "Payment") not in (
        "Payment",
        "0",
    ):
        return None
    when = str(item.get("CreatedDateIso") or "")
    fields = {k: v for k, v in item.items() if k in Notification.model_fields and v is not None}
    fields |= {"DateTime": moment(when), "Data": item.get("JsonData") or "", "TestMode": int(bool(item.get("TestMode"))),
               "Amount": str(item.get("Amount"))}  # fmt: skip
    return of_notification(kind, Notification.model_validate(fields))


def moment(iso: str) -> str:
    """``CreatedDateIso`` as the notifications' ``DateTime`` (UTC, "YYYY-MM-DD HH:MM:SS")."""
    at = datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else datetime.now(UTC)
    return (
        (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    )


def readable(item: dict) -> Donation | None:
    """``donation_of``, or None (logged) for an item the notification parser refuses."""
    try:
        return donation_of(item)
    except (ValidationError, Blago24Error) as exc:
        log.warning(
            "CloudPayments transaction %s skipped: %s",
            str(item.get("TransactionId"))[:20],
            str(exc)[:200],
        )
        return None


def present(client: BitrixClient, resolved: Resolved, keys: list[str]) -> dict[str, int]:
    """The precedence of the stage each key's deal holds in the portal (keys without a deal are absent)."""
    out: dict[str, int] = {}
    commands = {f"k{i}": ("crm.deal.list", {"filter": {"=" + field("B24_PAYMENT_ID"): keys[i : i + KEYS_PER_LIST],
                                                       "CATEGORY_ID": resolved.pipeline(PIPELINE)},
                                            "select": ["ID", "STAGE_ID", field("B24_PAYMENT_ID")]})
                for i in range(0, len(keys), KEYS_PER_LIST)}  # fmt: skip
    for rows in client.batch(commands).raise_errors().result.values():
        for row in rows or []:
            status = STATUS_OF_STAGE.get(str(row.get("STAGE_ID") or "").partition(":")[2])
            rank = (
                PRECEDENCE[status] if status else 99
            )  # a stage of the fund's own: the fund's decision
            out[row[field("B24_PAYMENT_ID")]] = max(out.get(row[field("B24_PAYMENT_ID")], -1), rank)
    return out


def missing(client: BitrixClient, resolved: Resolved, items: list[dict]) -> list[Donation]:
    """The day's payments the portal lacks or holds at a less advanced stage."""
    donations = [d for d in (readable(i) for i in items) if d is not None]
    held = present(client, resolved, sorted({d.key for d in donations})) if donations else {}
    return [d for d in donations if held.get(d.key, -1) < PRECEDENCE[d.status]]


def feed(member_id: str, donation: Donation, inline: bool) -> str:
    """The payment through the intake as its notification would go: queued (the daily job) or applied now."""
    from handlers import Work, queue_once

    payload = donation.model_dump(mode="json")
    if not inline:
        queue_once(
            member_id,
            "cloudpayments",
            Work(donation.delivery, record_donation, payload, record_delivery),
        )
        return "queued"
    record_delivery(member_id, payload)
    outcome = record_donation(member_id, payload)
    context.redis().set(
        portal_key(member_id, "seen", "cloudpayments", donation.delivery), 1, ex=KEEP
    )
    return outcome


@portal_job
def reconcile_recent(member_id: str, day: str = "") -> str:
    """Job: the last RECENT_DAYS days of CloudPayments payments the portal lacks, through the intake."""
    portal = context.registry().require(member_id)
    if not portal.settings.get("cloudpayments_public_id"):
        return "CloudPayments API not set up (cloudpayments_public_id)"
    client, redis = context.client(member_id), context.redis()
    api, resolved = api_of(portal), resolve(portal, client, redis)
    today = datetime.now(UTC).date()
    fed = 0
    for back in range(RECENT_DAYS, -1, -1):
        for donation in missing(client, resolved, day_payments(api, today - timedelta(days=back))):
            feed(member_id, donation, inline=False)
            fed += 1
    return f"{fed} payment(s) fed"


# --- the backfill: a day a step, resumable --------------------------------------------------------


def backfill_key(member_id: str) -> str:
    return portal_key(member_id, "cloudpayments-backfill")


def backfill(member_id: str, since: date, progress: Progress | None = None) -> dict:
    """Every payment since ``since`` the portal lacks, through the intake inline, a day a step; a run
    interrupted and started again with the same ``since`` goes on from the day it reached."""
    redis: Redis = context.redis()
    portal = context.registry().require(member_id)
    client = context.client(member_id)
    api, resolved = api_of(portal), resolve(portal, client, redis)
    until = datetime.now(UTC).date()
    state = json.loads(redis.get(backfill_key(member_id)) or "{}")
    if state.get("since") != since.isoformat() or state.get("finished"):
        state = {"since": since.isoformat(), "next": since.isoformat(), "fed": 0, "seen": 0,
                 "started": time.time()}  # fmt: skip
    days = (until - since).days + 1
    day = date.fromisoformat(state["next"])
    while day <= until:
        items = day_payments(api, day)
        for donation in missing(client, resolved, items):
            feed(member_id, donation, inline=True)
            state["fed"] += 1
        state |= {"next": (day + timedelta(days=1)).isoformat(), "seen": state["seen"] + len(items)}
        redis.set(backfill_key(member_id), json.dumps(state), ex=KEEP)
        if progress:
            progress((day - since).days + 1, days, "дней / days")
        day += timedelta(days=1)
    state["finished"] = time.time()
    redis.set(backfill_key(member_id), json.dumps(state), ex=KEEP)
    return state


# --- «Отменить подписку» on the deal ---------------------------------------------------------------


@portal_job
def cancel_subscription(member_id: str, deal_id: int, subscription: str, user_id: str) -> str:
    """Job: the subscription cancelled through the CloudPayments API (``subscriptions/cancel``; its
    X-Request-ID makes a retry after a lost answer safe), a timeline comment on the deal once, and the
    state Cancelled on the donor and the deal."""
    from .intake import record_subscription

    portal = context.registry().require(member_id)
    redis = context.redis()
    api_of(portal).post("/subscriptions/cancel", {"Id": subscription},
                        request_id=f"b24-cancel-{member_id}-{subscription}")  # fmt: skip
    mark = portal_key(member_id, "subscription-cancelled", subscription)
    if not redis.exists(mark):
        note_cancelled(context.client(member_id), deal_id, subscription, user_id)
        redis.set(mark, user_id, ex=KEEP)
    change = SubscriptionChange(source="cloudpayments", subscription_id=subscription, status="Cancelled",
                                delivery=f"cancel-{subscription}")  # fmt: skip
    record_subscription(member_id, change.model_dump(mode="json"))
    return f"subscription {subscription} cancelled"


def note_cancelled(client: BitrixClient, deal_id: int, subscription: str, user_id: str) -> None:
    """The deal's timeline comment on the cancellation, unless an earlier try already left it."""
    said = f"Подписка {subscription} отменена в CloudPayments"
    rows = client.call("crm.timeline.comment.list",
                       {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id}, "select": ["ID", "COMMENT"]})  # fmt: skip
    if not any(said in (r.get("COMMENT") or "") for r in rows or []):
        client.call("crm.timeline.comment.add", {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id,
                                                            "COMMENT": f"{said} по запросу пользователя (ID {user_id})."}})  # fmt: skip
