"""Donor totals and segments as pure maths (product.md C4), one table row per rule, each a Russian fund's case."""

from datetime import date
from decimal import Decimal

import pytest

from b24app.donations.totals import (
    Gift,
    company_totals,
    donor_totals,
    lifecycle_segment,
    months_before,
    recurring_segment,
)

TODAY = date(2026, 12, 6)


def gift(day: str, amount: str = "500.00", currency: str = "RUB", n: int = 0, **kw) -> Gift:
    return Gift(
        n or hash((day, amount)) % 10**6, Decimal(amount), currency, date.fromisoformat(day), **kw
    )


@pytest.mark.parametrize("days, segment", [
    ([], None),
    (["2026-03-01"], "NEW"),  # Анна дала впервые весной: новый донор
    (["2025-12-06"], "NEW"),  # ровно 12 месяцев назад ещё «в последние 12 месяцев»
    (["2024-06-01", "2025-11-20", "2026-05-01"], "LOYAL"),  # регулярно: the gift before the window's first is 6 months earlier
    (["2023-01-10", "2026-02-01"], "RETURNED"),  # вернулась после трёх лет
    (["2024-11-06", "2026-02-06"], "LOYAL"),  # ровно 15 месяцев разрыва: ещё постоянный
    (["2024-11-05", "2026-02-06"], "RETURNED"),  # 15 месяцев и день: вернувшийся
    (["2025-12-05"], "AT_RISK"),  # 12 месяцев и день тишины
    (["2025-09-06"], "AT_RISK"),  # ровно 15 месяцев
    (["2025-09-05"], "LAPSING"),
    (["2024-12-06"], "LAPSING"),  # ровно 24 месяца
    (["2024-12-05"], "LAPSED"),
    (["2021-12-06"], "LAPSED"),  # ровно 5 лет
    (["2021-12-05"], "LOST"),
])  # fmt: skip
def test_lifecycle_segment(days, segment):
    assert lifecycle_segment([date.fromisoformat(d) for d in days], TODAY) == segment


def test_months_before_clamps_to_the_months_end():
    assert months_before(date(2026, 3, 31), 1) == date(2026, 2, 28)
    assert months_before(date(2024, 2, 29), 12) == date(2023, 2, 28)
    assert months_before(date(2026, 1, 15), 13) == date(2024, 12, 15)


@pytest.mark.parametrize("subscription, last_recurring, segment", [
    ("ACTIVE", None, "ACTIVE"), ("PAST_DUE", "2026-12-01", "PAUSED"), ("CANCELLED", "2026-12-01", "FORMER"),
    ("REJECTED", None, "FORMER"), ("EXPIRED", None, "FORMER"),
    ("", "2026-10-27", "ACTIVE"),  # 40 days since the last monthly charge
    ("", "2026-10-26", "PAUSED"), ("", "2026-09-07", "PAUSED"), ("", "2026-09-06", "FORMER"),
    ("", None, None),  # never gave monthly
])  # fmt: skip
def test_recurring_segment(subscription, last_recurring, segment):
    gifts = [gift("2026-11-30", recurring=False)]
    if last_recurring:
        gifts.append(gift(last_recurring, recurring=True))
    assert recurring_segment(gifts, TODAY, subscription) == segment


def test_every_field_for_a_donor_of_four_years():
    """Мария: 7 gifts over four years, one partly refunded (kept 300), one in euros (left out, flagged)."""
    gifts = [gift("2023-02-01", "1000.00", n=1), gift("2024-05-05", "250.50", n=2), gift("2024-12-31", "250.50", n=3),
             gift("2025-03-01", "300.00", n=4), gift("2025-12-07", "700.00", n=5), gift("2026-06-01", "99.99", n=6),
             gift("2026-07-01", "50.00", "EUR", n=7)]  # fmt: skip
    t = donor_totals(gifts, TODAY, "RUB")
    assert t["GIFTS_SUM"] == Decimal("2600.99") and t["GIFTS_COUNT"] == 6
    assert t["GIFTS_AVG"] == Decimal("433.50")  # 433.498… rounded half up to kopecks
    assert (t["GIFTS_MAX"], t["GIFTS_MIN"]) == (Decimal("1000.00"), Decimal("99.99"))
    assert (t["GIFT_FIRST_DATE"], t["GIFT_FIRST_SUM"]) == (date(2023, 2, 1), Decimal("1000.00"))
    assert (t["GIFT_LAST_DATE"], t["GIFT_LAST_SUM"]) == (date(2026, 6, 1), Decimal("99.99"))
    assert t["GIFTS_THIS_YEAR"] == Decimal("99.99") and t["GIFTS_LAST_YEAR"] == Decimal("1000.00")
    assert t["GIFTS_2Y_AGO"] == Decimal("501.00")
    assert t["GIFTS_365D"] == Decimal("799.99")  # 2025-12-07 is within, 2025-12-06 would not be
    assert (t["BEST_YEAR"], t["BEST_YEAR_SUM"]) == (
        2025,
        Decimal("1000.00"),
    )  # a tie with 2023: the later
    assert (
        t["SEGMENT"] == "LOYAL" and t["OTHER_CURRENCY"] is True and t["RECURRING_SEGMENT"] is None
    )


def test_no_counted_gift_clears_everything_but_the_flag():
    """Only a fully refunded gift (kept 0) and a dollar gift: nothing to sum, the other currency flagged."""
    t = donor_totals([gift("2026-01-01", "0.00"), gift("2026-02-01", "10.00", "USD")], TODAY, "RUB")
    assert t["OTHER_CURRENCY"] is True
    assert all(v is None for k, v in t.items() if k != "OTHER_CURRENCY")


def test_company_totals():
    gifts = [
        gift("2026-01-01", "5000.00", n=1),
        gift("2026-03-01", "15000.00", n=2),
        gift("2026-04-01", "1.00", "USD", n=3),
    ]
    assert company_totals(gifts, "RUB") == {"GIFTS_SUM": Decimal("20000.00"), "GIFT_LAST_DATE": date(2026, 3, 1),
                                            "GIFTS_MAX": Decimal("15000.00")}  # fmt: skip
    assert company_totals([], "RUB") == {
        "GIFTS_SUM": None,
        "GIFT_LAST_DATE": None,
        "GIFTS_MAX": None,
    }


def test_a_negative_correction_lowers_the_sums_and_is_no_gift():
    """Leyka lets a fund enter a negative «Коррекционная запись» (a gift recorded twice by hand, −1000):
    it lowers the total, its year and the last 365 days, but is not counted, nor the smallest or last gift."""
    gifts = [gift("2026-02-01", "1000.00", n=1), gift("2026-03-01", "1000.00", n=2),
             gift("2026-03-02", "-1000.00", n=3), gift("2026-05-01", "300.00", n=4)]  # fmt: skip
    t = donor_totals(gifts, TODAY, "RUB")
    assert (t["GIFTS_SUM"], t["GIFTS_COUNT"], t["GIFTS_MIN"]) == (
        Decimal("1300.00"),
        3,
        Decimal("300.00"),
    )
    assert t["GIFTS_THIS_YEAR"] == t["GIFTS_365D"] == t["BEST_YEAR_SUM"] == Decimal("1300.00")
    assert (t["GIFT_LAST_DATE"], t["GIFT_LAST_SUM"]) == (date(2026, 5, 1), Decimal("300.00"))
    assert company_totals(gifts, "RUB")["GIFTS_SUM"] == Decimal("1300.00")
