"""E-mail addresses and phone numbers in the forms people are matched on.

normalise_email is strict enough for an automatic merge; email_review_key also folds what is only
reported (Yandex treating "." and "-" in logins as one character) and is for the review queue.
"""

import re

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


def normalise_phone(text: str) -> str | None:
    """E.164 ("+79161234567") with Russian rules, the extension dropped; None when not a phone."""
    text = _EXTENSION.sub("", text.strip())
    digits = _NON_DIGITS.sub("", text)
    if text.lstrip().startswith("00"):
        text, digits = "+", digits[2:]
    international = text.lstrip().startswith("+")
    if international and len(digits) == 11 and digits[0] == "8":
        return "+7" + digits[1:]  # "+8 916 …" is a common slip for +7
    if international:
        return "+" + digits if 8 <= len(digits) <= 15 else None
    return _russian_phone(digits)


def _russian_phone(digits: str) -> str | None:
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] in "3489":  # a Russian number without the trunk 8
        return "+7" + digits
    return None
