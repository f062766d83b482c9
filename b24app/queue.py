"""RQ queues and enqueueing with deterministic job ids (the sender's or the portal's natural key)."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from .logs import JOB_ID, REQUEST_ID

URGENT, DEFAULT, BULK = (
    "urgent",
    "default",
    "bulk",
)  # letters and reminders / ordinary work / long scans
QUEUES = (URGENT, DEFAULT, BULK)


ALIVE = ("queued", "started", "scheduled", "deferred")
SWEEP_LOCK = 4  # seconds one sweep of a queue holds it


def enqueue_once(
    redis: Redis, queue: str, job_id: str, fn: Callable | str, *args: Any, **kwargs: Any
) -> Job:
    """Queue ``fn(*args)`` under ``job_id`` unless a job with that id is already waiting or running;
    a "started" job whose worker died is not trusted. Atomic across processes (a short Redis lock)."""
    with redis.lock(f"b24:lock:enqueue:{job_id}", timeout=10, blocking_timeout=10):
        existing = Job.fetch(job_id, connection=redis) if redis.exists(f"rq:job:{job_id}") else None
        if existing is not None and live(redis, existing):
            return existing
        if existing is not None:  # finished or failed: its record's expiry must not carry over
            existing.delete()
        return enqueue(redis, queue, job_id, fn, *args, **kwargs)


def live(redis: Redis, job: Job) -> bool:
    """Whether the job still waits or runs: a started job must hold a live entry in its registry
    (a dead worker's expires GRACE seconds after its last heartbeat, see worker.py)."""
    if job.get_status(refresh=True) == "started":
        resume_abandoned(redis, job.origin)
        if job.get_status(refresh=True) == "started":
            return job.id in StartedJobRegistry(job.origin, connection=redis).get_job_ids(
                cleanup=False
            )
    return job.get_status() in ALIVE


def resume_abandoned(redis: Redis, queue: str) -> list[str]:
    """Put the queue's abandoned jobs (started, heartbeat expired) back at once, each using one retry
    (out of retries: failed); RQ's own sweep would schedule them a retry interval later."""
    if not redis.set(f"b24:lock:sweep:{queue}", 1, nx=True, ex=SWEEP_LOCK):
        return []  # another process sweeps this queue right now: two sweeps would queue a job twice
    registry = StartedJobRegistry(queue, connection=redis)
    abandoned = [i for i in registry.get_expired_job_ids() if redis.exists(f"rq:job:{i}")]
    registry.cleanup()
    scheduled, q = ScheduledJobRegistry(queue, connection=redis), Queue(queue, connection=redis)
    resumed = []
    for job_id in abandoned:
        job = Job.fetch(job_id, connection=redis)
        if job.get_status(refresh=True) == "scheduled":
            scheduled.remove(job)
            q.enqueue_job(job)
            resumed.append(job_id)
    return resumed


def requeue_orphans(redis: Redis, queues: list[str], settle: float = 2.0) -> list[str]:
    """Put back jobs that say "queued" yet sit in no queue: a worker popped them and lost Redis (or died)
    before it registered them as started (over several queues RQ pops with BLPOP, keeping no copy).
    Seen twice ``settle`` seconds apart, so a live worker's job in hand is never taken for one."""
    first = orphans(redis, queues)
    if not first:
        return []
    time.sleep(settle)
    back = []
    for job_id, origin in orphans(redis, queues) & first:
        Queue(origin, connection=redis).enqueue_job(
            Job.fetch(job_id, connection=redis), at_front=True
        )
        back.append(job_id)
    return back


def orphans(redis: Redis, queues: list[str]) -> set[tuple[str, str]]:
    """(job id, queue) of every queued-status job of these queues that is in none of their lists."""
    held: set[str] = set()
    for name in queues:
        q = Queue(name, connection=redis)
        held |= set(q.get_job_ids()) | {
            i.decode() for i in redis.lrange(q.intermediate_queue_key, 0, -1)
        }
    ids = [k.decode()[7:] for k in redis.scan_iter("rq:job:*", count=1000) if k.count(b":") == 2]
    pipe = redis.pipeline(transaction=False)
    for job_id in ids:
        pipe.hmget(f"rq:job:{job_id}", "status", "origin")
    found = set()
    for job_id, (status, origin) in zip(ids, pipe.execute(), strict=True):
        origin = (origin or b"").decode()
        if status == b"queued" and origin in queues and job_id not in held:
            found.add((job_id, origin))
    return found


_queues: dict[tuple[int, str], Queue] = {}


def queue_of(redis: Redis, name: str) -> Queue:
    """The process's Queue object for ``name`` on this connection (it keeps the server's version, which
    RQ otherwise asks Redis for at every enqueue)."""
    key = (id(redis), name)
    if key not in _queues or _queues[key].connection is not redis:
        _queues[key] = Queue(name, connection=redis)
    return _queues[key]


def retry_policy() -> Retry:
    """Every job's retries: five, spread over about nine minutes."""
    return Retry(max=5, interval=[10, 30, 60, 120, 300])


def enqueue(redis: Redis, queue: str, job_id: str, fn: Callable | str, *args: Any, at: float | None = None,
            **kwargs: Any) -> Job:  # fmt: skip
    """Queue ``fn(*args)`` under ``job_id`` with the retry policy; at ``at`` (epoch seconds) when given."""
    q = queue_of(redis, queue)
    trace = {
        "request_id": REQUEST_ID.get() or JOB_ID.get()
    }  # the log lines of the job name its cause
    options = {"job_id": job_id, "retry": retry_policy(), "meta": trace, **kwargs}
    if at is None:
        return q.enqueue(fn, *args, **options)
    return q.enqueue_at(datetime.fromtimestamp(at, UTC), fn, *args, **options)
