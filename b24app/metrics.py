"""Counters every process adds to in Redis, and the Prometheus view of them (``/metrics``).

RQ runs each job in a forked work-horse that exits with the job, and a deployment runs many web and
worker processes on many machines: in-process counters would die with them. So each event adds to a
Redis hash (one field per label set) and ``/metrics`` on any web process reads the deployment's totals,
plus gauges read live (queue depths, the oldest waiting job's age, workers alive). A counter that cannot
be written is dropped: metrics never stop the work they count.
"""

import json
import logging
import time
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
PREFIX = "b24:metrics:"


@dataclass(frozen=True)
class Counter:
    """One counter: its Prometheus name (without ``_total``), help and label names."""

    name: str
    help: str
    labels: tuple[str, ...]


REQUESTS = Counter(
    "blago24_http_requests", "HTTP requests answered, by route and status", ("route", "status")
)
JOBS = Counter(
    "blago24_jobs",
    "Jobs ended, by queue, job and state (finished, failed, retried)",
    ("queue", "job", "state"),
)
REST_CALLS = Counter(
    "blago24_rest_calls", "HTTP requests to Bitrix24, by portal and method", ("portal", "method")
)
LIMITER_WAITS = Counter(
    "blago24_limiter_waits", "Requests that waited at a portal's rate limiter", ("portal",)
)
LIMITER_WAIT_SECONDS = Counter(
    "blago24_limiter_wait_seconds", "Seconds spent waiting at the rate limiter", ("portal",)
)
LETTERS = Counter(
    "blago24_letters",
    "Donor and programme letters, by channel, kind and outcome (sent, failed)",
    ("channel", "kind", "outcome"),
)
REFUSED = Counter("blago24_deliveries_refused", "Inbound webhook deliveries refused, by source and reason",
                  ("source", "reason"))  # fmt: skip
COUNTERS = (REQUESTS, JOBS, REST_CALLS, LIMITER_WAITS, LIMITER_WAIT_SECONDS, LETTERS, REFUSED)


def add(redis: Redis, counter: Counter, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to the counter's series for ``labels`` (every label of the counter, as strings)."""
    field = json.dumps([str(labels.get(name, "")) for name in counter.labels], ensure_ascii=False)
    try:
        redis.hincrbyfloat(PREFIX + counter.name, field, amount)
    except RedisError as exc:
        log.debug("metric %s not counted: %s", counter.name, exc)


class RedisCollector:
    """The Prometheus collector over the Redis counters and the live queue gauges."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def collect(self):
        for counter in COUNTERS:
            family = CounterMetricFamily(counter.name, counter.help, labels=list(counter.labels))
            for field, value in self.redis.hgetall(PREFIX + counter.name).items():
                family.add_metric(json.loads(field), float(value))
            yield family
        yield from queue_gauges(self.redis)


def queue_gauges(redis: Redis):
    """Queue depths, the oldest waiting job's age, and workers alive, read now."""
    from .health import queue_state

    depth = GaugeMetricFamily("blago24_queue_depth", "Jobs waiting in each queue", labels=["queue"])
    oldest = GaugeMetricFamily(
        "blago24_queue_oldest_seconds", "Age of the oldest waiting job", labels=["queue"]
    )
    scheduled = GaugeMetricFamily(
        "blago24_queue_scheduled", "Jobs scheduled for later (retries, waits)", labels=["queue"]
    )
    failed = GaugeMetricFamily(
        "blago24_queue_failed", "Jobs in the failed registry", labels=["queue"]
    )
    state = queue_state(redis, time.time())
    for q in state["queues"]:
        depth.add_metric([q["name"]], q["waiting"])
        oldest.add_metric([q["name"]], q["oldest_seconds"])
        scheduled.add_metric([q["name"]], q["scheduled"])
        failed.add_metric([q["name"]], q["failed"])
    workers = GaugeMetricFamily("blago24_workers", "RQ workers alive")
    workers.add_metric([], state["workers"])
    yield from (depth, oldest, scheduled, failed, workers)  # fmt: skip


def exposition(redis: Redis) -> bytes:
    """The text Prometheus scrapes."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(redis))
    return generate_latest(registry)
