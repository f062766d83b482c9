"""Donor events: what happened to a donor's money, for the features that answer it (the letters).

The intake and the recurring jobs emit an event once the CRM holds the fact, and emit it again when
their job is retried (a worker may die between the write and the emit), so every listener must be
idempotent by the event's ``(kind, key, status)`` and quick (it queues its own job).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from . import Donation, SubscriptionChange


class Kind(StrEnum):
    """What happened."""

    DONATION = (
        "donation"  # a payment's delivery was applied to its deal; ``status`` is the delivery's
    )
    SUBSCRIPTION = (
        "subscription"  # a subscription's new status: Active, PastDue, Cancelled, Rejected, Expired
    )
    CARD_EXPIRING = "card_expiring"  # a recurring donor's card expires within two months
    LAPSED = "lapsed"  # an active subscription without a successful charge for 40 days


class DonorEvent(BaseModel):
    """One event: the sender's ids it is once per, and the CRM objects it concerns."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    key: str  # the payment's key; the subscription id; the card (subscription id + expiry MM/YY)
    status: str = ""  # the delivery's Status, or the subscription's new status
    contact_id: int | None = None
    deal_id: int | None = None
    donation: Donation | None = None
    subscription: SubscriptionChange | None = None
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


Listener = Callable[[str, DonorEvent], None]


def listeners() -> list[Listener]:
    """The explicit list of what answers donor events (imported here, late, to keep imports acyclic)."""
    return []


def emit(member_id: str, event: DonorEvent) -> None:
    """Hand the event to every listener."""
    for listener in listeners():
        listener(member_id, event)
