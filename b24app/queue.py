"""RQ queues and enqueueing with deterministic job ids (the sender's or the portal's natural key)."""

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


def retry_policy() -> Retry:
    """Every job's retries: five, spread over about nine minutes."""
    return Retry(max=5, interval=[10, 30, 60, 120, 300])


def enqueue(redis: Redis, queue: str, job_id: str, fn: Callable | str, *args: Any, at: float | None = None,
            **kwargs: Any) -> Job:  # fmt: skip
    """Queue ``fn(*args)`` under ``job_id`` with the retry policy; at ``at`` (epoch seconds) when given."""
    q = Queue(queue, connection=redis)
    trace = {
        "request_id": REQUEST_ID.get() or JOB_ID.get()
    }  # the log lines of the job name its cause
    options = {"job_id": job_id, "retry": retry_policy(), "meta": trace, **kwargs}
    if at is None:
        return q.enqueue(fn, *args, **options)
    return q.enqueue_at(datetime.fromtimestamp(at, UTC), fn, *args, **options)
