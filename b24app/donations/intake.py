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
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from redis import Redis

from .. import context
from ..bitrix import BitrixClient, NotFound
from ..jobs import PortalBusyElsewhere, lease, portal_job
from ..matching.contacts import phones_in_region
from ..matching.intake import (
    candidates_from,
    contact_select,
    finish_contact,
    identity_keys,
    identity_locks,
    lookup_commands,
    plan_contact,
)
from ..matching.score import Person
from ..portals import portal_key
from ..queue import DEFAULT, enqueue
from ..template.resolved import Resolved, TemplateNotReady, field, resolve
from . import PRECEDENCE, Donation, Status, SubscriptionChange
from .events import DonorEvent, Kind, emit
from .recurring import keep_subscription
from .rollup import donation_changed

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
LOCK_WAIT = 60  # seconds a delivery's job waits for the payment's lease
KEEP = 400 * 86400  # pending deliveries and refunds of a payment: far longer than any retry


def pending_key(member_id: str, key: str) -> str:
    return portal_key(member_id, "payment", key, "pending")


def record_delivery(member_id: str, payload: dict, pipe=None) -> None:
    """The handler's record step: the delivery joins its payment's pending ones (idempotent by its id);
    into ``pipe`` when given (the handler's transaction), else at once."""
    donation = Donation.model_validate(payload)
    key = pending_key(member_id, donation.key)
    target = pipe if pipe is not None else context.redis().pipeline()
    target.hset(key, donation.delivery, json.dumps(payload)).expire(key, KEEP)
    if pipe is None:
        target.execute()


@portal_job
def record_donation(member_id: str, payload: dict) -> str:
    """Job: every pending delivery of the payment applied to its one deal; returns what happened."""
    donation = Donation.model_validate(payload)
    redis, client = context.redis(), context.client(member_id)
    done = portal_key(member_id, "payment", donation.key, "done")
    if redis.sismember(done, donation.delivery):
        return "already recorded with another delivery of the payment"
    record_delivery(member_id, payload)  # again: should Redis have lost it since the handler ran
    with lease(member_id, f"payment:{donation.key}", wait=LOCK_WAIT) as lock:
        raw = redis.hgetall(pending_key(member_id, donation.key))
        pending = sorted(
            (Donation.model_validate_json(v) for v in raw.values()),
            key=lambda d: PRECEDENCE[d.status],
        )
        if not pending:
            return "already recorded by another delivery's job"
        try:
            portal = context.registry().require(member_id)
            resolved = resolve(portal, client, redis)
            refunded = note_refunds(redis, member_id, donation.key, pending)
            region = portal.settings.get("phone_region")
            outcome = apply(client, redis, member_id, resolved, pending, refunded, lock, region)
        except TemplateNotReady as exc:
            if waited_enough(redis, member_id, donation.key, "template", TEMPLATE_PATIENCE):
                raise
            log.info("portal %s: %s", member_id, exc)
            return wait(redis, member_id, payload, "the template")
        except PaymentNotYetSeen:
            return wait(redis, member_id, payload, "the payment this refund is of")
        announce(member_id, deal_of(redis, member_id, donation.key) or {}, pending)
        redis.pipeline().sadd(done, *(d.delivery for d in pending)).expire(done, KEEP).hdel(
            pending_key(member_id, donation.key), *raw).execute()  # fmt: skip
    return outcome


def announce(member_id: str, deal: dict, pending: list[Donation]) -> None:
    """A donor event per applied delivery (again on a retry: listeners are idempotent)."""
    deal_id, contact_id = deal.get("ID"), deal.get("CONTACT_ID")
    for d in pending:
        emit(member_id, DonorEvent(kind=Kind.DONATION, key=d.key, status=d.status, donation=d, at=d.at,
                                   deal_id=int(deal_id) if deal_id else None,
                                   contact_id=int(contact_id) if contact_id else None))  # fmt: skip


class PaymentNotYetSeen(Exception):
    """Only refunds of this payment arrived so far: its Pay is late (a refund follows a payment)."""


WAIT = 60  # seconds between looks at a payment that waits for something
# a template still not applied after a week: the job fails (the delivery stays pending for the next one)
TEMPLATE_PATIENCE = 7 * 86400
PAYMENT_PATIENCE = 86400  # a refund whose payment never came: recorded on its own after a day


def waited_enough(redis: Redis, member_id: str, key: str, what: str, patience: float) -> bool:
    """Whether the payment has waited for ``what`` longer than ``patience`` (the clock starts now)."""
    since = portal_key(member_id, "payment", key, f"waiting-for-{what}")
    redis.set(since, time.time(), nx=True, ex=int(patience * 2))
    return time.time() - float(redis.get(since)) > patience


def wait(redis: Redis, member_id: str, payload: dict, what: str) -> str:
    """Look at the payment again in a minute (no retry is used up)."""
    at = time.time() + WAIT
    enqueue(redis, DEFAULT, f"donation-wait-{member_id}-{payload['delivery']}-{int(at)}", record_donation,
            member_id, payload, at=at)  # fmt: skip
    log.info("portal %s: payment %s waits for %s", member_id, payload["key"], what)
    return f"waiting for {what}"


def note_refunds(redis: Redis, member_id: str, key: str, pending: list[Donation]) -> Decimal:
    """All refunds of the payment so far, each counted once: a CloudPayments Refund by its own id; Leyka's
    «refunded» is a status, so every report of it (a retry, a backfill, a second toggle) is one refund."""
    refunds = portal_key(member_id, "payment", key, "refunds")
    for d in pending:
        if d.status is Status.REFUNDED:
            slot = "leyka-status" if d.source == "leyka" else d.delivery
            redis.hset(refunds, slot, f"{d.refunded:f}")
    redis.expire(refunds, KEEP)
    return sum((Decimal(v.decode()) for v in redis.hvals(refunds)), Decimal("0"))


def deal_key(member_id: str, key: str) -> str:
    return portal_key(member_id, "payment", key, "deal")


def deal_of(redis: Redis, member_id: str, key: str) -> dict | None:
    """The payment's deal as this app last wrote it (id, stage, amount, refunded sum), if remembered."""
    raw = redis.get(deal_key(member_id, key))
    return json.loads(raw) if raw else None


def remember_deal(redis: Redis, member_id: str, key: str, deal: dict) -> None:
    redis.set(deal_key(member_id, key), json.dumps({k: deal.get(k) for k in SELECT}), ex=KEEP)


def apply(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved, pending: list[Donation],
          refunded: Decimal, lock, region: str | None = None) -> str:  # fmt: skip
    """Move the payment's deal forward, or create it with its donor, in as few requests as the facts allow:
    a remembered deal costs one update; a new one a lookup batch and a write batch."""
    best = pending[-1]
    gift = next((d for d in reversed(pending) if d.status is not Status.REFUNDED), best)
    if known := deal_of(redis, member_id, best.key):
        try:
            return update_deal(client, redis, member_id, resolved, known, pending, refunded)
        except NotFound:  # deleted in the portal meanwhile: look it up like a new payment
            redis.delete(deal_key(member_id, best.key))
    lookup = {"deal": deal_lookup(resolved, best.key, SELECT)}
    person = donor_of(gift, region)
    idempotency = f"donation:{best.key}"
    with identity_locks(redis, member_id, identity_keys(person, idempotency) if person else []):
        select = contact_select()
        out = (
            client.batch(lookup | (lookup_commands(person, select) if person else {}))
            .raise_errors()
            .result
        )
        if deals := out.pop("deal") or []:
            return update_deal(client, redis, member_id, resolved, deals[0], pending, refunded)
        refund_only = gift is best and best.status is Status.REFUNDED
        if refund_only and not waited_enough(
            redis, member_id, best.key, "payment", PAYMENT_PATIENCE
        ):
            raise PaymentNotYetSeen(best.key)
        plan = (
            plan_contact(person, {}, DONOR, candidates_from(client, out, select))
            if person
            else None
        )
        fields = new_deal_fields(resolved, gift, best, refunded, plan.reference if plan else None)
        # the lease lapsed (Redis away for long): another job may be creating the deal right now
        if not lock.owned():
            raise PortalBusyElsewhere(
                f"payment {best.key}: the lease was lost before the deal was written"
            )
        attempt = portal_key(member_id, "payment", best.key, "creating")
        retried = not redis.set(attempt, 1, nx=True, ex=KEEP)  # an earlier create's answer was lost
        commands = (
            (plan.commands if plan else {})
            | {"deal": ("crm.deal.add", {"fields": fields})}
            | history_commands("$result[deal]", pending)
        )
        written = client.batch(commands).raise_errors().result
        if plan:
            outcome = finish_contact(client, redis, member_id, plan, written.get("contact"))
            redis.set(
                portal_key(member_id, "intake", idempotency), json.dumps(asdict(outcome)), ex=KEEP
            )
    created = int(written["deal"])
    deal_id = keep_oldest(client, resolved, best.key, created) if retried else created
    redis.delete(attempt)
    # the id, not the $result reference (a linked contact's "contact" command is its update: True)
    contact = (plan.contact_id or written.get("contact")) if plan else None
    remember_deal(redis, member_id, best.key, {**fields, "ID": deal_id, "CONTACT_ID": contact})
    if final_status(best, gift.amount, refunded) is Status.SUCCEEDED:
        donation_changed(redis, member_id, contact)
    log.info("portal %s: payment %s → deal %s (%s)", member_id, best.key, deal_id, best.status)
    return f"created deal {deal_id}"


def deal_lookup(resolved: Resolved, key: str, select: list[str]) -> tuple[str, dict]:
    """The command listing the payment's deals by «ID в платёжном шлюзе», oldest first."""
    return "crm.deal.list", {"filter": {"=" + field("B24_PAYMENT_ID"): key,
                                        "CATEGORY_ID": resolved.pipeline(PIPELINE)},
                             "select": select, "order": {"ID": "ASC"}}  # fmt: skip


def deals_by_key(
    client: BitrixClient, resolved: Resolved, key: str, select: list[str]
) -> list[dict]:
    return client.call(*deal_lookup(resolved, key, select)) or []


def history_commands(deal_id: int | str, pending: list[Donation]) -> dict[str, tuple[str, dict]]:
    """A timeline comment with the deliveries' own history lines (Leyka's changed_at), if any."""
    lines = [d.history for d in sorted(pending, key=lambda d: d.history) if d.history]
    if not lines:
        return {}
    fields = {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id, "COMMENT": "\n".join(lines)}
    return {"history": ("crm.timeline.comment.add", {"fields": fields})}


def keep_oldest(client: BitrixClient, resolved: Resolved, key: str, created: int) -> int:
    """The payment's one deal after a create tried before (its answer lost, the portal slow to show the
    deal): should another be there, the one just made goes and the oldest stays."""
    rows = deals_by_key(client, resolved, key, ["ID"])
    oldest = min((int(r["ID"]) for r in rows), default=created)
    if oldest != created:
        client.call("crm.deal.delete", {"id": created})
        log.warning("payment %s: a second deal %s removed; deal %s stays", key, created, oldest)
    return oldest


def donor_of(donation: Donation, region: str | None = None) -> Person | None:
    """The donor as the matcher sees them, a phone without its country code read as ``region``'s."""
    person = Person(first=donation.first_name, last=donation.last_name, emails=tuple(filter(None, [donation.email])),
                    phones=tuple(filter(None, [donation.phone])))  # fmt: skip
    found = person.first or person.last or person.emails or person.phones
    return phones_in_region(person, region) if found else None


def final_status(best: Donation, amount: Decimal, refunded: Decimal) -> Status:
    """A partial refund keeps the gift «Успешно»: only a refund of the whole sum is «Возврат»."""
    if best.status is Status.REFUNDED and refunded < amount:
        return Status.SUCCEEDED
    return best.status


def new_deal_fields(resolved: Resolved, gift: Donation, best: Donation, refunded: Decimal,
                    contact: int | str | None) -> dict[str, Any]:  # fmt: skip
    """A new deal: the gift's amount and details, the most advanced status, the donor."""
    kind = (
        "B24_CORRECTION"
        if gift.correction
        else "B24_RECURRING"
        if gift.recurring
        else "B24_ONE_TIME"
    )
    what = "Коррекционная запись" if gift.correction else "Пожертвование"
    title = f"{what} {gift.amount:f} {gift.currency}" + (
        f": {gift.purpose}" if gift.purpose else ""
    )
    refunded = min(refunded, gift.amount) if gift.amount > 0 else refunded
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
        field("B24_GATEWAY"): resolved.enum("deal", "B24_GATEWAY", gateway_of(gift)),
        field("B24_THANKS"): resolved.enum(
            "deal", "B24_THANKS", "NO_THANKS" if gift.test or gift.correction else "WAITING"
        ),
        field("B24_REFUNDED_SUM"): f"{refunded:f}" if refunded else "",
        field("B24_TEST"): "1" if gift.test else "",
        "COMMENTS": "Тестовый платёж: не учитывается в итогах и письмах" if gift.test else "",
        **{field(k): v for k, v in details(gift, best).items()},
    }
    return {k: v for k, v in fields.items() if v not in ("", None)}


def gateway_of(gift: Donation) -> str:
    """The payment gateway: CloudPayments for its keys (whichever connector reported the payment)."""
    return "CLOUDPAYMENTS" if gift.key.startswith("cp:") else GATEWAYS.get(gift.source, "OTHER")


def details(gift: Donation, best: Donation) -> dict[str, str]:
    """The payment's details (by template field code): the gift's card, the failure's reason."""
    return {"B24_CARD_MASK": gift.card_mask or best.card_mask, "B24_CARD_EXPIRES": gift.card_expires or best.card_expires,
            "B24_SUBSCRIPTION_ID": gift.subscription_id or best.subscription_id,
            "B24_FAIL_REASON": best.fail_reason if best.status is Status.FAILED else ""}  # fmt: skip


def update_deal(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved, deal: dict,
                pending: list[Donation], refunded: Decimal) -> str:  # fmt: skip
    """Move the deal forward (never back; a stage of the fund's own making is left alone), the gift's
    amount as the payment confirms it, the sum given back noted: one request, or none."""
    best = pending[-1]
    gift = next((d for d in reversed(pending) if d.status is not Status.REFUNDED), None)
    remember_deal(redis, member_id, best.key, deal)  # found by its key: the donor events name it
    stage = str(deal.get("STAGE_ID") or "")
    ours = (
        stage.startswith(f"C{resolved.pipeline(PIPELINE)}:")
        and stage.partition(":")[2] in STATUS_OF_STAGE
    )
    current = STATUS_OF_STAGE.get(stage.partition(":")[2]) if ours else None
    amount = Decimal(str(deal.get("OPPORTUNITY") or 0))
    fields: dict[str, Any] = {}
    if corrects_amount(gift, amount):
        amount = gift.amount  # a refund came first, or the payment was confirmed for another sum
        fields |= {"OPPORTUNITY": f"{amount:f}", "CURRENCY_ID": gift.currency}
    refunded = min(
        refunded, amount
    )  # reports of one refund by both connectors never exceed the gift
    if refunded and Decimal(str(deal.get(field("B24_REFUNDED_SUM")) or 0)) != refunded:
        fields[field("B24_REFUNDED_SUM")] = f"{refunded:f}"
    status = final_status(best, amount, refunded)
    if (
        ours
        and PRECEDENCE[status] != PRECEDENCE[current]
        and (PRECEDENCE[status] > PRECEDENCE[current] or "OPPORTUNITY" in fields)
    ):
        fields["STAGE_ID"] = resolved.stage(PIPELINE, STAGES[status])
        fields |= {field(k): v for k, v in details(gift or best, best).items() if v}
    notes = history_commands(int(deal["ID"]), pending)
    if not fields and not notes:
        return f"deal {deal['ID']} unchanged ({best.status} after {current or stage})"
    write_deal(client, int(deal["ID"]), fields, notes)
    if not fields:
        return (
            f"deal {deal['ID']} unchanged ({best.status} after {current or stage}); history noted"
        )
    remember_deal(redis, member_id, best.key, {**deal, **fields})
    if {"STAGE_ID", "OPPORTUNITY", field("B24_REFUNDED_SUM")} & set(fields):
        donation_changed(
            redis, member_id, deal.get("CONTACT_ID")
        )  # a success, a refund, another sum
    return f"deal {deal['ID']} updated: {', '.join(sorted(fields))}"


def corrects_amount(gift: Donation | None, amount: Decimal) -> bool:
    """A success reporting another sum corrects the deal's amount, unless it is Leyka's report of a
    payment CloudPayments made (CloudPayments' own notifications say what was charged)."""
    if gift is None or gift.status is not Status.SUCCEEDED or gift.amount == amount:
        return False
    return not (gift.source == "leyka" and gift.key.startswith("cp:"))


def write_deal(client: BitrixClient, deal_id: int, fields: dict, notes: dict) -> None:
    """The deal's update and its history lines in one request; NotFound when the deal is gone."""
    update = {"deal": ("crm.deal.update", {"id": deal_id, "fields": fields})} if fields else {}
    if not notes:
        client.call(*update["deal"])
        return
    out = client.batch(update | notes)
    if isinstance(out.errors.get("deal"), NotFound):
        raise out.errors["deal"]  # deleted in the portal meanwhile (see apply)
    out.raise_errors()


@portal_job
def record_subscription(member_id: str, payload: dict) -> str:
    """Job: a subscription's new status on its donors and its latest deal (recurring.keep_subscription)."""
    change = SubscriptionChange.model_validate(payload)
    client, redis = context.client(member_id), context.redis()
    resolved = resolve(context.registry().require(member_id), client, redis)
    with lease(member_id, f"subscription:{change.subscription_id}", wait=LOCK_WAIT):
        if not newest_change(redis, member_id, change):
            return (
                f"subscription {change.subscription_id} {change.status}: older than the state kept"
            )
        contacts = keep_subscription(client, redis, member_id, resolved, change)
    for contact_id in contacts:
        donation_changed(redis, member_id, contact_id)  # the recurring segment follows it
        emit(member_id, DonorEvent(kind=Kind.SUBSCRIPTION, key=change.subscription_id, status=change.status,
                                   contact_id=contact_id, subscription=change))  # fmt: skip
    return f"subscription {change.subscription_id} {change.status}: {len(contacts)} donor(s)"


def newest_change(redis: Redis, member_id: str, change: SubscriptionChange) -> bool:
    """Whether the change is not older than the last one applied to its subscription (deliveries arrive
    out of order); a change without a time (CloudPayments) always applies."""
    if change.changed_at is None:
        return True
    at = change.changed_at.timestamp()
    name = portal_key(member_id, "subscription-changed-at", change.subscription_id)
    kept = redis.get(name)
    if kept is not None and float(kept) > at:
        return False
    redis.set(name, at, ex=KEEP)
    return True


@portal_job
def note_trash(member_id: str, payload: dict) -> str:
    """Job: a donation moved to the site's trash leaves its deal as it is, with a timeline comment."""
    redis, client, key = context.redis(), context.client(member_id), payload["key"]
    with lease(member_id, f"payment:{key}", wait=LOCK_WAIT):
        resolved = resolve(context.registry().require(member_id), client, redis)
        known = deal_of(redis, member_id, key)
        deals = [known] if known else deals_by_key(client, resolved, key, ["ID"])
        if not deals:
            if waited_enough(redis, member_id, key, "deal-to-trash", PAYMENT_PATIENCE):
                return f"payment {key}: no deal to note the trash on"
            at = time.time() + WAIT
            enqueue(redis, DEFAULT, f"trash-wait-{member_id}-{payload['delivery']}-{int(at)}",
                    note_trash, member_id, payload, at=at)  # fmt: skip
            return "waiting for the payment's deal"
        text = payload["history"] + ". Сделка оставлена как есть."
        client.call("crm.timeline.comment.add",
                    {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": int(deals[0]["ID"]), "COMMENT": text}})  # fmt: skip
    return f"deal {deals[0]['ID']}: trash noted"
