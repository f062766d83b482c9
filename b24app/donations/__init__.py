"""Donations: one model every source is parsed into (product.md C2), and the order of their statuses."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, field_validator


class Status(StrEnum):
    """Where a payment is; a later delivery can only move it forward in PRECEDENCE."""

    STARTED = "started"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    REFUNDED = "refunded"


# Возврат > Успешно > Отказ > Начато, whatever order deliveries arrive in (a Fail after a Pay is a
# declined retry of a payment that already went through; a refund only follows a payment).
PRECEDENCE = {Status.STARTED: 0, Status.FAILED: 1, Status.SUCCEEDED: 2, Status.REFUNDED: 3}


class Donation(BaseModel):
    """One payment as a source reports it, normalised: money Decimal, time zone-aware."""

    model_config = ConfigDict(frozen=True)

    source: str  # cloudpayments | leyka
    key: str  # the payment's key in the deal field «ID в платёжном шлюзе», e.g. cp:6681
    delivery: str  # the sender's id of this very notification (idempotency)
    status: Status
    amount: Decimal
    currency: str = "RUB"
    refunded: Decimal = Decimal("0")  # for a refund: the sum given back
    at: datetime
    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    purpose: str = ""
    recurring: bool = False
    subscription_id: str = ""
    card_mask: str = ""
    card_expires: str = ""  # MM/YY
    fail_reason: str = ""
    test: bool = False
    correction: bool = False  # an admin's correction entry (Leyka), not a payment through a gateway
    history: str = (
        ""  # a line for the deal's timeline when this delivery is applied (Leyka's changed_at)
    )

    @field_validator("at")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("a donation's time must carry its time zone")
        return value

    def moves(self, current: Status | None) -> bool:
        """Whether this delivery moves a deal at ``current`` forward (None: no deal yet)."""
        return current is None or PRECEDENCE[self.status] > PRECEDENCE[current]


def split_name(name: str) -> tuple[str, str]:
    """ "Анна Иванова" → ("Анна", "Иванова"); a cardholder's "ANNA IVANOVA" → ("Anna", "Ivanova")."""
    parts = name.split()
    if name.isupper():
        parts = [p.capitalize() for p in parts]
    return (parts[0], " ".join(parts[1:])) if parts else ("", "")


class SubscriptionChange(BaseModel):
    """A recurring donation's subscription changed status (CloudPayments Recurrent)."""

    model_config = ConfigDict(frozen=True)

    source: str
    subscription_id: str
    delivery: str
    status: str  # Active | PastDue | Cancelled | Rejected | Expired
    email: str = ""
    amount: Decimal = Decimal("0")
    currency: str = "RUB"
    changed_at: AwareDatetime | None = (
        None  # when the sender says it changed (Leyka); orders deliveries
    )
