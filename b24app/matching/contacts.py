"""E-mail addresses and phone numbers in the forms people are matched on.

normalise_email is strict enough for an automatic merge; email_review_key also folds what is only
reported (Yandex treating "." and "-" in logins as one character) and is for the review queue.
"""

import re
from dataclasses import replace
from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "RU"
GMAIL = "gmail.com"
YANDEX = "yandex.ru"

_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
# One Yandex mailbox answers on all of these; narod.ru addresses were Yandex mailboxes.
_YANDEX_DOMAINS = frozenset(
    {"yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua", "narod.ru"}
)
# The Mail.ru group: mail.ru, list.ru, bk.ru, inbox.ru, internet.ru are *different* mailboxes.
MAIL_RU_DOMAINS = frozenset({"mail.ru", "list.ru", "bk.ru", "inbox.ru", "internet.ru"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
_NON_DIGITS = re.compile(r"\D")
_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE
_PLAIN = re.compile(r"^\+?[\d\s().-]+$")
_SEVEN = ("RU", "KZ")
_EXTENSION = re.compile(r"(доб|ext|вн|x|#|,|;).*$", re.IGNORECASE)


def split_email(text: str) -> tuple[str, str] | None:
    """(local, domain) of a trimmed, lower-cased address, or None when it is not one."""
    text = text.strip().strip("<>").strip().lower().removeprefix("mailto:")
    if not _EMAIL.match(text):
        return None
    local, domain = text.rsplit("@", 1)
    return local, domain.rstrip(".")


def canonical_domain(domain: str) -> str:
    """googlemail.com → gmail.com, every Yandex domain → yandex.ru, anything else unchanged."""
    if domain in _GMAIL_DOMAINS:
        return GMAIL
    return YANDEX if domain in _YANDEX_DOMAINS else domain


def normalise_email(text: str) -> str | None:
    """The mailbox an address delivers to: case, Gmail dots and +tag, googlemail, the Yandex family."""
    parts = split_email(text)
    if parts is None:
        return None
    local, domain = parts
    domain = canonical_domain(domain)
    if domain in (GMAIL, YANDEX):
        local = local.split("+", 1)[0]
    if domain == GMAIL:
        local = local.replace(".", "")
    return f"{local}@{domain}" if local else None


def email_review_key(text: str) -> str | None:
    """normalise_email plus Yandex "." = "-" in the login (reported, unconfirmed: review only)."""
    email = normalise_email(text)
    return review_form(email) if email else None


def review_form(email: str) -> str:
    """The review key of an address already passed through normalise_email."""
    if not email.endswith("@" + YANDEX):
        return email
    return email[: -len(YANDEX) - 1].replace(".", "-") + "@" + YANDEX


@lru_cache(maxsize=65536)  # parsing costs ~20 µs and a donor's phone comes back with every gift
def normalise_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 ("+79161234567"); a number without its country code is read by the plan of ``region`` (the
    portal's country, Russia by default); the extension dropped; None when it is not a phone."""
    text = _EXTENSION.sub("", text.strip())
    digits = _NON_DIGITS.sub("", text)
    if text.startswith("00"):
        text = "+" + digits[2:]
    elif text.startswith("+") and len(digits) == 11 and digits[:2] == "89":
        text = "+7" + digits[1:]  # "+8 916 …" is a common slip for +7 (no country code starts 89)
    if fast := _plain_seven(text, region_code(region)):
        return fast
    return _parsed(text, region_code(region))


def _plain_seven(text: str, region: str) -> str | None:
    """The two commonest forms of the +7 plan (Russia, Kazakhstan), answered as phonenumbers answers
    them (tests/matching/test_contacts.py checks it) without its ~20 µs parse: "+7" and ten digits; in
    Russia or Kazakhstan the trunk 8 and ten digits (not 810…, the old international prefix)."""
    if not _PLAIN.match(text):
        return None
    digits = _NON_DIGITS.sub("", text)
    if len(digits) != 11:
        return None
    if text.startswith("+") and digits[0] == "7":
        return "+" + digits
    if region in _SEVEN and not text.startswith("+") and digits[0] == "8" and digits[:3] != "810":
        return "+7" + digits[1:]
    return None


def _parsed(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != _POSSIBLE:
        return None  # too short or too long; a local number without its area code is too short
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_code(region: str | None) -> str:
    """An ISO country code phonenumbers knows ("kz" → "KZ"), else the default, RU."""
    code = (region or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


def phones_in_region(person, region: str | None):
    """The person with phones written without a country code read as ``region``'s (E.164 from then on)."""
    if region_code(region) == DEFAULT_REGION or not person.phones:
        return person
    phones = tuple(normalise_phone(p, region_code(region)) or p for p in person.phones)
    return replace(person, phones=phones)
