"""The shared per-portal rate limiter: 4 processes against one limited sandbox portal (bitrix24-rest.md §3.1)."""

import multiprocessing
import time

from redis import Redis

from b24app.bitrix import BitrixClient
from b24app.ratelimit import PortalRateLimiter

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
