"""One retry decision for every job, and enqueue_once that is atomic and does not trust dead jobs."""

import threading
import time

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import FailedJobRegistry, StartedJobRegistry

from b24app import context
from b24app.bitrix import BitrixAuthError, BitrixError, BitrixUnavailable, RateLimited
from b24app.errors import BadRequest, Unavailable
from b24app.jobs import failures, permanent
from b24app.oauth import RefreshFailed
from b24app.queue import DEFAULT, enqueue_once
from tests.test_trust import page_of


def install(portal, app_server):
    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )


@pytest.mark.parametrize("error, lasting", [
    (BitrixAuthError("ACCESS_DENIED", "Access denied!", 403, "crm.deal.add"), True),
    (BitrixAuthError("insufficient_scope", "", 401, "crm.deal.add"), True),
    (RefreshFailed("m", "invalid_grant", "Invalid refresh token"), True),
    (BitrixError("", "Parameter 'fields' must be array.", 400, "crm.contact.add"), True),
    (BadRequest("bad input"), True),
    (RateLimited("QUERY_LIMIT_EXCEEDED", "Too many requests", 503, "batch"), False),
    (BitrixUnavailable("INTERNAL_SERVER_ERROR", "", 500, "batch"), False),
    (Unavailable("the OAuth server answered 503"), False),
    (KeyError("surprise"), False),
])  # fmt: skip
def test_permanent_or_not(error, lasting):
    """Errors that waiting cannot heal, and those the retry policy is for."""
    assert (permanent(error) is not None) is lasting


def run_burst(app_server):
    queues = [Queue(name, connection=app_server.redis) for name in ("urgent", "default", "bulk")]
    SimpleWorker(queues, connection=app_server.redis).work(burst=True)


def test_access_denied_ends_the_job_at_once_and_the_app_page_says_why(portal, app_server):
    """A permanent ACCESS_DENIED on every batch: one run, no retries, the reason kept and shown to admins."""
    portal.control("POST", "/faults", json={"method": "batch", "count": 50, "error": "ACCESS_DENIED",
                                            "description": "Access denied!", "status": 403})  # fmt: skip
    install(portal, app_server)
    run_burst(app_server)
    job = Job.fetch(f"template-{portal.member_id}", connection=app_server.redis)
    assert job.get_status() == "failed" and job.retries_left == 0
    assert job.id in FailedJobRegistry(DEFAULT, connection=app_server.redis).get_job_ids()
    [failure] = failures(portal.member_id)
    assert failure["job"] == "apply_template" and "ACCESS_DENIED" in failure["reason"]
    html = page_of(portal.sandbox, portal, app_server).post().text
    assert 'id="job-failures"' in html and "ACCESS_DENIED" in html


def test_a_transient_failure_is_retried_by_the_policy(portal, app_server):
    """A 503 on every batch: the job is scheduled again with one retry fewer, nothing recorded as stopped."""
    portal.control("POST", "/faults", json={"method": "batch", "count": 50, "error": "INTERNAL_SERVER_ERROR",
                                            "status": 500})  # fmt: skip
    install(portal, app_server)
    run_burst(app_server)
    job = Job.fetch(f"template-{portal.member_id}", connection=app_server.redis)
    assert job.get_status() == "scheduled" and job.retries_left == 4
    assert failures(portal.member_id) == []


def test_two_concurrent_callers_queue_one_job(redis_url, redis):
    """enqueue_once from 8 threads at once: one job, queued once."""
    context.configure(context.Settings(redis_url=redis_url))
    barrier = threading.Barrier(8)

    def call():
        barrier.wait()
        enqueue_once(redis, DEFAULT, "once-1", "operator.add", 1, 2)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert redis.lrange(f"rq:queue:{DEFAULT}", 0, -1) == [b"once-1"]


def test_a_started_job_whose_worker_died_is_not_trusted(redis):
    """A job left "started" with an expired registry entry (its worker died) is put back, not trusted."""
    job = Queue(DEFAULT, connection=redis).enqueue(
        "operator.add", 1, 2, job_id="stuck-1", retry=None
    )
    redis.lpop(f"rq:queue:{DEFAULT}")
    job.set_status("started")
    redis.zadd(
        StartedJobRegistry(DEFAULT, connection=redis).key, {"stuck-1:exec1": time.time() - 5}
    )
    again = enqueue_once(redis, DEFAULT, "stuck-1", "operator.add", 1, 2)
    assert again.get_status() == "queued" and redis.lrange(f"rq:queue:{DEFAULT}", 0, -1) == [
        b"stuck-1"
    ]


def test_a_started_job_with_a_live_heartbeat_is_trusted(redis):
    """A started job whose registry entry is alive: enqueue_once queues nothing."""
    job = Queue(DEFAULT, connection=redis).enqueue("operator.add", 1, 2, job_id="busy-1")
    redis.lpop(f"rq:queue:{DEFAULT}")
    job.set_status("started")
    redis.zadd(
        StartedJobRegistry(DEFAULT, connection=redis).key, {"busy-1:exec1": time.time() + 30}
    )
    assert enqueue_once(redis, DEFAULT, "busy-1", "operator.add", 1, 2).get_status() == "started"
    assert redis.llen(f"rq:queue:{DEFAULT}") == 0


def test_an_abandoned_job_with_retries_left_is_put_back_with_one_used(redis):
    """A started job whose heartbeat expired: back on its queue at once, its retry budget one smaller."""
    from rq import Retry

    from b24app.queue import resume_abandoned

    job = Queue(DEFAULT, connection=redis).enqueue(
        "operator.add", 1, 2, job_id="dead-1", retry=Retry(max=3, interval=60)
    )
    redis.lpop(f"rq:queue:{DEFAULT}")
    job.set_status("started")
    redis.zadd(StartedJobRegistry(DEFAULT, connection=redis).key, {"dead-1:exec1": time.time() - 5})
    assert resume_abandoned(redis, DEFAULT) == ["dead-1"]
    job.refresh()
    assert job.get_status() == "queued" and job.retries_left == 2
    assert redis.lrange(f"rq:queue:{DEFAULT}", 0, -1) == [b"dead-1"]


def test_a_started_job_missing_from_its_registry_is_not_trusted(redis):
    """ "started" with no registry entry at all (the entry was lost): enqueue_once queues it afresh."""
    job = Queue(DEFAULT, connection=redis).enqueue("operator.add", 1, 2, job_id="ghost-1")
    redis.lpop(f"rq:queue:{DEFAULT}")
    job.set_status("started")
    assert enqueue_once(redis, DEFAULT, "ghost-1", "operator.add", 1, 2).get_status() == "queued"


from b24app.jobs import portal_job  # noqa: E402
from b24app.ratelimit import PortalBusy  # noqa: E402


@portal_job
def busy_job(member_id: str, n: int) -> str:
    """A portal job that meets the portal's rate limit (for the test below)."""
    raise PortalBusy(member_id, time.time() + 30)


def test_a_job_meeting_the_portals_limit_is_queued_again_for_then(registered, redis, redis_url):
    """PortalBusy: the job ends, and the same job is scheduled for retry_at, its retries untouched."""
    from rq.registry import ScheduledJobRegistry

    from b24app.queue import enqueue

    context.configure(context.Settings(redis_url=redis_url, secret_key="test-secret"))
    job = enqueue(redis, DEFAULT, "busy-1", busy_job, registered.member_id, 7)
    SimpleWorker([Queue(DEFAULT, connection=redis)], connection=redis).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished" and job.return_value() == "waiting for the portal's limit"
    [again] = ScheduledJobRegistry(DEFAULT, connection=redis).get_job_ids()
    later = Job.fetch(again, connection=redis)
    assert (
        again.startswith("busy-1-at-")
        and later.args == (registered.member_id, 7)
        and later.retries_left == 5
    )


def test_a_portals_second_bulk_job_gives_its_worker_back(portal, app_server):
    """While one bulk job of a portal holds its bulk lane, a second one (a totals run) sends the portal
    nothing and is queued again two seconds on, freeing its worker for other portals' work; once the
    lane is free it runs to the end."""
    from rq.registry import ScheduledJobRegistry

    from b24app.donations.recompute import run_state, start_recompute
    from b24app.jobs import bulk_lane

    portal.control(
        "POST", "/install", json={"client_id": app_server.client_id, "flow": "ui", "finish": True}
    )
    app_server.run_jobs()
    member, redis = portal.member_id, app_server.redis
    with bulk_lane(member):
        portal.control("DELETE", "/counters")
        run = start_recompute(redis, member)
        app_server.run_jobs()
        assert portal.control("GET", "/requests")["requests"] == 0
    scheduled = ScheduledJobRegistry("bulk", connection=redis)
    [waiting] = [
        j for j in scheduled.get_job_ids() if j.startswith(f"totals-run-{member}-{run}-at-")
    ]
    assert 0 < scheduled.get_scheduled_time(waiting).timestamp() - time.time() <= 2.5
    job = Job.fetch(waiting, connection=redis)
    scheduled.remove(job)
    Queue("bulk", connection=redis).enqueue_job(job)
    app_server.run_jobs()
    assert run_state(redis, member)["phase"] == "done"
