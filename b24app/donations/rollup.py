"""Donor totals kept in the portal (product.md C4): gifts read from the donation deals, the fields of
``totals`` written on contacts and companies only where they differ from what the portal holds.

A gift is a deal at the success stage of «Электронные пожертвования» or «Общие пожертвования», not marked
as a test; its day is the payment's (BEGINDATE; for a general donation the day the funds were received, or
the deal's close). ``recompute_donor`` serves one donor at once after a donation changes; the portal-wide
recompute lives in ``recompute``.
"""

import json
import logging
import time
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redis import Redis

from .. import context
from ..bitrix import BitrixClient
from ..jobs import PortalBusyElsewhere, lease, portal_job
from ..portals import Portal, portal_key
from ..queue import DEFAULT, enqueue, enqueue_once
from ..template.resolved import Resolved, field, resolve
from .totals import COMPANY_FIELDS, CONTACT_FIELDS, Gift, company_totals, donor_totals

log = logging.getLogger(__name__)
PIPELINES = ("B24_ONLINE", "B24_GENERAL")
DEAL_SELECT = ["ID", "CONTACT_ID", "COMPANY_ID", "OPPORTUNITY", "CURRENCY_ID", "BEGINDATE", "CLOSEDATE",
               "TYPE_ID", "CATEGORY_ID", field("B24_REFUNDED_SUM"), field("B24_TEST"),
               field("B24_D_RECEIVED")]  # fmt: skip
CONTACT_SELECT = ["ID", field("B24_SUBSCRIPTION"), *(field(f"B24_{c}") for c in CONTACT_FIELDS)]
COMPANY_SELECT = ["ID", *(field(f"B24_{c}") for c in COMPANY_FIELDS)]
BASE_TTL = 86400
TRUE = {"1", "Y", "y", "true", "True"}


def portal_today(portal: Portal) -> date:
    return datetime.now(portal_zone(portal)).date()


def portal_zone(portal: Portal) -> ZoneInfo:
    """The portal's time zone (setting ``timezone``, Europe/Moscow by default)."""
    try:
        return ZoneInfo(portal.settings.get("timezone") or "Europe/Moscow")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Moscow")


def base_currency(client: BitrixClient, redis: Redis, member_id: str) -> str:
    """The portal's base currency (``crm.currency.base.get``), remembered a day."""
    key = portal_key(member_id, "base-currency")
    if cached := redis.get(key):
        return cached.decode()
    base = str(client.call("crm.currency.base.get") or "RUB")
    redis.set(key, base, ex=BASE_TTL)
    return base


def gift_filter(resolved: Resolved) -> dict:
    return {"STAGE_ID": [resolved.stage(p, "WON") for p in PIPELINES]}


def money(value: Any) -> Decimal:
    """A portal amount ("500.00", "500|RUB", 500.5, "") as Decimal; 0 when empty or unreadable."""
    text = str(value if value is not None else "").split("|", 1)[0].strip()
    try:
        return Decimal(text) if text else Decimal("0")
    except InvalidOperation:
        return Decimal("0")


def day_of(value: Any, zone: ZoneInfo) -> date | None:
    """A portal date or date-time as the day it is in ``zone``; None when empty or unreadable."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(zone).date() if moment.tzinfo else moment.date()
    except (ValueError, OverflowError):  # year 1 or 9999 pushed past the calendar's edge
        return None


def gift_of(deal: dict, resolved: Resolved, zone: ZoneInfo) -> Gift | None:
    """The deal as a counted gift; None for a test payment or a deal without a day."""
    if str(deal.get(field("B24_TEST")) or "") in TRUE:
        return None
    general = str(deal.get("CATEGORY_ID")) == str(resolved.pipeline("B24_GENERAL"))
    dates = (deal.get(field("B24_D_RECEIVED")), deal.get("CLOSEDATE")) if general else ()
    day = next((d for d in (day_of(v, zone) for v in (*dates, deal.get("BEGINDATE"))) if d), None)
    if day is None:
        return None
    return Gift(deal_id=int(deal["ID"]),
                amount=money(deal.get("OPPORTUNITY")) - money(deal.get(field("B24_REFUNDED_SUM"))),
                currency=str(deal.get("CURRENCY_ID") or ""), day=day,
                contact_id=int(deal.get("CONTACT_ID") or 0) or None,
                company_id=int(deal.get("COMPANY_ID") or 0) or None,
                recurring=deal.get("TYPE_ID") == "B24_RECURRING")  # fmt: skip


def wire(entity: str, code: str, kind: str, value: Any, base: str, resolved: Resolved) -> str:
    """A computed value as the portal takes it ("" clears the field)."""
    if kind == "boolean":
        return "1" if value else "0"
    if value is None:
        return ""
    if kind == "money":
        return f"{value:.2f}|{base}"
    if kind == "date":
        return value.isoformat()
    if kind == "enumeration":
        return str(resolved.enum(entity, f"B24_{code}", value))
    return str(value)


def same(kind: str, stored: Any, wanted: str) -> bool:
    """Whether the portal's value already says what ``wanted`` (a ``wire`` value) says."""
    if kind == "boolean":
        return (str(stored or "") in TRUE) == (wanted == "1")
    text = "" if stored in (None, False) else str(stored).strip()
    if not text or not wanted:
        return text == wanted
    if kind == "money":
        have, _, currency = text.partition("|")
        want, _, want_currency = wanted.partition("|")
        return money(have) == Decimal(want) and currency in ("", want_currency)
    if kind == "date":
        return text[:10] == wanted
    if kind == "integer":
        return money(text) == Decimal(wanted)
    return text == wanted


def changes(entity: str, kinds: dict[str, str], record: dict, values: dict[str, Any], base: str,
            resolved: Resolved) -> dict[str, str]:  # fmt: skip
    """The fields of ``record`` whose portal value differs from the computed one."""
    out = {}
    for code, kind in kinds.items():
        name, wanted = field(f"B24_{code}"), wire(entity, code, kind, values[code], base, resolved)
        if not same(kind, record.get(name), wanted):
            out[name] = wanted
    return out


def subscription_of(contact: dict, resolved: Resolved) -> str:
    """The contact's subscription state code (ACTIVE, PAST_DUE, …) from its enumeration value id."""
    ids = resolved.enums.get(f"contact.{field('B24_SUBSCRIPTION')}", {})
    value = str(contact.get(field("B24_SUBSCRIPTION")) or "")
    return next((code for code, item in ids.items() if str(item) == value), "")


def contact_update(contact: dict, gifts: list[Gift], today: date, base: str,
                   resolved: Resolved) -> dict[str, str]:  # fmt: skip
    """What to write on a contact for its gifts ({} when it already says so)."""
    values = donor_totals(gifts, today, base, subscription_of(contact, resolved))
    return changes("contact", CONTACT_FIELDS, contact, values, base, resolved)


def company_update(
    company: dict, gifts: list[Gift], base: str, resolved: Resolved
) -> dict[str, str]:
    return changes("company", COMPANY_FIELDS, company, company_totals(gifts, base), base, resolved)


DONORS_PER_STEP = 45  # one read batch: a gift list per donor, plus their contacts and companies
SETTLE = 5.0  # seconds a changed donor waits, so that a burst of their gifts is counted once
SLICE = 10.0  # seconds of steps before the job gives its worker back
CLEAR_IF_SAME = """if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0"""


def dirty_key(member_id: str) -> str:
    return portal_key(member_id, "totals", "dirty")


def fresh_key(member_id: str) -> str:
    """Donors written by the changed-donors job since the portal's full recompute began: its writes,
    planned from older reads, leave them alone."""
    return portal_key(member_id, "totals", "fresh")


def donation_changed(redis: Redis, member_id: str, contact_id: Any) -> None:
    """A donor's gift succeeded, was refunded or changed its sum: their totals are recomputed within
    seconds, together with every other donor changed meanwhile (a few requests for many donors). One job
    per SETTLE window: a job already running never hides a later mark."""
    try:
        contact = int(contact_id or 0)
    except (TypeError, ValueError):
        return
    if contact > 0:
        redis.hincrby(dirty_key(member_id), str(contact), 1)
        window = int(time.time() // SETTLE)
        enqueue_once(redis, DEFAULT, f"totals-dirty-{member_id}-{window}", recompute_changed, member_id,
                     at=time.time() + SETTLE)  # fmt: skip


@portal_job
def recompute_changed(member_id: str) -> str:
    """Job: the changed donors' totals, DONORS_PER_STEP at a time, for up to SLICE seconds, one such job per
    portal at a time; a donor changed again while their step ran stays marked for the next step."""
    redis, client = context.redis(), context.client(member_id)
    done = 0
    try:
        with lease(member_id, "totals-donors"):
            deadline = time.monotonic() + SLICE
            while time.monotonic() < deadline and (batch := marked(redis, member_id)):
                refresh_donors(client, redis, member_id, [int(c) for c in batch])
                clear = redis.register_script(CLEAR_IF_SAME)
                for contact, mark in batch.items():
                    clear(keys=[dirty_key(member_id)], args=[contact, mark])
                done += len(batch)
    except PortalBusyElsewhere:
        pass  # the holder clears what it read; a look again below picks up the rest
    if redis.hlen(dirty_key(member_id)):
        enqueue(redis, DEFAULT, f"totals-dirty-{member_id}-more-{time.time_ns()}", recompute_changed,
                member_id, at=time.time() + SETTLE)  # fmt: skip
    return f"{done} donor(s) recomputed"


def marked(redis: Redis, member_id: str) -> dict[str, bytes]:
    """Up to DONORS_PER_STEP marked donors (lowest ids first) with their marks."""
    marks = {k.decode(): v for k, v in redis.hgetall(dirty_key(member_id)).items()}
    return {c: marks[c] for c in sorted(marks, key=int)[:DONORS_PER_STEP]}


def refresh_donors(
    client: BitrixClient, redis: Redis, member_id: str, contact_ids: list[int]
) -> int:
    """Bring up to DONORS_PER_STEP donors (and the companies of their gifts) up to date: one read batch
    (one more per DONORS_PER_STEP companies), one write batch when anything changed; returns the records
    updated."""
    portal = context.registry().require(member_id)
    resolved = resolve(portal, client, redis)
    base, zone, today = (
        base_currency(client, redis, member_id),
        portal_zone(portal),
        portal_today(portal),
    )
    gifts, contacts = owners_with_gifts(client, resolved, zone, "contact", contact_ids)
    writes = {}
    for contact in contacts:
        if fields := contact_update(contact, gifts[int(contact["ID"])], today, base, resolved):
            writes[f"c{contact['ID']}"] = (
                "crm.contact.update",
                {"id": int(contact["ID"]), "fields": fields},
            )
    companies = sorted({g.company_id for gs in gifts.values() for g in gs if g.company_id})
    for chunk in range(0, len(companies), DONORS_PER_STEP):
        ids = companies[chunk : chunk + DONORS_PER_STEP]
        by_company, rows = owners_with_gifts(client, resolved, zone, "company", ids)
        for company in rows:
            if fields := company_update(company, by_company[int(company["ID"])], base, resolved):
                writes[f"k{company['ID']}"] = (
                    "crm.company.update",
                    {"id": int(company["ID"]), "fields": fields},
                )
    if writes:
        client.batch(writes).raise_errors()
        redis.pipeline().sadd(fresh_key(member_id), *writes).expire(
            fresh_key(member_id), BASE_TTL
        ).execute()
    return len(writes)


def owners_with_gifts(client: BitrixClient, resolved: Resolved, zone: ZoneInfo, entity: str,
                      ids: list[int]) -> tuple[dict[int, list[Gift]], list[dict]]:  # fmt: skip
    """Each contact's or company's gifts and its record (our fields), in one batch; an owner with more
    than a page of gifts is listed in full afterwards."""
    owner, select = (
        ("CONTACT_ID", CONTACT_SELECT) if entity == "contact" else ("COMPANY_ID", COMPANY_SELECT)
    )
    commands = {str(i): ("crm.deal.list", {"filter": {**gift_filter(resolved), owner: i},
                                           "select": DEAL_SELECT, "order": {"ID": "ASC"}}) for i in ids}  # fmt: skip
    commands["records"] = (f"crm.{entity}.list", {"filter": {"ID": ids}, "select": select})
    out = client.batch(commands).raise_errors()
    found: dict[int, list[Gift]] = {}
    for i in ids:
        deals = out.result.get(str(i)) or []
        if int(out.total.get(str(i)) or 0) > len(deals):
            deals = client.list_all("crm.deal.list", {"filter": {**gift_filter(resolved), owner: i},
                                                      "select": DEAL_SELECT})  # fmt: skip
        found[i] = [g for g in (gift_of(d, resolved, zone) for d in deals) if g]
    return found, out.result.get("records") or []


def as_json(gift: Gift) -> list:
    return [gift.deal_id, f"{gift.amount:f}", gift.currency, gift.day.isoformat(), gift.contact_id,
            gift.company_id, gift.recurring]  # fmt: skip


def gift_from_json(row: list) -> Gift:
    deal, amount, currency, day, contact, company, recurring = row
    return Gift(
        deal, Decimal(amount), currency, date.fromisoformat(day), contact, company, recurring
    )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
