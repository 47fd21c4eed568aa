"""SaaS KPIs from the MRR rollup, each with its definition next to it (shown on pages and in the API).
Amounts are in the reporting currency, converted at the FX rate of each movement's day."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum

from revops.kernel import money
from revops.kernel.dates import add_months

from ..models import MrrMovement

ZERO = Decimal(0)

DEFINITIONS = {
    "mrr": "Monthly recurring revenue: every active recurring contract line's amount per period ÷ months in "
           "the period (excluding tax and usage), summed, on the day.",
    "arr": "Annual recurring revenue: MRR × 12.",
    "customers": "Customers with MRR above zero on the day.",
    "arpa": "Average revenue per account: MRR ÷ customers.",
    "movements": "MRR movements in the window: new (from zero, first time), expansion, contraction, churn (to "
                 "zero), reactivation (from zero, again); start + new + expansion + reactivation − "
                 "contraction − churn = end.",
    "nrr": "Net revenue retention, trailing 12 months: the MRR today of the customers who had MRR 12 months "
           "ago, ÷ their MRR then.",
    "grr": "Gross revenue retention, trailing 12 months: as NRR, but each customer counts at most its MRR "
           "of 12 months ago (expansion excluded).",
    "logo_churn": "Logo churn, trailing 12 months: share of the customers with MRR 12 months ago who have none today.",
}


def _reporting() -> str:
    from recognition.services.journal import reporting_currency

    return reporting_currency()


def _q(value: Decimal) -> Decimal:
    return money.quantize(value, _reporting())


def mrr_by_customer(day: date, *, segment: dict | None = None) -> dict[int, Decimal]:
    rows = MrrMovement.objects.filter(date__lte=day)
    if segment:
        rows = rows.filter(**{f"customer__{k}": v for k, v in segment.items()})
    out: dict[int, Decimal] = {}
    for r in rows.values("customer_id").annotate(s=Sum("amount_reporting")):
        if r["s"]:
            out[r["customer_id"]] = r["s"]
    return out


def mrr(day: date, *, segment: dict | None = None) -> Decimal:
    rows = MrrMovement.objects.filter(date__lte=day)
    if segment:
        rows = rows.filter(**{f"customer__{k}": v for k, v in segment.items()})
    return _q(rows.aggregate(s=Sum("amount_reporting"))["s"] or ZERO)


def movements(first: date, last: date, *, segment: dict | None = None) -> dict:
    start = mrr(first - timedelta(days=1), segment=segment)
    rows = MrrMovement.objects.filter(date__gte=first, date__lte=last)
    if segment:
        rows = rows.filter(**{f"customer__{k}": v for k, v in segment.items()})
    totals = defaultdict(lambda: ZERO)
    for r in rows.values("kind").annotate(s=Sum("amount_reporting")):
        totals[r["kind"]] = r["s"] or ZERO
    end = mrr(last, segment=segment)
    new, exp, react = totals["new"], totals["expansion"], totals["reactivation"]
    contr, churn = -totals["contraction"], -totals["churn"]
    return {"from": first.isoformat(), "to": last.isoformat(), "start": _q(start), "new": _q(new),
            "expansion": _q(exp), "reactivation": _q(react), "contraction": _q(contr), "churn": _q(churn),
            "end": _q(end), "ties": _q(start + new + exp + react - contr - churn) == _q(end)}


def retention(day: date, *, segment: dict | None = None) -> dict:
    then = add_months(day, -12)
    before = mrr_by_customer(then, segment=segment)
    now = mrr_by_customer(day, segment=segment)
    base = sum(before.values(), ZERO)
    if not before or base <= 0:
        return {"nrr": None, "grr": None, "logo_churn": None, "cohort": 0}
    kept = sum((now.get(c, ZERO) for c in before), ZERO)
    capped = sum((min(now.get(c, ZERO), v) for c, v in before.items()), ZERO)
    lost = sum(1 for c in before if now.get(c, ZERO) <= 0)
    pct = Decimal("0.01")
    return {"nrr": (kept / base * 100).quantize(pct), "grr": (capped / base * 100).quantize(pct),
            "logo_churn": (Decimal(lost) / len(before) * 100).quantize(pct), "cohort": len(before)}


def snapshot(day: date, *, segment: dict | None = None) -> dict:
    by_customer = mrr_by_customer(day, segment=segment)
    m = _q(sum(by_customer.values(), ZERO))
    customers = sum(1 for v in by_customer.values() if v > 0)
    month_start = day.replace(day=1)
    return {"as_of": day.isoformat(), "currency": _reporting(), "mrr": m, "arr": _q(m * 12),
            "customers": customers, "arpa": _q(m / customers) if customers else _q(ZERO),
            "movements_mtd": movements(month_start, day, segment=segment), **retention(day, segment=segment)}


def mrr_series(first: date, last: date, *, segment: dict | None = None) -> list[dict]:
    """Month by month: MRR at each month end and the month's movements."""
    out, month = [], first.replace(day=1)
    while month <= last:
        end = min(add_months(month, 1) - timedelta(days=1), last)
        out.append({"month": month.isoformat()[:7], **movements(month, end, segment=segment)})
        month = add_months(month, 1)
    return out


DEFINITIONS["cohorts"] = (
    "Cohort retention: customers grouped by the month of their first MRR (their 'new' movement); for each "
    "later month-end, the cohort's MRR then ÷ its MRR at the end of its first month, in %. Expansion can "
    "take a cohort above 100 %.")


def cohorts(first: date, last: date, *, months_after: int = 12) -> list[dict]:
    """Retention by start month for cohorts starting in [first, last] (reporting currency)."""
    starts = (MrrMovement.objects.filter(kind=MrrMovement.Kind.NEW, date__gte=first.replace(day=1), date__lte=last)
              .values_list("customer_id", "date"))
    by_month: dict[date, set[int]] = defaultdict(set)
    for customer_id, day in starts:
        by_month[day.replace(day=1)].add(customer_id)
    rows = []
    for month in sorted(by_month):
        members = by_month[month]
        base_day = add_months(month, 1) - timedelta(days=1)
        base = sum((v for c, v in mrr_by_customer(base_day).items() if c in members), ZERO)
        retained = []
        for k in range(1, months_after + 1):
            end = add_months(month, k + 1) - timedelta(days=1)
            if end > last:  # only month-ends inside the window
                break
            now = sum((v for c, v in mrr_by_customer(end).items() if c in members), ZERO)
            retained.append((now / base * 100).quantize(Decimal("0.1")) if base > 0 else None)
        rows.append({"cohort": month.isoformat()[:7], "customers": len(members), "starting_mrr": _q(base),
                     "retention": retained})
    return rows
