"""The sync of one Timepad event (product.md C6) as a resumable run of small steps, and the webhook's job.

Steps: read the event; read its orders, one page of 250 a step, each ticket kept in Redis (a newer read
of a ticket replaces an older one, so a webhook's fresher order is never overwritten by the sync's older
page); group the tickets into people; then, ``PEOPLE_PER_STEP`` people a step, ``apply_people``. A step's
result is committed only if the run is still where the step found it, and every step is safe to repeat.
A job runs steps for SLICE seconds and gives its worker back; the CLI runs the same steps inline.

The first delivery naming an event schedules its sync at the event's end (Timepad has no "event
finished" hook): ``ends_at``, or ``starts_at`` plus ``timepad_end_hours``.
"""

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import WatchError
from rq import get_current_job

from .. import context
from ..bitrix import BitrixClient, OperationTimeLimited
from ..connectors import end_hours
from ..donations.rollup import portal_zone
from ..errors import Blago24Error
from ..jobs import bulk_lane, permanent, portal_job, stop_retrying
from ..matching.contacts import DEFAULT_REGION
from ..portals import PortalNotFound, portal_key
from ..queue import BULK, DEFAULT, enqueue
from ..ratelimit import PortalBusy
from ..template.resolved import resolve
from . import Event, tickets_of
from .client import ORDERS_LIMIT, TimepadClient, TimepadError
from .participants import Ids, Outcome, apply_people, people_of

SLICE = 10.0
PATIENCE = 2.0
STALE_AFTER = 3600
KEEP = 90 * 86400  # the last sync of each event stays visible on the resync page
PEOPLE_PER_STEP = 100
EVENT_FRESH = (
    3600  # a hook re-reads its event (its dates may have moved) when the copy kept is older
)
RESULTS_KEPT = 2000
ACTIONS = ("created", "linked", "updated", "skipped")
Progress = Callable[[int, int, str], None]

# a ticket read at ``at`` replaces the stored one only if that was read earlier
STORE_NEWER = """
for i = 1, #ARGV, 3 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if (not old) or tonumber(cjson.decode(old)['at']) <= tonumber(ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], 7776000)
return 1
"""


class SyncRunning(Blago24Error):
    """A sync of this event already runs."""


def key(member_id: str, event_id: int, *parts: str) -> str:
    return portal_key(member_id, "timepad", str(event_id), *parts)


def run_state(redis: Redis, member_id: str, event_id: int) -> dict[str, str]:
    return {
        k.decode(): v.decode() for k, v in redis.hgetall(key(member_id, event_id, "run")).items()
    }


def is_running(state: dict[str, str]) -> bool:
    return (
        state.get("phase") not in (None, "done", "failed")
        and time.time() - float(state.get("touched") or 0) < STALE_AFTER
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def begin_sync(redis: Redis, member_id: str, event_id: int, origin: str = "manual") -> str | None:
    """A new run's id, or None when this event's sync is running (atomic across processes)."""
    with redis.lock(key(member_id, event_id, "begin"), timeout=10, blocking_timeout=10):
        if is_running(run_state(redis, member_id, event_id)):
            return None
        run = uuid.uuid4().hex[:12]
        redis.delete(key(member_id, event_id, "run"), key(member_id, event_id, "results"),
                     key(member_id, event_id, "people"))  # fmt: skip
        redis.hset(key(member_id, event_id, "run"), mapping={
            "run": run, "event": event_id, "phase": "event", "step": 0, "requests": 0, "timepad_requests": 0,
            "origin": origin, "started": now_iso(), "touched": time.time(), "skip": 0, "orders": 0,
            "people": 0, "done": 0, **dict.fromkeys(ACTIONS, 0)})  # fmt: skip
        redis.expire(key(member_id, event_id, "run"), KEEP)
        redis.zadd(portal_key(member_id, "timepad", "synced"), {str(event_id): time.time()})
        return run


def start_sync(redis: Redis, member_id: str, event_id: int, origin: str = "manual") -> str | None:
    """Begin a run and queue its job on the bulk queue; None when one is running."""
    run = begin_sync(redis, member_id, event_id, origin)
    if run is not None:
        enqueue(
            redis,
            BULK,
            f"timepad-run-{member_id}-{event_id}-{run}",
            sync_job,
            member_id,
            event_id,
            run,
        )
    return run


class EventSync:
    """One run's steps; ``step`` does one and says whether the run is over."""

    def __init__(self, client: BitrixClient, redis: Redis, member_id: str, event_id: int, run: str,
                 timepad: TimepadClient | None = None):  # fmt: skip
        self.client, self.redis, self.member_id, self.event_id, self.run = (
            client,
            redis,
            member_id,
            event_id,
            run,
        )
        self.portal = context.registry().require(member_id)
        self.timepad = timepad or timepad_client(self.portal)
        self.region = self.portal.settings.get("phone_region") or DEFAULT_REGION

    def step(self, patience: float | None = None, progress: Progress | None = None) -> bool:
        state = run_state(self.redis, self.member_id, self.event_id)
        if state.get("run") != self.run or state.get("phase") in ("done", "failed", None):
            return True
        phase = state["phase"]
        if phase == "people" and patience is not None:
            self.client.reserve(patience)
        sent = self.timepad.requests
        getattr(self, f"step_{phase}")(state)
        self.redis.hincrby(
            key(self.member_id, self.event_id, "run"),
            "timepad_requests",
            self.timepad.requests - sent,
        )
        now = run_state(self.redis, self.member_id, self.event_id)
        if progress:
            progress(*progress_of(now))
        return now.get("phase") in ("done", None) or now.get("run") != self.run

    def commit(self, state: dict[str, str], requests: int = 0, **values) -> bool:
        """Store a step's outcome if the run is still where the step found it."""
        name = key(self.member_id, self.event_id, "run")
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(name)
                now = {k.decode(): v.decode() for k, v in pipe.hgetall(name).items()}
                if any(now.get(k) != state.get(k) for k in ("run", "phase", "step")):
                    return False
                pipe.multi()
                pipe.hset(name, mapping={**values, "requests": int(now.get("requests") or 0) + requests,
                                         "step": int(now.get("step") or 0) + 1, "touched": time.time()})  # fmt: skip
                pipe.execute()
                return True
            except WatchError:
                return False

    def step_event(self, state: dict[str, str]) -> None:
        event = own_event(self.timepad.event(self.event_id), self.portal.settings)
        remember_event(self.redis, self.member_id, event)
        self.commit(state, phase="orders", name=event.name, event_json=json.dumps(event.as_json()))

    def step_orders(self, state: dict[str, str]) -> None:
        """One page of orders; their tickets kept (newer reads win)."""
        skip = int(state.get("skip") or 0)
        at = time.time()
        page = self.timepad.orders_page(self.event_id, skip)
        store_tickets(self.redis, self.member_id, self.event_id,
                      [t for order in page for t in tickets_of(order)], at)  # fmt: skip
        done = len(page) < ORDERS_LIMIT
        self.commit(state, phase="plan" if done else "orders", skip=skip + len(page),
                    orders=int(state.get("orders") or 0) + len(page))  # fmt: skip

    def step_plan(self, state: dict[str, str]) -> None:
        """No request: the people of the event, in steps of PEOPLE_PER_STEP."""
        event = Event_of(state)
        ended, checkin = facts(self.redis, self.member_id, event, self.portal.settings)
        people = people_of(
            stored_tickets(self.redis, self.member_id, self.event_id), ended, checkin
        )
        identities = [p.identity for p in people]
        name = key(self.member_id, self.event_id, "people")
        self.redis.delete(name)
        for n in range(0, len(identities), PEOPLE_PER_STEP):
            self.redis.rpush(name, json.dumps(identities[n : n + PEOPLE_PER_STEP]))
        self.redis.expire(name, KEEP)
        steps = -(-len(identities) // PEOPLE_PER_STEP)
        self.commit(state, phase="people" if steps else "done", people=len(identities), steps=steps, at=0,
                    ended="1" if ended else "0", checkin="1" if checkin else "0",
                    **({} if steps else {"finished": now_iso()}))  # fmt: skip

    def step_people(self, state: dict[str, str]) -> None:
        """One chunk of people applied (their tickets re-read now: a webhook may have brought newer ones)."""
        index = int(state.get("at") or 0)
        raw = self.redis.lindex(key(self.member_id, self.event_id, "people"), index)
        wanted = set(json.loads(raw)) if raw else set()
        event = Event_of(state)
        ended, checkin = state.get("ended") == "1", state.get("checkin") == "1"
        people = [p for p in people_of(stored_tickets(self.redis, self.member_id, self.event_id), ended, checkin)
                  if p.identity in wanted]  # fmt: skip
        outcomes = apply_people(self.client, self.redis, self.member_id, ids_for(self.portal, self.client, self.redis),
                                event, people, self.region)  # fmt: skip
        counts = {a: int(state.get(a) or 0) + sum(o.action == a for o in outcomes) for a in ACTIONS}
        last = index + 1 >= int(state.get("steps") or 0)
        if self.commit(state, at=index + 1,
                       done=int(state.get("done") or 0) + len(people), **counts,
                       **({"phase": "done", "finished": now_iso()} if last else {})):  # fmt: skip
            keep_results(self.redis, self.member_id, self.event_id, outcomes)


def Event_of(state: dict[str, str]) -> Event:  # noqa: N802
    """The event a run read (kept in its state)."""
    data = json.loads(state.get("event_json") or "{}")
    return Event.of(data)


def ids_for(portal, client: BitrixClient, redis: Redis) -> Ids:
    return Ids(resolve(portal, client, redis), portal_zone(portal))


def facts(redis: Redis, member_id: str, event: Event, settings: dict) -> tuple[bool, bool]:
    """(whether the event is over, whether it used check-in) from its stored tickets."""
    end = event.end(end_hours(settings))
    ended = end is not None and end <= datetime.now(UTC)
    return ended, any(t.get("attended") for t in stored_tickets(redis, member_id, event.id))


def store_tickets(redis: Redis, member_id: str, event_id: int, tickets: list, at: float) -> None:
    """Keep tickets read at ``at``; one read earlier than the stored one is ignored."""
    args = []
    for t in tickets:
        args += [t.id, repr(at), json.dumps({**t.as_json(), "at": at}, ensure_ascii=False)]
    for n in range(0, len(args), 3000):
        redis.eval(STORE_NEWER, 1, key(member_id, event_id, "tickets"), *args[n : n + 3000])


def stored_tickets(redis: Redis, member_id: str, event_id: int) -> list[dict]:
    return [json.loads(v) for v in redis.hvals(key(member_id, event_id, "tickets"))]


def keep_results(redis: Redis, member_id: str, event_id: int, outcomes: list[Outcome]) -> None:
    """Each participant's outcome, and a count per (action, reason) for the summary."""
    if not outcomes:
        return
    name = key(member_id, event_id, "results")
    pipe = redis.pipeline()
    pipe.rpush(name, *(json.dumps(o.__dict__, ensure_ascii=False) for o in outcomes))
    pipe.ltrim(name, 0, RESULTS_KEPT - 1)
    pipe.expire(name, KEEP)
    pipe.execute()


def results(redis: Redis, member_id: str, event_id: int) -> list[dict]:
    return [json.loads(r) for r in redis.lrange(key(member_id, event_id, "results"), 0, -1)]


def reasons(rows: list[dict]) -> dict[str, list[tuple[str, int]]]:
    """For each action, its reasons with how many participants each (most common first); stage names
    and contact numbers left out so that alike reasons count together."""
    import re
    from collections import Counter

    counted: dict[str, Counter] = {a: Counter() for a in ACTIONS}
    for row in rows:
        text = re.sub(
            r"#\d+",
            "#…",
            row["reason"].split(":")[0] if row["action"] == "linked" else row["reason"],
        )
        counted.setdefault(row["action"], Counter())[text] += 1
    return {a: c.most_common(8) for a, c in counted.items()}


def progress_of(state: dict[str, str]) -> tuple[int, int, str]:
    """(done, of, what) for a progress bar or the page."""
    if state.get("phase") in ("people", "done"):
        return (
            int(state.get("done") or 0),
            int(state.get("people") or 0),
            "участники / participants",
        )
    if state.get("phase") == "failed":
        return int(state.get("done") or 0), max(int(state.get("people") or 0), 1), "ошибка / failed"
    return 0, 1, "чтение Timepad / reading Timepad"


def summary(state: dict[str, str]) -> dict:
    done, of, what = progress_of(state)
    return {"running": is_running(state), "phase": state.get("phase", ""), "done": done, "of": of,
            "percent": 100 if state.get("phase") == "done" else int(100 * done / max(of, 1)) if of else 0,
            "what": what, "name": state.get("name", ""), "started": state.get("started", ""),
            "finished": state.get("finished", ""), "error": state.get("error", ""),
            **{a: int(state.get(a) or 0) for a in ACTIONS}}  # fmt: skip


def fail(redis: Redis, member_id: str, event_id: int, exc: BaseException) -> None:
    redis.hset(key(member_id, event_id, "run"), mapping={"phase": "failed", "finished": now_iso(),
                                                         "error": str(exc)[:500] or type(exc).__name__})  # fmt: skip


def timepad_client(portal) -> TimepadClient:
    return TimepadClient(
        context.settings().timepad_api_url, portal.settings.get("timepad_token", "")
    )


def sync_job(member_id: str, event_id: int, run: str) -> str:
    """RQ job: advance the run for up to SLICE seconds, then queue what is left at the end of the line."""
    redis = context.redis()
    portal = context.registry().get(member_id)
    if portal is None or portal.status == "uninstalled":
        return "portal uninstalled"
    try:
        sync = EventSync(context.client(member_id), redis, member_id, event_id, run)
        deadline = time.monotonic() + SLICE
        with bulk_lane(member_id):
            while time.monotonic() < deadline:
                if sync.step(patience=PATIENCE):
                    return "over"
    except PortalNotFound:
        return "portal uninstalled"
    except (PortalBusy, OperationTimeLimited) as busy:
        at = max(busy.retry_at or 0, time.time() + (0 if busy.retry_at else 60))
        enqueue(redis, BULK, f"timepad-run-{member_id}-{event_id}-{run}-at-{int(at)}", sync_job, member_id,
                event_id, run, at=at)  # fmt: skip
        return "waiting for the portal's limit"
    except Exception as exc:
        job = get_current_job()
        hopeless = isinstance(exc, TimepadError) and not exc.retryable
        if job is None or not job.retries_left or hopeless or permanent(exc) is not None:
            fail(redis, member_id, event_id, exc)
            if job is not None:
                job.retries_left = 0
        raise
    enqueue(redis, BULK, f"timepad-run-{member_id}-{event_id}-{run}-{time.time_ns()}", sync_job, member_id,
            event_id, run)  # fmt: skip
    return "continues"


def sync_event(client: BitrixClient, redis: Redis, member_id: str, event_id: int, progress: Progress | None = None,
               timepad: TimepadClient | None = None) -> dict[str, str]:  # fmt: skip
    """A whole sync inline (the CLI, the bench); its final state. SyncRunning when one runs already."""
    run = begin_sync(redis, member_id, event_id, "cli")
    if run is None:
        raise SyncRunning(f"a sync of Timepad event {event_id} is already running")
    try:
        sync = EventSync(client, redis, member_id, event_id, run, timepad)
        while not sync.step(progress=progress):
            pass
    except BaseException as exc:  # Ctrl-C too: the run must not look alive for an hour
        fail(redis, member_id, event_id, exc)
        raise
    return run_state(redis, member_id, event_id)


# --- the end of an event, and the webhook's job ---------------------------------------------------


def own_event(event: Event, settings: dict) -> Event:
    """The event, if it belongs to the fund's Timepad organisation (``timepad_organization_id``); a token
    may see other organisations' events, whose people are not the fund's to take."""
    wanted = str(settings.get("timepad_organization_id") or "")
    if wanted and str(event.organization_id) != wanted:
        raise TimepadError(f"Timepad event {event.id} belongs to organisation {event.organization_id}, "
                           f"not to this fund's {wanted} (timepad_organization_id)", status=403)  # fmt: skip
    return event


def remember_event(redis: Redis, member_id: str, event: Event) -> None:
    redis.set(key(member_id, event.id, "event"), json.dumps({**event.as_json(), "_read_at": time.time()}),
              ex=KEEP)  # fmt: skip


def known_event(redis: Redis, member_id: str, event_id: int) -> Event | None:
    """The event as read from Timepad within EVENT_FRESH seconds (an organiser may move it), or None."""
    raw = redis.get(key(member_id, event_id, "event"))
    data = json.loads(raw) if raw else {}
    fresh = time.time() - float(data.get("_read_at") or 0) < EVENT_FRESH
    return Event.of(data) if data and fresh else None


def schedule_end_sync(redis: Redis, member_id: str, event: Event, settings: dict) -> float | None:
    """The event's sync queued for its end (now, if that is past) the first time it is seen, and moved
    when the organiser moves the event; the moment, or None when nothing changed."""
    end = event.end(end_hours(settings))
    if end is None:
        return None
    name = key(member_id, event.id, "scheduled")
    before = redis.getset(name, end.timestamp())
    redis.expire(name, KEEP)
    if before is not None and abs(float(before) - end.timestamp()) < 1:
        return None
    at = max(end.timestamp(), time.time())
    enqueue(
        redis,
        DEFAULT,
        f"timepad-end-{member_id}-{event.id}",
        end_of_event_job,
        member_id,
        event.id,
        at=at,
    )
    return at


@portal_job
def end_of_event_job(member_id: str, event_id: int) -> str:
    """At an event's end: its sync (unless one runs)."""
    run = start_sync(context.redis(), member_id, event_id, "end")
    return f"sync {run}" if run else "a sync is already running"


@portal_job
def hook_job(member_id: str, payload: dict) -> str:
    """A verified Timepad delivery: the event's end scheduled the first time it is seen; the order read
    from the API (deliveries come out of order: the API says what is true now) and its people applied.
    A refusal by Timepad that waiting cannot heal (no token, no view_visitors, no such order) ends the job
    at once, its reason listed on the app page."""
    try:
        return apply_hook(member_id, payload)
    except TimepadError as exc:
        if exc.retryable:
            raise
        stop_retrying(member_id, "timepad hook", str(exc))
        return str(exc)


def apply_hook(member_id: str, payload: dict) -> str:
    redis, portal = context.redis(), context.registry().require(member_id)
    timepad = timepad_client(portal)
    event_id, order_id = int(payload["event_id"]), int(payload["order_id"])
    event = known_event(redis, member_id, event_id)
    if event is None:
        event = own_event(timepad.event(event_id), portal.settings)
        remember_event(redis, member_id, event)
    schedule_end_sync(redis, member_id, event, portal.settings)
    at = time.time()
    tickets = tickets_of(timepad.order(event_id, order_id))
    store_tickets(redis, member_id, event_id, tickets, at)
    ended, checkin = facts(redis, member_id, event, portal.settings)
    mine = {t.identity for t in tickets}
    people = [
        p
        for p in people_of(stored_tickets(redis, member_id, event_id), ended, checkin)
        if p.identity in mine
    ]
    client = context.client(member_id)
    outcomes = apply_people(client, redis, member_id, ids_for(portal, client, redis), event, people,
                            portal.settings.get("phone_region") or DEFAULT_REGION)  # fmt: skip
    return "; ".join(f"{o.action}: {o.reason}" for o in outcomes)[:500]
