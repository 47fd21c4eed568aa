"""MRR and its movements, per customer, from the contracts' line versions.

MRR on a day = Σ over the customer's contracts (not drafts) of every recurring line version active that
day: its amount per period ÷ months in the period (a 1,200.00/year line is 100.00 MRR), excluding tax
and usage. A movement is recorded on each day the MRR changes, classified as
  new          from zero, for a customer who never had MRR
  reactivation from zero, for a customer who had MRR before
  expansion    up, from more than zero
  contraction  down, to more than zero
  churn        down to zero
so that for any window: MRR at the start + new + expansion + reactivation − contraction − churn = MRR
at the end, exactly (each movement is the signed difference of two quantized figures).

The rollup is rebuilt per customer whenever one of its contracts changes (an outbox subscriber):
deterministic and idempotent, so a redelivered event changes nothing. `verify()` recomputes everything
from the source records and compares.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction

from contracts.models import Contract, ContractLine
from contracts.services.periods import MONTHS
from revops.kernel import money

from ..models import MrrMovement

ZERO = Decimal(0)


def line_mrr(line: ContractLine, currency: str) -> Decimal:
    return money.quantize(line.amount / MONTHS[line.period], currency) if line.period in MONTHS else ZERO


def mrr_timeline(customer_id: int) -> dict[str, list[tuple[date, Decimal]]]:
    """Per currency: (day, MRR from that day) at every change point, in date order."""
    versions = (ContractLine.objects.filter(contract__customer_id=customer_id, period__in=list(MONTHS))
                .exclude(contract__status=Contract.Status.DRAFT).select_related("contract"))
    deltas: dict[str, dict[date, Decimal]] = {}
    for v in versions:
        currency = v.contract.currency
        m = line_mrr(v, currency)
        if not m:
            continue
        d = deltas.setdefault(currency, {})
        d[v.start_date] = d.get(v.start_date, ZERO) + m
        after = v.end_date + timedelta(days=1)
        d[after] = d.get(after, ZERO) - m
    out: dict[str, list[tuple[date, Decimal]]] = {}
    for currency, changes in deltas.items():
        running, points = ZERO, []
        for day in sorted(changes):
            running += changes[day]
            points.append((day, money.quantize(running, currency)))
        out[currency] = points
    return out


@dataclass(frozen=True)
class Movement:
    date: date
    currency: str
    kind: str
    amount: Decimal
    before: Decimal
    after: Decimal


def movements(timeline: dict[str, list[tuple[date, Decimal]]]) -> list[Movement]:
    out = []
    for currency, points in timeline.items():
        before, ever = ZERO, False
        for day, after in points:
            if after == before:
                continue
            if before == 0:
                kind = MrrMovement.Kind.REACTIVATION if ever else MrrMovement.Kind.NEW
            elif after == 0:
                kind = MrrMovement.Kind.CHURN
            elif after > before:
                kind = MrrMovement.Kind.EXPANSION
            else:
                kind = MrrMovement.Kind.CONTRACTION
            out.append(Movement(day, currency, kind, after - before, before, after))
            ever = ever or after > 0
            before = after
    return sorted(out, key=lambda m: (m.date, m.currency))


def _reporting(amount: Decimal, currency: str, day: date) -> Decimal:
    from recognition.services.journal import fx_rate, reporting_currency

    return money.quantize(amount * fx_rate(currency, day), reporting_currency())


def reporting_amounts(computed: list[Movement]) -> list[Decimal]:
    """Each movement's change in the reporting currency: the customer's MRR after it, valued at the day's FX
    rate, less its MRR before, as valued at the previous movement. So a customer's reporting MRR is always its
    MRR at the rate of its last change — exactly zero once it has churned, never negative — and the
    movements still add up to it. An FX move between two changes shows in the later movement's amount."""
    valued: dict[str, Decimal] = {}
    out = []
    for m in computed:
        after = _reporting(m.after, m.currency, m.date)
        out.append(after - valued.get(m.currency, ZERO))
        valued[m.currency] = after
    return out


def customer_refresh(*, customer_id: int) -> int:
    """Rebuild one customer's movements from its contracts; returns how many there are."""
    computed = movements(mrr_timeline(customer_id))
    reporting = reporting_amounts(computed)
    with transaction.atomic():
        MrrMovement.objects.filter(customer_id=customer_id).delete()
        MrrMovement.objects.bulk_create([
            MrrMovement(customer_id=customer_id, date=m.date, currency=m.currency, kind=m.kind, amount=m.amount,
                        mrr_before=m.before, mrr_after=m.after, amount_reporting=amount)
            for m, amount in zip(computed, reporting, strict=True)])
    return len(computed)


@dataclass
class Mismatch:
    customer_id: int
    expected: list
    stored: list


def verify(*, fix: bool = False) -> list[Mismatch]:
    """Recompute every customer's movements from the contracts and compare with the rollup."""
    from customers.models import Customer

    stored: dict[int, list] = {}
    for m in MrrMovement.objects.order_by("customer_id", "date", "currency").values_list(
            "customer_id", "date", "currency", "kind", "amount", "mrr_before", "mrr_after"):
        stored.setdefault(m[0], []).append(tuple(m[1:]))
    mismatches = []
    for customer_id in Customer.objects.values_list("pk", flat=True).order_by("pk"):
        expected = [(m.date, m.currency, m.kind, m.amount, m.before, m.after)
                    for m in movements(mrr_timeline(customer_id))]
        have = stored.get(customer_id, [])
        if [(a, b, c, Decimal(d), Decimal(e), Decimal(f)) for a, b, c, d, e, f in have] != expected:
            mismatches.append(Mismatch(customer_id, expected, have))
            if fix:
                customer_refresh(customer_id=customer_id)
    return mismatches
