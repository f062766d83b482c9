"""One leaky bucket per portal in Redis, shared by every web and worker process (bitrix24-rest.md §3.1).

Each process asks before every HTTP request to a portal. The bucket mirrors the portal's own: it drains
``rate`` a second and holds ``burst``; a request that would overflow it is told how long to wait.
The script runs atomically in Redis on Redis's own clock, so machines with skewed clocks agree.
"""

import time

from redis import Redis

from .errors import Blago24Error
from .portals import portal_key

# KEYS[1] bucket; ARGV rate, burst. Returns 0 when admitted, else the wait in microseconds.
TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1]) or 0
local at = tonumber(state[2]) or now
level = math.max(0, level - (now - at) * rate)
if level + 1 <= burst then
  redis.call('HSET', KEYS[1], 'level', tostring(level + 1), 'at', tostring(now))
  redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
  return 0
end
redis.call('HSET', KEYS[1], 'level', tostring(level), 'at', tostring(now))
return math.ceil((level + 1 - burst) / rate * 1000000)
"""


class PortalBusy(Blago24Error, TimeoutError):
    """The portal's rate limit would keep the caller waiting longer than it agreed to; ask again at ``retry_at``."""

    def __init__(self, member_id: str, retry_at: float):
        super().__init__(f"portal {member_id}: rate limit, next request at {retry_at:.1f}")
        self.retry_at = retry_at


SAFETY = 0.97  # a little under the portal's rate: its clock and ours start the drain at different moments


class PortalRateLimiter:
    """Admit requests to portals at their plan's rate, across processes and machines."""

    def __init__(self, redis: Redis):
        self.redis = redis
        self.script = redis.register_script(TAKE)

    def try_acquire(self, member_id: str, rate: float, burst: int) -> float:
        """0.0 when a request may go now, else the seconds to wait before asking again."""
        wait_us = self.script(
            keys=[portal_key(member_id, "ratelimit")], args=[rate * SAFETY, burst - 1]
        )
        return int(wait_us) / 1_000_000

    def acquire(self, member_id: str, rate: float, burst: int, max_wait: float = 60.0) -> float:
        """Block until a request may go; returns seconds waited. Raises PortalBusy past ``max_wait``."""
        waited = 0.0
        while True:
            wait = self.try_acquire(member_id, rate, burst)
            if wait <= 0:
                return waited
            if waited + wait > max_wait:
                raise PortalBusy(member_id, time.time() + wait)
            time.sleep(wait)
            waited += wait
