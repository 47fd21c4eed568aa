"""Billing periods and proration by days, pure.

Billing periods run from the contract's start date (the anchor) in steps of the billing frequency,
with the anchor rule of revops.kernel.dates.add_months (day 29–31 clamps to the month's last day and
the next period returns to the anchor day). A change effective on day D is prorated over the billing
period D falls in, by actual days:

    amount = price per billing period × quantity change × remaining days ÷ days in the billing period

with remaining days counted from D to the period's last day inclusive, computed exactly and
quantized once (half-up). Example: 20.00/month billed 04-11 → 05-10 (30 days), upgraded to a
30.00/month plan on 04-26: 15 days remain, so 30.00 × 15/30 = 15.00 is charged and
20.00 × 15/30 = 10.00 credited.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from revops.kernel import money
from revops.kernel.dates import add_months

MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def billing_anchor(contract) -> date:
    """The date billing periods step from: the start date, or with a billing anchor day the last such
    day on or before the start (so the first period is partial and prorated by days). Days 29–31 clamp
    to short months like every other date here."""
    day, start = contract.billing_anchor_day, contract.start_date
    if not day or day == start.day:
        return start
    this_month = _on_day(start, day)
    return this_month if this_month <= start else _on_day(add_months(start.replace(day=1), -1), day)


def _on_day(month: date, day: int) -> date:
    return month.replace(day=min(day, calendar.monthrange(month.year, month.month)[1]))


def billing_period_containing(anchor: date, frequency: str, day: date) -> Period:
    """The billing period (from `anchor`, every `frequency`) that contains `day` (day >= anchor)."""
    if day < anchor:
        raise ValueError(f"{day} is before the billing anchor {anchor}")
    step = MONTHS[frequency]
    # Jump close by month arithmetic, then walk: add_months from the anchor keeps the anchor day.
    k = max(0, ((day.year - anchor.year) * 12 + day.month - anchor.month) // step - 1)
    while add_months(anchor, (k + 1) * step) <= day:
        k += 1
    start = add_months(anchor, k * step)
    return Period(start, add_months(anchor, (k + 1) * step) - timedelta(days=1))


def per_billing_period(unit_price: Decimal, price_period: str, frequency: str) -> Decimal:
    """A unit price per `price_period` expressed per billing period (exact, not rounded)."""
    return unit_price * MONTHS[frequency] / MONTHS[price_period]


def prorate(*, unit_price: Decimal, price_period: str, frequency: str, quantity: Decimal, period: Period,
            effective: date, currency: str) -> tuple[Decimal, int]:
    """(amount, remaining days) for `quantity` (signed) from `effective` to the end of `period`."""
    remaining = (period.end - effective).days + 1
    exact = per_billing_period(unit_price, price_period, frequency) * quantity * remaining / period.days
    return money.quantize(exact, currency), remaining
