"""The duplicate scan as a resumable run of small steps, its state in Redis (product.md C5 and §3 fairness).

Phases: load contacts → load companies → cluster → merge → done (a dry run ends after cluster). A load
step is one list request (up to 2,500 records, bitrix24-rest.md §2.4); a merge step re-reads up to
MERGE_CLUSTERS clusters in one request (fresh values, since hours may pass between load and merge), then
runs the planner's writes and mergeBatch (§4.4). Each step commits its progress atomically before the next
begins, so a run survives a worker's death and resumes where it stopped.

``scan_job`` runs steps for at most SLICE seconds and re-queues itself behind other work; when the portal's
rate limit would keep it waiting longer than PATIENCE it re-queues itself for the moment the limiter names
instead of sleeping, so one portal's scan never holds a worker that other portals' work waits for.
``scan_portal`` runs the same steps inline (the CLI).

Redis (per portal, under ``dedup``): ``run`` hash (state), ``run:contact`` / ``run:company`` lists of
loaded records, ``run:confident`` the clusters to merge (JSON), ``run:review`` and ``run:results`` lists,
``report`` the last finished run's report (JSON).
"""

import csv
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue, Retry

from .. import context
from ..bitrix import PAGE, BitrixClient
from ..errors import Blago24Error
from ..portals import PortalNotFound, portal_key
from ..queue import BULK
from ..ratelimit import PortalBusy
from .merge import merge_plans, plan_merge
from .scan import (
    Cluster,
    ScanReport,
    company_clusters,
    contact_clusters,
    fill_report,
    not_duplicates,
    queue_for_review,
    remove_scan_entries,
    skip_rows,
)

SLICE = 10.0  # seconds of steps before a job gives its worker back
PATIENCE = 2.0  # the longest wait on a portal's rate limit a job step accepts
STALE_AFTER = 3600  # a run not advanced for this long is dead (its job failed for good)
MERGE_CLUSTERS = 40  # clusters per merge step: one read request and about three write requests
FULL = ["*", "UF_*", "EMAIL", "PHONE"]
LEAN = {
    "contact": ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "DATE_CREATE", "EMAIL", "PHONE"],
    "company": ["ID", "TITLE", "DATE_CREATE", "EMAIL", "PHONE"],
}
NEXT_PHASE = {"contact": "company", "company": "cluster", "cluster": "merge", "merge": "done"}
ACTIVE = ("contact", "company", "cluster", "merge")

Progress = Callable[[int, int, str], None]


class ScanRunning(Blago24Error):
    """A duplicate scan is already running for the portal."""


class RequestCounter:
    """Counts a client's HTTP requests: each one passes the client's limiter exactly once."""

    def __init__(self, client: BitrixClient):
        self.client, self.inner, self.count = client, client.limiter, 0

    def acquire(self, *args, **kwargs):
        self.count += 1
        return self.inner.acquire(*args, **kwargs) if self.inner is not None else 0.0

    def __enter__(self) -> "RequestCounter":
        self.client.limiter = self
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.limiter = self.inner


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_key(member_id: str, *parts: str) -> str:
    return portal_key(member_id, "dedup", "run", *parts)


def run_state(redis: Redis, member_id: str) -> dict[str, str]:
    """The current (or last) run's state; {} when the portal never scanned."""
    return {k.decode(): v.decode() for k, v in redis.hgetall(run_key(member_id)).items()}


def is_running(state: dict[str, str]) -> bool:
    """True while a run is in an active phase and advanced within STALE_AFTER."""
    fresh = time.time() - float(state.get("updated", 0)) < STALE_AFTER
    return state.get("phase") in ACTIVE and fresh


def begin_run(redis: Redis, member_id: str, dry_run: bool = False) -> str | None:
    """A new run's id, or None when a run is already going (two starters never both win)."""
    key = run_key(member_id)
    with redis.pipeline() as pipe:
        try:
            pipe.watch(key)
            if is_running({k.decode(): v.decode() for k, v in pipe.hgetall(key).items()}):
                return None
            run = uuid.uuid4().hex[:12]
            pipe.multi()
            pipe.delete(key, *(run_key(member_id, p) for p in ("contact", "company", "confident",
                                                               "review", "results")))  # fmt: skip
            pipe.hset(key, mapping={"run": run, "dry_run": int(dry_run), "phase": "contact",
                                    "after": "", "pages_left": 0, "started": now_iso(),
                                    "updated": time.time(), "requests": 0, "jobs": 0})  # fmt: skip
            pipe.execute()
            return run
        except WatchError:
            return None


def start_scan(redis: Redis, member_id: str, dry_run: bool = False) -> str | None:
    """Begin a run and queue its first job; None when a run is already going."""
    run = begin_run(redis, member_id, dry_run)
    if run:
        requeue(redis, member_id, run)
    return run


def requeue(redis: Redis, member_id: str, run: str, at: float | None = None) -> None:
    """The run's next job: at the back of the bulk queue, or scheduled for ``at`` (epoch seconds)."""
    seq = redis.hincrby(run_key(member_id), "jobs", 1)
    queue = Queue(BULK, connection=redis)
    options = {
        "job_id": f"dedup-scan-{member_id}-{run}-{seq}",
        "retry": Retry(max=5, interval=[10, 30, 60, 120, 300]),
    }
    if at is None:
        queue.enqueue(scan_job, member_id, run, **options)
    else:
        queue.enqueue_at(datetime.fromtimestamp(at, UTC), scan_job, member_id, run, **options)


def scan_job(member_id: str, run: str) -> str:
    """RQ job: advance the run for up to SLICE seconds, then re-queue what is left; returns what happened."""
    redis = context.redis()
    try:
        scan = ScanRun(context.client(member_id), redis, member_id)
    except PortalNotFound:
        return "portal uninstalled"
    deadline = time.monotonic() + SLICE
    try:
        while time.monotonic() < deadline:
            if scan.state().get("run") != run:
                return "replaced by a newer run"
            if scan.step(patience=PATIENCE):
                return "done"
    except PortalBusy as busy:
        requeue(redis, member_id, run, at=busy.retry_at)
        return "waiting for the portal's rate limit"
    except Exception as exc:
        redis.hset(run_key(member_id), "error", f"{type(exc).__name__}: {exc}"[:500])
        raise
    requeue(redis, member_id, run)
    return "continues"


def scan_portal(client: BitrixClient, redis: Redis, member_id: str, *, dry_run: bool = False,
                progress: Progress | None = None) -> ScanReport:  # fmt: skip
    """A whole run inline: merge the confident clusters, queue the rest (unless ``dry_run``); the report.
    Raises ScanRunning when a run is already going for the portal."""
    run = begin_run(redis, member_id, dry_run)
    if run is None:
        raise ScanRunning(f"portal {member_id}: a duplicate scan is already running")
    scan = ScanRun(client, redis, member_id)
    while not scan.step(progress=progress):
        pass
    return last_report(redis, member_id)


def last_report(redis: Redis, member_id: str) -> ScanReport | None:
    """The last finished run's report, or None."""
    raw = redis.get(portal_key(member_id, "dedup", "report"))
    if not raw:
        return None
    data = json.loads(raw)
    return ScanReport(**{k: v for k, v in data.items() if k in ScanReport.__dataclass_fields__})


def report_meta(redis: Redis, member_id: str) -> dict:
    """The last report's figures with when it finished and whether it was a dry run (no rows)."""
    raw = redis.get(portal_key(member_id, "dedup", "report"))
    return {k: v for k, v in json.loads(raw).items() if k != "rows"} if raw else {}


class ScanRun:
    """One portal's run, advanced a step at a time."""

    def __init__(self, client: BitrixClient, redis: Redis, member_id: str):
        self.client, self.redis, self.member_id = client, redis, member_id
        self.key = run_key(member_id)

    def state(self) -> dict[str, str]:
        return run_state(self.redis, self.member_id)

    def step(self, patience: float | None = None, progress: Progress | None = None) -> bool:
        """Do the next step; True when the run is over. With ``patience`` a step that would wait longer on
        the rate limit raises PortalBusy before it changes anything."""
        state = self.state()
        phase = state.get("phase")
        if phase not in ACTIVE:
            return True
        if patience is not None and phase != "cluster":
            self.client.reserve(patience)
        steps = {
            "contact": self._contact,
            "company": self._company,
            "cluster": self._cluster,
            "merge": self._merge,
        }
        with RequestCounter(self.client) as self.counter:
            updates = steps[phase](state)
        pipe = self.redis.pipeline()
        for command, *args in updates:
            getattr(pipe, command)(*args)
        pipe.hincrby(self.key, "requests", self.counter.count)
        pipe.hset(self.key, "updated", time.time())
        pipe.hdel(self.key, "error")
        pipe.execute()
        state = self.state()
        if progress:
            progress(*progress_of(state))
        return state.get("phase") == "done"

    def fields(self, **values) -> tuple:
        """A write of state fields, for a phase's list of Redis writes."""
        return ("hset", self.key, None, None, values)

    # --- the phases: each returns the Redis writes that commit it -----------------------------------

    def _load(self, entity: str, state: dict[str, str]) -> list[tuple]:
        after = int(state["after"]) if state.get("after") else None
        chunk = self.client.list_chunk(f"crm.{entity}.list", {"select": LEAN[entity]}, after=after,
                                       pages_left=int(state.get("pages_left", 0)))  # fmt: skip
        updates: list[tuple] = [("hincrby", self.key, f"loaded_{entity}", len(chunk.rows))]
        if chunk.rows:
            updates.append(("rpush", run_key(self.member_id, entity), *map(lean_json, chunk.rows)))
        if chunk.total is not None:
            updates.append(self.fields(**{f"total_{entity}": chunk.total}))
        if chunk.done:
            return [
                *updates,
                self.fields(after="", pages_left=0, phase=NEXT_PHASE[entity], last=entity),
            ]
        return [*updates, self.fields(after=chunk.after, pages_left=chunk.pages_left, last=entity)]

    def _contact(self, state: dict[str, str]) -> list[tuple]:
        return self._load("contact", state)

    def _company(self, state: dict[str, str]) -> list[tuple]:
        return self._load("company", state)

    def _cluster(self, state: dict[str, str]) -> list[tuple]:
        contacts, companies = self.loaded("contact"), self.loaded("company")
        skip = not_duplicates(self.redis, self.member_id)
        clusters = contact_clusters(contacts, skip) + company_clusters(companies, skip)
        confident = [c for c in clusters if c.confident]
        review = [c for c in clusters if not c.confident]
        dry_run = state.get("dry_run") == "1"
        if not dry_run:
            remove_scan_entries(self.redis, self.member_id)
            queue_for_review(self.redis, self.member_id, review)
        updates: list[tuple] = [
            ("delete", run_key(self.member_id, "contact"), run_key(self.member_id, "company")),
            (
                "set",
                run_key(self.member_id, "confident"),
                json.dumps([vars(c) for c in confident], ensure_ascii=False),
            ),
            self.fields(confident=len(confident), merged_upto=0, phase="merge", last="cluster"),
        ]
        if review:
            updates.append(("rpush", run_key(self.member_id, "review"), *map(cluster_json, review)))
        if dry_run or not confident:
            return updates + self._finish(state, confident, review, [])
        return updates

    def _merge(self, state: dict[str, str]) -> list[tuple]:
        confident = self.confident()
        start = int(state.get("merged_upto", 0))
        batch = confident[start : start + MERGE_CLUSTERS]
        results, failed = merge_clusters(self.client, batch, start)
        queue_for_review(self.redis, self.member_id, failed)
        updates: list[tuple] = [
            ("rpush", run_key(self.member_id, "results"), *map(json.dumps, results))
        ]
        if failed:
            updates.append(("rpush", run_key(self.member_id, "review"), *map(cluster_json, failed)))
        updates.append(self.fields(merged_upto=start + len(batch), last="merge"))
        if start + len(batch) < len(confident):
            return updates
        done = [json.loads(r) for r in self.redis.lrange(run_key(self.member_id, "results"), 0, -1)]
        review = [
            Cluster(**json.loads(c))
            for c in self.redis.lrange(run_key(self.member_id, "review"), 0, -1)
        ]
        return updates + self._finish(state, confident, review + failed, done + results)

    def _finish(self, state: dict[str, str], confident: list[Cluster], review: list[Cluster],
                results: list[dict]) -> list[tuple]:  # fmt: skip
        """The report saved as the portal's last one; the run's working data dropped."""
        report = ScanReport(
            contacts=int(state.get("loaded_contact", 0)),
            companies=int(state.get("loaded_company", 0)),
        )
        fill_report(
            report,
            confident,
            results,
            review,
            skip_rows(not_duplicates(self.redis, self.member_id)),
        )
        report.requests = int(state.get("requests", 0)) + self.counter.count
        started = datetime.fromisoformat(state["started"])
        report.seconds = round((datetime.now(UTC) - started).total_seconds(), 1)
        meta = {**vars(report), "run": state.get("run"), "dry_run": state.get("dry_run") == "1",
                "started": state["started"], "finished": now_iso()}  # fmt: skip
        return [
            (
                "set",
                portal_key(self.member_id, "dedup", "report"),
                json.dumps(meta, ensure_ascii=False),
            ),
            ("delete", *(run_key(self.member_id, p) for p in ("confident", "review", "results"))),
            self.fields(phase="done", finished=meta["finished"]),
        ]

    # --- working data -------------------------------------------------------------------------------

    def loaded(self, entity: str) -> dict[int, dict]:
        rows = map(json.loads, self.redis.lrange(run_key(self.member_id, entity), 0, -1))
        return {int(r["ID"]): r for r in rows}

    def confident(self) -> list[Cluster]:
        raw = self.redis.get(run_key(self.member_id, "confident"))
        return [Cluster(**c) for c in json.loads(raw)] if raw else []


def progress_of(state: dict[str, str]) -> tuple[int, int, str]:
    """(done, total, what) of the step a run took last."""
    last = state.get("last", "")
    if last in ("contact", "company"):
        what = "contacts" if last == "contact" else "companies"
        return int(state.get(f"loaded_{last}", 0)), int(state.get(f"total_{last}", 0)), what
    if last == "merge" or (last == "cluster" and state.get("phase") == "merge"):
        return int(state.get("merged_upto", 0)), int(state.get("confident", 0)), "clusters merged"
    return 1, 1, "clustered"


def lean_json(record: dict) -> str:
    """A loaded record as stored between steps: the matcher's fields, e-mails and phones by value only."""
    out = {k: v for k, v in record.items() if k not in ("EMAIL", "PHONE")}
    for name in ("EMAIL", "PHONE"):
        out[name] = [{"VALUE": m.get("VALUE", "")} for m in record.get(name) or []]
    return json.dumps(out, ensure_ascii=False)


def cluster_json(cluster: Cluster) -> str:
    return json.dumps(vars(cluster), ensure_ascii=False)


def merge_clusters(
    client: BitrixClient, clusters: list[Cluster], start: int
) -> tuple[list[dict], list[Cluster]]:
    """Merge clusters numbered from ``start`` as their records are now: the results (``n``, ``ids``,
    ``status``, ``reason``; GONE when fewer than two records are left) and the failed ones for review."""
    fresh = read_records(client, clusters)
    plans = {n: plan_merge(rows, c.entity) for n, (c, rows) in enumerate(zip(clusters, fresh, strict=True), start)
             if len(rows) >= 2}  # fmt: skip
    merged = dict(zip(plans, merge_plans(client, list(plans.values())), strict=True))
    results = [
        {"n": n, "ids": r.plan.ids, "status": r.status, "reason": r.reason}
        for n, r in merged.items()
    ]
    results += [{"n": n, "ids": c.ids, "status": "GONE", "reason": "записей уже нет / records gone"}
                for n, c in enumerate(clusters, start) if n not in plans]  # fmt: skip
    failed = [Cluster(r.plan.entity, r.plan.ids, False, None, f"{r.status}: {r.reason}")
              for r in merged.values() if not r.merged]  # fmt: skip
    return results, failed


def read_records(client: BitrixClient, clusters: list[Cluster]) -> list[list[dict]]:
    """Each cluster's records as they are now (deleted ones left out), read in one batch request of
    list commands, 50 ids each."""
    wanted = [(c.entity, i) for c in clusters for i in c.ids]
    commands = {}
    for entity in ("contact", "company"):
        ids = [i for e, i in wanted if e == entity]
        for n in range(0, len(ids), PAGE):
            params = {"filter": {"@ID": ids[n : n + PAGE]}, "select": FULL, "order": {"ID": "ASC"}}
            commands[f"{entity}{n // PAGE}"] = (f"crm.{entity}.list", params)
    out = client.batch(commands)
    if out.errors:
        raise next(
            iter(out.errors.values())
        )  # a failed read is not a deleted record: the job retries
    found = {
        (key.rstrip("0123456789"), int(r["ID"])): r
        for key, rows in out.result.items()
        for r in rows or []
    }
    return [[found[(c.entity, i)] for i in c.ids if (c.entity, i) in found] for c in clusters]


REPORT_FIELDS = ["cluster", "ids", "survivor", "action", "reasons", "score", "entity"]


def write_report(out: TextIO, rows: list[dict], delimiter: str = ",") -> None:
    """The report's rows as CSV with a header line."""
    writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS, delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
