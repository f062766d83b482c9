"""The shared per-portal rate limiter: 4 processes against one limited sandbox portal (bitrix24-rest.md §3.1)."""

import multiprocessing
import time

import pytest
from redis import Redis

from b24app.bitrix import BitrixClient
from b24app.ratelimit import PortalBusy, PortalRateLimiter

DURATION = 20.0


def _hammer(webhook, redis_url, member_id, until, results):
    limiter = PortalRateLimiter(Redis.from_url(redis_url))
    client = BitrixClient(webhook, limiter=limiter, limiter_key=member_id, rate=(2.0, 50))
    done = 0
    while time.time() < until:
        client.call("server.time")
        done += 1
    results.put((done, time.time()))


def test_four_processes_share_one_bucket_with_no_503(limited_portal, redis_url):
    """4 worker processes hammer one portal for 20 s: zero 503s, throughput within 10% of 2 req/s."""
    Redis.from_url(redis_url).flushdb()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    began = time.time()
    until = began + DURATION
    procs = [ctx.Process(target=_hammer, args=(limited_portal.webhook, redis_url, limited_portal.member_id, until,
                                              results)) for _ in range(4)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(DURATION + 60)
    answers = [results.get(timeout=5) for _ in procs]
    done = sum(n for n, _ in answers)
    elapsed = max(t for _, t in answers) - began
    counters = limited_portal.control("GET", "/counters")
    assert counters.get("!QUERY_LIMIT_EXCEEDED", 0) == 0
    steady_rate = (done - 50) / elapsed
    print(
        f"\nlimiter: {done} calls in {elapsed:.1f} s by 4 processes; after the burst of 50: {steady_rate:.2f} req/s"
    )
    assert 0.9 * 2.0 <= steady_rate <= 2.0 * 1.02


def test_reserve_gives_up_past_its_patience_and_sends_nothing(registered, redis):
    """A bulk job's step asks for a place with patience: when the bucket is full (bitrix24-rest.md §3.1)
    it gets PortalBusy with the moment to come back, and no request goes out; a granted place is the
    next request's, so that request does not queue at the limiter again."""
    limiter = PortalRateLimiter(redis)
    client = registered.client(limiter)
    for _ in range(client.rate[1]):
        limiter.try_acquire(registered.member_id, *client.rate)
    registered.portal.control("DELETE", "/counters")
    began = time.time()
    with pytest.raises(PortalBusy) as busy:
        client.reserve(0.1)
    assert time.time() - began < 0.1
    assert began + 0.3 < busy.value.retry_at < began + 1.0  # one place drains in 1/(2 × 0.97) s
    assert client.reserved == 0 and not registered.portal.control("GET", "/counters")
    client.reserve(1.0)
    assert client.reserved == 1
    assert limiter.try_acquire(registered.member_id, *client.rate) > 0  # the bucket is full again
    client.call("server.time")  # sent at once on the reserved place
    assert (
        client.reserved == 0 and registered.portal.control("GET", "/counters")["server.time"] == 1
    )
