"""Donor events into letters: the listener notes what became due and queues the donor's letter job on
the urgent queue; the job sends at most one letter per donor per day by the priority rule (see the
package docstring), each letter once per (donation or card, kind), and keeps the deal's «Статус
благодарности» true.

Per donor, Redis holds the letters due (``due``), each letter's outcome (``once``: sending / sent /
collapsed / failed / dropped), and the day and kind of the last letter sent (``day``). A letter whose
channel answer was lost is not blindly re-sent through Bitrix24: its activity is looked up by
ORIGIN_ID first (SMTP and Unisender cannot be asked, so there a lost answer may mean a second copy,
carrying the same Message-ID).
"""

import json
import logging
import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from redis import Redis

from .. import activity, context, metrics
from ..bitrix import BitrixClient
from ..donations.events import DonorEvent, Kind
from ..donations.rollup import portal_zone
from ..i18n import gettext_in, portal_language
from ..jobs import lease, portal_job
from ..portals import Portal, portal_key
from ..queue import URGENT, enqueue_once
from ..template.resolved import Resolved, field, resolve
from . import COLLAPSIBLE, SEND_HOUR, THANKING, Letter, rank
from .channels import LetterRefused, Outgoing, already_sent_by_bitrix24, channel_of, send
from .render import Facts, render, variables
from .store import language, template_of
from .unsubscribe import opted_out, unsubscribe_url

log = logging.getLogger(__name__)
KEEP = 400 * 86400  # a letter's outcome is kept far longer than any sender retries a delivery
LOCK_WAIT = 30
KEPT = 20  # recent letters and failures the app page lists
PIPELINE = "B24_ONLINE"


def key(member_id: str, *parts: object) -> str:
    return portal_key(member_id, "letters", *(str(p) for p in parts))


# --- the listener ---------------------------------------------------------------------------------


def slot_of(event: DonorEvent) -> str | None:
    """What letter slot an event opens (None: it asks for no letter)."""
    if event.kind is Kind.DONATION:
        return {"succeeded": "gift", "failed": "failed", "refunded": "refund"}.get(event.status)
    if event.kind is Kind.SUBSCRIPTION:
        return "subscription_ended" if event.status in ("Cancelled", "Rejected") else None
    return {Kind.CARD_EXPIRING: "card_expiring", Kind.LAPSED: "lapsed"}.get(event.kind)


def letter_id(event: DonorEvent, slot: str) -> str:
    """Once per (donation or card, kind): the slot and the event's key (a subscription's status too)."""
    return f"{slot}:{event.key}" + (f":{event.status}" if event.kind is Kind.SUBSCRIPTION else "")


def on_donor_event(member_id: str, event: DonorEvent) -> None:
    """Listener: note the letter the event makes due and queue the donor's letter job (quick, idempotent by
    the event's kind, key and status)."""
    slot = slot_of(event)
    gift = event.donation
    if slot is None or not event.contact_id or (gift and (gift.test or gift.correction)):
        return
    redis, lid = context.redis(), letter_id(event, slot)
    if gift and gift.status == "succeeded":
        remember_sample(redis, member_id, event)
    if redis.exists(key(member_id, "once", event.contact_id, lid)) or not letters_on(member_id):
        return
    entry = {"slot": slot, "key": event.key, "status": event.status, "deal_id": event.deal_id,
             "donation": gift.model_dump(mode="json") if gift else None,
             "subscription": event.subscription.model_dump(mode="json") if event.subscription else None,
             "at": event.at.isoformat(), "due": 0}  # fmt: skip
    due = key(member_id, "due", event.contact_id)
    redis.pipeline().hsetnx(due, lid, json.dumps(entry)).expire(due, KEEP).execute()
    enqueue_once(redis, URGENT, f"letters-{member_id}-{event.contact_id}-{abs(hash_of(lid))}", send_letters,
                 member_id, event.contact_id)  # fmt: skip


def letters_on(member_id: str) -> bool:
    """Letters are on once the fund has named its sender (every channel sends from it)."""
    portal = context.registry().get(member_id)
    return bool(portal and portal.settings.get("letter_sender"))


def hash_of(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def remember_sample(redis: Redis, member_id: str, event: DonorEvent) -> None:
    """The latest real donation, for the template editor's preview and the test letter."""
    sample = {"contact_id": event.contact_id, "deal_id": event.deal_id,
              "donation": event.donation.model_dump(mode="json")}  # fmt: skip
    redis.set(key(member_id, "sample"), json.dumps(sample), ex=KEEP)


# --- the donor's letter job -----------------------------------------------------------------------


@portal_job
def send_letters(member_id: str, contact_id: int) -> str:
    """Job: the letters due for one donor today: the highest by the priority rule goes, the rest are
    collapsed or deferred to the next morning; returns what happened."""
    redis = context.redis()
    with lease(member_id, f"letters:{contact_id}", wait=LOCK_WAIT):
        due = due_now(redis, member_id, contact_id)
        if not due:
            return "nothing due"
        portal = context.registry().require(member_id)
        client = context.client(member_id)
        resolved = resolve(portal, client, redis)
        donor, deals, firsts = read_donor(client, resolved, contact_id, due)
        plans = [
            (lid, entry, kind_of(entry, deals, firsts, resolved)) for lid, entry in due.items()
        ]
        outcomes = [
            drop(redis, member_id, contact_id, lid, "superseded")
            for lid, _, k in plans
            if k is None
        ]
        plans = sorted(
            ((lid, e, k) for lid, e, k in plans if k is not None), key=lambda p: rank(p[2])
        )
        why_not = reason_not_to_write(redis, member_id, contact_id, donor)
        if why_not:
            return "; ".join(
                outcomes + [drop(redis, member_id, contact_id, lid, why_not) for lid, _, _ in plans]
            )
        return "; ".join(outcomes + cap(redis, portal, client, resolved, donor, deals, plans))


def due_now(redis: Redis, member_id: str, contact_id: int) -> dict[str, dict]:
    """The donor's letters due by now (a deferred one waits for its morning)."""
    raw = redis.hgetall(key(member_id, "due", contact_id))
    entries = {k.decode(): json.loads(v) for k, v in raw.items()}
    return {lid: e for lid, e in entries.items() if e.get("due", 0) <= time.time()}


def read_donor(client: BitrixClient, resolved: Resolved, contact_id: int, due: dict[str, dict]):
    """The donor, the deals the letters are about, and the ids of the first successful gift and the first
    successful recurring gift: one batch."""
    category = resolved.pipeline(PIPELINE)
    success = [resolved.stage(PIPELINE, s) for s in ("WON", "B24_REFUNDED")]
    deal_ids = sorted({int(e["deal_id"]) for e in due.values() if e.get("deal_id")})
    commands = {
        "contact": ("crm.contact.get", {"id": contact_id}),
        "won": ("crm.deal.list", {"filter": {"CONTACT_ID": contact_id, "CATEGORY_ID": category, "STAGE_ID": success},
                                  "select": ["ID", "TYPE_ID", "BEGINDATE", field("B24_TEST")],
                                  "order": {"BEGINDATE": "ASC", "ID": "ASC"}}),
    }  # fmt: skip
    if deal_ids:
        commands["deals"] = ("crm.deal.list", {"filter": {"ID": deal_ids},
                                               "select": ["ID", "STAGE_ID", "TYPE_ID", "OPPORTUNITY", "CURRENCY_ID", field("B24_THANKS"), field("B24_CARD_MASK")]})  # fmt: skip
    out = client.batch(commands).raise_errors().result
    won = [d for d in out.get("won") or [] if not d.get(field("B24_TEST"))]
    firsts = {
        "any": first_id(won),
        "recurring": first_id(d for d in won if d.get("TYPE_ID") == "B24_RECURRING"),
    }
    return out["contact"], {int(d["ID"]): d for d in out.get("deals") or []}, firsts


def first_id(deals) -> int | None:
    return next((int(d["ID"]) for d in deals), None)


def kind_of(entry: dict, deals: dict[int, dict], firsts: dict, resolved: Resolved) -> Letter | None:
    """The letter a due entry is now (None: superseded, e.g. a failure of a payment that went through)."""
    slot, deal_id = entry["slot"], entry.get("deal_id")
    deal = deals.get(int(deal_id)) if deal_id else None
    stage = str((deal or {}).get("STAGE_ID", "")).partition(":")[2]
    recurring = (
        bool((entry.get("donation") or {}).get("recurring"))
        or (deal or {}).get("TYPE_ID") == "B24_RECURRING"
    )
    if slot == "gift":
        if deal is None or stage != "WON":
            return None
        if firsts["any"] == int(deal_id):
            return Letter.WELCOME_RECURRING if recurring else Letter.WELCOME_ONE_TIME
        return (
            Letter.WELCOME_RECURRING
            if recurring and firsts["recurring"] == int(deal_id)
            else Letter.THANKS_AGAIN
        )
    if slot == "failed":
        if deal is not None and stage != "LOSE":
            return None
        return Letter.FAILED_RECURRING if recurring else Letter.FAILED_ONE_TIME
    return Letter(slot) if slot != "refund" else Letter.REFUND


def reason_not_to_write(redis: Redis, member_id: str, contact_id: int, donor: dict) -> str:
    """Why no letter may go to this donor ("" if one may)."""
    if str(donor.get(field("B24_NO_EMAIL")) or "") in ("1", "Y", "True", "true") or opted_out(
        redis, member_id, contact_id
    ):
        return "do not e-mail"
    return "" if email_of(donor) else "no e-mail address"


def email_of(donor: dict) -> str:
    return next(
        (str(e.get("VALUE") or "") for e in donor.get("EMAIL") or [] if "@" in str(e.get("VALUE"))),
        "",
    )


def cap(redis: Redis, portal: Portal, client: BitrixClient, resolved: Resolved, donor: dict,
        deals: dict[int, dict], plans: list) -> list[str]:  # fmt: skip
    """One letter a day: the first of ``plans`` (sorted by the rule) goes unless one went today; the rest
    are collapsed into a thanking letter of the day, or deferred to the next morning."""
    member_id, contact_id = portal.member_id, int(donor["ID"])
    zone = portal_zone(portal)
    today = datetime.now(zone).date().isoformat()
    day, _, sent_kind = (
        (redis.get(key(member_id, "day", contact_id)) or b"").decode().partition(" ")
    )
    outcomes = []
    for lid, entry, kind in plans:
        if day != today:
            outcomes.append(
                deliver(redis, portal, client, resolved, donor, deals, lid, entry, kind)
            )
            if redis.get(key(member_id, "once", contact_id, lid)) == b"sent":
                day, sent_kind = today, kind
            continue
        if kind in COLLAPSIBLE and sent_kind in THANKING:
            mark_thanks(client, resolved, deals, entry, "THANKED")
            outcomes.append(
                drop(redis, member_id, contact_id, lid, f"collapsed into today's {sent_kind}")
            )
        else:
            outcomes.append(defer(redis, portal, contact_id, lid, entry))
    return outcomes


def defer(redis: Redis, portal: Portal, contact_id: int, lid: str, entry: dict) -> str:
    """The letter waits for the next day, SEND_HOUR in the portal's time zone, and a job then."""
    zone = portal_zone(portal)
    morning = datetime.combine(
        datetime.now(zone).date() + timedelta(days=1), datetime.min.time(), zone
    )
    at = morning.replace(hour=SEND_HOUR).timestamp()
    redis.hset(key(portal.member_id, "due", contact_id), lid, json.dumps({**entry, "due": at}))
    enqueue_once(redis, URGENT, f"letters-{portal.member_id}-{contact_id}-at-{int(at)}", send_letters,
                 portal.member_id, contact_id, at=at)  # fmt: skip
    return f"{lid} deferred to {morning.date()}"


def drop(redis: Redis, member_id: str, contact_id: int, lid: str, why: str) -> str:
    """The letter will not go: its outcome kept (so a repeated event does not bring it back)."""
    redis.set(key(member_id, "once", contact_id, lid), why, ex=KEEP)
    redis.hdel(key(member_id, "due", contact_id), lid)
    return f"{lid} {why}"


def facts_of(entry: dict, donor: dict, deal: dict | None = None) -> Facts:
    """What the letter says, from the event's donation or subscription (else its deal: the daily jobs'
    events carry none) and the donor's names."""
    gift, sub, slot = entry.get("donation") or {}, entry.get("subscription") or {}, entry["slot"]
    deal = deal or {}
    if not gift and deal:
        gift = {"amount": deal.get("OPPORTUNITY"), "currency": deal.get("CURRENCY_ID"),
                "card_mask": deal.get(field("B24_CARD_MASK")) or ""}  # fmt: skip
    amount = Decimal(str(gift.get("amount") or sub.get("amount") or "0"))
    if slot == "refund" and Decimal(str(gift.get("refunded") or "0")) > 0:
        amount = Decimal(str(gift["refunded"]))
    expires = gift.get("card_expires", "")
    if slot == "card_expiring" and not expires:
        expires = entry["key"][-5:]  # the card's key ends with its expiry MM/YY
    at = datetime.fromisoformat(gift.get("at") or entry["at"])
    if slot == "lapsed" and re.search(r"\d{4}-\d{2}-\d{2}$", entry["key"]):
        at = date.fromisoformat(
            entry["key"][-10:]
        )  # the lapse's key ends with the last charge's date
    return Facts(first_name=donor.get("NAME") or gift.get("first_name", ""),
                 last_name=donor.get("LAST_NAME") or gift.get("last_name", ""), amount=amount,
                 currency=gift.get("currency") or sub.get("currency") or "RUB",
                 at=at, purpose=gift.get("purpose", ""),
                 card_mask=gift.get("card_mask", ""), card_expires=expires, fail_reason=gift.get("fail_reason", ""),
                 subscription_status=entry.get("status", ""))  # fmt: skip


def compose(portal: Portal, kind: Letter, facts: Facts, contact_id: int | None, to_email: str,
            uid: str, templates: dict | None = None) -> Outgoing:  # fmt: skip
    """The letter from the portal's template (or ``templates``, for a preview) in its language."""
    lang = language(portal)
    url = unsubscribe_url(portal.member_id, contact_id) if contact_id else ""
    values = variables(facts, lang, sender_name(portal.settings), url)
    rendered = render(kind, templates or template_of(portal.member_id, kind), lang, values)
    name = " ".join(filter(None, [facts.first_name, facts.last_name]))
    return Outgoing(
        uid, to_email, name, rendered.subject, rendered.text, rendered.html, contact_id, url
    )


def sender_name(settings: dict) -> str:
    from email.utils import parseaddr

    name, address = parseaddr(settings.get("letter_sender") or "")
    return name or address


def deliver(redis: Redis, portal: Portal, client: BitrixClient, resolved: Resolved, donor: dict,
            deals: dict[int, dict], lid: str, entry: dict, kind: Letter) -> str:  # fmt: skip
    """Send one letter once; a refusal is kept for the app page and the deal's timeline."""
    member_id, contact_id = portal.member_id, int(donor["ID"])
    once = key(member_id, "once", contact_id, lid)
    uid = f"b24-{member_id[:8]}-{contact_id}-{hash_of(lid):08x}"
    if not redis.set(once, "sending", nx=True, ex=KEEP):
        state = (redis.get(once) or b"").decode()
        if state != "sending":
            redis.hdel(key(member_id, "due", contact_id), lid)
            return f"{lid} already {state}"
        if channel_of(portal.settings) == "bitrix24" and already_sent_by_bitrix24(client, uid):
            return finish(
                redis, portal, client, resolved, deals, contact_id, lid, entry, kind, "sent (found)"
            )
        if (
            channel_of(portal.settings) != "bitrix24"
        ):  # SMTP and Unisender cannot be asked whether it went
            return refused(redis, portal, client, entry, contact_id, lid, kind,
                           "ответ сервера потерян, письмо не отправлено повторно / the server's answer was "
                           "lost; not sent again, so the donor may or may not have it")  # fmt: skip
    deal = deals.get(int(entry["deal_id"])) if entry.get("deal_id") else None
    letter = compose(portal, kind, facts_of(entry, donor, deal), contact_id, email_of(donor), uid)
    try:
        send(portal.settings, letter, client)
    except LetterRefused as exc:
        return refused(redis, portal, client, entry, contact_id, lid, kind, str(exc))
    # letters go again: a new failure is told again
    activity.clear(redis, member_id, "letters_failing")
    return finish(redis, portal, client, resolved, deals, contact_id, lid, entry, kind, "sent")


def finish(redis: Redis, portal: Portal, client: BitrixClient, resolved: Resolved, deals: dict[int, dict],
           contact_id: int, lid: str, entry: dict, kind: Letter, outcome: str) -> str:  # fmt: skip
    """A sent letter: its outcome, the donor's day, the deal's thanks status, the page's recent list."""
    member_id = portal.member_id
    today = datetime.now(portal_zone(portal)).date().isoformat()
    redis.pipeline().set(key(member_id, "once", contact_id, lid), "sent", ex=KEEP).set(
        key(member_id, "day", contact_id), f"{today} {kind}", ex=3 * 86400).hdel(
        key(member_id, "due", contact_id), lid).execute()  # fmt: skip
    mark_thanks(client, resolved, deals, entry, "THANKED" if kind in THANKING else "NO_THANKS"
                if kind in (Letter.FAILED_ONE_TIME, Letter.FAILED_RECURRING, Letter.REFUND) else "")  # fmt: skip
    note(redis, member_id, "recent", {"kind": kind, "contact_id": contact_id, "deal_id": entry.get("deal_id"),
                                      "channel": channel_of(portal.settings)})  # fmt: skip
    metrics.add(
        redis, metrics.LETTERS, channel=channel_of(portal.settings), kind=kind, outcome="sent"
    )
    log.info("portal %s: letter %s to contact %s %s", member_id, kind, contact_id, outcome)
    return f"{lid} {outcome} as {kind}"


def mark_thanks(
    client: BitrixClient, resolved: Resolved, deals: dict[int, dict], entry: dict, choice: str
) -> None:
    """The deal's «Статус благодарности» set to ``choice`` unless it already says so."""
    deal = deals.get(int(entry["deal_id"])) if entry.get("deal_id") and choice else None
    if deal is None:
        return
    value = resolved.enum("deal", "B24_THANKS", choice)
    if str(deal.get(field("B24_THANKS")) or "") != str(value):
        client.call(
            "crm.deal.update", {"id": int(deal["ID"]), "fields": {field("B24_THANKS"): value}}
        )
        deal[field("B24_THANKS")] = str(value)


def refused(redis: Redis, portal: Portal, client: BitrixClient, entry: dict, contact_id: int, lid: str,
            kind: Letter, reason: str) -> str:  # fmt: skip
    """A permanent failure: kept (not lost: the page lists it), written on the deal's (or donor's) timeline."""
    member_id = portal.member_id
    redis.set(key(member_id, "once", contact_id, lid), "failed", ex=KEEP)
    redis.hdel(key(member_id, "due", contact_id), lid)
    note(redis, member_id, "failures", {"kind": kind, "contact_id": contact_id, "deal_id": entry.get("deal_id"),
                                        "reason": reason[:500], "letter": lid})  # fmt: skip
    language = portal_language(portal)
    activity.alert(redis, client, member_id, language, "letters_failing", reason=reason[:200])
    owner = ("deal", entry["deal_id"]) if entry.get("deal_id") else ("contact", contact_id)
    text = gettext_in(
        language, "Donor letter «%(kind)s» not sent: %(reason)s", kind=kind, reason=reason
    )
    client.call("crm.timeline.comment.add", {"fields": {"ENTITY_TYPE": owner[0], "ENTITY_ID": int(owner[1]),
                                                        "COMMENT": text}})  # fmt: skip
    metrics.add(
        redis, metrics.LETTERS, channel=channel_of(portal.settings), kind=kind, outcome="failed"
    )
    log.warning(
        "portal %s: letter %s to contact %s refused: %s", member_id, kind, contact_id, reason
    )
    return f"{lid} failed: {reason}"


def note(redis: Redis, member_id: str, what: str, entry: dict) -> None:
    k = key(member_id, what)
    redis.pipeline().lpush(k, json.dumps({**entry, "at": time.time()}, ensure_ascii=False)).ltrim(
        k, 0, KEPT - 1).expire(k, KEEP).execute()  # fmt: skip


def listed(member_id: str, what: str) -> list[dict]:
    """The latest ``recent`` letters or ``failures``, newest first."""
    return [json.loads(r) for r in context.redis().lrange(key(member_id, what), 0, -1)]


def sweep(redis: Redis, member_id: str) -> int:
    """Queue the letter job of every donor with letters still due (the nightly safety net: a letter whose
    job ran out of retries is never lost); returns how many."""
    pattern = key(member_id, "due", "*")
    donors = {int(k.decode().rsplit(":", 1)[1]) for k in redis.scan_iter(pattern, count=500)}
    for contact_id in donors:
        enqueue_once(
            redis,
            URGENT,
            f"letters-sweep-{member_id}-{contact_id}",
            send_letters,
            member_id,
            contact_id,
        )
    return len(donors)
