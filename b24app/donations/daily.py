"""The daily donations job of a portal (product.md C2): recurring donors' cards and lapses, stale «Начато».

- A card that expires within two months (its last day, MM/YY, no later than two months from today) of a
  subscription that has not ended: one ``card_expiring`` event per card (subscription id + ":" + MM/YY).
- An active subscription (Active or PastDue) whose last successful charge is 40 days old or older: one
  ``lapsed`` event per lapse (subscription id + ":" + the date of that charge).
- A deal still at «Начато» 48 hours after the payment began moves to «Отказ» (the gateway session died),
  with a timeline comment, under the payment's lease so that it never overtakes a delivery.

Each event is emitted once: first the event, then a timeline comment on the deal naming its key, then a
mark in Redis. A job that died (or lost the comment's answer) before the comment emits it again on its
retry (listeners are idempotent); once the comment is there the event went out, so neither a retry, nor a
job run any number of times more, nor a Redis that lost its marks emits it again.
"""

import logging
from datetime import UTC, date, datetime, timedelta

from redis import Redis

from .. import context
from ..bitrix import BitrixClient
from ..jobs import PortalBusyElsewhere, lease, portal_job
from ..portals import portal_key
from ..template.resolved import Resolved, field, resolve
from .events import DonorEvent, Kind, emit
from .intake import LOCK_WAIT, PIPELINE, deal_of, remember_deal
from .recurring import ENDED, SELECT, STATES
from .rollup import portal_zone

log = logging.getLogger(__name__)
LAPSE = timedelta(days=40)
STALE = timedelta(hours=48)
EXPIRY_MONTHS = 2
KEEP = 3 * 366 * 86400  # a card's or a lapse's mark: longer than any card lives
STATUS_OF = {code: name for name, code in STATES.items()}


def mark_key(member_id: str, kind: str, key: str) -> str:
    return portal_key(member_id, "donor-event", kind, key)


@portal_job
def donations_daily(member_id: str, day: str = "") -> str:
    """Job: card-expiring and lapsed events of the portal's subscriptions, stale «Начато» deals to «Отказ»."""
    redis, client = context.redis(), context.client(member_id)
    portal = context.registry().require(member_id)
    resolved = resolve(portal, client, redis)
    today = datetime.now(portal_zone(portal)).date()
    cards, lapses = recurring_events(client, redis, member_id, resolved, today)
    stale = close_stale(client, redis, member_id, resolved, datetime.now(UTC))
    return f"{cards} card(s) expiring, {lapses} lapse(s), {stale} stale deal(s) closed"


def subscriptions(client: BitrixClient, resolved: Resolved) -> dict[str, list[dict]]:
    """Every subscription's deals, oldest first."""
    flt = {"CATEGORY_ID": resolved.pipeline(PIPELINE), "!" + field("B24_SUBSCRIPTION_ID"): ""}
    out: dict[str, list[dict]] = {}
    for deal in client.list_all("crm.deal.list", {"filter": flt, "select": SELECT}):
        out.setdefault(deal[field("B24_SUBSCRIPTION_ID")], []).append(deal)
    return out


def status_of(deals: list[dict], resolved: Resolved) -> str:
    """The subscription's latest known status (Active when none was reported: a charge succeeded)."""
    ids = {v: k for k, v in resolved.enums.get(f"deal.{field('B24_SUBSCRIPTION')}", {}).items()}
    for deal in reversed(deals):
        if code := ids.get(int(deal.get(field("B24_SUBSCRIPTION")) or 0)):
            return STATUS_OF.get(code, "Active")
    return "Active"


def recurring_events(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved,
                     today: date) -> tuple[int, int]:  # fmt: skip
    """The card-expiring and lapsed events due today (each once); how many were due."""
    won = resolved.stage(PIPELINE, "WON")
    cards = lapses = 0
    for subscription, deals in subscriptions(client, resolved).items():
        status = status_of(deals, resolved)
        if status in ENDED:
            continue
        gifts = [d for d in deals if d.get("STAGE_ID") == won]
        last = gifts[-1] if gifts else deals[-1]
        expiry = next(
            (
                d[field("B24_CARD_EXPIRES")]
                for d in reversed(deals)
                if d.get(field("B24_CARD_EXPIRES"))
            ),
            "",
        )
        if expiry and expiring(expiry, today):
            cards += 1
            once(client, redis, member_id, Kind.CARD_EXPIRING, f"{subscription}:{expiry}", last, status,
                 f"Карта рекуррентного пожертвования (подписка {subscription}) действует до {expiry}: "
                 "истекает в ближайшие два месяца.")  # fmt: skip
        if gifts and status in ("Active", "PastDue"):
            charged = moment(gifts[-1]).date()
            if today - charged >= LAPSE:
                lapses += 1
                once(client, redis, member_id, Kind.LAPSED, f"{subscription}:{charged.isoformat()}", last, status,
                     f"Подписка {subscription}: нет успешного списания с {charged:%d.%m.%Y} (40 дней и больше).")  # fmt: skip
    return cards, lapses


def expiring(expiry: str, today: date) -> bool:
    """Whether a card valid through MM/YY expires within EXPIRY_MONTHS of today (and has not yet)."""
    try:
        month, year = (int(p) for p in expiry.split("/"))
    except ValueError:
        return False
    months = (2000 + year) * 12 + month - (today.year * 12 + today.month)
    return 0 <= months <= EXPIRY_MONTHS


def moment(deal: dict) -> datetime:
    """When the deal's payment was made (BEGINDATE, ISO 8601 with offset)."""
    return datetime.fromisoformat(str(deal.get("BEGINDATE") or deal.get("DATE_CREATE")))


def once(client: BitrixClient, redis: Redis, member_id: str, kind: Kind, key: str, deal: dict,
         status: str, text: str) -> None:  # fmt: skip
    """Emit the event and note it on the deal, once per key (see the module docstring)."""
    mark = mark_key(member_id, kind, key)
    if redis.get(mark) == b"emitted":
        return
    text = f"{text} [{kind}: {key}]"
    if not noted_before(client, int(deal["ID"]), text):
        contact = deal.get("CONTACT_ID")
        emit(member_id, DonorEvent(kind=kind, key=key, status=status, deal_id=int(deal["ID"]),
                                   contact_id=int(contact) if contact else None))  # fmt: skip
        client.call("crm.timeline.comment.add",
                    {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": int(deal["ID"]), "COMMENT": text}})  # fmt: skip
    redis.set(mark, "emitted", ex=KEEP)
    log.info("portal %s: %s %s", member_id, kind, key)


def noted_before(client: BitrixClient, deal_id: int, text: str) -> bool:
    """Whether the deal's timeline already holds this event's comment."""
    rows = client.call("crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal_id},
                                                     "select": ["ID", "COMMENT"]}) or []  # fmt: skip
    return any(text in str(r.get("COMMENT") or "") for r in rows)


def close_stale(
    client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved, now: datetime
) -> int:
    """Deals at «Начато» whose payment began 48 hours ago or earlier, moved to «Отказ»; how many."""
    started = resolved.stage(PIPELINE, "NEW")
    flt = {"CATEGORY_ID": resolved.pipeline(PIPELINE), "STAGE_ID": started}
    select = [
        "ID",
        "BEGINDATE",
        "DATE_CREATE",
        "STAGE_ID",
        "CONTACT_ID",
        "OPPORTUNITY",
        field("B24_PAYMENT_ID"),
    ]
    closed = 0
    for deal in client.list_all("crm.deal.list", {"filter": flt, "select": select}):
        key = deal.get(field("B24_PAYMENT_ID")) or ""
        if now - moment(deal) < STALE:
            continue
        try:
            with lease(member_id, f"payment:{key or deal['ID']}", wait=LOCK_WAIT):
                closed += close_one(client, redis, member_id, resolved, deal, key, started)
        except PortalBusyElsewhere:
            log.info(
                "portal %s: payment %s busy; its stale deal waits for tomorrow", member_id, key
            )
    return closed


def close_one(client: BitrixClient, redis: Redis, member_id: str, resolved: Resolved, deal: dict, key: str,
              started: str) -> int:  # fmt: skip
    """One stale deal to «Отказ», if a delivery has not moved it meanwhile (read again under the lease)."""
    known = deal_of(redis, member_id, key) if key else None
    current = client.call("crm.deal.get", {"id": int(deal["ID"])}) or {}
    if current.get("STAGE_ID") != started or (
        known and known.get("STAGE_ID") not in (None, started)
    ):
        return 0
    failed = resolved.stage(PIPELINE, "LOSE")
    text = "Платёж не завершён за 48 часов (сессия платёжного шлюза истекла): сделка переведена в «Отказ»."
    client.batch({"deal": ("crm.deal.update", {"id": int(deal["ID"]), "fields": {"STAGE_ID": failed}}),
                  "note": ("crm.timeline.comment.add", {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": int(deal["ID"]),
                                                                   "COMMENT": text}})}).raise_errors()  # fmt: skip
    if key:
        remember_deal(redis, member_id, key, {**current, "STAGE_ID": failed})
    return 1
