"""Lesson reminders (product.md C7): the schedule of an enrolment and its reminders, sent exactly once.

An enrolment is a deal in «Обучение»; its course is the product in its product rows; the lessons' start
times are the deal's own «Даты занятий» when filled, else the course's multiple date-time property
«Даты занятий». A value without a zone is read in the portal's time zone (setting ``timezone``,
Europe/Moscow by default); every time is kept in UTC and a reminder is due at the lesson's instant minus
the offset (never wall-clock arithmetic, so a DST change between the two cannot shift it).

Per deal, Redis holds a hash of reminders keyed by a deterministic id per (deal, lesson time) — so a
second robot run creates nothing already there — each with its state: pending → sending → sent, or
cancelled (the lesson moved, the deal left the active stages), skipped (the re-check at the due time said
no) or failed (the channel refused it). A pending reminder also sits in the portal's due set (a sorted set
by due time); a drain job scheduled with RQ for its second (``enqueue_at``: the scheduled registry lives in
Redis and survives scheduler restarts) claims due reminders atomically, 48 at a time, re-checks them in two
requests and sends their letters and timeline comments in one batch. A claim held longer than STALE
seconds (its drainer died) is taken over. The state goes to "sending" atomically before a letter leaves;
a reminder found "sending" is looked up by its ORIGIN_ID in the portal (channel ``bitrix24``) and never
sent blindly again (SMTP and Unisender cannot be asked: such a reminder is failed, as donor letters are).
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from redis import Redis

from . import context, metrics
from .bitrix import BitrixClient, BitrixError
from .donations.rollup import portal_zone
from .jobs import portal_job
from .letters import Letter
from .letters.channels import (
    LetterRefused,
    activity_fields,
    channel_of,
    refusal,
    send,
)
from .letters.render import Facts
from .letters.send import compose, email_of
from .letters.unsubscribe import opted_out
from .portals import Portal, portal_key
from .queue import DEFAULT, URGENT, enqueue, enqueue_once
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


DEAL_SELECT = ["ID", "CATEGORY_ID", "STAGE_ID", "CONTACT_ID", field("B24_LESSON_DATES")]
CONTACT_SELECT = ["ID", "NAME", "LAST_NAME", "EMAIL", field("B24_NO_EMAIL")]


def read_enrolments(client: BitrixClient, resolved: Resolved, zone: ZoneInfo,
                    deal_ids: list[int]) -> dict[int, Enrolment]:  # fmt: skip
    """Up to GROUP deals as enrolments (a deal that is gone is left out): their deals, product rows and
    the courses' property list in one request, their contacts and courses in one more."""
    first = {"deals": ("crm.deal.list", {"filter": {"ID": deal_ids}, "select": DEAL_SELECT}),
             "props": ("crm.product.property.list", {})}  # fmt: skip
    first |= {f"r{d}": ("crm.deal.productrows.get", {"id": d}) for d in deal_ids}
    out = client.batch(first).raise_errors().result
    deals = {int(d["ID"]): d for d in out.get("deals") or []}
    props = [str(p.get("ID")) for p in out.get("props") or [] if p.get("CODE") == PROPERTY]
    course_of = {d: int(rows[0]["PRODUCT_ID"]) for d in deals if (rows := out.get(f"r{d}") or [])}
    contact_ids = sorted({int(d.get("CONTACT_ID") or 0) for d in deals.values()} - {0})
    second: dict[str, tuple[str, dict]] = {}
    if contact_ids:
        second["contacts"] = (
            "crm.contact.list",
            {"filter": {"ID": contact_ids}, "select": CONTACT_SELECT},
        )
    if course_of:
        second["products"] = ("crm.product.list", {"filter": {"ID": sorted(set(course_of.values()))},
                                                   "select": ["ID", "NAME", *(f"PROPERTY_{p}" for p in props)]})  # fmt: skip
    more = client.batch(second).raise_errors().result if second else {}
    contacts = {int(c["ID"]): c for c in more.get("contacts") or []}
    products = {int(p["ID"]): p for p in more.get("products") or []}
    active = {resolved.stage(PIPELINE, s) for s in ACTIVE}
    category = str(resolved.pipeline(PIPELINE))
    found = {}
    for deal_id, deal in deals.items():
        product = products.get(course_of.get(deal_id, 0)) or {}
        own = values_of(deal.get(field("B24_LESSON_DATES")))
        course = [v for p in props for v in values_of(product.get(f"PROPERTY_{p}"))]
        times = sorted({t for t in (parse_time(v, zone) for v in (own or course)) if t})
        found[deal_id] = Enrolment(deal_id, str(deal.get("CATEGORY_ID")) == category and deal.get("STAGE_ID") in active,
                                   contacts.get(int(deal.get("CONTACT_ID") or 0)) or {},
                                   str(product.get("NAME") or ""), int(product.get("ID") or 0), tuple(times))  # fmt: skip
    return found


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
    resolved = resolve(portal, client, redis)
    enrolment = read_enrolments(client, resolved, portal_zone(portal), [deal_id]).get(deal_id)
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
                pipe.zrem(key(member_id, "due"), f"{deal_id}:{rid}")
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
    """The reminder in the portal's due set, and a drain job at its due second (at once when due)."""
    due = entry["due"]
    redis.zadd(key(member_id, "due"), {f"{entry['deal_id']}:{entry['rid']}": due})
    if due > time.time() + 0.5:
        enqueue_once(
            redis,
            URGENT,
            f"reminders-{member_id}-{int(due)}",
            drain_reminders,
            member_id,
            at=int(due) - EARLY,
        )
    else:  # a job running for this second may have passed it already: a job of its own
        enqueue(
            redis, URGENT, f"reminders-{member_id}-now-{time.time_ns()}", drain_reminders, member_id
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
    """One re-plan per deal waiting at a time: a burst of its events is read once (the due-time re-check
    and the nightly reconcile cover a change that lands while a re-plan runs)."""
    enqueue_once(
        redis, DEFAULT, f"lessons-replan-{member_id}-{deal_id}", replan_job, member_id, deal_id
    )


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
            member = f"{deal_id}:{entry['rid']}"
            if (
                entry["state"] in ("pending", "sending")
                and entry["due"] < time.time() - LATE
                and not (
                    redis.zscore(key(member_id, "due"), member)
                    or redis.zscore(key(member_id, "claimed"), member)
                )
            ):
                queue_reminder(redis, member_id, entry)
                late += 1
    return f"{len(deals)} deals re-planned, {late} late reminders queued again"


# --- sending --------------------------------------------------------------------------------------

GROUP = 48  # reminders a drain step takes: their re-check is two requests, their letters and comments two
STALE = (
    90  # seconds after which a claimed reminder's drainer counts as dead and another takes it over
)
SLICE = 20.0  # seconds of steps before a drain job gives its worker back
EARLY = 1.5  # seconds a drain job starts before its second's reminders are due, and waits for them
CLAIM = """local now, n, stale = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - stale, 'LIMIT', 0, n)
if #out < n then
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, n - #out)
  for _, m in ipairs(due) do redis.call('ZREM', KEYS[1], m); table.insert(out, m) end
end
for _, m in ipairs(out) do redis.call('ZADD', KEYS[2], now, m) end
return out"""


def claim(redis: Redis, member_id: str) -> list[tuple[int, str]]:
    """Up to GROUP reminders due now (or left claimed by a dead drainer), claimed atomically: (deal, rid)."""
    got = redis.eval(
        CLAIM, 2, key(member_id, "due"), key(member_id, "claimed"), time.time(), GROUP, STALE
    )
    return [(int(d), r) for d, _, r in (m.decode().partition(":") for m in got)]


@portal_job
def drain_reminders(member_id: str) -> str:
    """Job: the portal's reminders due by now, a group at a time, each re-checked and sent exactly once;
    comes back for reminders another drainer holds (in case it died)."""
    redis, started, done = context.redis(), time.monotonic(), []
    portal = context.registry().require(member_id)
    client = context.client(member_id)
    while time.monotonic() - started < SLICE:
        group = claim(redis, member_id)
        if not group and not wait_for_next(redis, member_id):
            break
        if not group:
            continue
        done += send_group(redis, portal, client, group)
        redis.zrem(key(member_id, "claimed"), *(f"{d}:{r}" for d, r in group))
    come_back(redis, member_id, started)
    return f"{len(done)} reminders: " + "; ".join(done[:20])


def wait_for_next(redis: Redis, member_id: str) -> bool:
    """Sleep until the next reminder is due when that is within EARLY seconds (the job starts a little
    early: RQ's scheduler counts whole seconds and looks once a second); False when none is that near."""
    head = redis.zrange(key(member_id, "due"), 0, 0, withscores=True)
    if not head or head[0][1] > time.time() + EARLY + 1:
        return False
    time.sleep(max(0.0, head[0][1] - time.time()) + 0.005)
    return True


def come_back(redis: Redis, member_id: str, started: float) -> None:
    """Another drain when reminders are still due (the slice ran out) or held by another drainer (it may
    have died); and the next second's drain is sure to be scheduled."""
    due = redis.zrangebyscore(key(member_id, "due"), "-inf", time.time(), start=0, num=1)
    held = redis.zrange(key(member_id, "claimed"), 0, 0, withscores=True)
    at = time.time() if due else held[0][1] + STALE + 1 if held else None
    if at is not None:
        enqueue_once(redis, URGENT, f"reminders-{member_id}-{int(at)}", drain_reminders, member_id,
                     at=at if at > time.time() + 0.5 else None)  # fmt: skip
    head = redis.zrange(key(member_id, "due"), 0, 0, withscores=True)
    if head and head[0][1] > time.time():
        second = int(head[0][1])
        enqueue_once(redis, URGENT, f"reminders-{member_id}-{second}", drain_reminders, member_id,
                     at=second - EARLY)  # fmt: skip


def send_group(
    redis: Redis, portal: Portal, client: BitrixClient, group: list[tuple[int, str]]
) -> list[str]:
    """Re-check a group of reminders in two requests, then send those that may go; their outcomes."""
    member_id, zone = portal.member_id, portal_zone(portal)
    entries = [
        e
        for d, r in group
        if (e := entry_of(redis, member_id, d, r)) and e["state"] in ("pending", "sending")
    ]
    if not entries:
        return []
    resolved = resolve(portal, client, redis)
    enrolments = read_enrolments(
        client, resolved, zone, sorted({int(e["deal_id"]) for e in entries})
    )
    outcomes, sends, resends = [], [], []
    for entry in entries:
        enrolment, lesson = (
            enrolments.get(int(entry["deal_id"])),
            datetime.fromisoformat(entry["lesson"]),
        )
        if why := why_not(redis, member_id, enrolment, lesson):
            outcomes.append(finish(redis, member_id, entry, "skipped", why))
            continue
        was = redis.eval(MARK_SENDING, 1, key(member_id, "deal", entry["deal_id"]), entry["rid"])
        was = was.decode() if isinstance(was, bytes) else str(was)
        if was in ("pending", "sending"):
            (sends if was == "pending" else resends).append(
                (entry, enrolment, lesson.astimezone(zone))
            )
    sends += found_or_failed(redis, portal, client, resends, outcomes)
    return outcomes + deliver(redis, portal, client, sends)


def entry_of(redis: Redis, member_id: str, deal_id: int, rid: str) -> dict | None:
    raw = redis.hget(key(member_id, "deal", deal_id), rid)
    return json.loads(raw) if raw else None


def uid_of(member_id: str, entry: dict) -> str:
    """The letter's own id (Message-ID, the activity's ORIGIN_ID): one per reminder."""
    return f"b24-{member_id[:8]}-lesson-{entry['rid']}"


def found_or_failed(
    redis: Redis, portal: Portal, client: BitrixClient, resends: list, outcomes: list
) -> list:
    """Reminders an earlier attempt may have sent (its worker died, its answer was lost): through Bitrix24
    they are looked up by ORIGIN_ID (found: sent; else they go); SMTP and Unisender cannot be asked, so
    there they are failed rather than sent blindly again. Returns those to send."""
    if not resends:
        return []
    if channel_of(portal.settings) != "bitrix24":
        for entry, _, _ in resends:
            outcomes.append(failed(redis, portal, client, entry, "ответ сервера потерян, письмо не отправлено "
                                   "повторно / the server's answer was lost; not sent again"))  # fmt: skip
        return []
    looks = {f"f{n}": ("crm.activity.list", {"filter": {"ORIGIN_ID": uid_of(portal.member_id, e)}, "select": ["ID"]})
             for n, (e, _, _) in enumerate(resends)}  # fmt: skip
    found = client.batch(looks).raise_errors().result
    again = []
    for n, item in enumerate(resends):
        if found.get(f"f{n}"):
            outcomes.append(
                finish(redis, portal.member_id, item[0], "sent", "found sent by an earlier attempt")
            )
        else:
            again.append(item)
    return again


def deliver(redis: Redis, portal: Portal, client: BitrixClient, sends: list) -> list[str]:
    """The letters and their timeline comments: through Bitrix24 both in the same batch, else each letter
    through its channel and the comments in one batch."""
    if not sends:
        return []
    channel, outcomes, commands, letters = channel_of(portal.settings), [], {}, {}
    for n, (entry, enrolment, lesson) in enumerate(sends):
        contact = enrolment.contact
        facts = Facts(first_name=contact.get("NAME") or "", last_name=contact.get("LAST_NAME") or "",
                      course=enrolment.course, lesson_at=lesson)  # fmt: skip
        to = email_of(contact)
        try:
            letter = compose(portal, Letter(entry["template"]), facts, int(contact["ID"]), to,
                             uid_of(portal.member_id, entry))  # fmt: skip
            if channel == "bitrix24":
                commands[f"l{n}"] = (
                    "crm.activity.add",
                    {"fields": activity_fields(portal.settings, letter)},
                )
            else:
                send(portal.settings, letter, client)
        except LetterRefused as exc:
            outcomes.append(failed(redis, portal, client, entry, str(exc)))
            continue
        except Exception:  # the letters after this one were never tried: back to pending
            for later, _, _ in sends[n + 1 :]:
                redis.hset(
                    key(portal.member_id, "deal", later["deal_id"]), later["rid"], json.dumps(later)
                )
            raise
        letters[n] = to
        commands[f"c{n}"] = comment_command(entry, lesson, to)
    redis.zadd(
        key(portal.member_id, "claimed"),
        {f"{e['deal_id']}:{e['rid']}": time.time() for e, _, _ in sends},
    )
    out = client.batch(commands) if commands else None
    retry = None
    for n, to in letters.items():
        entry = sends[n][0]
        error = out.errors.get(f"l{n}") if out else None
        if error is None:
            metrics.add(
                redis, metrics.LETTERS, channel=channel, kind=Letter.LESSON_REMINDER, outcome="sent"
            )
            outcomes.append(finish(redis, portal.member_id, entry, "sent", f"to {to}"))
        elif isinstance(cause := refusal(error), LetterRefused):
            outcomes.append(failed(redis, portal, client, entry, str(cause)))
        else:
            retry = cause  # left "sending": the next attempt looks it up first
    if retry is not None:
        raise retry
    return outcomes


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
