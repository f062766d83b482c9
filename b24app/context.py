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
    """The deployment's Redis: the URL's server, or the primary Sentinel names when sentinels are set."""
    s = settings()
    if not s.redis_sentinels:
        return Redis.from_url(s.redis_url)
    from redis.sentinel import Sentinel

    url = Redis.from_url(s.redis_url).connection_pool.connection_kwargs
    hosts = [
        (h.rpartition(":")[0], int(h.rpartition(":")[2])) for h in s.redis_sentinels.split(",")
    ]
    sentinel = Sentinel(hosts, socket_timeout=2.0, sentinel_kwargs={"socket_timeout": 1.0})
    return sentinel.master_for(s.redis_sentinel_master, db=url.get("db", 0), password=url.get("password"),
                               socket_timeout=5.0, socket_connect_timeout=2.0)  # fmt: skip


def replicated(redis: Redis) -> None:
    """With ``B24APP_REDIS_REPLICAS``, return once that many replicas hold every write made so far (a probe
    write and WAIT on one connection: replication is ordered); Unavailable when they do not confirm."""
    from .errors import Unavailable

    wanted = settings().redis_replicas
    if wanted <= 0:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.incr("b24:replication-probe").execute_command("WAIT", wanted, settings().redis_wait_ms)
    confirmed = int(pipe.execute()[-1])
    if confirmed < wanted:
        raise Unavailable(
            f"only {confirmed} of {wanted} Redis replicas confirmed the write; try again"
        )


def registry():
    from .portals import PortalRegistry

    return PortalRegistry(redis(), settings().secret_key.get_secret_value(), replicated)


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
