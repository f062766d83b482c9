"""What the template editor shows and sends: a letter rendered on the portal's latest real donation (a
made-up one until the first arrives), and the test letter sent at once through the portal's channel."""

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses

from .. import context
from ..donations.rollup import portal_zone
from ..portals import Portal, portal_key
from . import Letter
from .channels import LetterRefused, Outgoing, channel_of, send
from .render import Facts, Rendered, render, variables
from .send import facts_of, key, sender_name
from .store import SAMPLE, language, template_of
from .unsubscribe import unsubscribe_url

MADE_UP = {"contact_id": None, "deal_id": None,
           "donation": {"first_name": SAMPLE.first_name, "last_name": SAMPLE.last_name, "amount": "1500.00",
                        "currency": "RUB", "purpose": SAMPLE.purpose, "card_mask": SAMPLE.card_mask,
                        "card_expires": SAMPLE.card_expires, "fail_reason": SAMPLE.fail_reason,
                        "at": datetime(2026, 3, 14, 9, 41, tzinfo=UTC).isoformat()}}  # fmt: skip


def sample(member_id: str) -> dict:
    """The latest real donation the letters saw (contact, deal, donation), else a made-up one."""
    raw = context.redis().get(key(member_id, "sample"))
    return json.loads(raw) if raw else MADE_UP


def sample_facts(member_id: str, letter: Letter) -> Facts:
    found = sample(member_id)
    slot = {"refund": "refund", "card_expiring": "card_expiring"}.get(str(letter), "gift")
    entry = {"slot": slot, "key": "", "status": "Cancelled", "donation": found["donation"],
             "at": found["donation"]["at"]}  # fmt: skip
    facts = facts_of(entry, {})
    lesson = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    return Facts(**{**facts.__dict__, "fail_reason": facts.fail_reason or SAMPLE.fail_reason,
                    "card_expires": facts.card_expires or SAMPLE.card_expires, "course": SAMPLE.course,
                    "lesson_at": lesson.astimezone(portal_zone(context.registry().require(member_id)))})  # fmt: skip


def preview(portal: Portal, letter: Letter, templates: dict | None) -> Rendered:
    """The letter as the latest donor would get it (render.TemplateRefused if it does not render)."""
    lang = language(portal)
    values = variables(sample_facts(portal.member_id, letter), lang, sender_name(portal.settings),
                       unsubscribe_url(portal.member_id, 0))  # fmt: skip
    return render(letter, templates or template_of(portal.member_id, letter), lang, values)


TESTS_PER_HOUR = 10  # the test letter is for checking the channel, not a way to mail anyone


def send_test(portal: Portal, letter: Letter, to: str) -> str:
    """Send ``letter`` rendered on the sample to ``to`` now; LetterRefused says why it cannot go."""
    addresses = getaddresses([to])
    if len(addresses) != 1 or "@" not in addresses[0][1] or len(to) > 200:
        raise LetterRefused(
            "укажите один адрес для тестового письма / give one address for the test letter"
        )
    to = addresses[0][1]
    hour = portal_key(portal.member_id, "letters", "tests", str(int(time.time() // 3600)))
    redis = context.redis()
    if redis.pipeline().incr(hour).expire(hour, 3600).execute()[0] > TESTS_PER_HOUR:
        raise LetterRefused(f"не больше {TESTS_PER_HOUR} тестовых писем в час / "
                            f"at most {TESTS_PER_HOUR} test letters an hour")  # fmt: skip
    rendered = preview(portal, letter, None)
    contact = sample(portal.member_id).get("contact_id")
    if channel_of(portal.settings) == "bitrix24" and not contact:
        raise LetterRefused("в Битрикс24 письмо привязывается к донору: дождитесь первого пожертвования / "
                            "a Bitrix24 letter needs a donor: wait for the first donation")  # fmt: skip
    client = context.client(portal.member_id) if channel_of(portal.settings) == "bitrix24" else None
    uid = f"b24-test-{portal.member_id[:8]}-{int(time.time() * 1000)}"
    outgoing = Outgoing(uid, to.strip(), "", "[Тест / Test] " + rendered.subject, rendered.text, rendered.html,
                        contact, unsubscribe_url(portal.member_id, 0))  # fmt: skip
    return send(portal.settings, outgoing, client)


__all__ = ["preview", "sample", "send_test"]
