"""The three ways a letter leaves (setting ``letter_channel``): a CRM e-mail activity on the donor through
the portal's connected mailbox (bitrix24-rest.md §4.10), the fund's SMTP server, or Unisender's
``sendEmail`` (external-services.md §4). A refusal that retrying will not cure is ``LetterRefused`` (shown
on the app page and the deal's timeline); anything else is raised for the job's retries."""

import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, parseaddr

import requests

from ..bitrix import BitrixClient, BitrixError
from ..errors import Blago24Error

UNISENDER_URL = "https://api.unisender.com/{lang}/api/sendEmail?format=json"
TIMEOUT = 30


class LetterRefused(Blago24Error):
    """The channel refused the letter for good (a sender not connected or not confirmed, bad settings)."""


@dataclass(frozen=True)
class Outgoing:
    """One letter ready to go: who, what, and its own id (``uid``: a stable Message-ID / ORIGIN_ID)."""

    uid: str
    to_email: str
    to_name: str
    subject: str
    text: str
    html: str
    contact_id: int | None = None
    unsubscribe_url: str = ""


def sender_of(settings: dict) -> tuple[str, str]:
    """(name, address) of the setting ``letter_sender`` ("Фонд «Добро» <hello@dobro.example>")."""
    name, address = parseaddr(settings.get("letter_sender") or "")
    if "@" not in address:
        raise LetterRefused(
            "не задан «Отправитель писем» (Имя <адрес>) / the letter sender is not set"
        )
    return name, address


def via_bitrix24(settings: dict, letter: Outgoing, client: BitrixClient) -> str:
    """A completed outgoing e-mail activity on the donor's contact; the portal sends it (§4.10)."""
    fields = activity_fields(settings, letter)
    try:
        return str(client.call("crm.activity.add", {"fields": fields}))
    except BitrixError as exc:
        raise refusal(exc) from exc


def refusal(exc: BitrixError) -> BitrixError | LetterRefused:
    """What a failed ``crm.activity.add`` is: the error itself when it may heal, else LetterRefused."""
    if exc.retryable or exc.status >= 500 or exc.status in (401, 403):
        return exc
    return LetterRefused(
        f"Битрикс24 не отправил письмо / Bitrix24 refused it: {exc.description or exc.code}"
    )


def activity_fields(settings: dict, letter: Outgoing) -> dict:
    """``crm.activity.add`` fields of the letter as an e-mail activity on its contact."""
    name, address = sender_of(settings)
    if not letter.contact_id:
        raise LetterRefused(
            "письмо через Битрикс24 нужно привязать к контакту / no contact to send from"
        )
    return {"OWNER_TYPE_ID": 3, "OWNER_ID": letter.contact_id, "TYPE_ID": 4, "DIRECTION": 2,
              "COMPLETED": "Y", "SUBJECT": letter.subject, "DESCRIPTION": letter.html, "DESCRIPTION_TYPE": 3,
              "ORIGIN_ID": letter.uid,
              "COMMUNICATIONS": [{"VALUE": letter.to_email, "ENTITY_ID": letter.contact_id, "ENTITY_TYPE_ID": 3}],
              "SETTINGS": {"MESSAGE_FROM": f"{name} <{address}>" if name else address}}  # fmt: skip


def already_sent_by_bitrix24(client: BitrixClient, uid: str) -> bool:
    """Whether an earlier attempt's activity is in the portal (its answer was lost): found by ORIGIN_ID."""
    return bool(client.call("crm.activity.list", {"filter": {"ORIGIN_ID": uid}, "select": ["ID"]}))


def message_of(settings: dict, letter: Outgoing) -> EmailMessage:
    name, address = sender_of(settings)
    msg = EmailMessage()
    msg["From"] = formataddr((name, address))
    msg["To"] = formataddr((letter.to_name, letter.to_email))
    msg["Subject"] = letter.subject
    msg["Message-ID"] = f"<{letter.uid}@blago24>"
    if letter.unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{letter.unsubscribe_url}>"
    msg.set_content(letter.text)
    msg.add_alternative(letter.html, subtype="html")
    return msg


def via_smtp(settings: dict, letter: Outgoing, client: BitrixClient | None = None) -> str:
    """The fund's SMTP server: ``smtp_tls`` starttls (default), ssl or none; login when a user is set.
    The host must resolve to a public address on a mail port (unless the deployment allows private
    hosts), and the connection goes to the address checked, not to a second lookup."""
    host, tls = settings.get("smtp_host") or "", settings.get("smtp_tls") or "starttls"
    if not host:
        raise LetterRefused("не задан SMTP-сервер / smtp_host is not set")
    port = int(settings.get("smtp_port") or (465 if tls == "ssl" else 587))
    address = smtp_address(host, port)
    msg = message_of(settings, letter)
    try:
        kind = pinned(smtplib.SMTP_SSL if tls == "ssl" else smtplib.SMTP)
        extra = {"context": ssl.create_default_context()} if tls == "ssl" else {}
        with kind(host, timeout=TIMEOUT, **extra) as smtp:
            smtp.connect(address, port)
            if tls == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.get("smtp_user"):
                smtp.login(settings["smtp_user"], settings.get("smtp_password") or "")
            smtp.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise LetterRefused(f"SMTP: вход не принят / login refused ({exc.smtp_code})") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise LetterRefused(f"SMTP: адрес не принят / recipient refused: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            raise LetterRefused(
                f"SMTP {exc.smtp_code}: {exc.smtp_error.decode(errors='replace')}"
            ) from exc
        raise
    except smtplib.SMTPNotSupportedError as exc:
        raise LetterRefused(f"SMTP: {exc}") from exc
    return msg["Message-ID"]


MAIL_PORTS = (25, 465, 587, 2525)


def smtp_address(host: str, port: int) -> str:
    """The address to connect to; LetterRefused for a private, loopback or reserved one, or a port that
    is not a mail port (the settings are a portal admin's: not a way into the deployment's network)."""
    from .. import context

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise LetterRefused(f"SMTP-сервер {host[:80]!r} не найден / not found") from exc
    address = ipaddress.ip_address(found[0][4][0])
    if context.settings().smtp_private_hosts:
        return str(address)
    if not address.is_global or port not in MAIL_PORTS:
        raise LetterRefused("SMTP-сервер должен быть в интернете, порт 25, 465, 587 или 2525 / "
                            "the SMTP server must be a public host on port 25, 465, 587 or 2525")  # fmt: skip
    return str(address)


def pinned(kind: type[smtplib.SMTP]) -> type[smtplib.SMTP]:
    """``kind`` whose socket goes to the address given to ``connect`` while TLS checks the host's name."""

    class Pinned(kind):
        def __init__(self, name: str, **kwargs):
            self.name = name
            super().__init__(**kwargs)

        def _get_socket(self, host, port, timeout):
            self._host = self.name  # smtplib verifies the certificate against _host
            return super()._get_socket(host, port, timeout)

    return Pinned


def via_unisender(settings: dict, letter: Outgoing, client: BitrixClient | None = None) -> str:
    """Unisender ``sendEmail`` (§4.2): the body's ``error`` is a refusal; an HTTP or network failure is
    retried."""
    name, address = sender_of(settings)
    key, list_id = settings.get("unisender_api_key") or "", settings.get("unisender_list_id") or ""
    if not key or not list_id:
        raise LetterRefused(
            "не заданы ключ API и список Unisender / unisender_api_key and unisender_list_id"
        )
    data = {"api_key": key, "email": formataddr((letter.to_name, letter.to_email)), "sender_name": name,
            "sender_email": address, "subject": letter.subject, "body": letter.html, "list_id": list_id,
            "error_checking": 1}  # fmt: skip
    resp = requests.post(UNISENDER_URL.format(lang="ru"), data=data, timeout=TIMEOUT)
    if resp.status_code >= 500:
        resp.raise_for_status()
    try:
        body = resp.json()
    except ValueError:
        resp.raise_for_status()
        raise LetterRefused(
            f"Unisender: ответ не JSON / not a JSON answer (HTTP {resp.status_code})"
        ) from None
    if body.get("error"):
        raise LetterRefused(f"Unisender: {body['error']} ({body.get('code', '')})")
    return message_id(body.get("result"))


def message_id(result) -> str:
    """The id in ``sendEmail``'s result: an object with an id, or a list of {index, email, id|errors}."""
    items = result if isinstance(result, list) else [result or {}]
    for item in items:
        if isinstance(item, dict) and item.get("errors"):
            first = item["errors"][0]
            raise LetterRefused(f"Unisender: {first.get('message', '')} ({first.get('code', '')})")
    ids = [str(i.get("id") or i.get("email_id") or "") for i in items if isinstance(i, dict)]
    return ",".join(filter(None, ids))


CHANNELS: dict[str, Callable[..., str]] = {
    "bitrix24": via_bitrix24,
    "smtp": via_smtp,
    "unisender": via_unisender,
}


def channel_of(settings: dict) -> str:
    return settings.get("letter_channel") or "bitrix24"


def send(settings: dict, letter: Outgoing, client: BitrixClient | None) -> str:
    """Send through the portal's channel; the channel's message id."""
    return CHANNELS[channel_of(settings)](settings, letter, client)
