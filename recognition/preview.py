"""The recognition engine applied to a quote before it is signed (the quote's revenue preview):
the quote's fixed consideration (its TCV) allocated over its lines by relative standalone selling
price — or the residual approach — then scheduled by days (ratable) or in the start month (point in
time), exactly as the contract will be once accepted. For a quote whose lines are all priced in
proportion to their SSP this equals each line's own amount spread over the term. A product without
an SSP does not stop a preview: its line's price is used as its weight, and the preview says so."""
from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal

from quotes.revenue import RevenueMonth
from revops.kernel import money
from revops.kernel.dates import days_by_month, month_start, term_end

ZERO = Decimal(0)
MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _ssp_weight(line, term_months: int) -> Decimal | None:
    product = line.product
    if product.ssp_residual:
        return None
    if product.ssp is None:
        return line.amount  # no SSP: the price itself (previews must not fail)
    months = Decimal(term_months) if line.recurring else Decimal(1)
    return product.ssp * line.quantity * months


def project_quote(quote, lines) -> list[RevenueMonth]:
    currency = quote.currency
    end = term_end(quote.start_date, quote.term_months)
    spans = list(days_by_month(quote.start_date, end))
    table: OrderedDict = OrderedDict((m, {}) for m, _ in spans)
    fixed = [x for x in lines if not x.usage and x.amount]
    price = sum((x.amount for x in fixed), ZERO)
    weights = [_ssp_weight(x, quote.term_months) for x in fixed]
    residual = [i for i, w in enumerate(weights) if w is None]
    allocated: list[Decimal]
    if residual and len(residual) == 1 and sum((w for w in weights if w is not None), ZERO) <= price:
        allocated = [money.quantize(w, currency) if w is not None else ZERO for w in weights]
        allocated[residual[0]] = money.quantize(price, currency) - sum(allocated, ZERO)
    else:
        clean = [w if w is not None else x.amount for w, x in zip(weights, fixed, strict=True)]
        allocated = money.allocate(price, clean, currency) if fixed and any(clean) else [x.amount for x in fixed]
    for line, amount in zip(fixed, allocated, strict=True):
        if line.product.recognition == "point_in_time" or not line.recurring:
            table[month_start(quote.start_date)][line.pk] = amount
            continue
        parts = money.allocate(amount, [days for _, days in spans], currency)
        for (month, _), part in zip(spans, parts, strict=True):
            table[month][line.pk] = part
    zero = money.zero(currency)
    return [RevenueMonth(m, sum(by_line.values(), zero), by_line) for m, by_line in table.items()]
