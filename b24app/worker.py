"""The worker: RQ's, tuned so that a job whose worker died resumes within a minute or so, and wrapped
so that a lost Redis is waited for instead of ending the process.

RQ counts a started job as abandoned when its heartbeat stops for ``job_monitoring_interval`` + 60 s and
sweeps abandoned jobs in its maintenance pass, every 600 s by default; an idle worker blocks in BLPOP for
``worker_ttl`` - 15 s between passes. Here: a heartbeat every 10 s, abandoned 20 s after a missed one,
and our own sweep every 5 s (``queue.resume_abandoned``) puts an abandoned job straight back on its
queue with one retry used, so its retry budget holds and no scheduler is needed (a killed worker's
scheduler keeps its lock for 61 s).
"""

import logging
import os
import signal
import threading
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker
from rq.job import Job

from . import metrics
from .logs import traced
from .matching.nightly import schedule_nightly
from .queue import requeue_orphans, resume_abandoned

log = logging.getLogger(__name__)
HEARTBEAT = 10  # seconds between heartbeats of a running job
GRACE = 20  # seconds past a missed heartbeat before a job counts as abandoned
MAINTENANCE = 15  # seconds between sweeps for abandoned jobs
WORKER_TTL = 40  # the worker's own key; an idle worker's BLPOP lasts WORKER_TTL - 15 s
SWEEP = 5  # seconds between our own sweeps, which put abandoned jobs back at once
REDIS_WAIT_MAX = 30.0  # the longest pause between two attempts to reach Redis


class Blago24Worker(Worker):
    """An RQ worker whose jobs count as abandoned ``GRACE`` seconds after a missed heartbeat, and which
    remembers being asked to stop (RQ does not say so when it stops while idle)."""

    asked_to_stop = False

    def request_stop(self, signum, frame):
        self.asked_to_stop = True
        return super().request_stop(signum, frame)

    def perform_job(self, job: Job, queue: Queue, *args, **kwargs) -> bool:
        """Run the job with its cause's request id and its own id on every log line."""
        with traced(request=(job.meta or {}).get("request_id", ""), job=job.id):
            return super().perform_job(job, queue, *args, **kwargs)

    def handle_job_success(self, job: Job, queue: Queue, *args, **kwargs):
        metrics.add(
            self.connection, metrics.JOBS, queue=job.origin, job=job.func_name, state="finished"
        )
        return super().handle_job_success(job, queue, *args, **kwargs)

    def handle_job_failure(self, job: Job, queue: Queue, *args, **kwargs):
        state = "retried" if job.should_retry else "failed"
        metrics.add(self.connection, metrics.JOBS, queue=job.origin, job=job.func_name, state=state)
        return super().handle_job_failure(job, queue, *args, **kwargs)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        if job.timeout and job.timeout > 0:
            return int(min(job.timeout - working_time, self.job_monitoring_interval)) + GRACE
        return self.job_monitoring_interval + GRACE


class BurstWorker(Blago24Worker):
    """A worker that ends when its queues are empty, without RQ's command channel: nobody sends a one-off
    run commands, and closing the channel races its reader thread, which then holds the exit up to 60 s."""

    def subscribe(self) -> None:
        pass


def make_worker(redis: Redis, queue_names: list[str], burst: bool = False) -> Blago24Worker:
    queues = [Queue(name, connection=redis) for name in queue_names]
    kind = BurstWorker if burst else Blago24Worker
    return kind(queues, connection=redis, job_monitoring_interval=HEARTBEAT,
                maintenance_interval=MAINTENANCE, worker_ttl=WORKER_TTL)  # fmt: skip


def wait_for_redis(redis: Redis) -> None:
    """Return once Redis answers, trying with capped exponential back-off."""
    delay = 0.5
    while True:
        try:
            redis.ping()
            return
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("worker: Redis not reachable (%s); next try in %.1f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, REDIS_WAIT_MAX)


def sweep(redis: Redis, queue_names: list[str], stop: threading.Event) -> None:
    """Every SWEEP seconds, put abandoned jobs back on their queues (one sweeper at a time anywhere)."""
    while not stop.wait(SWEEP):
        try:
            for name in queue_names:
                for job_id in resume_abandoned(redis, name):
                    log.warning("job %s: its worker died; resumed", job_id)
        except Exception as exc:  # Redis away: the next sweep tries again
            log.info("sweep skipped: %s", exc)


def run(redis: Redis, queue_names: list[str], burst: bool = False) -> int:
    """Work until asked to stop (or, with ``burst``, until the queues are empty); a worker that quit
    because Redis went away is replaced by a new one as soon as Redis answers again."""
    stop = threading.Event()
    threading.Thread(
        target=sweep, args=(redis, queue_names, stop), name="sweep", daemon=True
    ).start()
    try:
        return work(redis, queue_names, burst)
    finally:
        stop.set()


def work(redis: Redis, queue_names: list[str], burst: bool) -> int:
    previous: Worker | None = None
    while True:
        wait_for_redis(redis)
        for job_id in requeue_orphans(redis, queue_names):
            log.warning(
                "job %s: popped by a worker that lost Redis or died before it started; queued again",
                job_id,
            )
        schedule_nightly(redis)
        if previous is not None:
            release_scheduler_locks(previous)
        worker = make_worker(redis, queue_names, burst)
        try:
            worker.work(with_scheduler=True, burst=burst)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            log.warning("worker %s: lost Redis (%s)", worker.name, exc)
        finally:
            end_horse(worker)
        if burst or worker.asked_to_stop:
            return 0
        log.warning("worker %s quit without being asked to; starting a new worker", worker.name)
        previous = worker
        time.sleep(1)


def release_scheduler_locks(worker: Worker) -> None:
    """Free the scheduler locks of a worker that quit (its scheduler is stopped): else they block the
    next scheduler, and every retry waiting in it, for 61 s."""
    scheduler = getattr(worker, "scheduler", None)
    if scheduler is None:
        return
    try:
        scheduler.release_locks()
    except Exception as exc:  # a lock already gone or Redis away again: the TTL frees it anyway
        log.info("worker %s: scheduler locks not released: %s", worker.name, exc)


def end_horse(worker: Worker) -> None:
    """Kill a work-horse the worker left running: its job resumes (once) from the abandoned sweep."""
    pid = getattr(worker, "_horse_pid", 0)
    if not pid:
        return
    try:
        exited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # reaped already: not ours any more, whatever has that pid now
        return
    if exited:
        return
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    log.warning("worker %s: left-over work-horse %s killed", worker.name, pid)
