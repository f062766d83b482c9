"""The fund's own letter templates (per portal, in Redis with the portal's other data) and its language."""

import json

from .. import context
from ..portals import Portal, portal_key
from . import Letter
from .render import Facts, TemplateRefused, render, variables

SAMPLE = Facts(first_name="Анна", last_name="Иванова", card_mask="220220******4242", card_expires="05/27",
               fail_reason="InsufficientFunds 5051", purpose="Пожертвование", subscription_status="Cancelled",
               course="Основы волонтёрства")  # fmt: skip


def templates_key(member_id: str) -> str:
    return portal_key(member_id, "letters", "templates")


def language(portal: Portal) -> str:
    """The language letters are written in: setting ``letter_language``, else the portal's ``language``
    (Russian unless it is English)."""
    chosen = portal.settings.get("letter_language") or portal.settings.get("language") or ""
    return "en" if str(chosen).lower().startswith("en") else "ru"


def template_of(member_id: str, letter: Letter) -> dict[str, str] | None:
    """The fund's (subject, body) for ``letter`` as saved, or None for the default."""
    raw = context.redis().hget(templates_key(member_id), str(letter))
    return json.loads(raw) if raw else None


def check(portal: Portal, letter: Letter, subject: str, body: str) -> None:
    """TemplateRefused (line and reason) unless both parts render with every variable."""
    from datetime import date
    from decimal import Decimal

    lang = language(portal)
    facts = Facts(**{**SAMPLE.__dict__, "amount": Decimal("1500"), "at": date.today()})
    render(
        letter,
        {"subject": subject, "body": body},
        lang,
        variables(facts, lang, "Фонд", "https://x/u"),
    )
    if not subject.strip() or not body.strip():
        raise TemplateRefused("subject" if not subject.strip() else "body", None, "пусто / empty")


def save(portal: Portal, letter: Letter, subject: str, body: str) -> None:
    """Keep the fund's template once it renders (TemplateRefused otherwise, nothing saved)."""
    check(portal, letter, subject, body)
    context.redis().hset(
        templates_key(portal.member_id), str(letter), json.dumps({"subject": subject, "body": body})
    )


def reset(member_id: str, letter: Letter) -> None:
    """Back to the default text."""
    context.redis().hdel(templates_key(member_id), str(letter))
