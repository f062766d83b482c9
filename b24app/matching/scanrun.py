"""The duplicate scan as a resumable run of small steps, its state in Redis (product.md C5 and §3 fairness).

A run has a mode. "propose" (the page, the CLI without --apply, the nightly scan): load contacts → load
companies → cluster → preview* → done; the review queue is rebuilt and the confident clusters become the
portal's proposal (proposal.py), nothing is written to the portal. "apply" (the CLI's --apply, the nightly
scan with ``dedup_auto_merge``): load → cluster → (merge → notes)* → done. "merge" (a person's choice from
the proposal or the review queue): (merge → notes)* → done over the chosen clusters, re-read and
re-planned, then the proposal, the queue and the last report are settled.
A load step is one list request (up to 2,500 records, bitrix24-rest.md §2.4). A preview step reads up to
MERGE_CLUSTERS clusters in one request and plans them. A merge step re-reads up to
MERGE_CLUSTERS clusters in one request (values may have changed since the load), saves its plans, then
sends the planner's writes and mergeBatch (§4.4); the notes step writes the timeline comments that keep
the losers' differing values. Each step commits its progress atomically, and only if the run is still the
portal's current one and still where the step found it, so a step repeated after a crash or a retry
continues the same run: a repeated merge step uses its saved plans (the values given up are never lost)
and counts a cluster whose losers are already gone as merged.

``scan_job`` runs steps for at most SLICE seconds and re-queues itself behind other work. A step begins
only when the portal's rate limiter admits its first request within PATIENCE (its other requests wait at
most STEP_WAIT each); when the limiter or Bitrix24's operating limit would keep it waiting, the job
re-queues itself for the moment named instead of sleeping, so one portal's scan never holds a worker that
other portals' work waits for. A notes step sends one request, so a repeat never writes a comment twice. ``scan_portal`` runs the same
steps inline (the CLI).

Redis (per portal, under ``dedup``): ``run`` hash (the state, kept as the last run's record); working data
with a TTL: ``run:contact`` / ``run:company`` loaded records, ``run:confident`` clusters to merge, ``run:plans``
the merge step's plans, ``run:notes`` comments to write, ``run:review``, ``run:results`` and ``run:proposal``;
``report`` the last finished scan's report (merge runs update it), ``proposal`` the last proposal.
"""

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from redis import Redis
from redis.exceptions import WatchError
from rq import get_current_job

from .. import activity, context
from ..bitrix import PAGE, BitrixClient, OperationTimeLimited
from ..errors import Blago24Error
from ..jobs import bulk_lane, permanent, portal_job
from ..portals import PortalNotFound, portal_key
from ..queue import BULK, enqueue
from ..ratelimit import PortalBusy
from . import proposal
from .contacts import DEFAULT_REGION
from .merge import (
    MergePlan,
    MergeResult,
    note_commands,
    plan_from_dict,
    plan_merge,
    plan_to_dict,
    run_merges,
    without_done_fill,
)
from .scan import (
    Cluster,
    ScanReport,
    company_clusters,
    contact_clusters,
    fill_report,
    not_duplicates,
    review_entries,
    skip_rows,
)

SLICE = 10.0  # seconds of steps before a job gives its worker back
PATIENCE = 2.0  # the longest wait on a portal's rate limit before a job step begins
STEP_WAIT = 10.0  # ... and for each further request of a begun step (a merge step sends 2–5)
STALE_AFTER = 3600  # a run not advanced (nor re-queued) for this long is dead
WORKING_TTL = (
    7 * 86400
)  # working data of an abandoned run (it holds names, e-mails, phones) expires
MERGE_CLUSTERS = 40  # clusters per merge step: one read request and about three write requests
NOTE_ATTEMPTS = 3  # a comment the portal refuses this often for good goes into the report instead
NOTE_PAUSE = 60.0  # seconds before comments the portal refused are tried again
FULL = ["*", "UF_*", "EMAIL", "PHONE"]
LEAN = {
    "contact": ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "DATE_CREATE", "EMAIL", "PHONE"],
    "company": ["ID", "TITLE", "DATE_CREATE", "EMAIL", "PHONE"],
}
ACTIVE = ("contact", "company", "cluster", "preview", "merge", "notes")
WORKING = (
    "contact",
    "company",
    "confident",
    "plans",
    "notes",
    "lost",
    "review",
    "results",
    "proposal",
)
MODES = ("propose", "apply", "merge")
POSITION = ("run", "phase", "after", "merged_upto")  # what a step's commit checks it still holds

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


def decoded(raw: dict) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def run_state(redis: Redis, member_id: str) -> dict[str, str]:
    """The current (or last) run's state; {} when the portal never scanned."""
    return decoded(redis.hgetall(run_key(member_id)))


def is_running(state: dict[str, str]) -> bool:
    """True while a run is in an active phase and advanced within STALE_AFTER."""
    fresh = time.time() - float(state.get("updated", 0)) < STALE_AFTER
    return state.get("phase") in ACTIVE and fresh


# --- starting, continuing, ending ------------------------------------------------------------------


def begin_run(redis: Redis, member_id: str, mode: str = "propose", region: str = DEFAULT_REGION,
              clusters: list[Cluster] | None = None) -> str | None:  # fmt: skip
    """A new run's id, or None when a run is already going (two starters never both win). A "merge" run
    starts at its merge step over ``clusters``."""
    if mode not in MODES:
        raise ValueError(f"unknown scan mode {mode!r}")
    key = run_key(member_id)
    merging = mode == "merge"
    with redis.pipeline() as pipe:
        try:
            pipe.watch(key)
            if is_running(decoded(pipe.hgetall(key))):
                return None
            run = uuid.uuid4().hex[:12]
            pipe.multi()
            pipe.delete(key, *(run_key(member_id, p) for p in WORKING))
            pipe.hset(key, mapping={"run": run, "mode": mode, "region": region,
                                    "phase": "merge" if merging else "contact", "after": "", "pages_left": 0,
                                    "merged_upto": 0, "confident": len(clusters or []), "started": now_iso(),
                                    "updated": time.time(), "requests": 0, "jobs": 0})  # fmt: skip
            if merging:
                pipe.set(run_key(member_id, "confident"), json.dumps([vars(c) for c in clusters or []]),
                         ex=WORKING_TTL)  # fmt: skip
            pipe.execute()
            return run
        except WatchError:
            return None


def start_scan(redis: Redis, member_id: str, mode: str = "propose", region: str = DEFAULT_REGION,
               clusters: list[Cluster] | None = None) -> str | None:  # fmt: skip
    """Begin a run and queue its first job; None when a run is already going."""
    run = begin_run(redis, member_id, mode, region, clusters)
    if run:
        requeue(redis, member_id, run)
    return run


def start_merge(
    redis: Redis, member_id: str, clusters: list[Cluster], region: str = DEFAULT_REGION
) -> str | None:
    """Queue a job merging these clusters (re-read and re-planned when it runs); None when a run is
    already going or there is nothing to merge."""
    return start_scan(redis, member_id, "merge", region, clusters) if clusters else None


def update_run(redis: Redis, member_id: str, run: str, **values) -> bool:
    """Set state fields if ``run`` is still the portal's run (never re-creating a forgotten portal's keys)."""
    key = run_key(member_id)
    with redis.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, "run") != run.encode():
                return False
            pipe.multi()
            pipe.hset(key, mapping={**values, "updated": time.time()})
            pipe.execute()
            return True
        except WatchError:
            return False


def requeue(redis: Redis, member_id: str, run: str, at: float | None = None) -> None:
    """The run's next job: at the back of the bulk queue, or scheduled for ``at`` (epoch seconds)."""
    seq = int(run_state(redis, member_id).get("jobs", 0)) + 1
    if update_run(redis, member_id, run, jobs=seq):
        enqueue(redis, BULK, f"dedup-scan-{member_id}-{run}-{seq}", scan_job, member_id, run, at=at)


@portal_job
def scan_job(member_id: str, run: str) -> str:
    """RQ job: advance the run for up to SLICE seconds, then re-queue what is left; returns what happened."""
    redis = context.redis()
    portal = context.registry().get(member_id)
    if portal is None or portal.status == "uninstalled":
        return "portal uninstalled"
    try:
        scan = ScanRun(context.client(member_id), redis, member_id, run)
    except PortalNotFound:
        return "portal uninstalled"
    deadline = time.monotonic() + SLICE
    try:
        with bulk_lane(member_id):
            while time.monotonic() < deadline:
                if scan.step(patience=PATIENCE):
                    tell_activity(redis, member_id)
                    return "over"
    except (PortalBusy, OperationTimeLimited) as busy:
        # a limit met inside a batch names no moment (bitrix24-rest.md §3.2): a minute then
        requeue(
            redis, member_id, run, at=max(busy.retry_at, time.time() + (0 if busy.retry_at else 60))
        )
        return "waiting for the portal's limit"
    except Exception as exc:
        job = get_current_job()
        final = job is None or not job.retries_left or permanent(exc) is not None
        update_run(redis, member_id, run, error=f"{type(exc).__name__}: {exc}"[:500],
                   **({"phase": "failed", "finished": now_iso()} if final else {}))  # fmt: skip
        raise
    requeue(redis, member_id, run)
    return "continues"


def tell_activity(redis: Redis, member_id: str) -> None:
    """A finished scan or merge in the portal's recent activity (the app page)."""
    state, meta = run_state(redis, member_id), report_meta(redis, member_id)
    if state.get("mode") == "merge":
        activity.record(
            redis, member_id, "merge", merged=state.get("merged", 0), failed=state.get("failed", 0)
        )
    else:
        activity.record(
            redis, member_id, "scan", proposed=meta.get("proposed", 0), review=meta.get("review", 0)
        )


def scan_portal(client: BitrixClient, redis: Redis, member_id: str, *, apply: bool = False,
                region: str = DEFAULT_REGION, progress: Progress | None = None) -> ScanReport:  # fmt: skip
    """A whole run inline: propose the confident clusters (merge them with ``apply``), queue the rest for
    review; the report. Raises ScanRunning when a run is already going for the portal."""
    run = begin_run(redis, member_id, "apply" if apply else "propose", region)
    if run is None:
        raise ScanRunning(f"portal {member_id}: a duplicate scan is already running")
    scan = ScanRun(client, redis, member_id, run)
    try:
        while not scan.step(progress=progress):
            pass
    except BaseException as exc:  # Ctrl-C too: the run must not look alive for an hour
        update_run(redis, member_id, run, phase="failed", finished=now_iso(),
                   error=f"{type(exc).__name__}: {exc}"[:500])  # fmt: skip
        raise
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


# --- the run ---------------------------------------------------------------------------------------


class ScanRun:
    """One portal's run, advanced a step at a time."""

    def __init__(self, client: BitrixClient, redis: Redis, member_id: str, run: str):
        self.client, self.redis, self.member_id, self.run = client, redis, member_id, run
        self.key = run_key(member_id)

    def state(self) -> dict[str, str]:
        return run_state(self.redis, self.member_id)

    def step(self, patience: float | None = None, progress: Progress | None = None) -> bool:
        """Do the next step; True when the run is over (or is no longer this portal's run). With
        ``patience``, PortalBusy when the portal's limit would keep the step waiting longer."""
        state = self.state()
        if state.get("run") != self.run or state.get("phase") not in ACTIVE:
            return True
        wait = float(state.get("not_before") or 0) - time.time()
        if wait > 0:
            if patience is not None:
                raise PortalBusy(self.member_id, time.time() + wait)
            time.sleep(wait)
        steps = {"contact": self._contact, "company": self._company, "cluster": self._cluster,
                 "preview": self._preview, "merge": self._merge, "notes": self._notes}  # fmt: skip
        with RequestCounter(self.client) as self.counter:
            if patience is not None and state["phase"] != "cluster":
                self.client.reserve(patience)  # nothing is sent or changed yet when this gives up
                self.client.max_wait = STEP_WAIT
            try:
                updates = steps[state["phase"]](state)
            except WatchError:
                return True  # the run was replaced while this step ran (save_plans)
        if not self.commit(state, updates):
            return True
        state = self.state()
        if progress:
            progress(*progress_of(state))
        return state.get("phase") not in ACTIVE

    def commit(self, before: dict[str, str], updates: list[tuple]) -> bool:
        """Apply a step's writes atomically if the run still stands where the step found it."""
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)
                    now = decoded(pipe.hgetall(self.key))
                    if any(now.get(k) != before.get(k) for k in POSITION):
                        return False
                    pipe.multi()
                    pipe.hdel(self.key, "error")
                    for command, *args in updates:
                        getattr(pipe, command)(*args)
                    pipe.hincrby(self.key, "requests", self.counter.count)
                    pipe.hset(self.key, "updated", time.time())
                    for part in WORKING:
                        pipe.expire(run_key(self.member_id, part), WORKING_TTL)
                    pipe.execute()
                    return True
                except WatchError:
                    continue  # another field changed (a job counter): look again

    def fields(self, **values) -> tuple:
        """A write of state fields, for a step's list of Redis writes."""
        return ("hset", self.key, None, None, values)

    # --- the steps: each returns the Redis writes that commit it ------------------------------------

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
            after_load = "company" if entity == "contact" else "cluster"
            return [*updates, self.fields(after="", pages_left=0, phase=after_load, last=entity)]
        return [*updates, self.fields(after=chunk.after, pages_left=chunk.pages_left, last=entity)]

    def _contact(self, state: dict[str, str]) -> list[tuple]:
        return self._load("contact", state)

    def _company(self, state: dict[str, str]) -> list[tuple]:
        return self._load("company", state)

    def _cluster(self, state: dict[str, str]) -> list[tuple]:
        contacts, companies = self.loaded("contact"), self.loaded("company")
        skip, region = not_duplicates(self.redis, self.member_id), region_of(state)
        clusters = contact_clusters(contacts, skip, region) + company_clusters(
            companies, skip, region
        )
        confident = [c for c in clusters if c.confident]
        review = [c for c in clusters if not c.confident]
        then = "merge" if state.get("mode") == "apply" else "preview"
        updates: list[tuple] = [
            ("delete", run_key(self.member_id, "contact"), run_key(self.member_id, "company")),
            ("set", run_key(self.member_id, "confident"), json.dumps([vars(c) for c in confident])),
            self.fields(confident=len(confident), merged_upto=0, phase=then, last="cluster"),
        ]
        if review:
            updates.append(("rpush", run_key(self.member_id, "review"), *map(cluster_json, review)))
        updates += self.review_updates(review, replace=True)
        return updates + (self._finish(state, [], review, []) if not confident else [])

    def _preview(self, state: dict[str, str]) -> list[tuple]:
        """Read and plan the next clusters of the proposal (nothing is written to the portal)."""
        confident = self.confident()
        start = int(state.get("merged_upto", 0))
        batch = confident[start : start + MERGE_CLUSTERS]
        fresh = read_records(self.client, batch)
        groups = [proposal.group_of(c, rows, region_of(state))
                  for c, rows in zip(batch, fresh, strict=True) if len(rows) >= 2]  # fmt: skip
        updates: list[tuple] = [self.fields(merged_upto=start + len(batch), last="preview")]
        if groups:
            updates.append(
                (
                    "rpush",
                    run_key(self.member_id, "proposal"),
                    *(json.dumps(g, ensure_ascii=False) for g in groups),
                )
            )
        if start + len(batch) < len(confident):
            return updates
        review = [
            Cluster(**json.loads(c))
            for c in self.redis.lrange(run_key(self.member_id, "review"), 0, -1)
        ]
        saved = [
            json.loads(g) for g in self.redis.lrange(run_key(self.member_id, "proposal"), 0, -1)
        ]
        return updates + self._finish(state, confident, review, [], proposed=saved + groups)

    def _merge(self, state: dict[str, str]) -> list[tuple]:
        confident = self.confident()
        start = int(state.get("merged_upto", 0))
        batch = confident[start : start + MERGE_CLUSTERS]
        fresh = read_records(self.client, batch)
        saved = self.saved_plans(start)
        if saved is None:
            plans = {n: plan_merge(rows, c.entity, region_of(state))
                     for n, (c, rows) in enumerate(zip(batch, fresh, strict=True), start) if len(rows) >= 2}  # fmt: skip
            self.save_plans(start, plans)
            done: dict[int, MergeResult] = {}
        else:
            plans, done = resume(saved, dict(enumerate(fresh, start)))
        done |= dict(zip(plans, run_merges(self.client, list(plans.values())), strict=True))
        results = [
            {"n": n, "ids": r.plan.ids, "status": r.status, "reason": r.reason}
            for n, r in done.items()
        ]
        results += [{"n": n, "ids": c.ids, "status": "GONE", "reason": "записей уже нет / records gone"}
                    for n, c in enumerate(batch, start) if n not in done]  # fmt: skip
        failed = [Cluster(r.plan.entity, r.plan.ids, False, None, f"{r.status}: {r.reason}")
                  for r in done.values() if r.status not in ("SUCCESS", "GONE")]  # fmt: skip
        notes = note_commands(list(done.values()))
        updates: list[tuple] = [
            ("rpush", run_key(self.member_id, "results"), *map(json.dumps, results)),
            ("delete", run_key(self.member_id, "plans")),
            self.fields(merged_upto=start + len(batch), last="merge", note_attempts=0),
            *self.review_updates(failed),
        ]
        if failed:
            updates.append(("rpush", run_key(self.member_id, "review"), *map(cluster_json, failed)))
        if notes:
            return [
                *updates,
                ("set", run_key(self.member_id, "notes"), json.dumps(notes)),
                self.fields(phase="notes"),
            ]
        return updates + self._after_merges(state, start + len(batch), confident, results, failed)

    def _notes(self, state: dict[str, str]) -> list[tuple]:
        """One request of comments. Refused for now (limits, 5xx): kept and tried again in NOTE_PAUSE;
        refused NOTE_ATTEMPTS times for good: kept in the report instead of the timeline."""
        notes = json.loads(self.redis.get(run_key(self.member_id, "notes")) or "{}")
        now = dict(list(notes.items())[:PAGE])  # one request per step: a repeat never writes twice
        out = self.client.batch({k: tuple(v) for k, v in now.items()})
        rest = {k: v for k, v in notes.items() if k not in now}
        later = {k: v for k, v in now.items() if k in out.errors and out.errors[k].retryable}
        refused = {k: v for k, v in now.items() if k in out.errors and k not in later}
        attempts = int(state.get("note_attempts", 0)) + bool(refused)
        if later or (refused and attempts < NOTE_ATTEMPTS):
            reason = "; ".join(f"{k}: {e.code}" for k, e in out.errors.items())
            return [("set", run_key(self.member_id, "notes"), json.dumps(later | refused | rest)),
                    self.fields(note_attempts=attempts, not_before=time.time() + NOTE_PAUSE,
                                error=f"timeline comments: {reason}"[:500])]  # fmt: skip
        updates: list[tuple] = [self.fields(note_attempts=0)]
        lost = [v[1]["fields"] for v in refused.values()]
        if lost:
            updates.append(("rpush", run_key(self.member_id, "lost"), *map(json.dumps, lost)))
        if rest:
            return [*updates, ("set", run_key(self.member_id, "notes"), json.dumps(rest))]
        updates.append(("delete", run_key(self.member_id, "notes")))
        return updates + self._after_merges(
            state, int(state.get("merged_upto", 0)), self.confident(), [], [], lost
        )

    def _after_merges(self, state: dict[str, str], merged_upto: int, confident: list[Cluster],
                      results: list[dict], failed: list[Cluster], lost: list[dict] | None = None) -> list[tuple]:  # fmt: skip
        """Back to merging while clusters are left, else the run's end."""
        if merged_upto < len(confident):
            return [self.fields(phase="merge")]
        done = [json.loads(r) for r in self.redis.lrange(run_key(self.member_id, "results"), 0, -1)]
        review = [
            Cluster(**json.loads(c))
            for c in self.redis.lrange(run_key(self.member_id, "review"), 0, -1)
        ]
        lost = [
            json.loads(n) for n in self.redis.lrange(run_key(self.member_id, "lost"), 0, -1)
        ] + (lost or [])
        if state.get("mode") == "merge":
            return self._settle(state, confident, done + results, lost)
        return self._finish(state, confident, review + failed, done + results, lost)

    def _settle(self, state: dict[str, str], confident: list[Cluster], results: list[dict],
                lost: list[dict]) -> list[tuple]:  # fmt: skip
        """The end of a merge run: proposal, review queue and the last report settled; its outcome kept."""
        lost_rows = [lost_row(note, 0) for note in lost]
        count = {s: sum(r["status"] == s for r in results) for s in ("SUCCESS", "GONE")}
        return [
            *proposal.settle_updates(self.redis, self.member_id, confident, results, lost_rows),
            ("delete", *(run_key(self.member_id, p) for p in WORKING)),
            self.fields(phase="done", finished=now_iso(), merged=count["SUCCESS"], gone=count["GONE"],
                        failed=len(results) - sum(count.values()), notes_lost=len(lost)),
        ]  # fmt: skip

    def _finish(self, state: dict[str, str], confident: list[Cluster], review: list[Cluster],
                results: list[dict], lost: list[dict] | None = None,
                proposed: list[dict] | None = None) -> list[tuple]:  # fmt: skip
        """The report saved as the portal's last one, and the proposal (empty unless the run proposes);
        the run's working data dropped."""
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
        report.seconds = round(
            (datetime.now(UTC) - datetime.fromisoformat(state["started"])).total_seconds(), 1
        )
        report.rows += [
            lost_row(note, len(report.rows) + n) for n, note in enumerate(lost or [], 1)
        ]
        meta = {**vars(report), "run": self.run, "mode": state.get("mode", "propose"),
                "notes_lost": len(lost or []), "started": state["started"], "finished": now_iso()}  # fmt: skip
        offer = {"run": self.run, "finished": meta["finished"], "groups": proposed or []}
        return [
            (
                "set",
                portal_key(self.member_id, "dedup", "report"),
                json.dumps(meta, ensure_ascii=False),
            ),
            ("set", proposal.proposal_key(self.member_id), json.dumps(offer, ensure_ascii=False)),
            ("delete", *(run_key(self.member_id, p) for p in WORKING)),
            self.fields(phase="done", finished=meta["finished"]),
        ]

    # --- working data -------------------------------------------------------------------------------

    def review_updates(self, clusters: list[Cluster], replace: bool = False) -> list[tuple]:
        """Writes putting clusters in the review queue (``replace``: the previous scan's entries go)."""
        key = portal_key(self.member_id, "review")
        old = [
            k
            for k, e in review_entries(self.redis, self.member_id).items()
            if e.get("source") == "scan"
        ]
        updates: list[tuple] = [("hdel", key, *old)] if replace and old else []
        entries = {c.key: json.dumps({"ids": c.ids, "score": c.score, "reasons": c.reasons, "source": "scan",
                                      "entity": c.entity}, ensure_ascii=False) for c in clusters}  # fmt: skip
        return updates + ([("hset", key, None, None, entries)] if entries else [])

    def loaded(self, entity: str) -> dict[int, dict]:
        rows = map(json.loads, self.redis.lrange(run_key(self.member_id, entity), 0, -1))
        return {int(r["ID"]): r for r in rows}

    def confident(self) -> list[Cluster]:
        raw = self.redis.get(run_key(self.member_id, "confident"))
        return [Cluster(**c) for c in json.loads(raw)] if raw else []

    def saved_plans(self, start: int) -> dict[int, MergePlan] | None:
        """The plans an earlier attempt of this run's merge step at ``start`` saved, or None."""
        raw = self.redis.get(run_key(self.member_id, "plans"))
        data = json.loads(raw) if raw else None
        if not data or data["start"] != start or data.get("run") != self.run:
            return None
        return {int(n): plan_from_dict(p) for n, p in data["plans"].items()}

    def save_plans(self, start: int, plans: dict[int, MergePlan]) -> None:
        """Keep the plans (with the values the losers give up) before any write is sent; only while the
        run is the portal's current one."""
        data = {
            "run": self.run,
            "start": start,
            "plans": {str(n): plan_to_dict(p) for n, p in plans.items()},
        }
        with self.redis.pipeline() as pipe:
            pipe.watch(self.key)
            if pipe.hget(self.key, "run") != self.run.encode():
                raise WatchError("the run was replaced")
            pipe.multi()
            pipe.set(
                run_key(self.member_id, "plans"),
                json.dumps(data, ensure_ascii=False),
                ex=WORKING_TTL,
            )
            pipe.execute()  # WatchError if the run changed meanwhile: the step ends without writing


def resume(
    saved: dict[int, MergePlan], fresh: dict[int, list[dict]]
) -> tuple[dict[int, MergePlan], dict[int, MergeResult]]:
    """A repeated merge step: the saved plans still to run (without the losers already merged and the
    fill already written) and the outcomes an earlier attempt settled: SUCCESS when the survivor is there
    and every loser gone; GONE for the losers left when the survivor itself is gone (their comments keep
    what they gave up)."""
    todo, done = {}, {}
    for n, plan in saved.items():
        rows = {int(r["ID"]): r for r in fresh.get(n, [])}
        losers = [i for i in plan.losers if i in rows]
        kept = MergePlan(plan.entity, plan.survivor, losers, plan.fill,
                         {i: a for i, a in plan.align.items() if i in losers},
                         {i: g for i, g in plan.given_up.items() if i in losers})  # fmt: skip
        if plan.survivor not in rows:
            if losers:
                done[n] = MergeResult(kept, "GONE", f"#{plan.survivor} is gone")
        elif not losers:
            done[n] = MergeResult(plan, "SUCCESS")
        else:
            todo[n] = without_done_fill(kept, rows[plan.survivor])
    return todo, done


def progress_of(state: dict[str, str]) -> tuple[int, int, str]:
    """(done, total, what) of the step a run took last."""
    last = state.get("last", "")
    if last in ("contact", "company"):
        what = "contacts" if last == "contact" else "companies"
        return int(state.get(f"loaded_{last}", 0)), int(state.get(f"total_{last}", 0)), what
    if last == "preview" or (last == "cluster" and state.get("phase") == "preview"):
        return int(state.get("merged_upto", 0)), int(state.get("confident", 0)), "clusters planned"
    if last == "merge" or (state.get("phase") in ("merge", "notes")):
        return int(state.get("merged_upto", 0)), int(state.get("confident", 0)), "clusters merged"
    if last == "cluster":
        return 1, 1, "clustered"
    return 0, 0, ""


def lost_row(note: dict, number: int) -> dict:
    """A report row keeping a timeline comment the portal refused (its text is the values given up)."""
    return {"cluster": number, "entity": note.get("ENTITY_TYPE", ""), "ids": str(note.get("ENTITY_ID", "")),
            "survivor": "", "action": "comment lost", "score": "",
            "reasons": f"комментарий не записан / comment not written: {note.get('COMMENT', '')}"}  # fmt: skip


def region_of(state: dict[str, str]) -> str:
    """The country local phone numbers of the run's portal belong to."""
    return state.get("region") or DEFAULT_REGION


def lean_json(record: dict) -> str:
    """A loaded record as stored between steps: the matcher's fields, e-mails and phones by value only."""
    out = {k: v for k, v in record.items() if k not in ("EMAIL", "PHONE")}
    for name in ("EMAIL", "PHONE"):
        out[name] = [{"VALUE": m.get("VALUE", "")} for m in record.get(name) or []]
    return json.dumps(out, ensure_ascii=False)


def cluster_json(cluster: Cluster) -> str:
    return json.dumps(vars(cluster), ensure_ascii=False)


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
