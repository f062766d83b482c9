"""The unsubscribe link every donor letter carries: a signed URL that needs no login. Its GET shows a
confirm button (mail scanners follow GETs); its POST notes the wish at once and queues the job that sets
«Не отправлять письма» on the contact."""

from redis import Redis

from .. import context
from ..jobs import portal_job
from ..portals import portal_key
from ..queue import URGENT, enqueue_once
from ..signing import sign, verify
from ..template.resolved import field

PURPOSE = "unsubscribe"
TTL = 10 * 365 * 86400  # a letter may be read years later
KEEP = 400 * 86400


def secret() -> str:
    return context.settings().secret_key.get_secret_value()


def unsubscribe_url(member_id: str, contact_id: int) -> str:
    """The donor's signed link (the same for every letter of the donor within a second)."""
    token = sign(secret(), PURPOSE, {"m": member_id, "c": int(contact_id)}, ttl=TTL)
    return f"{context.settings().public_url.rstrip('/')}/letters/unsubscribe/{token}"


def claims(token: str) -> tuple[str, int]:
    """(member_id, contact_id) of a link; signing.BadSignature for anything forged or foreign."""
    found = verify(secret(), PURPOSE, token)
    return str(found.get("m", "")), int(found.get("c", 0))


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
