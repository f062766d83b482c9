"""CloudPayments notifications (external-services.md §3): Check, Pay, Fail, Confirm, Refund, Recurrent,
Cancel, each at its own URL ``/hooks/<key>/cloudpayments/<kind>``, answered ``{"code":0}``.

Bodies are form-encoded (JSON when the body is JSON), UTF-8, with the lower-case escapes they arrive
with. ``Content-HMAC`` / ``X-Content-HMAC`` are base64 HMAC-SHA256 with the API secret; which of the two
signs the raw body and which the decoded one is not settled (§3.2), so either header may match either.
"""

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl, unquote, unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from b24app.donations import Donation, Status, SubscriptionChange, split_name
from b24app.donations.intake import record_delivery, record_donation, record_subscription
from b24app.errors import BadRequest

from . import Source, Work

KINDS = ("check", "pay", "fail", "confirm", "refund", "recurrent", "cancel")
MAX_FIELDS = 200
SUBSCRIPTION_STATUSES = ("Active", "PastDue", "Cancelled", "Rejected", "Expired")
ID_FIELD = Field(default="", max_length=100)  # the site chooses it: any characters
AMOUNT = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


def signatures(raw: bytes, secret: str) -> set[bytes]:
    """The HMACs a genuine notification may carry: over the raw bytes and over the decoded text."""
    text = raw.decode("utf-8", errors="replace")
    messages = {raw, unquote(text).encode(), unquote_plus(text).encode()}
    return {
        base64.b64encode(hmac.new(secret.encode(), m, hashlib.sha256).digest()) for m in messages
    }


def sign(raw: bytes, secret: str) -> dict[str, str]:
    """The headers CloudPayments would send with ``raw`` (the signing twin, for tests and the demo)."""
    mac = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()
    return {"Content-HMAC": mac, "X-Content-HMAC": mac}


def verify(raw: bytes, headers: Mapping[str, str], secret: str) -> bool:
    """Either signature header equals an HMAC of the body (compared in constant time)."""
    given = [
        headers.get(h, "").strip().encode("ascii", errors="replace")
        for h in ("Content-HMAC", "X-Content-HMAC")
    ]
    expected = signatures(raw, secret)
    return any(g and hmac.compare_digest(g, e) for g in given for e in expected)


class Notification(BaseModel):
    """The fields of a CloudPayments notification we use (§3.1); the rest is ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)

    TransactionId: int | None = Field(default=None, ge=0, lt=10**19)
    PaymentTransactionId: int | None = Field(default=None, ge=0, lt=10**19)
    Amount: Decimal | None = None
    Currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    DateTime: str = Field(default="", max_length=40)
    InvoiceId: str = ID_FIELD
    AccountId: str = Field(default="", max_length=200)
    SubscriptionId: str = ID_FIELD
    Id: str = Field(default="", max_length=64)
    Name: str = Field(default="", max_length=200)
    Email: str = Field(default="", max_length=200)
    Phone: str = Field(default="", max_length=40)
    Description: str = Field(default="", max_length=1000)
    Data: str = Field(default="", max_length=20000)
    CardFirstSix: str = Field(default="", pattern=r"^\d{0,6}$")
    CardLastFour: str = Field(default="", pattern=r"^\d{0,4}$")
    CardExpDate: str = Field(default="", pattern=r"^(\d{2}/\d{2})?$")
    TestMode: int = Field(default=0, ge=0, le=1)
    Status: str = Field(default="", max_length=40)
    Reason: str = Field(default="", max_length=200)
    ReasonCode: int | None = None
    SuccessfulTransactionsNumber: int = 0
    FailedTransactionsNumber: int = 0

    @field_validator("TransactionId", "PaymentTransactionId", "ReasonCode", mode="before")
    @classmethod
    def blank_is_none(cls, value):
        return None if value in ("", None) else value

    @field_validator("Amount", mode="before")
    @classmethod
    def decimal_amount(cls, value):
        """Money as CloudPayments writes it ("500.00"), at most 2 decimals: never a float, an exponent."""
        text = str(value).strip()
        if text == "":
            return None
        if not AMOUNT.match(text):
            raise ValueError("not an amount like 500.00")
        return Decimal(text)

    @field_validator(
        "InvoiceId",
        "SubscriptionId",
        "Id",
        "AccountId",
        "Name",
        "Email",
        "Phone",
        "Description",
        "Currency",
        "Status",
        "Reason",
        "CardFirstSix",
        "CardLastFour",
        "CardExpDate",
        mode="before",
    )
    @classmethod
    def text(cls, value):
        """JSON bodies may carry numbers where form bodies carry text."""
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @field_validator("Data", mode="before")
    @classmethod
    def data_text(cls, value):
        """``Data`` is a JSON string in form bodies, and may be an object in JSON ones."""
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def fields_of(raw: bytes) -> dict:
    """The notification's fields: a JSON object, or a form body (the usual case)."""
    text = raw.decode("utf-8", errors="strict") if raw else ""
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a JSON body must be an object")
        return {str(k): "" if v is None else v for k, v in data.items()}
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"))


def parse(raw: bytes, headers: Mapping[str, str], kind: str) -> Work:
    """The delivery as a Donation (or a subscription change) and its job; BadRequest naming the field."""
    try:
        note = Notification.model_validate(fields_of(raw))
    except ValidationError as exc:
        names = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise BadRequest(f"CloudPayments {kind}: invalid fields: {names}") from None
    except ValueError as exc:  # undecodable bytes, bad JSON, too many fields
        raise BadRequest(f"CloudPayments {kind}: unreadable body ({exc})") from None
    if kind == "recurrent":
        return subscription_work(note)
    payload = donation_of(kind, note).model_dump(mode="json")
    return Work(delivery_id(kind, note), record_donation, payload, record_delivery)


def delivery_id(kind: str, note: Notification) -> str:
    """The sender's id of this notification (§3.3): its kind and TransactionId."""
    if note.TransactionId is None:
        raise BadRequest(f"CloudPayments {kind}: TransactionId is missing")
    return f"{kind}-{note.TransactionId}"


def status_of(kind: str, note: Notification) -> Status:
    if kind == "pay":
        return Status.SUCCEEDED if note.Status in ("", "Completed") else Status.STARTED
    return {"check": Status.STARTED, "confirm": Status.SUCCEEDED, "fail": Status.FAILED,
            "cancel": Status.FAILED, "refund": Status.REFUNDED}[kind]  # fmt: skip


def donation_of(kind: str, note: Notification) -> Donation:
    """One Donation from a payment notification (amounts Decimal, times aware)."""
    paid = note.PaymentTransactionId if kind == "refund" else note.TransactionId
    if not note.InvoiceId and paid is None:
        raise BadRequest(f"CloudPayments {kind}: neither InvoiceId nor the payment's TransactionId")
    if note.Amount is None:
        raise BadRequest(f"CloudPayments {kind}: Amount is missing")
    data = widget_data(note.Data)
    first, last = split_name(str(data.get("name") or data.get("donor_name") or note.Name))
    return Donation(
        source="cloudpayments",
        key=f"cp:{note.InvoiceId}" if note.InvoiceId else f"cp:tx:{paid}",
        delivery=delivery_id(kind, note),
        status=status_of(kind, note),
        amount=note.Amount,
        currency=note.Currency,
        refunded=note.Amount if kind == "refund" else Decimal("0"),
        at=moment(note.DateTime),
        first_name=first,
        last_name=last,
        email=note.Email or (note.AccountId if "@" in note.AccountId else ""),
        phone=str(data.get("phone") or note.Phone)[:40],
        purpose=note.Description,
        recurring=bool(
            note.SubscriptionId or "recurrent" in json.dumps(data.get("cloudPayments") or {})
        ),
        subscription_id=note.SubscriptionId,
        card_mask=f"{note.CardFirstSix}******{note.CardLastFour}" if note.CardLastFour else "",
        card_expires=note.CardExpDate,
        fail_reason=" ".join(filter(None, [note.Reason, str(note.ReasonCode or "")])),
        test=note.TestMode == 1,
    )


def subscription_work(note: Notification) -> Work:
    if not note.Id or note.Status not in SUBSCRIPTION_STATUSES:
        raise BadRequest(
            f"CloudPayments recurrent: Id and a Status of {', '.join(SUBSCRIPTION_STATUSES)} are required"
        )
    change = SubscriptionChange(source="cloudpayments", subscription_id=note.Id, status=note.Status,
                                delivery=f"recurrent-{note.Id}-{note.Status}-{note.SuccessfulTransactionsNumber}"
                                         f"-{note.FailedTransactionsNumber}",
                                email=note.Email or (note.AccountId if "@" in note.AccountId else ""), amount=note.Amount or Decimal("0"), currency=note.Currency)  # fmt: skip
    return Work(
        re.sub(r"[^0-9A-Za-z_-]", "_", change.delivery),
        record_subscription,
        change.model_dump(mode="json"),
    )


def widget_data(text: str) -> dict:
    """``Data``: a JSON string the payment widget passed (may be empty or not JSON at all)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def moment(text: str) -> datetime:
    """CloudPayments' ``DateTime`` ("2024-03-14 09:41:05", UTC); now when absent."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        if text.strip():
            raise BadRequest(
                f"CloudPayments: DateTime {text[:40]!r} is not YYYY-MM-DD HH:MM:SS"
            ) from None
        return datetime.now(UTC)


GUIDE = (
    "В личном кабинете CloudPayments откройте сайт → «Настройки» → «Уведомления». Для каждого уведомления "
    "(Check, Pay, Fail, Confirm, Refund, Recurrent, Cancel) включите его и вставьте адрес из таблицы ниже "
    "с тем же окончанием; метод POST, кодировка UTF-8. В поле «CloudPayments: API Secret» ниже вставьте "
    "«Пароль для API» из раздела «Настройки» того же сайта: им подписано каждое уведомление, а «Public ID» "
    "сайта — в поле «CloudPayments: Public ID»: тогда приложение каждую ночь сверяет платежи с CloudPayments "
    "(пропавшие уведомления не теряют пожертвований) и может отменить подписку из сделки. CloudPayments "
    "отправляет каждое уведомление только на один адрес: если ваши уведомления уже приходят в Лейку, "
    "оставьте их там и подключите Лейку через мост.",
    "In the CloudPayments cabinet open the site → Settings → Notifications. Turn each notification on "
    "(Check, Pay, Fail, Confirm, Refund, Recurrent, Cancel) and paste the address from the table below that "
    "ends the same way; method POST, encoding UTF-8. Paste the site's API password into "
    "«CloudPayments: API secret» below: it signs every notification; and the site's Public ID into "
    "«CloudPayments: Public ID»: the app then reconciles payments with CloudPayments nightly (a lost "
    "notification loses no donation) and can cancel a subscription from its deal. CloudPayments sends each notification "
    "to one address only: if yours already go to Leyka, keep them there and connect Leyka through the bridge.",
)
SOURCE = Source(
    "cloudpayments", "cloudpayments_secret", KINDS, verify, parse, lambda: {"code": 0}, GUIDE
)
