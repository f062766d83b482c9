"""The unsubscribe link every donor letter carries: a signed URL that needs no login. Its GET shows a
confirm button (mail scanners follow GETs); its POST notes the wish at once and queues the job that sets
«Не отправлять письма» on the contact."""

import re
import secrets

from redis import Redis

from .. import context
from ..jobs import portal_job
from ..portals import portal_key
from ..queue import URGENT, enqueue_once
from ..signing import BadSignature, peek, sign, verify
from ..template.resolved import field

PURPOSE = "unsubscribe"
TTL = 10 * 365 * 86400  # a letter may be read years later
KEEP = 400 * 86400
MEMBER_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")


def secret() -> str:
    return context.settings().secret_key.get_secret_value()


def link_secret(member_id: str) -> str:
    """The portal's own link secret (kept in its record, so it survives a B24APP_SECRET_KEY rotation by
    export and import); given to a record older than it on first use."""
    registry = context.registry()
    if found := registry.require(member_id).link_secret:
        return found
    with registry.change(member_id) as portal:
        portal.link_secret = portal.link_secret or secrets.token_urlsafe(32)
        return portal.link_secret


def unsubscribe_url(member_id: str, contact_id: int) -> str:
    """The donor's signed link (the same for every letter of the donor within a second)."""
    token = sign(link_secret(member_id), PURPOSE, {"m": member_id, "c": int(contact_id)}, ttl=TTL)
    return f"{context.settings().public_url.rstrip('/')}/letters/unsubscribe/{token}"


def claims(token: str) -> tuple[str, int]:
    """(member_id, contact_id) of a link signed with its portal's link secret (or, for links sent before
    portals had one, the deployment's key); signing.BadSignature for anything forged or foreign."""
    member_id = str(peek(token).get("m", ""))
    portal = context.registry().get(member_id) if MEMBER_ID.fullmatch(member_id) else None
    if portal is None:
        raise BadSignature("no such portal")
    try:
        found = verify(portal.link_secret or secret(), PURPOSE, token)
    except BadSignature:
        found = verify(secret(), PURPOSE, token)
    if found.get("m") != member_id:
        raise BadSignature("signed for another portal")
    return member_id, int(found.get("c", 0))


def optout_key(member_id: str, contact_id: int) -> str:
    return portal_key(member_id, "letters", "optout", str(contact_id))


def opted_out(redis: Redis, member_id: str, contact_id: int) -> bool:
    return bool(redis.exists(optout_key(member_id, contact_id)))


def unsubscribe(member_id: str, contact_id: int) -> None:
    """Note the wish (no letter goes from now on) and queue the contact's update."""
    redis = context.redis()
    redis.set(optout_key(member_id, contact_id), 1, ex=KEEP)
    enqueue_once(
        redis,
        URGENT,
        f"unsubscribe-{member_id}-{contact_id}",
        set_do_not_email,
        member_id,
        contact_id,
    )


@portal_job
def set_do_not_email(member_id: str, contact_id: int) -> str:
    """Job: «Не отправлять письма» on the contact."""
    context.client(member_id).call(
        "crm.contact.update", {"id": contact_id, "fields": {field("B24_NO_EMAIL"): 1}}
    )
    return f"contact {contact_id}: do not e-mail"
