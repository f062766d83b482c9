"""The process's wiring: settings read once, and the Redis, registry, limiter and clients built from them.

``create_app`` and the worker call ``configure`` once at start; jobs and commands ask for what they need.
"""

from functools import cache

from redis import Redis

from .config import Settings

_settings: Settings | None = None


def configure(settings: Settings) -> Settings:
    """Set this process's settings (and forget objects built from earlier ones)."""
    global _settings
    _settings = settings
    redis.cache_clear()
    return settings


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


@cache
def redis() -> Redis:
    return Redis.from_url(settings().redis_url)


def registry():
    from .portals import PortalRegistry

    return PortalRegistry(redis(), settings().secret_key.get_secret_value())


def limiter():
    from .ratelimit import PortalRateLimiter

    return PortalRateLimiter(redis())


def oauth_servers():
    """The OAuth servers this deployment trusts (``B24APP_OAUTH_SERVERS``)."""
    from .trust import servers

    return servers(settings().oauth_servers)


def client(member_id: str):
    """A REST client for an installed portal, sharing the portal's rate limiter with every process."""
    from .bitrix import for_portal

    s = settings()
    return for_portal(registry(), member_id, s.client_id, s.client_secret.get_secret_value(), limiter(),
                      oauth_servers=oauth_servers())  # fmt: skip
