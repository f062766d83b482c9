"""Installed portals in Redis: domain, endpoints, tokens, application_token (minimal; see issue 3)."""

import json
import time
from dataclasses import asdict, dataclass

from redis import Redis


@dataclass
class PortalRecord:
    """What the app knows about one installed portal."""

    member_id: str
    domain: str
    client_endpoint: str
    application_token: str
    access_token: str
    refresh_token: str
    expires_at: float
    scope: str = ""
    installed: bool = False


class PortalRegistry:
    """Portal records keyed by member_id."""

    def __init__(self, redis: Redis):
        self.redis = redis

    def save(self, record: PortalRecord) -> None:
        self.redis.hset("b24:portals", record.member_id, json.dumps(asdict(record)))

    def get(self, member_id: str) -> PortalRecord | None:
        raw = self.redis.hget("b24:portals", member_id)
        return PortalRecord(**json.loads(raw)) if raw else None

    def delete(self, member_id: str) -> None:
        self.redis.hdel("b24:portals", member_id)


def expires_at(expires_in: int | None) -> float:
    return time.time() + int(expires_in or 3600)
