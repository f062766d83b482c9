"""ONAPPUPDATE and ONAPPUNINSTALL (bitrix24-rest.md §1.3–§1.5), each decided on Bitrix24's word alone.

An update's new application token is taken only when the OAuth server confirms app, portal, a newer
installed version and an admin; one that cannot be confirmed now is kept (encrypted, an hour at most)
and confirmed by a job. An uninstall whose member_id and application_token match is decided by a job:
the data goes only when the stored tokens are refused as revoked (or NOT_INSTALLED), after a short
settling time in which every ONAPPUNINSTALL seen must agree on CLEAN for the data to be deleted. Every
user's page open carries the application token, so an uninstall event alone proves nothing.
"""

import hashlib
import json
import logging
import math
import time

from redis.exceptions import WatchError

from . import context
from .errors import InboundError, Unauthorized, Unavailable
from .installation import accept_version, confirm_for, forget, known_portal, require_admin, same
from .jobs import portal_job
from .oauth import RefreshFailed, RefreshUnavailable, refresh_tokens
from .portals import Portal, portal_key
from .queue import DEFAULT, enqueue_once
from .trust import TokenNotConfirmed

log = logging.getLogger(__name__)
PENDING_TTL = 3600  # a kept ONAPPUPDATE's access token lives an hour anyway
PENDING_MAX = 20  # kept ONAPPUPDATEs per portal; more during one outage are refused, not kept


def take_update(member_id: str, access_token: str, application_token: str) -> str:
    """ONAPPUPDATE: the new application token is taken when the OAuth server confirms app, portal and a
    newer installed version, and the token's user is an admin. Unauthorized / Unavailable otherwise."""
    portal = known_portal(member_id)
    if not access_token or not application_token:
        raise Unauthorized("ONAPPUPDATE without auth[access_token] and auth[application_token]")
    info = confirm_for(portal, access_token)
    if info.version == portal.app_version and same(application_token, portal.application_token):
        return "already taken"
    require_admin(info, access_token, "update the app")
    if info.version <= portal.app_version:
        raise Unauthorized(
            f"the OAuth server reports version {info.version}, not newer than {portal.app_version}"
        )
    accept_version(member_id, info, application_token)
    return "taken"


def pending_key(member_id: str) -> str:
    return portal_key(member_id, "pending-updates")


def defer_update(member_id: str, access_token: str, application_token: str) -> bool:
    """Keep an ONAPPUPDATE that could not be confirmed now and queue its confirmation; False (nothing
    kept or queued) when the portal already keeps PENDING_MAX of them."""
    known_portal(member_id)
    redis, fernet = context.redis(), context.registry().fernet
    field = hashlib.sha256(access_token.encode()).hexdigest()[:24]
    key = pending_key(member_id)
    if not redis.hexists(key, field) and redis.hlen(key) >= PENDING_MAX:
        log.warning(
            "portal %s: %d ONAPPUPDATEs already kept; one more refused", member_id, PENDING_MAX
        )
        return False
    entry = {
        "access_token": access_token,
        "application_token": application_token,
        "at": time.time(),
    }
    redis.pipeline().hset(key, field, fernet.encrypt(json.dumps(entry).encode())).expire(
        key, PENDING_TTL
    ).execute()
    enqueue_once(redis, DEFAULT, f"update-{member_id}-{field}", confirm_pending_updates, member_id)
    return True


@portal_job
def confirm_pending_updates(member_id: str) -> str:
    """Job: confirm each kept ONAPPUPDATE, newest first, dropping each one decided; raises Unavailable
    (RQ retries) while one cannot be confirmed yet."""
    redis, fernet = context.redis(), context.registry().fernet
    entries = sorted(((f, json.loads(fernet.decrypt(v))) for f, v in redis.hgetall(pending_key(member_id)).items()),
                     key=lambda fe: -fe[1]["at"])  # fmt: skip
    outcome, unavailable = "nothing pending", None
    for field, entry in entries:
        try:
            outcome = take_update(member_id, entry["access_token"], entry["application_token"])
        except Unavailable as exc:
            unavailable = exc
            continue
        except InboundError as exc:
            log.warning("portal %s: kept ONAPPUPDATE refused: %s", member_id, exc)
            outcome = f"refused: {exc}"
        redis.hdel(pending_key(member_id), field)
    if unavailable is not None:
        raise unavailable
    return outcome


def choices_key(member_id: str) -> str:
    return portal_key(member_id, "uninstall-choices")


def queue_uninstall(member_id: str, clean: bool) -> None:
    """Note an ONAPPUNINSTALL whose member_id and application_token matched, and queue its decision.
    Each event bumps the choices' version, so a decision running meanwhile knows to look again."""
    redis = context.redis()
    key = choices_key(member_id)
    redis.pipeline().hsetnx(key, "1" if clean else "0", time.time()).hincrby(
        key, VERSION, 1
    ).execute()
    enqueue_once(
        redis, DEFAULT, f"uninstall-{member_id}", decide_uninstall, member_id, result_ttl=0
    )


VERSION = "version"
ROUNDS = 3  # a decision looks again when an uninstall event arrived while it ran; three is plenty


@portal_job
def decide_uninstall(member_id: str) -> str:
    """Job: forget the portal only once Bitrix24 confirms the app is gone and the settling time has
    passed; a forged uninstall (the tokens still work) changes nothing. Unavailable (RQ retries) while
    it cannot be told."""
    redis = context.redis()
    for _ in range(ROUNDS):
        version = redis.hget(choices_key(member_id), VERSION)
        if version is None:
            return "nothing pending"
        gone = app_gone(context.registry().require(member_id))
        if gone:
            return settle_or_forget(redis, member_id)
        if drop_choices_if_unchanged(redis, member_id, version):
            reason = (
                "the app's tokens still work (forged?)"
                if gone is False
                else "Bitrix24 did not confirm it"
            )
            log.warning("portal %s: ONAPPUNINSTALL ignored: %s", member_id, reason)
            return "kept"
    raise Unavailable(f"portal {member_id}: uninstall events keep arriving; deciding again later")


def drop_choices_if_unchanged(redis, member_id: str, version: bytes) -> bool:
    """Delete the noted choices (and any settling mark) unless a new event arrived since ``version``."""
    key = choices_key(member_id)
    with redis.pipeline() as pipe:
        try:
            pipe.watch(key)
            if pipe.hget(key, VERSION) != version:
                return False
            pipe.multi()
            pipe.delete(key, portal_key(member_id, "gone-at"))
            pipe.execute()
            return True
        except WatchError:
            return False


def settle_or_forget(redis, member_id: str) -> str:
    """The app is gone: wait out the settling time, then forget (deleting data only if every choice
    seen said CLEAN)."""
    redis.set(portal_key(member_id, "gone-at"), time.time(), nx=True)
    settle_until = (
        float(redis.get(portal_key(member_id, "gone-at"))) + context.settings().uninstall_settle
    )
    wait = settle_until - time.time()
    if wait > SETTLE_SLACK:
        # RQ schedules in whole seconds: one second late rather than early, and its own id each time
        at = math.ceil(settle_until) + 1
        enqueue_once(redis, DEFAULT, f"uninstall-settle-{member_id}-{at}", decide_uninstall, member_id, at=at,
                     result_ttl=0)  # fmt: skip
        return "settling"
    time.sleep(max(wait, 0))
    choices = {k for k in redis.hkeys(choices_key(member_id)) if k != VERSION.encode()}
    clean = choices == {b"1"}
    forget(member_id, clean)
    redis.delete(choices_key(member_id), portal_key(member_id, "gone-at"))
    log.info("portal %s: uninstalled%s", member_id, " and its data deleted" if clean else "")
    return "forgotten"


SETTLE_SLACK = 5.0  # seconds a decision would rather wait in place than be scheduled again


def app_gone(portal: Portal) -> bool | None:
    """True when Bitrix24 says the app was removed: the stored access token is refused and so is the
    refresh token (revoked: invalid_grant), or NOT_INSTALLED. False while they work; None when it cannot
    be told (the OAuth server left the allow-list, or refused the client itself)."""
    s = context.settings()
    try:
        confirm_for(portal, portal.access_token)
        return False
    except TokenNotConfirmed as exc:
        if exc.code == "NOT_INSTALLED":
            return True
    except Unauthorized:  # the portal's OAuth server left the allow-list: nothing can be confirmed
        return None
    try:
        refresh_tokens(context.registry(), portal.member_id, portal.access_token, s.client_id,
                       s.client_secret.get_secret_value(), context.oauth_servers())  # fmt: skip
    except RefreshUnavailable as exc:
        raise Unavailable(str(exc)) from None
    except RefreshFailed as exc:
        if exc.error in ("NOT_INSTALLED", "invalid_grant"):
            return True
        return None
    return False
