"""Contract value: TCV over the lines' lifetimes, MRR/ARR as of a day. Pure over loaded lines."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from revops.kernel import money
from revops.kernel.dates import add_months

from .periods import MONTHS


def version_value(line, currency: str) -> Decimal:
    """What one line version is worth over its dates: whole price periods at the amount, a partial last
    period by days. One-time lines count once; usage lines count nothing (variable)."""
    if line.period == "one_time":
        return line.amount
    if line.period not in MONTHS:
        return Decimal(0)
    step = MONTHS[line.period]
    total = Decimal(0)
    k = 0
    while True:
        start = add_months(line.start_date, k * step)
        if start > line.end_date:
            break
        nxt = add_months(line.start_date, (k + 1) * step)
        full_days = (nxt - start).days
        covered = (min(line.end_date, nxt - timedelta(days=1)) - start).days + 1
        total += line.amount * covered / full_days
        k += 1
    return money.quantize(total, currency)


def recurring_run_rate(lines, day: date, currency: str) -> tuple[Decimal, Decimal]:
    """(MRR, ARR) of the line versions active on `day`: each line's amount normalised per month / year."""
    mrr = arr = Decimal(0)
    for line in lines:
        if line.period not in MONTHS or not (line.start_date <= day <= line.end_date):
            continue
        mrr += money.quantize(line.amount / MONTHS[line.period], currency)
        arr += money.quantize(line.amount * 12 / MONTHS[line.period], currency)
    return money.quantize(mrr, currency), money.quantize(arr, currency)


def refresh_values(contract, *, as_of: date | None = None) -> None:
    """Recompute and store TCV, MRR and ARR (caller holds the contract lock)."""
    lines = list(contract.lines.all())
    contract.tcv = money.quantize(sum((version_value(x, contract.currency) for x in lines), Decimal(0)),
                                  contract.currency)
    day = as_of or max(contract.start_date, min(contract.end_date, timezone.localdate()))
    contract.mrr, contract.arr = recurring_run_rate(lines, day, contract.currency)
    contract.save(update_fields=["tcv", "mrr", "arr"])
