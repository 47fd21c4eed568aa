"""Projected revenue of a quote before it is signed, behind one function: `project_revenue`.

The projection is done by the function named in settings.REVOPS_REVENUE_PROJECTOR — the recognition
engine's `recognition.preview.project_quote` (allocation by standalone selling price, schedules by
days), so a rep sees the schedule the contract will really get. Quotes do not import recognition
(the dependency runs the other way); `simple_projection` below is the fallback without it.

simple_projection: ratable lines are spread by days over the term (largest remainder across months,
so each line's months sum exactly to its amount); point-in-time lines land in the start month; usage is
recognized as it is consumed and is not projected. The projection sums exactly to the quote's TCV.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.utils.module_loading import import_string

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
    """Monthly projected recognition of the quote (sums exactly to its TCV)."""
    lines = list(quote.lines.select_related("product")) if lines is None else lines
    return import_string(settings.REVOPS_REVENUE_PROJECTOR)(quote, lines)


def simple_projection(quote: Quote, lines: list[QuoteLine]) -> list[RevenueMonth]:
    """Each line's own amount, spread by days (ratable) or in the start month (point in time)."""
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
