"""Letters rendered from the fund's templates in jinja2's sandbox: variables of one donation, amounts and
dates by Babel in the portal's language, the unsubscribe link always present, and a template that does not
render refused with its line and reason."""

import functools
import html
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_currency
from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from . import Letter
from .texts import FOOTER, VARIABLES, default, reason_in_words

MAX_TEMPLATE = 20_000  # characters of a subject or body a fund may save
MAX_OUTPUT = 100_000  # characters a rendered part may have
MAX_ARGUMENT = 1_000  # the largest number a template may repeat, pad or raise by
LOOPS = (
    nodes.For,
    nodes.Macro,
    nodes.CallBlock,
)  # a letter needs none, and they are how renders run away


class LetterEnvironment(SandboxedEnvironment):
    """jinja2's sandbox, bounded: no loops or macros, and no repetition, padding, width or power big
    enough to stall the shared workers (a template runs for every donor of every portal)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context, operator, left, right):
        bounded(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja2's own signature)
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        bounded(getattr(method, "__self__", None), *args, *kwargs.values())
        return super().call(__context, __obj, *args, **kwargs)


def bounded(*values) -> None:
    """SecurityError for a number, or a width written in a format string, over MAX_ARGUMENT."""
    for v in values:
        if isinstance(v, int) and abs(v) > MAX_ARGUMENT or isinstance(v, str) and WIDTH.search(v):
            raise SecurityError(
                f"числа больше {MAX_ARGUMENT} не нужны письму / a number over {MAX_ARGUMENT}"
            )


def guarded(fn):
    """A filter whose arguments are bounded like calls (filters are called directly, not via ``call``)."""

    @functools.wraps(fn)
    def run(*args, **kwargs):
        bounded(*args, *kwargs.values())
        return fn(*args, **kwargs)

    return run


WIDTH = re.compile(r"%[-+ #0]*\d{4,}|\{[^{}]*:[^{}]*\d{4,}[^{}]*\}")  # "%10000s", "{:>10000}"
ENV = LetterEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
ENV.filters = {name: guarded(fn) for name, fn in ENV.filters.items()}
LOCALES = {"ru": "ru_RU", "en": "en_GB"}
for (
    _locale
) in LOCALES.values():  # loaded once in a worker, not again in each job's forked work-horse
    format_date(date(2000, 1, 1), "d MMMM y", locale=_locale)
    format_currency(Decimal("1"), "RUB", locale=_locale)


class TemplateRefused(ValueError):
    """A template that does not render; ``line`` (or None) and ``reason`` say where and why."""

    def __init__(self, part: str, line: int | None, reason: str):
        where = f"{part}, строка {line} / line {line}" if line else part
        super().__init__(f"{where}: {reason}")
        self.part, self.line, self.reason = part, line, reason


@dataclass(frozen=True)
class Facts:
    """What a letter may say about one donation, card or subscription (money Decimal, dates aware)."""

    first_name: str = ""
    last_name: str = ""
    amount: Decimal = Decimal("0")
    currency: str = "RUB"
    at: date | None = None
    purpose: str = ""
    card_mask: str = ""
    card_expires: str = ""
    fail_reason: str = ""
    subscription_status: str = ""
    course: str = ""
    lesson_at: datetime | None = None  # aware, in the portal's time zone


def money(amount: Decimal, currency: str, lang: str) -> str:
    """«1 500,00 ₽» (no-break spaces) in Russian; the English form for ``en``."""
    return format_currency(amount, currency or "RUB", locale=LOCALES.get(lang, "ru_RU"))


def variables(facts: Facts, lang: str, fund: str, unsubscribe_url: str) -> dict[str, str]:
    """The template variables (texts.VARIABLES) for ``facts``."""
    day = facts.at.date() if isinstance(facts.at, datetime) else facts.at
    values = {
        "donor_name": facts.first_name,
        "donor_full_name": " ".join(filter(None, [facts.first_name, facts.last_name])),
        "amount": money(facts.amount, facts.currency, lang),
        "date": format_date(day, "d MMMM y", locale=LOCALES.get(lang, "ru_RU")) if day else "",
        "purpose": facts.purpose,
        "fund": fund,
        "card": f"•••• {facts.card_mask[-4:]}" if facts.card_mask else "",
        "card_expires": facts.card_expires,
        "reason": reason_in_words(facts.fail_reason, lang),
        "subscription_status": facts.subscription_status,
        "course": facts.course,
        "lesson_date": format_date(
            facts.lesson_at.date(), "d MMMM y", locale=LOCALES.get(lang, "ru_RU")
        )
        if facts.lesson_at
        else "",
        "lesson_time": facts.lesson_at.strftime("%H:%M") if facts.lesson_at else "",
        "unsubscribe_url": unsubscribe_url,
    }
    assert set(values) == set(VARIABLES)
    return values


def render_part(part: str, source: str, values: dict[str, str]) -> str:
    """One template rendered; TemplateRefused with the line and the reason when it cannot be."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateRefused(
            part, None, f"длиннее {MAX_TEMPLATE} знаков / over {MAX_TEMPLATE} characters"
        )
    try:
        template, loop = compiled(source)
        if loop is not None:
            raise TemplateRefused(part, loop, "циклы и макросы в письмах не поддерживаются / "
                                  "loops and macros are not supported in letters")  # fmt: skip
        text = template.render(values)
    except TemplateRefused:
        raise
    except TemplateSyntaxError as exc:
        raise TemplateRefused(part, exc.lineno, exc.message or str(exc)) from None
    except (RecursionError, MemoryError):
        raise TemplateRefused(part, None, "шаблон слишком сложен / too deeply nested") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, AttributeError, KeyError) as exc:
        raise TemplateRefused(part, template_line(), str(exc)) from None
    if len(text) > MAX_OUTPUT:
        raise TemplateRefused(
            part, None, f"письмо длиннее {MAX_OUTPUT} знаков / over {MAX_OUTPUT} characters"
        )
    return text


@functools.lru_cache(maxsize=256)
def compiled(source: str):
    """(the compiled template, the line of a loop or macro in it or None), once per text: a fund's template
    renders for every donor and participant."""
    tree = ENV.parse(source)
    loop = next(tree.find_all(LOOPS), None)
    return ENV.from_string(tree), loop.lineno if loop is not None else None


def template_line() -> int | None:
    """The template line the exception being handled was raised at (jinja2 rewrites tracebacks to it)."""
    tb, line = sys.exc_info()[2], None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(
    letter: Letter, templates: dict[str, str] | None, lang: str, values: dict[str, str]
) -> Rendered:
    """The letter from the fund's (subject, body) or the default, with the unsubscribe link at the end
    when the text does not carry it."""
    subject_source, body_source = default(letter, lang)
    if templates:
        subject_source, body_source = (
            templates.get("subject") or subject_source,
            templates.get("body") or body_source,
        )
    subject = " ".join(render_part("subject", subject_source, values).split())
    text = render_part("body", body_source, values).strip()
    url = values.get("unsubscribe_url", "")
    if url and url not in text:
        text += FOOTER.get(lang, FOOTER["ru"]).format(url=url)
    return Rendered(subject, text, html_of(text))


LINK = re.compile(r"https?://[^\s<>\"]+")


def html_of(text: str) -> str:
    """Plain text as simple HTML: escaped, paragraphs and line breaks kept, links clickable."""

    def paragraph(block: str) -> str:
        escaped = html.escape(block)
        linked = LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        return "<p>" + linked.replace("\n", "<br>") + "</p>"

    return "\n".join(paragraph(b) for b in re.split(r"\n\s*\n", text) if b.strip())
