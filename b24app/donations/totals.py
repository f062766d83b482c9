"""Donor totals and segments (product.md C4): pure maths over a donor's gifts as of the portal's today.

A gift is a succeeded donation deal (not a test): its amount less what was refunded, its day in the portal's
time zone. Sums are in the portal's base currency; a gift in another currency is left out of them and
flagged. Segments by the last gift: Новый (first gift in the last 12 months), Постоянный / Вернувшийся
(gave in the last 12 months; the gift before the window's first at most / more than 15 months earlier),
Под угрозой (12–15 months since the last gift), Уходящий (15–24), Ушедший (2–5 years), Потерянный (older).
Recurring: the subscription's state when known (Active → Активный, PastDue → Приостановлен, ended →
Бывший рекуррент); else by the last recurring gift (≤ 40 days, ≤ 90 days, older).
"""

import calendar
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
CONTACT_FIELDS = {  # template field code (B24_ + code) → kind
    "GIFTS_SUM": "money", "GIFTS_COUNT": "integer", "GIFTS_AVG": "money", "GIFTS_MAX": "money",
    "GIFTS_MIN": "money", "GIFT_FIRST_DATE": "date", "GIFT_FIRST_SUM": "money", "GIFT_LAST_DATE": "date",
    "GIFT_LAST_SUM": "money", "GIFTS_THIS_YEAR": "money", "GIFTS_LAST_YEAR": "money",
    "GIFTS_2Y_AGO": "money", "GIFTS_365D": "money", "BEST_YEAR": "integer", "BEST_YEAR_SUM": "money",
    "SEGMENT": "enumeration", "RECURRING_SEGMENT": "enumeration", "OTHER_CURRENCY": "boolean",
}  # fmt: skip
COMPANY_FIELDS = {"GIFTS_SUM": "money", "GIFT_LAST_DATE": "date", "GIFTS_MAX": "money"}
SUBSCRIPTION_SEGMENT = {"ACTIVE": "ACTIVE", "PAST_DUE": "PAUSED", "CANCELLED": "FORMER",
                        "REJECTED": "FORMER", "EXPIRED": "FORMER"}  # fmt: skip


@dataclass(frozen=True)
class Gift:
    """One counted donation: the sum kept, its currency and day, and whom it belongs to."""

    deal_id: int
    amount: Decimal
    currency: str
    day: date
    contact_id: int | None = None
    company_id: int | None = None
    recurring: bool = False


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def counted(gifts: Iterable[Gift], base: str) -> tuple[list[Gift], bool]:
    """The gifts that count toward sums (base currency, something kept, or a negative correction), oldest
    first; and whether any gift in another currency was left out."""
    kept = [g for g in gifts if g.amount != 0]
    ours = sorted((g for g in kept if g.currency == base), key=lambda g: (g.day, g.deal_id))
    return ours, any(g.currency != base for g in kept)


def split(ours: list[Gift]) -> tuple[list[Gift], Decimal]:
    """(the gifts proper, oldest first; the sum of negative corrections, which lower sums but are no gift)."""
    return [g for g in ours if g.amount > 0], sum(
        (g.amount for g in ours if g.amount < 0), Decimal("0")
    )


def donor_totals(
    gifts: Iterable[Gift], today: date, base: str, subscription: str = ""
) -> dict[str, Any]:
    """Every contact field of C4 (by template code) for one donor's gifts; None means empty."""
    entries, foreign = counted(gifts, base)
    ours, _ = split(entries)
    out: dict[str, Any] = dict.fromkeys(CONTACT_FIELDS)
    out["OTHER_CURRENCY"] = foreign
    out["RECURRING_SEGMENT"] = recurring_segment(ours, today, subscription)
    if not ours:
        return out
    amounts = [g.amount for g in ours]
    total = sum((g.amount for g in entries), Decimal("0"))
    by_year: dict[int, Decimal] = defaultdict(Decimal)
    for g in entries:
        by_year[g.day.year] += g.amount
    best = max(by_year, key=lambda year: (by_year[year], year))
    out |= {
        "GIFTS_SUM": total, "GIFTS_COUNT": len(ours), "GIFTS_AVG": cents(total / len(ours)),
        "GIFTS_MAX": max(amounts), "GIFTS_MIN": min(amounts),
        "GIFT_FIRST_DATE": ours[0].day, "GIFT_FIRST_SUM": ours[0].amount,
        "GIFT_LAST_DATE": ours[-1].day, "GIFT_LAST_SUM": ours[-1].amount,
        "GIFTS_THIS_YEAR": by_year.get(today.year, Decimal("0")),
        "GIFTS_LAST_YEAR": by_year.get(today.year - 1, Decimal("0")),
        "GIFTS_2Y_AGO": by_year.get(today.year - 2, Decimal("0")),
        "GIFTS_365D": sum((g.amount for g in entries if today - timedelta(days=365) < g.day <= today), Decimal("0")),
        "BEST_YEAR": best, "BEST_YEAR_SUM": by_year[best],
        "SEGMENT": lifecycle_segment([g.day for g in ours], today),
    }  # fmt: skip
    return out


def lifecycle_segment(days: list[date], today: date) -> str | None:
    """The donor's lifecycle segment code by the days of their gifts (oldest first), as of ``today``."""
    if not days:
        return None
    last, year_ago = days[-1], months_before(today, 12)
    if last < year_ago:
        return ("AT_RISK" if last >= months_before(today, 15) else
                "LAPSING" if last >= months_before(today, 24) else
                "LAPSED" if last >= months_before(today, 60) else "LOST")  # fmt: skip
    window = [d for d in days if d >= year_ago]
    before = [d for d in days if d < window[0]]
    if not before:
        return "NEW"
    return "LOYAL" if before[-1] >= months_before(window[0], 15) else "RETURNED"


def recurring_segment(gifts: list[Gift], today: date, subscription: str = "") -> str | None:
    """Активный / Приостановлен / Бывший рекуррент: by the subscription's state when the donor has one,
    else by the last recurring gift; None for a donor who never gave monthly."""
    if subscription in SUBSCRIPTION_SEGMENT:
        return SUBSCRIPTION_SEGMENT[subscription]
    recurring = [g.day for g in gifts if g.recurring]
    if not recurring:
        return None
    since = (today - max(recurring)).days
    return "ACTIVE" if since <= 40 else "PAUSED" if since <= 90 else "FORMER"


def company_totals(gifts: Iterable[Gift], base: str) -> dict[str, Any]:
    """A company's total, date of the last gift and largest gift; None means empty."""
    entries, _ = counted(gifts, base)
    ours, corrections = split(entries)
    if not ours:
        return dict.fromkeys(COMPANY_FIELDS)
    return {"GIFTS_SUM": sum((g.amount for g in ours), corrections), "GIFT_LAST_DATE": ours[-1].day,
            "GIFTS_MAX": max(g.amount for g in ours)}  # fmt: skip
