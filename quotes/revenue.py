"""Projected revenue of a quote before it is signed: one function, so the recognition engine can take
its place with a one-line change (`project_revenue`).

Ratable lines are spread by days over the term (largest remainder across months, so each line's
months sum exactly to its amount); point-in-time lines land in the start month; usage is recognized
as it is consumed and is not projected. The projection therefore sums exactly to the quote's TCV.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from catalog.models import Product
from revops.kernel import money
from revops.kernel.dates import days_by_month, month_start, term_end

from .models import Quote, QuoteLine


@dataclass(frozen=True)
class RevenueMonth:
    month: date
    amount: Decimal
    by_line: dict[int, Decimal]


def project_revenue(quote: Quote, lines: list[QuoteLine] | None = None) -> list[RevenueMonth]:
    lines = list(quote.lines.select_related("product")) if lines is None else lines
    end = term_end(quote.start_date, quote.term_months)
    months = [m for m, _ in days_by_month(quote.start_date, end)]
    table: OrderedDict[date, dict[int, Decimal]] = OrderedDict((m, {}) for m in months)
    for line in lines:
        if line.usage or line.amount == 0:
            continue
        if line.product.recognition == Product.Recognition.POINT_IN_TIME:
            table[month_start(quote.start_date)][line.pk] = line.amount
            continue
        spans = list(days_by_month(quote.start_date, end))
        parts = money.allocate(line.amount, [days for _, days in spans], quote.currency)
        for (month, _), part in zip(spans, parts, strict=True):
            table[month][line.pk] = part
    zero = money.zero(quote.currency)
    return [RevenueMonth(m, sum(by_line.values(), zero), by_line) for m, by_line in table.items()]
