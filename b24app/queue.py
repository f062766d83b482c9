"""RQ queues and enqueueing with deterministic job ids (the sender's or the portal's natural key)."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry
from rq.job import Job

URGENT, DEFAULT, BULK = (
    "urgent",
    "default",
    "bulk",
)  # letters and reminders / ordinary work / long scans
QUEUES = (URGENT, DEFAULT, BULK)


def enqueue_once(
    redis: Redis, queue: str, job_id: str, fn: Callable | str, *args: Any, **kwargs: Any
) -> Job:
    """Queue ``fn(*args)`` under ``job_id`` unless a job with that id is already waiting or running."""
    existing = Job.fetch(job_id, connection=redis) if redis.exists(f"rq:job:{job_id}") else None
    if existing is not None and existing.get_status(refresh=True) in (
        "queued",
        "started",
        "scheduled",
        "deferred",
    ):
        return existing
    return enqueue(redis, queue, job_id, fn, *args, **kwargs)


def retry_policy() -> Retry:
    """Every job's retries: five, spread over about nine minutes."""
    return Retry(max=5, interval=[10, 30, 60, 120, 300])


def enqueue(redis: Redis, queue: str, job_id: str, fn: Callable | str, *args: Any, at: float | None = None,
            **kwargs: Any) -> Job:  # fmt: skip
    """Queue ``fn(*args)`` under ``job_id`` with the retry policy; at ``at`` (epoch seconds) when given."""
    q = Queue(queue, connection=redis)
    options = {"job_id": job_id, "retry": retry_policy(), **kwargs}
    if at is None:
        return q.enqueue(fn, *args, **options)
    return q.enqueue_at(datetime.fromtimestamp(at, UTC), fn, *args, **options)
