"""Recent activity of the app for one portal (product.md C1) and alerts to the portal's admins.

``record`` keeps the last ``KEPT`` things the app did or refused (installs, scans, merges, deliveries
accepted or refused and why) in a capped Redis list, personal data masked before it is stored; the app page
shows them in the reader's language (each entry keeps an English message id and its values). ``alert`` is for
a failure that needs a person: it is recorded and sent to the portal's admins (``im.notify.system.add``,
bitrix24-rest.md §4.9) once per cause until ``clear`` says the cause is gone.
"""

import json
import logging
import re
import time

from redis import Redis
from redis.client import Pipeline

from .i18n import gettext_in
from .portals import portal_key

log = logging.getLogger(__name__)
KEPT = 50
ALERT_TTL = 7 * 86400  # an unresolved cause is told again a week later at most
PERSONAL = ("email", "phone", "name")
EMAIL = re.compile(r"([\w.+-])[\w.+-]*@([\w-])[\w.-]*(\.[a-z]{2,})", re.IGNORECASE)
PHONE = re.compile(r"\+?\d[\d\s()-]{6,}\d")


def _(message: str) -> str:
    return message


# the English message ids of what is recorded, so the catalogue knows them (extracted by babel)
MESSAGES = {
    "installed": _("installed: the CRM template is being applied"),
    "retried": _("the portal's setup queued again by an administrator"),
    "template": _("the CRM template applied: %(writes)s changes, %(missing)s items missing"),
    "stopped": _("%(job)s stopped for good: %(reason)s"),
    "delivery": _("%(source)s: delivery accepted"),
    "refused": _("%(source)s: delivery refused: %(reason)s"),
    "scan": _("duplicate scan: %(proposed)s groups proposed, %(review)s to review"),
    "merge": _("merged %(merged)s groups of duplicates, %(failed)s failed"),
    "alert": _("needs a person: %(reason)s"),
}

CAUSES = {  # an alert's cause → what to tell the admins (English message ids)
    "refresh_refused": _(
        "Blago24 lost access to the portal: the authorisation refresh was refused. "
        "Open the app in the portal to restore it, or reinstall it."
    ),
    "letters_failing": _(
        "Blago24: donor letters are failing (%(reason)s). Check the letter settings on the app page."
    ),
    "queue_stuck": _(
        "Blago24: the work queue has not moved for a while. Check that the worker is running."
    ),
}


def mask_email(value: str) -> str:
    return EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}***{m.group(3)}", value)


def mask_phone(value: str) -> str:
    return PHONE.sub(lambda m: "***" + re.sub(r"\D", "", m.group(0))[-2:], value)


def mask_name(value: str) -> str:
    return " ".join(f"{w[0]}." if w else w for w in str(value).split())


def mask(key: str, value) -> str:
    """A value as it may be stored: names reduced to initials, e-mails and phones masked anywhere."""
    text = str(value)
    if key == "name":
        text = mask_name(text)
    return mask_phone(mask_email(text))


def record(redis: Redis, member_id: str, what: str, **values) -> None:
    """Keep one entry (``what`` is a key of MESSAGES) with its values masked; the oldest beyond KEPT go."""
    pipe = redis.pipeline()
    add(pipe, member_id, what, **values)
    pipe.execute()


def add(pipe: Pipeline, member_id: str, what: str, **values) -> None:
    """``record`` as commands on the caller's pipeline (a webhook's one transaction)."""
    entry = {"at": time.time(), "what": what, "values": {k: mask(k, v) for k, v in values.items()}}
    key = portal_key(member_id, "activity")
    pipe.lpush(key, json.dumps(entry, ensure_ascii=False))
    pipe.ltrim(key, 0, KEPT - 1)


def recent(redis: Redis, member_id: str, lang: str) -> list[dict]:
    """The kept entries, newest first, each with its sentence in ``lang``."""
    out = []
    for raw in redis.lrange(portal_key(member_id, "activity"), 0, KEPT - 1):
        entry = json.loads(raw)
        message = MESSAGES.get(entry.get("what"), "")
        if not message:
            continue
        try:
            text = gettext_in(lang, message, **entry.get("values", {}))
        except (KeyError, ValueError, TypeError):
            text = gettext_in(lang, message.split(":")[0])
        out.append({"at": entry["at"], "what": entry["what"], "text": text})
    return out


def received(redis: Redis | Pipeline, member_id: str, source: str) -> None:
    """Remember when the source's last delivery was accepted (the app page's «получено»)."""
    redis.hset(portal_key(member_id, "received"), source, str(time.time()))


def last_received(redis: Redis, member_id: str) -> dict[str, float]:
    return {
        k.decode(): float(v) for k, v in redis.hgetall(portal_key(member_id, "received")).items()
    }


def remember_admin(redis: Redis, member_id: str, user_id) -> None:
    """A confirmed admin of the portal (install or page open): alerts go to them."""
    if str(user_id or "").isdigit():
        redis.sadd(portal_key(member_id, "admins"), str(user_id))


def admins(redis: Redis, member_id: str) -> list[int]:
    return sorted(int(i) for i in redis.smembers(portal_key(member_id, "admins")))


def alert(redis: Redis, client, member_id: str, lang: str, cause: str, **values) -> bool:
    """Tell the portal's admins about a failure that needs a person, once per cause (until ``clear``);
    True when told now. A portal that cannot be reached is not retried here: the cause stays unsent."""
    if not redis.set(portal_key(member_id, "alerted", cause), 1, nx=True, ex=ALERT_TTL):
        return False
    text = gettext_in(lang, CAUSES[cause], **values) if values else gettext_in(lang, CAUSES[cause])
    record(redis, member_id, "alert", reason=text)
    told = False
    for user_id in admins(redis, member_id):
        try:
            client.call("im.notify.system.add", {"USER_ID": user_id, "MESSAGE": text,
                                                 "TAG": f"blago24|{cause}"})  # fmt: skip
            told = True
        except (
            Exception
        ) as exc:  # the portal is what failed: the alert is kept, not re-sent blindly
            log.warning(
                "portal %s: alert %s not delivered: %s", member_id, cause, type(exc).__name__
            )
    return told


def clear(redis: Redis, member_id: str, cause: str) -> None:
    """The cause is gone: a new occurrence alerts again."""
    redis.delete(portal_key(member_id, "alerted", cause))
