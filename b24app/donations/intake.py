"""Payments into exactly one deal each in «Электронные пожертвования», keyed by the payment's key.

A delivery is recorded at once (``record_delivery``: the payment's pending deliveries in Redis, durable
with AOF) and its job queued. A job takes the payment's lock and applies every delivery then pending, so
a Check and a Pay that arrive together make one deal in two requests: one batch that looks up the deal
by the field «ID в платёжном шлюзе» and the donor's candidates, and one that writes the contact (when
new) and the deal, linked by ``$result``. A later delivery moves the deal forward by PRECEDENCE, never
back. The CRM field keeps it right even if Redis was emptied (the deal is found by its key), and a
create whose answer was lost is not re-sent: the job fails and its retry finds the deal.
"""

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from redis import Redis
from redis.exceptions import LockError

from .. import context
from ..bitrix import BitrixClient
from ..errors import Blago24Error
from ..jobs import portal_job
from ..matching.intake import (
    candidates_from,
    contact_select,
    finish_contact,
    identity_keys,
    identity_locks,
    lookup_commands,
    plan_contact,
    remembered,
)
from ..matching.score import Person
from ..portals import portal_key
from ..queue import DEFAULT, enqueue
from ..template.resolved import Resolved, TemplateNotReady, field, resolve
from . import PRECEDENCE, Donation, Status, SubscriptionChange

log = logging.getLogger(__name__)
PIPELINE = "B24_ONLINE"
STAGES = {
    Status.STARTED: "NEW",
    Status.SUCCEEDED: "WON",
    Status.FAILED: "LOSE",
    Status.REFUNDED: "B24_REFUNDED",
}
STATUS_OF_STAGE = {code: status for status, code in STAGES.items()}
DONOR = "B24_DONOR"
GATEWAYS = {"cloudpayments": "CLOUDPAYMENTS", "leyka": "LEYKA"}
SELECT = [
    "ID",
    "STAGE_ID",
    "OPPORTUNITY",
    "CONTACT_ID",
    field("B24_PAYMENT_ID"),
    field("B24_REFUNDED_SUM"),
]
LOCK_TIMEOUT, LOCK_WAIT = 120, 60
KEEP = 400 * 86400  # pending deliveries and refunds of a payment: far longer than any retry
SUBSCRIPTION_STATES = {"Active": "ACTIVE", "PastDue": "PAST_DUE", "Cancelled": "CANCELLED", "Rejected": "REJECTED",
                       "Expired": "EXPIRED"}  # fmt: skip


class PaymentBusy(Blago24Error):
    """Another job held this payment's lock for longer than LOCK_WAIT (RQ retries)."""


def pending_key(member_id: str, key: str) -> str:
    return portal_key(member_id, "payment", key, "pending")


def record_delivery(member_id: str, payload: dict) -> None:
    """The handler's record step: the delivery joins its payment's pending ones (idempotent by its id)."""
    donation = Donation.model_validate(payload)
    redis, key = context.redis(), pending_key(member_id, donation.key)
    redis.pipeline().hset(key, donation.delivery, json.dumps(payload)).expire(key, KEEP).execute()


@portal_job
def record_donation(member_id: str, payload: dict) -> str:
    """Job: every pending delivery of the payment applied to its one deal; returns what happened."""
    donation = Donation.model_validate(payload)
    redis, client = context.redis(), context.client(member_id)
    done = portal_key(member_id, "payment", donation.key, "done")
    if redis.sismember(done, donation.delivery):
        return "already recorded with another delivery of the payment"
    record_delivery(member_id, payload)  # again: should Redis have lost it since the handler ran
    with payment_lock(redis, member_id, donation.key):
        raw = redis.hgetall(pending_key(member_id, donation.key))
        pending = sorted(
            (Donation.model_validate_json(v) for v in raw.values()),
            key=lambda d: PRECEDENCE[d.status],
        )
        if not pending:
            return "already recorded by another delivery's job"
        try:
            resolved = resolve(context.registry().require(member_id), client, redis)
        except TemplateNotReady as exc:
            return wait_for_template(redis, member_id, payload, exc)
        refunded = note_refunds(redis, member_id, donation.key, pending)
        outcome = apply(client, redis, member_id, resolved, pending, refunded)
        redis.pipeline().sadd(done, *(d.delivery for d in pending)).expire(done, KEEP).hdel(
            pending_key(member_id, donation.key), *raw
        ).execute()
    return outcome


TEMPLATE_WAIT = 60  # seconds between looks at a portal whose template is still being applied
TEMPLATE_PATIENCE = 7 * 86400  # then the delivery waits no more (it stays pending for the next one)


def wait_for_template(redis: Redis, member_id: str, payload: dict, exc: TemplateNotReady) -> str:
    """The template is not applied yet: look again in a minute (no retry is used up), for a week."""
    since_key = portal_key(member_id, "payment", payload["key"], "waiting-since")
    redis.set(since_key, time.time(), nx=True, ex=TEMPLATE_PATIENCE * 2)
    if time.time() - float(redis.get(since_key)) > TEMPLATE_PATIENCE:
        raise exc
    at = time.time() + TEMPLATE_WAIT
    enqueue(redis, DEFAULT, f"donation-wait-{member_id}-{payload['delivery']}-{int(at)}", record_donation,
            member_id, payload, at=at)  # fmt: skip
    log.info("portal %s: payment %s waits for the template: %s", member_id, payload["key"], exc)
    return "waiting for the template"


@contextmanager
def payment_lock(redis: Redis, member_id: str, key: str):
    lock = redis.lock(portal_key(member_id, "lock", "payment", key), timeout=LOCK_TIMEOUT,
                      blocking_timeout=LOCK_WAIT)  # fmt: skip
    if not lock.acquire():
        raise PaymentBusy(f"payment {key}: another delivery is still being recorded")
    try:
        yield
    finally:
        try:
            lock.release()
        except LockError:  # it outlived LOCK_TIMEOUT: nothing to release
            log.warning("portal %s: payment lock %s expired before release", member_id, key)


def note_refunds(redis: Redis, member_id: str, key: str, pending: list[Donation]) -> Decimal:
    """All refunds of the payment so far, each counted once by its own id."""
    refunds = portal_key(member_id, "payment", key, "refunds")
    for d in pending:
        if d.status is Status.REFUNDED:
            redis.hset(refunds, d.delivery, f"{d.refunded:f}")
    redis.expire(refunds, KEEP)
    return sum((Decimal(v.decode()) for v in redis.hvals(refunds)), Decimal("0"))


def apply(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved, pending: list[Donation],
          refunded: Decimal) -> str:  # fmt: skip
    """Create the deal (with its donor) or move it forward, in as few requests as the facts allow."""
    best = pending[-1]
    gift = next((d for d in reversed(pending) if d.status is not Status.REFUNDED), best)
    person = donor_of(gift)
    deal_lookup = {"deal": ("crm.deal.list", {"filter": {field("B24_PAYMENT_ID"): best.key,
                                                         "CATEGORY_ID": resolved.pipeline(PIPELINE)},
                                              "select": SELECT, "order": {"ID": "ASC"}})}  # fmt: skip
    idempotency = f"donation:{best.key}"
    known = remembered(redis, member_id, idempotency) if person else None
    if not person or known:
        deals = client.call(*deal_lookup["deal"])
        if deals:
            return update_deal(client, resolved, deals[0], pending, refunded)
        return create_deal(
            client, resolved, gift, best, refunded, known.contact_id if known else None
        )
    with identity_locks(redis, member_id, identity_keys(person, idempotency)):
        select = contact_select()
        out = client.batch(deal_lookup | lookup_commands(person, select)).raise_errors().result
        if deals := out.pop("deal") or []:
            return update_deal(client, resolved, deals[0], pending, refunded)
        plan = plan_contact(person, {}, DONOR, candidates_from(client, out, select))
        deal = (
            "crm.deal.add",
            {"fields": new_deal_fields(resolved, gift, best, refunded, plan.reference)},
        )
        written = client.batch(plan.commands | {"deal": deal}).raise_errors().result
        outcome = finish_contact(client, redis, member_id, plan, written.get("contact"))
        redis.set(
            portal_key(member_id, "intake", idempotency), json.dumps(asdict(outcome)), ex=KEEP
        )
    log.info(
        "portal %s: payment %s → deal %s (%s)", member_id, best.key, written["deal"], best.status
    )
    return f"created deal {written['deal']}"


def donor_of(donation: Donation) -> Person | None:
    person = Person(first=donation.first_name, last=donation.last_name, emails=tuple(filter(None, [donation.email])),
                    phones=tuple(filter(None, [donation.phone])))  # fmt: skip
    return person if person.first or person.last or person.emails or person.phones else None


def create_deal(client: BitrixClient, resolved: Resolved, gift: Donation, best: Donation, refunded: Decimal,
                contact_id: int | None) -> str:  # fmt: skip
    deal_id = client.call(
        "crm.deal.add", {"fields": new_deal_fields(resolved, gift, best, refunded, contact_id)}
    )
    return f"created deal {deal_id}"


def final_status(best: Donation, amount: Decimal, refunded: Decimal) -> Status:
    """A partial refund keeps the gift «Успешно»: only a refund of the whole sum is «Возврат»."""
    if best.status is Status.REFUNDED and refunded < amount:
        return Status.SUCCEEDED
    return best.status


def new_deal_fields(resolved: Resolved, gift: Donation, best: Donation, refunded: Decimal,
                    contact: int | str | None) -> dict[str, Any]:  # fmt: skip
    """A new deal: the gift's amount and details, the most advanced status, the donor."""
    kind = "B24_RECURRING" if gift.recurring else "B24_ONE_TIME"
    title = f"Пожертвование {gift.amount:f} {gift.currency}" + (
        f": {gift.purpose}" if gift.purpose else ""
    )
    status = final_status(best, gift.amount, refunded)
    fields = {
        "TITLE": ("[ТЕСТ] " if gift.test else "") + title,
        "TYPE_ID": kind,
        "CATEGORY_ID": resolved.pipeline(PIPELINE),
        "STAGE_ID": resolved.stage(PIPELINE, STAGES[status]),
        "OPPORTUNITY": f"{gift.amount:f}",
        "CURRENCY_ID": gift.currency,
        "BEGINDATE": gift.at.isoformat(),
        "CONTACT_ID": contact,
        field("B24_PAYMENT_ID"): gift.key,
        field("B24_GATEWAY"): resolved.enum(
            "deal", "B24_GATEWAY", GATEWAYS.get(gift.source, "OTHER")
        ),
        field("B24_THANKS"): resolved.enum(
            "deal", "B24_THANKS", "NO_THANKS" if gift.test else "WAITING"
        ),
        field("B24_REFUNDED_SUM"): f"{refunded:f}" if refunded else "",
        "COMMENTS": "Тестовый платёж: не учитывается в итогах и письмах" if gift.test else "",
        **{field(k): v for k, v in details(gift, best).items()},
    }
    return {k: v for k, v in fields.items() if v not in ("", None)}


def details(gift: Donation, best: Donation) -> dict[str, str]:
    """The payment's details (by template field code): the gift's card, the failure's reason."""
    return {"B24_CARD_MASK": gift.card_mask or best.card_mask, "B24_CARD_EXPIRES": gift.card_expires or best.card_expires,
            "B24_SUBSCRIPTION_ID": gift.subscription_id or best.subscription_id,
            "B24_FAIL_REASON": best.fail_reason if best.status is Status.FAILED else ""}  # fmt: skip


def update_deal(client: BitrixClient, resolved: Resolved, deal: dict, pending: list[Donation],
                refunded: Decimal) -> str:  # fmt: skip
    """Move the deal forward (never back); the sum given back noted; one request, or none."""
    best = pending[-1]
    gift = next((d for d in reversed(pending) if d.status is not Status.REFUNDED), best)
    current = STATUS_OF_STAGE.get(str(deal.get("STAGE_ID", "")).partition(":")[2])
    status = final_status(best, Decimal(str(deal.get("OPPORTUNITY") or 0)), refunded)
    fields: dict[str, Any] = {}
    if refunded and Decimal(str(deal.get(field("B24_REFUNDED_SUM")) or 0)) != refunded:
        fields[field("B24_REFUNDED_SUM")] = f"{refunded:f}"
    if current is None or PRECEDENCE[status] > PRECEDENCE[current]:
        fields["STAGE_ID"] = resolved.stage(PIPELINE, STAGES[status])
        fields |= {field(k): v for k, v in details(gift, best).items() if v}
    if not fields:
        return f"deal {deal['ID']} unchanged ({best.status} after {current})"
    client.call("crm.deal.update", {"id": int(deal["ID"]), "fields": fields})
    return f"deal {deal['ID']} updated: {', '.join(sorted(fields))}"


@portal_job
def record_subscription(member_id: str, payload: dict) -> str:
    """Job: a subscription's new status on its deals' donors (the contact field «статус подписки»)."""
    change = SubscriptionChange.model_validate(payload)
    client = context.client(member_id)
    resolved = resolve(context.registry().require(member_id), client, context.redis())
    deals = client.call("crm.deal.list", {"filter": {field("B24_SUBSCRIPTION_ID"): change.subscription_id},
                                          "select": ["ID", "CONTACT_ID"]})  # fmt: skip
    contacts = sorted({int(d["CONTACT_ID"]) for d in deals if d.get("CONTACT_ID")})
    value = resolved.enum(
        "contact", "B24_SUBSCRIPTION", SUBSCRIPTION_STATES.get(change.status, "ACTIVE")
    )
    for contact_id in contacts:
        client.call(
            "crm.contact.update", {"id": contact_id, "fields": {field("B24_SUBSCRIPTION"): value}}
        )
    return f"subscription {change.subscription_id} {change.status}: {len(contacts)} donor(s)"
