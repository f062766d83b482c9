"""The portal-wide recompute of donor totals (product.md C4) as a resumable run of small steps.

Each step is one request: the base currency, then the gifts, the contacts and the companies read by ID
(``list_chunk``: up to 2,500 records a request), then the writes, 50 updates a request, of only the fields
that differ. A step's result is committed to Redis only if the run is still where the step found it, so a
step repeated after a crash (or run twice at once) changes nothing twice; updates are idempotent anyway. A
job runs steps for SLICE seconds, each admitted by the portal's limiter within PATIENCE, then gives its
worker back (fairness, product.md §3); the CLI runs the same steps inline with a progress bar.
"""

import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import WatchError
from rq import get_current_job

from .. import context
from ..bitrix import PAGE, BitrixClient, OperationTimeLimited
from ..errors import Blago24Error
from ..jobs import bulk_lane, permanent
from ..portals import PortalNotFound, portal_key
from ..queue import BULK, enqueue
from ..ratelimit import PortalBusy
from ..template.resolved import resolve
from .rollup import (
    COMPANY_SELECT,
    CONTACT_SELECT,
    DEAL_SELECT,
    as_json,
    company_update,
    contact_update,
    dumps,
    fresh_key,
    gift_filter,
    gift_from_json,
    gift_of,
    portal_today,
    portal_zone,
)

SLICE = 10.0  # seconds of steps before a job gives its worker back
PATIENCE = 2.0  # the longest wait at the portal's limiter before a step begins
STALE_AFTER = 3600  # a run not advanced for this long is dead; a new one may start
KEEP = 7 * 86400  # the last run's summary
WRITES_PER_REQUEST = 50
READS = {"deals": ("crm.deal.list", DEAL_SELECT), "contacts": ("crm.contact.list", CONTACT_SELECT),
         "companies": ("crm.company.list", COMPANY_SELECT)}  # fmt: skip
ORDER = ("base", "deals", "contacts", "companies", "plan")

Progress = Callable[[int, int, str], None]


class RecomputeRunning(Blago24Error):
    """A totals recompute already runs for the portal."""


def state_key(member_id: str) -> str:
    return portal_key(member_id, "totals", "run")


def data_key(member_id: str, run: str, part: str) -> str:
    return portal_key(member_id, "totals", run, part)


def run_state(redis: Redis, member_id: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis.hgetall(state_key(member_id)).items()}


def is_running(state: dict[str, str]) -> bool:
    return (
        state.get("phase") not in (None, "done", "failed")
        and time.time() - float(state.get("touched") or 0) < STALE_AFTER
    )


def begin_run(redis: Redis, member_id: str) -> str | None:
    """A new run's id, or None when one is running (atomic across processes)."""
    with redis.lock(portal_key(member_id, "totals", "begin"), timeout=10, blocking_timeout=10):
        if is_running(run_state(redis, member_id)):
            return None
        run = uuid.uuid4().hex[:12]
        forget_data(redis, member_id, run_state(redis, member_id).get("run", ""))
        redis.delete(state_key(member_id), fresh_key(member_id))
        redis.hset(state_key(member_id), mapping={"run": run, "phase": "base", "step": 0, "requests": 0,
                                                  "started": now_iso(), "touched": time.time(), "loaded": 0,
                                                  "total": 0, "written": 0, "writes": 0, "updated": 0})  # fmt: skip
        redis.expire(state_key(member_id), KEEP)
        return run


def forget_data(redis: Redis, member_id: str, run: str) -> None:
    """A run's working lists (its reads and writes); its summary stays."""
    if run:
        redis.delete(*(data_key(member_id, run, part) for part in (*READS, "writes")))


def start_recompute(redis: Redis, member_id: str) -> str | None:
    """Begin a run and queue its job on the bulk queue; None when one is already running."""
    run = begin_run(redis, member_id)
    if run is not None:
        enqueue(redis, BULK, f"totals-run-{member_id}-{run}", totals_job, member_id, run)
    return run


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TotalsRun:
    """One run's steps against a portal; ``step`` does one and says whether the run is over."""

    def __init__(self, client: BitrixClient, redis: Redis, member_id: str, run: str):
        self.client, self.redis, self.member_id, self.run = client, redis, member_id, run
        self.portal = context.registry().require(member_id)
        self.resolved = resolve(self.portal, client, redis)
        self.filters = {"deals": gift_filter(self.resolved), "contacts": {}, "companies": {}}

    def step(self, patience: float | None = None, progress: Progress | None = None) -> bool:
        state = run_state(self.redis, self.member_id)
        if state.get("run") != self.run or state.get("phase") in ("done", "failed", None):
            return True
        phase = state["phase"]
        if phase != "plan" and patience is not None:
            self.client.reserve(patience)
        if phase in READS:
            self.read(state, phase)
        else:
            getattr(self, f"step_{phase}")(state)
        now = run_state(self.redis, self.member_id)
        if progress:
            progress(*progress_of(now))
        if now.get("phase") == "done":
            forget_data(self.redis, self.member_id, self.run)
        return now.get("phase") == "done"

    def commit(
        self, state: dict[str, str], pushes: dict[str, list[str]] | None = None, **values
    ) -> bool:
        """Store a step's outcome if the run is still where the step found it."""
        key = state_key(self.member_id)
        with self.redis.pipeline() as pipe:
            try:
                pipe.watch(key)
                now = {k.decode(): v.decode() for k, v in pipe.hgetall(key).items()}
                if any(now.get(k) != state.get(k) for k in ("run", "phase", "step")):
                    return False
                pipe.multi()
                for part, items in (pushes or {}).items():
                    if items:
                        pipe.rpush(data_key(self.member_id, self.run, part), *items)
                        pipe.expire(data_key(self.member_id, self.run, part), KEEP)
                requests = int(state.get("requests") or 0) + values.pop("requests", 1)
                step = int(state.get("step") or 0) + 1
                pipe.hset(
                    key,
                    mapping={**values, "requests": requests, "step": step, "touched": time.time()},
                )
                pipe.execute()
                return True
            except WatchError:
                return False

    def step_base(self, state: dict[str, str]) -> None:
        """One batch: the base currency and each list's counted first page (so later reads are ID-fast
        chains only)."""
        commands = {"base": ("crm.currency.base.get", {})}
        for part, (method, select) in READS.items():
            commands[part] = (method, {"filter": {**self.filters[part], ">ID": 0}, "select": select,
                                       "order": {"ID": "ASC"}, "start": 0})  # fmt: skip
        out = self.client.batch(commands).raise_errors()
        values: dict = {"base": str(out.result.get("base") or "RUB")}
        pushes = {}
        for part in READS:
            rows = out.result.get(part) or []
            total = int(out.total.get(part) or len(rows))
            values[f"{part}_after"] = rows[-1]["ID"] if rows else "0"
            values[f"{part}_left"] = max(-(-total // PAGE) - 1, 0) if rows else 0
            pushes[part] = [
                dumps([r for r in (self.compact(part, row) for row in rows) if r is not None])
            ]
            if part == "deals":
                values |= {"total": total, "loaded": len(rows)}
        self.commit(state, pushes, phase=next_phase(values, "base"), **values)

    def read(self, state: dict[str, str], part: str) -> None:
        """Up to 50 chained ID-fast pages of one list in one request."""
        method, select = READS[part]
        chunk = self.client.list_chunk(method, {"filter": self.filters[part], "select": select}, "ID", None,
                                       int(state[f"{part}_after"]), int(state[f"{part}_left"]))  # fmt: skip
        rows = [r for r in (self.compact(part, row) for row in chunk.rows) if r is not None]
        values: dict = {
            f"{part}_after": chunk.after,
            f"{part}_left": 0 if chunk.done else max(chunk.pages_left, 0),
        }
        if part == "deals":
            values["loaded"] = int(state.get("loaded") or 0) + len(chunk.rows)
        phase = part if values[f"{part}_left"] else next_phase({**state, **values}, part)
        self.commit(state, {part: [dumps(rows)]}, phase=phase, **values)

    def compact(self, part: str, row: dict) -> list | dict | None:
        if part == "deals":
            gift = gift_of(row, self.resolved, portal_zone(self.portal))
            return as_json(gift) if gift else None
        return {k: v for k, v in row.items() if v not in (None, "", False, [])}

    def loaded(self, part: str) -> list:
        return [row for chunk in self.redis.lrange(data_key(self.member_id, self.run, part), 0, -1)
                for row in json.loads(chunk)]  # fmt: skip

    def step_plan(self, state: dict[str, str]) -> None:
        """No request: every contact's and company's update, in batches of WRITES_PER_REQUEST."""
        base, today = state.get("base") or "RUB", portal_today(self.portal)
        by_contact, by_company = defaultdict(list), defaultdict(list)
        for row in self.loaded("deals"):
            gift = gift_from_json(row)
            if gift.contact_id:
                by_contact[gift.contact_id].append(gift)
            if gift.company_id:
                by_company[gift.company_id].append(gift)
        commands = []
        for contact in self.loaded("contacts"):
            fields = contact_update(
                contact, by_contact.get(int(contact["ID"]), []), today, base, self.resolved
            )
            if fields:
                commands.append(
                    ["crm.contact.update", {"id": int(contact["ID"]), "fields": fields}]
                )
        for company in self.loaded("companies"):
            fields = company_update(
                company, by_company.get(int(company["ID"]), []), base, self.resolved
            )
            if fields:
                commands.append(
                    ["crm.company.update", {"id": int(company["ID"]), "fields": fields}]
                )
        batches = [
            dumps(commands[i : i + WRITES_PER_REQUEST])
            for i in range(0, len(commands), WRITES_PER_REQUEST)
        ]
        phase = "writes" if batches else "done"
        self.commit(state, {"writes": batches}, requests=0, phase=phase, writes=len(batches),
                    updated=len(commands), **({"finished": now_iso()} if phase == "done" else {}))  # fmt: skip

    def step_writes(self, state: dict[str, str]) -> None:
        index = int(state.get("written") or 0)
        raw = self.redis.lindex(data_key(self.member_id, self.run, "writes"), index)
        if raw is None:
            self.commit(state, phase="done", requests=0, finished=now_iso())
            return
        fresh = {m.decode() for m in self.redis.smembers(fresh_key(self.member_id))}
        commands = {f"w{i}": (method, params) for i, (method, params) in enumerate(json.loads(raw))
                    if record_key(method, params) not in fresh}  # fmt: skip
        if commands:
            self.client.batch(commands).raise_errors()
        done = index + 1 >= int(state.get("writes") or 0)
        self.commit(
            state, written=index + 1, **({"phase": "done", "finished": now_iso()} if done else {})
        )


def record_key(method: str, params: dict) -> str:
    """The changed-donors job's name of a record it wrote (rollup.refresh_donors): c<id> or k<id>."""
    return ("c" if method == "crm.contact.update" else "k") + str(params["id"])


def next_phase(values: dict, after: str) -> str:
    """The first list after ``after`` that has pages left to read, else the plan."""
    for part in ORDER[ORDER.index(after) + 1 : -1]:
        if int(values.get(f"{part}_left") or 0) > 0:
            return part
    return "plan"


def progress_of(state: dict[str, str]) -> tuple[int, int, str]:
    """(done, of, what) for a progress bar or the app page."""
    phase = state.get("phase", "")
    if phase == "writes" or phase == "done":
        return int(state.get("written") or 0), int(state.get("writes") or 0), "запись / writing"
    return int(state.get("loaded") or 0), int(state.get("total") or 0), "чтение / reading"


def totals_job(member_id: str, run: str) -> str:
    """RQ job: advance the run for up to SLICE seconds, then queue what is left at the end of the line."""
    redis = context.redis()
    portal = context.registry().get(member_id)
    if portal is None or portal.status == "uninstalled":
        return "portal uninstalled"
    try:
        totals = TotalsRun(context.client(member_id), redis, member_id, run)
        deadline = time.monotonic() + SLICE
        with bulk_lane(member_id):
            while time.monotonic() < deadline:
                if totals.step(patience=PATIENCE):
                    return "over"
    except PortalNotFound:
        return "portal uninstalled"
    except (PortalBusy, OperationTimeLimited) as busy:
        at = max(busy.retry_at or 0, time.time() + (0 if busy.retry_at else 60))
        enqueue(
            redis,
            BULK,
            f"totals-run-{member_id}-{run}-at-{int(at)}",
            totals_job,
            member_id,
            run,
            at=at,
        )
        return "waiting for the portal's limit"
    except Exception as exc:
        job = get_current_job()
        if job is None or not job.retries_left or permanent(exc) is not None:
            redis.hset(state_key(member_id), mapping={"phase": "failed", "finished": now_iso(),
                                                      "error": f"{type(exc).__name__}: {exc}"[:500]})  # fmt: skip
        raise
    enqueue(
        redis, BULK, f"totals-run-{member_id}-{run}-{time.time_ns()}", totals_job, member_id, run
    )
    return "continues"


def recompute_portal(client: BitrixClient, redis: Redis, member_id: str,
                     progress: Progress | None = None) -> dict[str, str]:  # fmt: skip
    """A whole run inline (the CLI); its final state. RecomputeRunning when one runs already."""
    run = begin_run(redis, member_id)
    if run is None:
        raise RecomputeRunning(f"portal {member_id}: a totals recompute is already running")
    totals = TotalsRun(client, redis, member_id, run)
    try:
        while not totals.step(progress=progress):
            pass
    except BaseException as exc:  # Ctrl-C too: the run must not look alive for an hour
        redis.hset(state_key(member_id), mapping={"phase": "failed", "finished": now_iso(),
                                                  "error": f"{type(exc).__name__}: {exc}"[:500]})  # fmt: skip
        raise
    return run_state(redis, member_id)


def summary(state: dict[str, str]) -> dict:
    """The run for the app page: running or not, progress, and the outcome of the last one."""
    done, of, what = progress_of(state)
    return {"running": is_running(state), "phase": state.get("phase", ""), "done": done, "of": of,
            "what": what, "updated": state.get("updated", ""), "requests": state.get("requests", ""),
            "finished": state.get("finished", ""), "error": state.get("error", "")}  # fmt: skip
