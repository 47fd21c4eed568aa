"""What a contract owes as of a day, by differences: the charges it *should* have been invoiced so far,
minus what it *was* invoiced (non-void lines with the same charge key). A non-zero difference becomes
a new invoice line. This one rule covers first invoices, amendments (credit the old version's unused
days, charge the new one's), terminations (credit what was billed beyond the end), late usage (the
difference for a period already invoiced) and re-runs (nothing left to bill).

Charge keys (one per contract line version and billing period, so usage is rated per version window
and never twice):
  r:<version id>:<period start>   recurring, billed in advance for every billing period that has begun
  o:<version id>                  one-time, on the first invoice once the line has started
  u:<version id>:<period start>   usage, in arrears for every billing period that has ended, rated
                                  through the line's price over the usage in the version's window
Recurring amounts are prorated by days where a version covers part of a billing period (first and last
periods, amendments, terminations): price per billing period × quantity × days covered ÷ days in the
period, quantized once per charge.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from catalog import pricing as engine
from contracts.services.periods import (
    MONTHS,
    Period,
    billing_anchor,
    billing_period_containing,
    per_billing_period,
)
from revops.kernel import money
from revops.kernel.dates import add_months

ZERO = Decimal(0)

# usage_total(customer_id, meter, first_day, last_day) -> aggregated quantity over those calendar days
UsageTotal = Callable[[int, object, date, date], Decimal]


@dataclass
class Billed:
    """What was invoiced under one charge key: sum over non-void invoices, lines ever written."""

    amount: Decimal = ZERO
    lines: int = 0
    description: str = ""
    product_id: int | None = None
    contract_line_id: int | None = None
    meter_id: int | None = None
    period_start: date | None = None
    period_end: date | None = None
    kind: str = ""


@dataclass
class Charge:
    key: str
    seq: int
    kind: str  # recurring | one_time | usage | adjustment
    description: str
    amount: Decimal
    quantity: Decimal
    unit_price: Decimal
    product_id: int | None
    contract_line_id: int | None
    meter_id: int | None
    period_start: date | None
    period_end: date | None


@dataclass
class Expected:
    key: str
    kind: str
    description: str
    amount: Decimal
    quantity: Decimal
    unit_price: Decimal
    line: object
    period_start: date | None
    period_end: date | None


def _periods(contract, first_day: date, last_day: date):
    """Billing periods of the contract overlapping [first_day, last_day]."""
    if last_day < first_day:
        return
    period = billing_period_containing(billing_anchor(contract), contract.billing_frequency, first_day)
    step = MONTHS[contract.billing_frequency]
    while period.start <= last_day:
        yield period
        start = period.end + timedelta(days=1)
        anchor = billing_anchor(contract)
        k = _index(anchor, start, step)
        period = Period(start, add_months(anchor, (k + 1) * step) - timedelta(days=1))


def _index(anchor: date, start: date, step: int) -> int:
    k = ((start.year - anchor.year) * 12 + start.month - anchor.month) // step
    while add_months(anchor, k * step) > start:
        k -= 1
    while add_months(anchor, (k + 1) * step) <= start:
        k += 1
    return k


def _fmt_period(start: date, end: date) -> str:
    return f"{start:%Y-%m-%d} – {end:%Y-%m-%d}"


def _is_rated_usage(v) -> bool:
    return v.period == "usage" and v.price is not None and bool(v.product.meter_id)


def _usage_windows(contract, v, as_of: date):
    """(billing period, first day, last day) of a usage version, in arrears: every billing period that
    has ended before as_of, cut to the version's dates."""
    for p in _periods(contract, v.start_date, min(v.end_date, as_of - timedelta(days=1))):
        if p.end >= as_of:
            break
        yield p, max(p.start, v.start_date), min(p.end, v.end_date)


def usage_requests(contract, versions, as_of: date) -> list[tuple[int, object, date, date]]:
    """The (customer id, meter, first day, last day) aggregates expected_charges will ask usage_total
    for, so a caller can fetch them for many contracts at once."""
    return [(contract.customer_id, v.product.meter, first, last)
            for v in versions if _is_rated_usage(v) for _p, first, last in _usage_windows(contract, v, as_of)]


def expected_charges(contract, versions, as_of: date, usage_total: UsageTotal) -> list[Expected]:
    """Everything the contract's line versions should have been invoiced by `as_of` (exact per key)."""
    currency = contract.currency
    out: list[Expected] = []
    for v in versions:
        name = v.product.name
        if v.period == "one_time":
            if v.start_date <= as_of and v.amount:
                out.append(Expected(f"o:{v.pk}", "one_time", name, money.quantize(v.amount, currency), v.quantity,
                                    v.unit_price, v, v.start_date, v.start_date))
        elif v.period in MONTHS:
            # In advance: every billing period that has begun by as_of.
            for p in _periods(contract, v.start_date, min(v.end_date, as_of)):
                first, last = max(p.start, v.start_date), min(p.end, v.end_date)
                covered = (last - first).days + 1
                unit_bp = per_billing_period(v.unit_price, v.period, contract.billing_frequency)
                amount = money.quantize(unit_bp * v.quantity * covered / p.days, currency)
                label = f"{name} ({_fmt_period(first, last)})"
                if covered < p.days:
                    label += f", {covered}/{p.days} days"
                out.append(Expected(f"r:{v.pk}:{p.start:%Y%m%d}", "recurring", label, amount, v.quantity,
                                    money.quantize_unit_price(unit_bp), v, first, last))
        elif _is_rated_usage(v):
            for p, first, last in _usage_windows(contract, v, as_of):
                quantity = usage_total(contract.customer_id, v.product.meter, first, last)
                amount = engine.calculate(v.price, quantity).amount if quantity else money.zero(currency)
                unit = money.quantize_unit_price(amount / quantity) if quantity else ZERO
                out.append(Expected(f"u:{v.pk}:{p.start:%Y%m%d}", "usage",
                                    f"{name}: {quantity.normalize():f} {v.product.meter.unit or 'units'} "
                                    f"({_fmt_period(first, last)})", amount, quantity, unit, v, first, last))
    return out


def charges_due(contract, versions, as_of: date, billed: dict[str, Billed], usage_total: UsageTotal) -> list[Charge]:
    """New invoice lines for the contract: expected − billed, per charge key, non-zero only."""
    charges: list[Charge] = []
    expected = expected_charges(contract, versions, as_of, usage_total)
    seen = set()
    for e in expected:
        seen.add(e.key)
        before = billed.get(e.key, Billed())
        diff = e.amount - before.amount
        if diff == 0:
            continue
        if before.lines == 0:
            charges.append(Charge(e.key, 0, e.kind, e.description, diff, e.quantity, e.unit_price, e.line.product_id,
                                  e.line.pk, e.line.product.meter_id if e.kind == "usage" else None,
                                  e.period_start, e.period_end))
        else:
            why = "Late usage" if e.kind == "usage" else "Adjustment"
            charges.append(Charge(e.key, before.lines, "adjustment", f"{why}: {e.description}", diff,
                                  e.quantity, ZERO, e.line.product_id, e.line.pk,
                                  e.line.product.meter_id if e.kind == "usage" else None, e.period_start,
                                  e.period_end))
    for key, before in billed.items():
        if key in seen or before.amount == 0:
            continue
        # Billed before, no longer owed at all (e.g. a period after an early termination).
        charges.append(Charge(key, before.lines, "adjustment", f"Credit: {before.description}", -before.amount,
                              ZERO, ZERO, before.product_id, before.contract_line_id, before.meter_id,
                              before.period_start, before.period_end))
    return charges
