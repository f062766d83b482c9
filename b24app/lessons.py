"""Lesson reminders (product.md C7): the schedule of an enrolment and its reminders, sent exactly once.

An enrolment is a deal in «Обучение»; its course is the product in its product rows; the lessons' start
times are the deal's own «Даты занятий» when filled, else the course's multiple date-time property
«Даты занятий». A value without a zone is read in the portal's time zone (setting ``timezone``,
Europe/Moscow by default); every time is kept in UTC and a reminder is due at the lesson's instant minus
the offset (never wall-clock arithmetic, so a DST change between the two cannot shift it).

Per deal, Redis holds a hash of reminders keyed by a deterministic id per (deal, lesson time) — so a
second robot run creates nothing already there — each with its state: pending → sending → sent, or
cancelled (the lesson moved, the deal left the active stages) or skipped (the re-check at the due time
said no). Each pending reminder is an RQ job scheduled at its due time (``enqueue_at``: the scheduled
registry lives in Redis and survives scheduler restarts). The state goes to "sending" atomically
before the letter leaves; a job that finds "sending" (its worker was killed mid-send, or an answer was
lost) looks the letter up by its ORIGIN_ID in the portal (channel ``bitrix24``) and never sends blindly
again (SMTP and Unisender cannot be asked: such a reminder is recorded as failed, as donor letters are).
The letter and the deal's timeline comment go in one batch request.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from . import context, metrics
from .bitrix import BitrixClient, BitrixError, NotFound
from .donations.rollup import portal_zone
from .jobs import portal_job
from .letters import Letter
from .letters.channels import (
    LetterRefused,
    activity_fields,
    already_sent_by_bitrix24,
    channel_of,
    refusal,
    send,
)
from .letters.render import Facts
from .letters.send import compose, email_of
from .letters.unsubscribe import opted_out
from .portals import Portal, portal_key
from .queue import URGENT, enqueue, enqueue_once
from .template.resolved import Resolved, field, resolve

log = logging.getLogger(__name__)
PIPELINE = "B24_LEARNING"
ACTIVE = ("B24_ENROLLED", "B24_STUDYING")  # «Записан», «Обучается»
PROPERTY = "B24_LESSON_DATES"
KEEP = 400 * 86400
DEFAULT_OFFSET = 2  # hours
LATE = (
    60  # seconds past due after which the nightly reconcile queues a pending reminder's job again
)
MARK_SENDING = """local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 'gone' end
local entry = cjson.decode(raw)
if entry.state ~= 'pending' then return entry.state end
entry.state = 'sending'
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
return 'pending'"""


def key(member_id: str, *parts: object) -> str:
    return portal_key(member_id, "lessons", *(str(p) for p in parts))


@dataclass(frozen=True)
class Enrolment:
    """A deal of «Обучение» as the reminders need it: stage, contact, course and lesson times (UTC)."""

    deal_id: int
    active: bool
    contact: dict
    course: str
    product_id: int
    lessons: tuple[datetime, ...]


def parse_time(value: object, zone: ZoneInfo) -> datetime | None:
    """A Bitrix24 date-time (ISO 8601, or «10.12.2026 18:00[:00]») in UTC; no zone: the portal's."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = next(
            (m for f in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M") if (m := _strp(text, f))), None
        )
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)  # fold=0: an ambiguous wall time is its first instant
    return moment.astimezone(UTC)


def _strp(text: str, fmt: str) -> datetime | None:
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        return None


def values_of(raw: object) -> list:
    """A multiple field's or product property's values as a flat list ({value: …} items unwrapped)."""
    items = raw if isinstance(raw, list) else list(raw.values()) if isinstance(raw, dict) and not (
        {"value", "VALUE"} & set(raw)) else [raw]  # fmt: skip
    return [i.get("value", i.get("VALUE")) if isinstance(i, dict) else i for i in items if i]


def read_enrolment(
    client: BitrixClient, resolved: Resolved, zone: ZoneInfo, deal_id: int
) -> Enrolment | None:
    """The deal, its course, the course's property list and the contact in one batch; None: no deal."""
    out = client.batch({
        "deal": ("crm.deal.get", {"id": deal_id}),
        "rows": ("crm.deal.productrows.get", {"id": deal_id}),
        "props": ("crm.product.property.list", {}),
        "product": ("crm.product.get", {"id": "$result[rows][0][PRODUCT_ID]"}),
        "contact": ("crm.contact.get", {"id": "$result[deal][CONTACT_ID]"}),
    })  # fmt: skip
    deal = out.result.get("deal")
    if not deal:
        if isinstance(out.errors.get("deal"), NotFound | None):
            return None
        raise out.errors["deal"]
    product = out.result.get("product") or {}
    props = {str(p.get("ID")) for p in out.result.get("props") or [] if p.get("CODE") == PROPERTY}
    own = values_of(deal.get(field("B24_LESSON_DATES")))
    course = [v for p in props for v in values_of(product.get(f"PROPERTY_{p}"))]
    times = sorted({t for t in (parse_time(v, zone) for v in (own or course)) if t})
    active = str(deal.get("CATEGORY_ID")) == str(resolved.pipeline(PIPELINE)) and deal.get(
        "STAGE_ID") in {resolved.stage(PIPELINE, s) for s in ACTIVE}  # fmt: skip
    return Enrolment(deal_id, active, out.result.get("contact") or {}, str(product.get("NAME") or ""),
                     int(product.get("ID") or 0), tuple(times))  # fmt: skip


def reminder_id(deal_id: int, lesson: datetime) -> str:
    """Deterministic per (deal, lesson time)."""
    return f"{deal_id}-{int(lesson.timestamp())}"


def reminders(redis: Redis, member_id: str, deal_id: int) -> dict[str, dict]:
    return {
        k.decode(): json.loads(v) for k, v in redis.hgetall(key(member_id, "deal", deal_id)).items()
    }


# --- scheduling -----------------------------------------------------------------------------------


def schedule_lesson_reminders(member_id: str, deal_id: int, offset_hours: float = DEFAULT_OFFSET,
                              template: str = Letter.LESSON_REMINDER, by: str = "") -> tuple[int, str]:  # fmt: skip
    """Reminders for the deal's future lessons (kept as the deal's settings for later changes); returns
    (how many ``by`` created, one going at once included; the next one still to come, ISO 8601 in the
    portal's zone, or "")."""
    redis = context.redis()
    redis.hset(
        key(member_id, "settings"),
        str(deal_id),
        json.dumps({"offset": float(offset_hours), "template": str(template)}),
    )
    return replan(member_id, deal_id, by)


def replan(member_id: str, deal_id: int, by: str = "") -> tuple[int, str]:
    """Bring the deal's reminders to its current schedule: new lessons get one, moved or dropped lessons
    (or a deal out of the active stages) have their pending ones cancelled."""
    redis, portal = context.redis(), context.registry().require(member_id)
    raw = redis.hget(key(member_id, "settings"), str(deal_id))
    if raw is None:
        return 0, ""
    settings = json.loads(raw)
    client = context.client(member_id)
    enrolment = read_enrolment(client, resolve(portal, client, redis), portal_zone(portal), deal_id)
    return plan(redis, portal, deal_id, enrolment, settings, by)


def plan(redis: Redis, portal: Portal, deal_id: int, enrolment: Enrolment | None, settings: dict,
         by: str) -> tuple[int, str]:  # fmt: skip
    """Reconcile the stored reminders of one deal with its enrolment (under the deal's lock)."""
    member_id, now = portal.member_id, time.time()
    offset = timedelta(hours=float(settings.get("offset", DEFAULT_OFFSET)))
    wanted = {}
    if enrolment is not None and enrolment.active:
        wanted = {reminder_id(deal_id, t): t for t in enrolment.lessons if t.timestamp() > now}
    hash_key = key(member_id, "deal", deal_id)
    with redis.lock(key(member_id, "lock", deal_id), timeout=30, blocking_timeout=30):
        existing = reminders(redis, member_id, deal_id)
        pipe = redis.pipeline()
        for rid, entry in existing.items():
            if entry["state"] == "pending" and rid not in wanted:
                pipe.hset(hash_key, rid, json.dumps({**entry, "state": "cancelled"}))
        fresh = []
        for rid, lesson in sorted(wanted.items(), key=lambda kv: kv[1]):
            if rid in existing and existing[rid]["state"] != "cancelled":
                continue
            due = max((lesson - offset).timestamp(), now)
            entry = {"rid": rid, "deal_id": deal_id, "lesson": lesson.isoformat(), "due": due, "state": "pending",
                     "by": by, "template": settings.get("template") or Letter.LESSON_REMINDER}  # fmt: skip
            pipe.hset(hash_key, rid, json.dumps(entry))
            existing[rid] = entry
            fresh.append(entry)
        pipe.expire(hash_key, KEEP)
        pipe.sadd(key(member_id, "deals"), deal_id)
        if enrolment is not None and enrolment.product_id:
            pipe.sadd(key(member_id, "course", enrolment.product_id), deal_id)
        pipe.execute()
    for entry in fresh:
        queue_reminder(redis, member_id, entry)
    pending = [e["due"] for e in existing.values()
               if e["state"] == "pending" and e["rid"] in wanted and e["due"] > now]  # fmt: skip
    created = sum(1 for e in existing.values() if by and e.get("by") == by and e["rid"] in wanted)
    zone = portal_zone(portal)
    next_at = (
        datetime.fromtimestamp(min(pending), zone).isoformat(timespec="seconds") if pending else ""
    )
    return created, next_at


def queue_reminder(redis: Redis, member_id: str, entry: dict) -> None:
    """The reminder's job at its due time (at once when due already)."""
    due = entry["due"]
    at = due if due > time.time() + 0.5 else None
    job_id = f"reminder-{member_id}-{entry['rid']}"
    enqueue_once(
        redis, URGENT, job_id, send_reminder, member_id, entry["deal_id"], entry["rid"], at=at
    )


# --- changes --------------------------------------------------------------------------------------


def on_product_update(member_id: str, product_id: int) -> int:
    """A course's lesson times may have changed: re-plan its deals (a job each); returns how many."""
    redis = context.redis()
    deals = [int(d) for d in redis.smembers(key(member_id, "course", product_id))]
    for deal_id in deals:
        queue_replan(redis, member_id, deal_id)
    return len(deals)


def on_deal_update(member_id: str, deal_id: int) -> bool:
    """A deal with reminders changed (stage, own lesson dates, course): re-plan it; False when it has none."""
    redis = context.redis()
    if not redis.sismember(key(member_id, "deals"), deal_id):
        return False
    queue_replan(redis, member_id, deal_id)
    return True


def queue_replan(redis: Redis, member_id: str, deal_id: int) -> None:
    enqueue(redis, URGENT, f"lessons-replan-{member_id}-{deal_id}-{time.time_ns()}", replan_job, member_id,
            deal_id)  # fmt: skip


@portal_job
def replan_job(member_id: str, deal_id: int) -> str:
    """Job: the deal's reminders brought to its schedule."""
    _, next_at = replan(member_id, deal_id)
    return f"deal {deal_id}: next reminder {next_at or 'none'}"


@portal_job
def reconcile_reminders(member_id: str) -> str:
    """Nightly job: every deal with reminders re-planned (Bitrix24 never repeats a lost event), and a
    pending reminder whose job is gone (past due) queued again."""
    redis = context.redis()
    deals = [int(d) for d in redis.smembers(key(member_id, "deals"))]
    late = 0
    for deal_id in deals:
        stored = reminders(redis, member_id, deal_id)
        if not any(e["state"] in ("pending", "sending") for e in stored.values()):
            redis.srem(key(member_id, "deals"), deal_id)
            continue
        replan(member_id, deal_id)
        for entry in reminders(redis, member_id, deal_id).values():
            if entry["state"] == "pending" and entry["due"] < time.time() - LATE:
                queue_reminder(redis, member_id, entry)
                late += 1
    return f"{len(deals)} deals re-planned, {late} late reminders queued again"


# --- sending --------------------------------------------------------------------------------------


@portal_job
def send_reminder(member_id: str, deal_id: int, rid: str) -> str:
    """Job at the due time: re-check, then the letter and the deal's timeline comment, exactly once."""
    redis = context.redis()
    raw = redis.hget(key(member_id, "deal", deal_id), rid)
    entry = json.loads(raw) if raw else None
    if entry is None or entry["state"] not in ("pending", "sending"):
        return f"{rid}: {entry['state'] if entry else 'gone'}"
    portal = context.registry().require(member_id)
    client = context.client(member_id)
    zone = portal_zone(portal)
    enrolment = read_enrolment(client, resolve(portal, client, redis), zone, deal_id)
    lesson = datetime.fromisoformat(entry["lesson"])
    why = why_not(redis, member_id, enrolment, lesson)
    if why:
        return finish(redis, member_id, entry, "skipped", why)
    was = redis.eval(MARK_SENDING, 1, key(member_id, "deal", deal_id), rid)
    was = was.decode() if isinstance(was, bytes) else str(was)
    if was not in ("pending", "sending"):
        return f"{rid}: {was}"
    return deliver(
        redis, portal, client, enrolment, entry, lesson.astimezone(zone), resend=was == "sending"
    )


def why_not(redis: Redis, member_id: str, enrolment: Enrolment | None, lesson: datetime) -> str:
    """Why the reminder may not go now ("" when it may)."""
    if enrolment is None or not enrolment.active:
        return "the deal is not in an active stage of «Обучение»"
    if lesson not in enrolment.lessons:
        return "the lesson no longer starts at this time"
    if lesson.timestamp() <= time.time():
        return "the lesson has started"
    contact = enrolment.contact
    if not contact.get("ID"):
        return "the deal has no contact"
    if str(contact.get(field("B24_NO_EMAIL")) or "") in ("1", "Y", "True", "true") or opted_out(
        redis, member_id, int(contact["ID"])
    ):
        return "do not e-mail"
    return "" if email_of(contact) else "no e-mail address"


def deliver(redis: Redis, portal: Portal, client: BitrixClient, enrolment: Enrolment, entry: dict,
            lesson: datetime, resend: bool) -> str:  # fmt: skip
    """The letter and the comment; ``resend``: an earlier attempt may have sent it (never sent blindly)."""
    contact, channel = enrolment.contact, channel_of(portal.settings)
    uid = f"b24-{portal.member_id[:8]}-lesson-{entry['rid']}"
    if resend and channel == "bitrix24" and already_sent_by_bitrix24(client, uid):
        return finish(redis, portal.member_id, entry, "sent", "found sent by an earlier attempt")
    if resend and channel != "bitrix24":
        return failed(redis, portal, client, entry, "ответ сервера потерян, письмо не отправлено повторно / "
                      "the server's answer was lost; not sent again")  # fmt: skip
    facts = Facts(first_name=contact.get("NAME") or "", last_name=contact.get("LAST_NAME") or "",
                  course=enrolment.course, lesson_at=lesson)  # fmt: skip
    to = email_of(contact)
    try:
        letter = compose(portal, Letter(entry["template"]), facts, int(contact["ID"]), to, uid)
        comment = comment_command(entry, lesson, to)
        if channel == "bitrix24":
            out = client.batch({"letter": ("crm.activity.add", {"fields": activity_fields(portal.settings, letter)}),
                                "comment": comment})  # fmt: skip
            if "letter" in out.errors:
                raise refusal(out.errors["letter"])
        else:
            send(portal.settings, letter, client)
            client.call(*comment)
    except LetterRefused as exc:
        return failed(redis, portal, client, entry, str(exc))
    metrics.add(
        redis, metrics.LETTERS, channel=channel, kind=Letter.LESSON_REMINDER, outcome="sent"
    )
    return finish(redis, portal.member_id, entry, "sent", f"to contact {contact['ID']}")


def comment_command(entry: dict, lesson: datetime, to: str) -> tuple[str, dict]:
    text = (f"Благо24: напоминание о занятии {lesson:%d.%m.%Y %H:%M} отправлено на {to} / "
            f"lesson reminder sent")  # fmt: skip
    return "crm.timeline.comment.add", {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": int(entry["deal_id"]),
                                                   "COMMENT": text}}  # fmt: skip


def failed(redis: Redis, portal: Portal, client: BitrixClient, entry: dict, reason: str) -> str:
    """A refused reminder: kept as failed and said on the deal's timeline."""
    try:
        client.call("crm.timeline.comment.add", {"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": int(entry["deal_id"]),
                                                            "COMMENT": f"Благо24: напоминание о занятии не отправлено: {reason}"}})  # fmt: skip
    except BitrixError as exc:  # the outcome is kept anyway; the comment is only its echo
        log.warning(
            "portal %s: reminder %s failure comment not written: %s",
            portal.member_id,
            entry["rid"],
            exc,
        )
    metrics.add(redis, metrics.LETTERS, channel=channel_of(portal.settings), kind=Letter.LESSON_REMINDER,
                outcome="failed")  # fmt: skip
    return finish(redis, portal.member_id, entry, "failed", reason)


def finish(redis: Redis, member_id: str, entry: dict, state: str, why: str) -> str:
    """The reminder's final state kept."""
    done = {**entry, "state": state, "why": why[:300], "at": time.time()}
    redis.hset(key(member_id, "deal", entry["deal_id"]), entry["rid"], json.dumps(done))
    log.info("portal %s: lesson reminder %s %s (%s)", member_id, entry["rid"], state, why)
    return f"{entry['rid']}: {state} ({why})"
