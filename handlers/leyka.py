"""The Leyka bridge (external-services.md §2.5): our WordPress plugin posts each donation change as signed
JSON to ``/hooks/<key>/leyka``, answered ``{"ok": true, "time": <our clock>}``.

``X-Leyka-Bridge-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>`` with the
timestamp of ``X-Leyka-Bridge-Timestamp``, refused when more than five minutes from our clock. A payment
made through CloudPayments keeps CloudPayments' key (Leyka's id is its ``InvoiceId``; a rebill is known by
its ``TransactionId``), so the two connectors reporting one payment make one deal.
"""

import hashlib
import hmac
import html
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from b24app.donations import Donation, Status, SubscriptionChange, split_name
from b24app.donations.intake import (
    note_trash,
    record_delivery,
    record_donation,
    record_subscription,
)
from b24app.errors import BadRequest, Unauthorized

from . import Source, Work

log = logging.getLogger(__name__)
WINDOW = 300  # seconds a signed timestamp may be away from our clock (replay window)
AMOUNT = re.compile(
    r"^-?\d{1,12}(\.\d{1,2})?$"
)  # only a correction may be negative (Leyka allows it)
STATUSES = {"submitted": Status.STARTED, "funded": Status.SUCCEEDED, "failed": Status.FAILED,
            "refunded": Status.REFUNDED}  # fmt: skip
SAID = {"submitted": "«Попытка пожертвовать»", "funded": "«Оплачено»", "failed": "«Ошибка оплаты»",
        "refunded": "«Возврат»", "trash": "«В корзине»"}  # fmt: skip
ANONYMOUS = {"", "anonymous", "аноним", "анонимно", "анонимный жертвователь"}


def signature(raw: bytes, timestamp: str, secret: str) -> str:
    """``sha256=<hex>`` over ``"<timestamp>." + raw``, as the bridge signs a delivery."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(raw: bytes, secret: str, at: float | None = None) -> dict[str, str]:
    """The headers the bridge sends with ``raw`` (the signing twin, for tests and the demo)."""
    timestamp = str(int(time.time() if at is None else at))
    return {"X-Leyka-Bridge-Timestamp": timestamp,
            "X-Leyka-Bridge-Signature": signature(raw, timestamp, secret)}  # fmt: skip


def verify(raw: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """The signature matches (constant time); a genuine one outside the window is refused by name."""
    timestamp = headers.get("X-Leyka-Bridge-Timestamp", "").strip()
    given = headers.get("X-Leyka-Bridge-Signature", "").strip().lower()
    if not re.fullmatch(r"\d{1,12}", timestamp):
        raise Unauthorized("leyka: X-Leyka-Bridge-Timestamp must be unix seconds")
    expected = signature(raw, timestamp, secret)
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode()):
        return False
    skew = int(timestamp) - time.time()
    if abs(skew) > WINDOW:
        raise Unauthorized(
            f"leyka: the timestamp is {abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} our "
            f"clock (at most {WINDOW} s): check the site's clock; the bridge retries with a fresh one"
        )
    return True


def text(limit: int, pattern: str | None = None):
    return Field(default="", max_length=limit, pattern=pattern)


class LeykaDonation(BaseModel):
    """A Leyka donation as the bridge sends it (§2.5); money Decimal, times aware."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    id: int = Field(gt=0, lt=10**12)
    status: Literal["submitted", "funded", "failed", "refunded", "trash"]
    amount: Decimal
    currency: str = Field(default="RUB", pattern=r"^[A-Za-z]{3}$")
    payment_type: Literal["single", "rebill", "correction"] = "single"
    init_recurring_donation_id: int = Field(default=0, ge=0, lt=10**12)
    recurring_active: bool = False
    gateway_id: str = text(60)
    pm_id: str = text(60)
    campaign_id: int = Field(default=0, ge=0, lt=10**12)
    campaign_title: str = text(500)
    donor_name: str = text(300)
    donor_email: str = text(200)
    donor_phone: str = text(40)
    date_created: AwareDatetime
    cp_transaction_id: str = text(19, r"^\d*$")
    cp_recurring_id: str = text(100)
    error_id: str = text(100)

    @field_validator("amount", mode="before")
    @classmethod
    def decimal_amount(cls, value):
        """A decimal string like "500.00": never a float or an exponent."""
        if not isinstance(value, str) or not AMOUNT.match(value.strip()):
            raise ValueError('not an amount string like "500.00"')
        return Decimal(value.strip())

    @field_validator("date_created")
    @classmethod
    def plausible(cls, value: datetime) -> datetime:
        """Leyka was written in 2011: a donation before 2000 or tomorrow is a broken value."""
        if not datetime(2000, 1, 1, tzinfo=UTC) <= value <= datetime.now(UTC) + timedelta(days=1):
            raise ValueError("date_created is not a plausible donation time")
        return value

    @model_validator(mode="after")
    def only_corrections_negative(self):
        if self.amount < 0 and self.payment_type != "correction":
            raise ValueError("amount: only a correction may be negative")
        return self

    @field_validator("init_recurring_donation_id", "campaign_id", mode="before")
    @classmethod
    def none_is_zero(cls, value):
        return 0 if value in (None, "") else value

    @field_validator(
        "cp_transaction_id", "cp_recurring_id", "error_id", "donor_phone", mode="before"
    )
    @classmethod
    def as_text(cls, value):
        """Ids may come as numbers (or null) from PHP's json_encode."""
        if value is None:
            return ""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Delivery(BaseModel):
    """One bridge delivery: the event, its id and time, and the donation it is about."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    event: str = Field(max_length=60)
    site: str = text(300)
    delivery_id: str = Field(pattern=r"^[A-Za-z0-9._:-]{1,100}$")
    changed_at: AwareDatetime
    donation: LeykaDonation | None = None


def parse(raw: bytes, headers: Mapping[str, str], kind: str) -> Work | None:
    """The delivery's work by its event; None for a genuine event with nothing to do (the ping)."""
    delivery = delivery_of(raw)
    handle = EVENTS.get(delivery.event)
    if handle is None:
        log.info("leyka bridge: event %r from %s needs nothing", delivery.event, delivery.site)
        return None
    if delivery.donation is None:
        raise BadRequest(f"leyka {delivery.event}: the donation object is missing")
    return handle(delivery)


def delivery_of(raw: bytes) -> Delivery:
    """The body as a Delivery; BadRequest naming what is wrong."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"leyka: the body is not UTF-8 JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise BadRequest("leyka: the body must be a JSON object")
    try:
        return Delivery.model_validate(data)
    except ValidationError as exc:
        names = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])} ({e['msg'][:80]})" for e in exc.errors()[:10]
        )
        raise BadRequest(f"leyka: invalid fields: {names}") from None


def payment_key(d: LeykaDonation) -> str:
    """CloudPayments' key for a payment made through it (the same deal either connector makes), else
    ``leyka:<id>``."""
    if (
        d.gateway_id != "cp" or d.payment_type == "correction"
    ):  # an admin's entry is never a CP payment
        return f"leyka:{d.id}"
    rebill = d.payment_type == "rebill" and d.init_recurring_donation_id not in (0, d.id)
    return f"cp:tx:{d.cp_transaction_id}" if rebill and d.cp_transaction_id else f"cp:{d.id}"


def subscription_of(d: LeykaDonation) -> str:
    """The subscription a recurring donation belongs to: CloudPayments' id, else its first donation."""
    if d.cp_recurring_id:
        return d.cp_recurring_id
    return f"leyka:{d.init_recurring_donation_id or d.id}" if d.payment_type == "rebill" else ""


def history(delivery: Delivery) -> str:
    """The delivery's line for the deal's timeline: when the status changed on the site, and to what
    (the time first, so that a deal's lines sort by it)."""
    d = delivery.donation
    site = f" ({delivery.site})" if delivery.site else ""
    return f"{delivery.changed_at.isoformat(' ', 'seconds')} — Лейка{site}: пожертвование №{d.id} — {SAID[d.status]}"


def donor_name(d: LeykaDonation) -> tuple[str, str]:
    """First and last name, decoded from Leyka's HTML entities; Leyka's «Anonymous» is no name."""
    name = html.unescape(d.donor_name).strip()
    if name.lower() in ANONYMOUS or "@" in name:
        return "", ""
    return split_name(name)


def donation_work(delivery: Delivery) -> Work:
    """A status change applied to the payment's one deal; «trash» leaves the deal with a comment."""
    d, delivery_id = delivery.donation, f"leyka-{delivery.delivery_id}"
    if d.status == "trash":
        payload = {"key": payment_key(d), "delivery": delivery_id, "history": history(delivery)}
        return Work(delivery_id, note_trash, payload)
    first, last = donor_name(d)
    donation = Donation(
        source="leyka",
        key=payment_key(d),
        delivery=delivery_id,
        status=STATUSES[d.status],
        amount=d.amount,
        currency=d.currency.upper(),
        refunded=d.amount if d.status == "refunded" else Decimal("0"),
        at=d.date_created,
        first_name=first,
        last_name=last,
        email=d.donor_email,
        phone=d.donor_phone,
        purpose=html.unescape(d.campaign_title),
        recurring=d.payment_type == "rebill",
        subscription_id=subscription_of(d),
        fail_reason=f"Лейка: ошибка {d.error_id}" if d.error_id else "",
        correction=d.payment_type == "correction",
        history=history(delivery),
    )
    return Work(delivery_id, record_donation, donation.model_dump(mode="json"), record_delivery)


def recurring_work(delivery: Delivery) -> Work:
    """A subscription switched on or off on the site (what it changes on the donor: record_subscription)."""
    d = delivery.donation
    if not (subscription := subscription_of(d)):
        raise BadRequest(
            "leyka recurring.changed: the donation is not recurring (payment_type rebill)"
        )
    change = SubscriptionChange(
        source="leyka",
        subscription_id=subscription,
        status="Active" if d.recurring_active else "Cancelled",
        delivery=f"leyka-{delivery.delivery_id}",
        email=d.donor_email,
        amount=d.amount,
        currency=d.currency.upper(),
        changed_at=delivery.changed_at,
    )
    return Work(change.delivery, record_subscription, change.model_dump(mode="json"))


EVENTS: dict[str, Callable[[Delivery], Work]] = {
    "donation.added": donation_work,
    "donation.status_changed": donation_work,
    "recurring.changed": recurring_work,
}

GUIDE = (
    "Скачайте плагин «Blago24: мост Лейки» по ссылке ниже и установите его на сайт WordPress, где работает "
    "Лейка («Плагины» → «Добавить новый» → «Загрузить плагин»). В его настройках («Настройки» → «Blago24: "
    "мост Лейки») вставьте адрес из таблицы ниже и секрет — тот же, что вы впишете в поле «Лейка: секрет "
    "моста» здесь (придумайте длинную случайную строку). Нажмите «Проверить связь»: плагин покажет, "
    "доходят ли сообщения и не спешат ли часы сайта. «Отправить прошлые пожертвования» перенесёт историю.",
    "Download the «Blago24 Leyka bridge» plugin from the link below and install it on the WordPress site "
    "that runs Leyka (Plugins → Add New → Upload Plugin). In its settings (Settings → Blago24: Leyka "
    "bridge) paste the address from the table below and a secret: the same one you enter into «Leyka "
    "bridge secret» here (make up a long random string). Press «Test connection»: the plugin shows whether "
    "deliveries arrive and whether the site's clock is off. «Send past donations» brings over the history.",
)
SOURCE = Source("leyka", "leyka_secret", (), verify, parse, lambda: {"ok": True, "time": int(time.time())},
                GUIDE, download="/app/leyka-bridge.zip")  # fmt: skip
