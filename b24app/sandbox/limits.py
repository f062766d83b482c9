"""The portal's two limits (bitrix24-rest.md §3): a per-portal leaky bucket and the operating-time limiter."""

import time
from dataclasses import dataclass, field

from .errors import OPERATION_TIME_LIMIT, QUERY_LIMIT_EXCEEDED, system
from .world import Portal

WINDOW_BUCKETS = 10  # ten one-minute buckets = a sliding ten minutes
MINIMAL_FIX_TIME = 0.1  # calls shorter than this are not recorded (source `minimalFixTime`)


@dataclass
class LeakyBucket:
    """Each request adds 1, the level drains ``rate`` per second; over ``size`` → 503."""

    rate: float
    size: int
    level: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def admit(self, now: float | None = None) -> bool:
        """Count one request; False (and nothing counted) when the bucket is full."""
        now = time.monotonic() if now is None else now
        self.level = max(0.0, self.level - (now - self.at) * self.rate)
        self.at = now
        if self.level + 1 > self.size:
            return False
        self.level += 1
        return True


@dataclass
class OperatingTime:
    """Accumulated execution seconds of one (app or webhook, method) in one-minute buckets."""

    buckets: dict[int, float] = field(default_factory=dict)

    def _prune(self, now: float) -> None:
        current = int(now // 60)
        for minute in [m for m in self.buckets if m <= current - WINDOW_BUCKETS]:
            del self.buckets[minute]

    def total(self, now: float) -> float:
        self._prune(now)
        return sum(self.buckets.values())

    def reset_at(self, now: float) -> int:
        """Unix time when the oldest bucket leaves the window."""
        self._prune(now)
        oldest = min(self.buckets) if self.buckets else int(now // 60)
        return (oldest + WINDOW_BUCKETS) * 60

    def record(self, seconds: float, now: float) -> None:
        if seconds >= MINIMAL_FIX_TIME:
            minute = int(now // 60)
            self.buckets[minute] = self.buckets.get(minute, 0.0) + seconds


def admit_request(portal: Portal) -> None:
    """Pass one HTTP request through the portal's leaky bucket or raise 503 QUERY_LIMIT_EXCEEDED."""
    if not portal.settings["rate_limit"]:
        return
    buckets = portal.world.runtime.setdefault("buckets", {})
    rate, size = portal.rate()
    bucket = buckets.get(portal.member_id)
    if bucket is None or (bucket.rate, bucket.size) != (rate, size):
        bucket = buckets[portal.member_id] = LeakyBucket(rate, size)
    if not bucket.admit():
        raise system(QUERY_LIMIT_EXCEEDED)


def operating(portal: Portal, key: str, method: str) -> OperatingTime:
    """The operating-time record of (auth key, method) in this portal."""
    table = portal.world.runtime.setdefault("operating", {})
    return table.setdefault((portal.member_id, key, method), OperatingTime())


def check_operating(portal: Portal, key: str, method: str) -> None:
    """Raise 429 OPERATION_TIME_LIMIT when the method's accumulated time is over the limit."""
    if not portal.settings["operating_limit"]:
        return
    if (
        operating(portal, key, method).total(time.time())
        > portal.settings["operating_limit_seconds"]
    ):
        raise system(OPERATION_TIME_LIMIT)


def record_operating(portal: Portal, key: str, method: str, elapsed: float) -> tuple[float, int]:
    """Add a call's time (or the method's configured simulated cost); returns (operating, reset_at)."""
    now = time.time()
    record = operating(portal, key, method)
    cost = portal.settings["method_costs"].get(method)
    record.record(float(cost) if cost is not None else elapsed, now)
    return round(record.total(now), 4), record.reset_at(now)
