"""SaaS KPIs from the MRR rollup, each with its definition next to it (shown on pages and in the API).
Amounts are in the reporting currency, converted at the FX rate of each movement's day."""
from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

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
    "revenue_churn": "Revenue churn (gross), trailing 12 months: the MRR lost to contraction and churn by the "
                     "customers who had MRR 12 months ago, ÷ their MRR then, in % (= 100 − GRR).",
    "new_mrr": "New MRR: Σ of the 'new' movements in the window (customers whose MRR rose from zero for the first "
               "time).",
    "expansion_mrr": "Expansion MRR: Σ of the rises of MRR that was already above zero, in the window.",
    "contraction_mrr": "Contraction MRR: Σ of the falls of MRR that stays above zero, in the window (a positive "
                       "figure).",
    "churn_mrr": "Churned MRR: Σ of the MRR of customers whose MRR fell to zero in the window (a positive figure).",
    "reactivation_mrr": "Reactivation MRR: Σ of the rises from zero of customers who had MRR before, in the window.",
    "net_new_mrr": "Net new MRR: new + expansion + reactivation − contraction − churn in the window (= MRR at the "
                   "end − MRR at the start).",
}


def _reporting() -> str:
    from recognition.services.journal import reporting_currency

    return reporting_currency()


def _q(value: Decimal) -> Decimal:
    return money.quantize(value, _reporting())


def scoped(rows, *, segment: dict | None = None, currency: str | None = None, customer_path: str = "customer__",
           currency_field: str = "currency"):
    """`rows` restricted to a customer segment ({"size": "enterprise"}) and to records in one currency."""
    if segment:
        rows = rows.filter(**{f"{customer_path}{k}": v for k, v in segment.items()})
    if currency:
        rows = rows.filter(**{currency_field: currency})
    return rows


def _column_and_rounding(currency: str | None, native: bool):
    """native=True: the movements' own amounts, in `currency` (which must be given); else the reporting ones."""
    if native:
        if not currency:
            raise ValueError("native amounts need a currency")
        return "amount", (lambda v: money.quantize(v, currency))
    return "amount_reporting", _q


def mrr_by_customer(day: date, *, segment: dict | None = None, currency: str | None = None) -> dict[int, Decimal]:
    rows = scoped(MrrMovement.objects.filter(date__lte=day), segment=segment, currency=currency)
    out: dict[int, Decimal] = {}
    for r in rows.values("customer_id").annotate(s=Sum("amount_reporting")):
        if r["s"]:
            out[r["customer_id"]] = r["s"]
    return out


def customers_count(day: date, *, segment: dict | None = None, currency: str | None = None) -> int:
    """Customers with MRR above zero on `day`, counted in the database (one row back, not one per customer)."""
    rows = scoped(MrrMovement.objects.filter(date__lte=day), segment=segment, currency=currency)
    return rows.order_by().values("customer_id").annotate(s=Sum("amount_reporting")).filter(s__gt=0).count()


def mrr(day: date, *, segment: dict | None = None, currency: str | None = None, native: bool = False) -> Decimal:
    """MRR on `day` (reporting currency; with `currency`: only that currency's MRR, in it when `native`)."""
    column, q = _column_and_rounding(currency, native)
    rows = scoped(MrrMovement.objects.filter(date__lte=day), segment=segment, currency=currency)
    return q(rows.aggregate(s=Sum(column))["s"] or ZERO)


def movements(first: date, last: date, *, segment: dict | None = None, currency: str | None = None,
              native: bool = False) -> dict:
    column, q = _column_and_rounding(currency, native)
    start = mrr(first - timedelta(days=1), segment=segment, currency=currency, native=native)
    rows = scoped(MrrMovement.objects.filter(date__gte=first, date__lte=last), segment=segment, currency=currency)
    totals = defaultdict(lambda: ZERO)
    for r in rows.values("kind").annotate(s=Sum(column)):
        totals[r["kind"]] = r["s"] or ZERO
    end = mrr(last, segment=segment, currency=currency, native=native)
    new, exp, react = totals["new"], totals["expansion"], totals["reactivation"]
    contr, churn = -totals["contraction"], -totals["churn"]
    return {"from": first.isoformat(), "to": last.isoformat(), "start": q(start), "new": q(new),
            "expansion": q(exp), "reactivation": q(react), "contraction": q(contr), "churn": q(churn),
            "end": q(end), "ties": q(start + new + exp + react - contr - churn) == q(end)}


def retention(day: date, *, segment: dict | None = None, currency: str | None = None) -> dict:
    then = add_months(day, -12)
    # One pass over the movements: each customer of the cohort (MRR 12 months ago) with its MRR then and now.
    rows = (scoped(MrrMovement.objects.filter(date__lte=day), segment=segment, currency=currency).order_by()
            .values("customer_id").annotate(then=Sum("amount_reporting", filter=Q(date__lte=then)),
                                            now=Sum("amount_reporting"))
            .filter(then__isnull=False).exclude(then=0).values_list("customer_id", "then", "now"))
    before, now = {}, {}
    for customer_id, was, is_now in rows:
        before[customer_id], now[customer_id] = was, is_now or ZERO
    base = sum(before.values(), ZERO)
    if not before or base <= 0:
        return {"nrr": None, "grr": None, "logo_churn": None, "revenue_churn": None, "cohort": 0}
    kept = sum((now.get(c, ZERO) for c in before), ZERO)
    capped = sum((min(now.get(c, ZERO), v) for c, v in before.items()), ZERO)
    lost = sum(1 for c in before if now.get(c, ZERO) <= 0)
    pct = Decimal("0.01")
    grr = (capped / base * 100).quantize(pct)
    return {"nrr": (kept / base * 100).quantize(pct), "grr": grr,
            "logo_churn": (Decimal(lost) / len(before) * 100).quantize(pct), "revenue_churn": 100 - grr,
            "cohort": len(before)}


def snapshot(day: date, *, segment: dict | None = None) -> dict:
    by_customer = mrr_by_customer(day, segment=segment)
    m = _q(sum(by_customer.values(), ZERO))
    customers = sum(1 for v in by_customer.values() if v > 0)
    month_start = day.replace(day=1)
    return {"as_of": day.isoformat(), "currency": _reporting(), "mrr": m, "arr": _q(m * 12),
            "customers": customers, "arpa": _q(m / customers) if customers else _q(ZERO),
            "movements_mtd": movements(month_start, day, segment=segment), **retention(day, segment=segment)}


def mrr_series(first: date, last: date, *, segment: dict | None = None, currency: str | None = None) -> list[dict]:
    """Month by month: MRR at each month end and the month's movements."""
    out, month = [], first.replace(day=1)
    while month <= last:
        end = min(add_months(month, 1) - timedelta(days=1), last)
        out.append({"month": month.isoformat()[:7], **movements(month, end, segment=segment, currency=currency)})
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
