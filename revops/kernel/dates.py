"""Calendar arithmetic for billing and recognition, with one stated anchor rule.

`add_months(d, n)` keeps the day of month and clamps to the month's last day when it does not exist:
2026-01-31 + 1 month = 2026-02-28, + 2 months = 2026-03-31 (the anchor is always the original day, so
callers step from the anchor, never from the previous clamped date).
"""
from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, timedelta


def add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def term_end(start: date, months: int) -> date:
    """Last day (inclusive) of a term of `months` starting on `start`: 2026-01-15 + 12 → 2027-01-14."""
    return add_months(start, months) - timedelta(days=1)


def month_start(d: date) -> date:
    return d.replace(day=1)


def days_by_month(start: date, end: date) -> Iterator[tuple[date, int]]:
    """(first day of month, days of [start, end] inclusive falling in it), month by month."""
    current = start
    while current <= end:
        last = date(current.year, current.month, calendar.monthrange(current.year, current.month)[1])
        upto = min(last, end)
        yield month_start(current), (upto - current).days + 1
        current = upto + timedelta(days=1)
