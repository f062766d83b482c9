"""Portal jobs: one retry decision for every job, and a lease that keeps one portal's job single.

``portal_job`` wraps a job whose first argument is a member_id: a portal that is gone (deleted or
uninstalled) ends it quietly; the portal's rate or operating limit queues it again for the moment the
limit frees up (no worker sleeps on it, no retry is used); an error that will not get better by waiting (``permanent``) ends it at once,
with no RQ retries, its reason kept for the app page (``failures``); anything else follows the retry
policy of ``queue.retry_policy``. ``bulk_lane`` keeps one bulk job per portal on a worker (fairness between portals). ``lease`` is a Redis lock renewed while its holder lives, so a job that
runs twice (a worker died, its job resumed) never runs twice at the same time, and a dead holder's lease
frees itself within seconds.
"""

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from redis.lock import Lock
from rq import get_current_job

from . import activity, context
from .bitrix import BatchFailed, BitrixError, OperationTimeLimited
from .errors import Blago24Error, InboundError, Unavailable
from .oauth import RefreshFailed
from .portals import PortalNotFound, portal_key
from .ratelimit import PortalBusy

log = logging.getLogger(__name__)
FAILURES_KEPT = 20
LEASE_TTL = 15  # seconds a dead holder keeps a lease: less than worker.GRACE, so a resumed job finds it free
PERMANENT_CODES = {"ACCESS_DENIED", "insufficient_scope", "INVALID_CREDENTIALS", "user_access_error",
                   "WRONG_AUTH_TYPE", "PORTAL_DELETED", "APPLICATION_NOT_FOUND", "NO_AUTH_FOUND",
                   "invalid_token", "authorization_error", "ERROR_METHOD_NOT_FOUND"}  # fmt: skip


class PortalBusyElsewhere(Blago24Error):
    """Another live job holds this portal's lease; RQ retries this one later."""


def permanent(exc: BaseException) -> str | None:
    """Why ``exc`` will not get better by retrying, or None when it may (transient or unknown)."""
    if isinstance(exc, RefreshFailed):
        return f"Bitrix24 refused the token refresh ({exc.error}): the app must be reinstalled"
    if isinstance(exc, BatchFailed):
        reasons = [permanent(e) for e in exc.errors.values()]
        return reasons[0] if reasons and all(reasons) else None
    if isinstance(exc, BitrixError):
        if exc.retryable:
            return None
        if exc.code in PERMANENT_CODES or exc.status in (401, 403):
            return f"Bitrix24 denied {exc.method}: {exc.code} {exc.description}".strip()
        if 400 <= exc.status < 500:
            return (
                f"Bitrix24 refused {exc.method} as bad input: {exc.code} {exc.description}".strip()
            )
        return None
    if isinstance(exc, InboundError) and not isinstance(exc, Unavailable):
        return str(exc)
    return None


def portal_job(fn: Callable) -> Callable:
    """Wrap a job ``fn(member_id, ...)`` with the one retry decision (module docstring)."""

    @functools.wraps(fn)
    def run(member_id: str, *args, **kwargs):
        portal = context.registry().get(member_id)
        if portal is None or portal.status == "uninstalled":
            log.info("job %s: portal %s is not installed; nothing to do", fn.__name__, member_id)
            return "portal uninstalled"
        try:
            return fn(member_id, *args, **kwargs)
        except PortalNotFound:
            log.info("job %s: portal %s was uninstalled meanwhile", fn.__name__, member_id)
            return "portal uninstalled"
        except (PortalBusy, OperationTimeLimited) as busy:
            if (job := get_current_job()) is None:
                raise
            return again_at(job, busy.retry_at or time.time() + 60)
        except Exception as exc:
            reason = permanent(exc)
            if reason is not None:
                stop_retrying(member_id, fn.__name__, reason)
            raise

    return run


def again_at(job, at: float) -> str:
    """The same job queued again at ``at`` (the portal's limit frees up then): no retry is used up."""
    from .queue import enqueue

    base = job.id.split("-at-", 1)[0]
    enqueue(
        context.redis(),
        job.origin,
        f"{base}-at-{int(at)}",
        job.func_name,
        *job.args,
        at=at,
        **job.kwargs,
    )
    log.info("job %s waits for the portal's limit until %.0f", job.id, at)
    return "waiting for the portal's limit"


def stop_retrying(member_id: str, job_name: str, reason: str) -> None:
    """End the current RQ job without retries and keep why (the app page lists the latest)."""
    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    log.warning("job %s for portal %s stopped: %s", job_name, member_id, reason)
    if context.registry().get(member_id) is None:
        return  # deleted meanwhile: nothing of it may be stored again
    entry = json.dumps(
        {"job": job_name, "reason": reason[:500], "at": time.time()}, ensure_ascii=False
    )
    redis = context.redis()
    key = portal_key(member_id, "job-failures")
    redis.pipeline().lpush(key, entry).ltrim(key, 0, FAILURES_KEPT - 1).execute()
    activity.record(redis, member_id, "stopped", job=job_name, reason=reason[:300])


def failures(member_id: str) -> list[dict]:
    """The latest jobs that stopped for good, newest first: job, reason, at."""
    return [
        json.loads(raw)
        for raw in context.redis().lrange(portal_key(member_id, "job-failures"), 0, -1)
    ]


BULK_RETRY = 2.0  # seconds before a portal's waiting bulk job asks for the portal's bulk lane again


@contextmanager
def bulk_lane(member_id: str) -> Iterator[None]:
    """One bulk job (a sync, a recompute, a scan) per portal holds a worker at a time: the portal's rate
    limit is shared, so a second one would only sleep on it while other portals' work waits. PortalBusy
    (ask again in BULK_RETRY s: the job is queued again for then, its worker freed) when another holds it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(lease(member_id, "bulk-lane"))
        except PortalBusyElsewhere:
            raise PortalBusy(member_id, time.time() + BULK_RETRY) from None
        yield


@contextmanager
def lease(member_id: str, name: str, wait: float = 0) -> Iterator[Lock]:
    """Hold the portal's ``name`` lease for the block (waiting up to ``wait`` seconds for it), renewed while
    the holder lives; PortalBusyElsewhere when a live job keeps it. ``owned()`` on the lock it yields says
    whether it is still held (check it before a write that must not happen twice)."""
    lock = context.redis().lock(
        portal_key(member_id, "lease", name), timeout=LEASE_TTL, thread_local=False
    )
    if not lock.acquire(blocking=wait > 0, blocking_timeout=wait or None):
        raise PortalBusyElsewhere(f"portal {member_id}: another {name} job is running")
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LEASE_TTL / 3):
            try:
                lock.reacquire()
            except Exception as exc:  # Redis away for a moment: the next renewal may succeed
                log.warning("portal %s: lease %s not renewed: %s", member_id, name, exc)

    renewer = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    renewer.start()
    try:
        yield lock
    finally:
        stop.set()
        renewer.join(5)
        try:
            lock.release()
        except Exception:  # expired or Redis away: it frees itself within LEASE_TTL
            log.info("portal %s: lease %s already gone at release", member_id, name)
