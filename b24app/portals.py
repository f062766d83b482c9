"""The portal registry in Redis: one encrypted record per installed portal, plus lookup indexes.

A record holds the portal's endpoints, tokens, application_token, scopes, plan, template version,
connector settings and the per-portal key used in its webhook URLs. The whole record is encrypted at
rest (Fernet, key derived from ``B24APP_SECRET_KEY``); only member_id, domain and key appear in clear
in the indexes.
"""

import base64
import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields

from cryptography.fernet import Fernet, InvalidToken
from redis import Redis

from .errors import Blago24Error

PREFIX = "b24"
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
)  # kept apart: see PortalRegistry.save

log = logging.getLogger(__name__)


class PortalNotFound(Blago24Error):
    """No installed portal with that member_id, key or domain."""


@dataclass
class Portal:
    """What the app knows about one portal it is installed in."""

    member_id: str
    domain: str
    client_endpoint: str
    server_endpoint: str
    application_token: str
    access_token: str = ""
    refresh_token: str = ""
    expires_at: float = 0.0
    scope: list[str] = field(default_factory=list)
    plan: str = "basic"
    status: str = "installing"  # installing → installed → uninstalled (or deleted with CLEAN)
    template_version: str = ""
    app_version: int = 0  # the installed version the OAuth server confirmed (install.version)
    install_id: str = ""  # new at every confirmed install: the app's signed page tokens carry it
    settings: dict = field(default_factory=dict)
    key: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    # signs links that outlive B24APP_SECRET_KEY rotations (unsubscribe); "" on records older than it
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    installed_at: float = field(default_factory=time.time)

    def __repr__(self) -> str:
        return (
            f"Portal(member_id={self.member_id!r}, domain={self.domain!r}, status={self.status!r})"
        )

    @property
    def rate(self) -> tuple[float, int]:
        """(requests per second, burst) of the portal's plan (bitrix24-rest.md §3.1); ``unlimited``: a
        portal without the limit (an on-premise box configured so; the sandbox with its limits off)."""
        if self.plan == "unlimited":
            return (1e6, 10**6)
        return (5.0, 250) if self.plan == "enterprise" else (2.0, 50)


PORTAL_FIELDS = {f.name for f in fields(Portal)}


# KEYS[1] the key index; ARGV key, record prefix, per-portal prefix, tokens suffix → member_id, record, tokens
BY_KEY = """
local member = redis.call('HGET', KEYS[1], ARGV[1])
if not member then return false end
return {member, redis.call('GET', ARGV[2] .. member) or '', redis.call('GET', ARGV[3] .. member .. ARGV[4]) or ''}
"""
PLAIN_KEPT = 512  # decrypted records kept per process, keyed by their ciphertext


@functools.lru_cache(maxsize=PLAIN_KEPT)
def plaintext(fernet: Fernet, blob: bytes) -> bytes:
    """A record decrypted, remembered by its ciphertext: any change (a rotated secret, a new token) is a new
    ciphertext and so read afresh; a record that does not decrypt is never remembered."""
    return fernet.decrypt(blob)


@functools.cache
def fernet_for(secret_key: str) -> Fernet:
    """A Fernet cipher derived from the deployment's secret key."""
    digest = hashlib.sha256(b"blago24/portal-registry/" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class PortalRegistry:
    """Encrypted portal records keyed by member_id, with key and domain indexes."""

    def __init__(
        self, redis: Redis, secret_key: str, replicated: Callable[[Redis], None] | None = None
    ):
        self.redis = redis
        self.fernet = fernet_for(secret_key)
        self.replicated = replicated or (lambda redis: None)  # see context.replicated

    def _key(self, member_id: str) -> str:
        return f"{PREFIX}:portal:{member_id}"

    def save(self, portal: Portal, tokens: bool = False) -> None:
        """Write the record and its indexes atomically. The OAuth tokens are written only with ``tokens``
        (or on the first save): a record read before a refresh can never bring back a spent refresh token."""
        record = asdict(portal)
        pair = {name: record.pop(name) for name in TOKEN_FIELDS}
        old = self.get(portal.member_id)
        pipe = self.redis.pipeline(transaction=True)
        if old and old.domain != portal.domain:
            pipe.hdel(f"{PREFIX}:portal-domains", old.domain)
        if tokens or not self.redis.exists(self._tokens_key(portal.member_id)):
            pipe.set(
                self._tokens_key(portal.member_id), self.fernet.encrypt(json.dumps(pair).encode())
            )
        pipe.set(self._key(portal.member_id), self.fernet.encrypt(json.dumps(record).encode()))
        pipe.hset(f"{PREFIX}:portal-domains", portal.domain, portal.member_id)
        pipe.hset(f"{PREFIX}:portal-keys", portal.key, portal.member_id)
        pipe.sadd(f"{PREFIX}:portals", portal.member_id)
        pipe.execute()
        if tokens:
            self.replicated(self.redis)

    def _tokens_key(self, member_id: str) -> str:
        return portal_key(member_id, "tokens")

    def get(self, member_id: str) -> Portal | None:
        blob, pair = self.redis.mget(self._key(member_id), self._tokens_key(member_id))
        return self._portal(member_id, blob, pair)

    def _portal(self, member_id: str, blob: bytes | None, pair: bytes | None) -> Portal | None:
        if blob is None:
            return None
        try:
            record = json.loads(plaintext(self.fernet, blob))
            record.update(json.loads(plaintext(self.fernet, pair)) if pair else {})
            record.setdefault("link_secret", "")  # an older record: not a new secret at every read
            return Portal(**{k: v for k, v in record.items() if k in PORTAL_FIELDS})
        except InvalidToken as exc:
            raise Blago24Error(
                f"portal {member_id}: record cannot be decrypted (wrong secret key?)"
            ) from exc

    def require(self, member_id: str) -> Portal:
        portal = self.get(member_id)
        if portal is None:
            raise PortalNotFound(f"portal {member_id} is not installed")
        return portal

    def by_key(self, key: str) -> Portal | None:
        """The portal of a webhook key: index and record read in one round trip (every webhook asks)."""
        found = self.redis.eval(BY_KEY, 1, f"{PREFIX}:portal-keys", key, f"{PREFIX}:portal:",
                                f"{PREFIX}:p:", ":tokens")  # fmt: skip
        if not found:
            return None
        member_id, blob, pair = found
        return self._portal(member_id.decode(), blob or None, pair or None)

    def by_domain(self, domain: str) -> Portal | None:
        member_id = self.redis.hget(f"{PREFIX}:portal-domains", domain)
        return self.get(member_id.decode()) if member_id else None

    def all(self) -> list[Portal]:
        """Every readable portal; one record that cannot be decrypted is logged and passed over."""
        portals, unreadable = self.readable()
        for member_id in unreadable:
            log.error(
                "portal %s: record cannot be decrypted (wrong secret key?); passed over", member_id
            )
        return portals

    def readable(self) -> tuple[list[Portal], list[str]]:
        """(the portals whose records decrypt, the member_ids of those that do not)."""
        portals, unreadable = [], []
        for member_id in sorted(m.decode() for m in self.redis.smembers(f"{PREFIX}:portals")):
            try:
                portal = self.get(member_id)
            except Blago24Error:
                unreadable.append(member_id)
                continue
            portals += [portal] if portal else []
        return portals, unreadable

    def delete(self, member_id: str) -> int:
        """Forget the portal and every key stored under ``b24:p:<member_id>:*``; returns keys removed."""
        portal = self.get(member_id)
        keys = list(self.redis.scan_iter(f"{PREFIX}:p:{member_id}:*", count=500))
        pipe = self.redis.pipeline(transaction=True)
        if portal:
            pipe.hdel(f"{PREFIX}:portal-domains", portal.domain)
            pipe.hdel(f"{PREFIX}:portal-keys", portal.key)
        pipe.srem(f"{PREFIX}:portals", member_id)
        pipe.delete(self._key(member_id), *keys) if keys else pipe.delete(self._key(member_id))
        pipe.execute()
        return len(keys) + (1 if portal else 0)

    def holds(self, member_id: str) -> bool:
        """Whether a record for the portal exists (readable or not)."""
        return bool(self.redis.exists(self._key(member_id)))

    def forget_record(self, member_id: str) -> None:
        """Drop the portal's record and tokens only (its data stays): before a restore writes them anew."""
        self.redis.delete(self._key(member_id), self._tokens_key(member_id))

    def save_tokens(self, portal: Portal) -> None:
        """Write only the portal's OAuth tokens (a refresh: nothing else of the record is touched)."""
        pair = {name: getattr(portal, name) for name in TOKEN_FIELDS}
        if self.redis.exists(self._key(portal.member_id)):  # not for a portal deleted meanwhile
            self.redis.set(
                self._tokens_key(portal.member_id), self.fernet.encrypt(json.dumps(pair).encode())
            )
            self.replicated(
                self.redis
            )  # a rotated refresh token lost in a failover bricks the portal

    @contextmanager
    def change(self, member_id: str) -> Iterator[Portal]:
        """The portal's record read fresh and saved after the block, under the portal's record lock, so
        two read-modify-write changes never undo each other (PortalNotFound if it is not there)."""
        with self.lock(member_id, "record", timeout=10):
            portal = self.require(member_id)
            yield portal
            self.save(portal)

    def lock(self, member_id: str, name: str, timeout: float = 30):
        """A Redis lock scoped to one portal (e.g. "refresh")."""
        return self.redis.lock(
            f"{PREFIX}:p:{member_id}:lock:{name}", timeout=timeout, blocking_timeout=timeout
        )


def portal_key(member_id: str, *parts: str) -> str:
    """A Redis key that belongs to one portal (removed with it on uninstall with CLEAN)."""
    return ":".join((PREFIX, "p", member_id, *parts))
