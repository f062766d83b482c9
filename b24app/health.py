"""What ``/healthz`` reports: Redis reachable, queue depths, workers and their scheduler alive, and the
age of the oldest waiting job; unhealthy (503) when Redis is away, no worker lives, or a job has waited
longer than ``MAX_WAIT``."""

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry

from .queue import QUEUES

MAX_WAIT = (
    300.0  # seconds the oldest waiting job may wait before the deployment counts as unhealthy
)


def queue_state(redis: Redis, now: float) -> dict:
    """Per queue: waiting, scheduled and failed jobs and the oldest waiting job's age; workers alive."""
    queues = []
    for name in QUEUES:
        q = Queue(name, connection=redis)
        first = q.get_job_ids(0, 1)
        job = q.fetch_job(first[0]) if first else None
        enqueued = job.enqueued_at.timestamp() if job is not None and job.enqueued_at else now
        queues.append({"name": name, "waiting": q.count, "oldest_seconds": round(max(0.0, now - enqueued), 1),
                       "scheduled": ScheduledJobRegistry(name, connection=redis).count,
                       "failed": FailedJobRegistry(name, connection=redis).count})  # fmt: skip
    workers = Worker.all(connection=redis)
    schedulers = sum(1 for name in QUEUES if redis.exists(f"rq:scheduler-lock:{name}"))
    return {"queues": queues, "workers": len(workers), "schedulers": schedulers}


def health(redis: Redis, now: float) -> tuple[bool, dict]:
    """(healthy, the report) for ``/healthz``."""
    try:
        redis.ping()
        state = queue_state(redis, now)
    except RedisError as exc:
        return False, {"ok": False, "redis": f"unreachable: {type(exc).__name__}"}
    problems = []
    if not state["workers"]:
        problems.append("no worker is alive")
    elif not state["schedulers"]:
        problems.append("no worker runs the scheduler (retries and timed jobs wait)")
    problems += [f"queue {q['name']}: the oldest job has waited {q['oldest_seconds']:.0f} s"
                 for q in state["queues"] if q["oldest_seconds"] > MAX_WAIT]  # fmt: skip
    return not problems, {"ok": not problems, "redis": "ok", "problems": problems, **state}
