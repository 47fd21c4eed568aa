"""Forecasts in the reporting currency: revenue by month, a one-year-back backtest, and cash by ISO week.

Revenue, per month of the horizon (the month of `as_of` first):

* contracted: planned schedule lines of the month (revenue already under contract);
* renewals: each active contract ending inside the horizon, its MRR for every month starting after its
  end date × a renewal probability (RENEWAL_PROBABILITY_AUTO / RENEWAL_PROBABILITY_MANUAL);
* pipeline: each open quote's MRR for the months of its term from its start month × STAGE_WEIGHTS;
* usage: Holt's linear trend fitted on the last 12 complete months of usage revenue (revenue journal
  lines on accounts of family "Usage"; when none are in the window, issued usage invoice lines), when at
  least MIN_HOLT_MONTHS months of history exist; else their flat average. 80 % band: ± 1.2816 σ √h,
  σ the in-sample residual standard deviation, h the months ahead (1 for the first month).

With a customer `segment` ({"size": "enterprise"}, {"owner": "alice"}; see kpis.scoped) every part counts only
that segment's customers: their schedule lines, contracts, quotes and usage revenue (journal lines of entries
naming the customer, or their usage invoice lines), and the backtest's actual revenue likewise (revenue entries
naming no customer then do not count).

Non-reporting currencies convert at the FX rate on `as_of`. Only the usage part carries a band; the
total's band is the total ± the usage band.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Sum

from revops.kernel import money
from revops.kernel.dates import add_months, month_start

ZERO = Decimal(0)

RENEWAL_PROBABILITY_AUTO = Decimal("0.9")
"""Chance an auto-renewing contract renews at its end date."""
RENEWAL_PROBABILITY_MANUAL = Decimal("0.6")
"""Chance a contract without auto-renewal is renewed by the customer."""
STAGE_WEIGHTS = {"draft": Decimal("0.1"), "pending_approval": Decimal("0.3"), "approved": Decimal("0.5"),
                 "sent": Decimal("0.7")}
"""Chance an open quote in each status turns into revenue."""
Z80 = 1.2816  # two-sided 80 % normal quantile
MIN_HOLT_MONTHS = 6
HISTORY_MONTHS = 12
USAGE_FAMILY = "Usage"


def _rep() -> str:
    from recognition.services.journal import reporting_currency

    return reporting_currency()


def _q(amount) -> Decimal:
    return money.quantize(amount, _rep())


def _from_float(x: float) -> Decimal:
    return _q(Decimal(str(round(x, 2))))


class _Rates:
    """FX rates on one day, looked up once per currency."""

    def __init__(self, day: date):
        self.day, self.cache = day, {}

    def __call__(self, currency: str) -> Decimal:
        from recognition.services.journal import fx_rate

        if currency not in self.cache:
            self.cache[currency] = fx_rate(currency, self.day)
        return self.cache[currency]


def _months(first: date, n: int) -> list[date]:
    return [add_months(first, i) for i in range(n)]


# --- the parts -------------------------------------------------------------------------------------

def _in_segment(rows, segment: dict | None, customer_path: str):
    from . import kpis

    return kpis.scoped(rows, segment=segment, customer_path=customer_path)


def contracted(first: date, months: int, rates: _Rates, *, statuses=("planned",),
               started_by: date | None = None, segment: dict | None = None) -> dict[date, Decimal]:
    from recognition.models import ScheduleLine

    last = add_months(first, months)
    rows = ScheduleLine.objects.filter(status__in=statuses, period__gte=first, period__lt=last)
    rows = _in_segment(rows, segment, "obligation__contract__customer__")
    if started_by is not None:
        rows = rows.filter(obligation__contract__start_date__lte=started_by)
    out: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for r in rows.values("period", "obligation__currency").annotate(s=Sum("amount")):
        out[month_start(r["period"])] += r["s"] * rates(r["obligation__currency"])
    return out


def renewals(first: date, months: int, rates: _Rates, *, known_by: date | None = None,
             segment: dict | None = None) -> dict[date, Decimal]:
    from contracts.models import Contract

    horizon = _months(first, months)
    end = add_months(first, months) - timedelta(days=1)
    rows = Contract.objects.filter(status=Contract.Status.ACTIVE, end_date__gte=first, end_date__lte=end, mrr__gt=0)
    rows = _in_segment(rows, segment, "customer__")
    if known_by is not None:
        rows = rows.filter(start_date__lte=known_by)
    out: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for c in rows.only("end_date", "auto_renew", "mrr", "currency"):
        p = RENEWAL_PROBABILITY_AUTO if c.auto_renew else RENEWAL_PROBABILITY_MANUAL
        for m in horizon:
            if m > c.end_date:
                out[m] += c.mrr * p * rates(c.currency)
    return out


def pipeline(first: date, months: int, rates: _Rates, *, known_by: date | None = None,
             segment: dict | None = None) -> dict[date, Decimal]:
    from quotes.models import Quote

    horizon = _months(first, months)
    rows = _in_segment(Quote.objects.filter(status__in=list(STAGE_WEIGHTS), mrr__gt=0), segment, "customer__")
    if known_by is not None:
        rows = rows.filter(created_at__date__lte=known_by)
    out: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for q in rows.only("status", "mrr", "currency", "start_date", "term_months"):
        start = month_start(q.start_date)
        stop = add_months(start, q.term_months)
        for m in horizon:
            if start <= m < stop:
                out[m] += q.mrr * STAGE_WEIGHTS[q.status] * rates(q.currency)
    return out


def usage_history(first: date, rates: _Rates, *, segment: dict | None = None) -> list[Decimal]:
    """Usage revenue of each of the HISTORY_MONTHS complete months before `first`, oldest first."""
    from billing.models import Invoice, InvoiceLine
    from recognition.models import Account, JournalLine

    start = add_months(first, -HISTORY_MONTHS)
    by_month: dict[date, Decimal] = defaultdict(lambda: ZERO)
    lines = JournalLine.objects.filter(account__kind=Account.Kind.REVENUE, account__family__iexact=USAGE_FAMILY,
                                       entry__date__gte=start, entry__date__lt=first)
    lines = _in_segment(lines, segment, "entry__customer__")
    if lines.exists():
        rows = lines.values("entry__date").annotate(c=Sum("credit_reporting"), d=Sum("debit_reporting"))
        for r in rows:
            by_month[month_start(r["entry__date"])] += r["c"] - r["d"]
    else:  # usage not posted to a usage revenue account: the issued usage invoice lines
        rows = (_in_segment(InvoiceLine.objects.filter(kind=InvoiceLine.Kind.USAGE, invoice__status__in=Invoice.POSTED,
                                                       invoice__issue_date__gte=start, invoice__issue_date__lt=first),
                            segment, "invoice__customer__")
                .values("invoice__issue_date", "invoice__currency").annotate(s=Sum("amount")))
        for r in rows:
            by_month[month_start(r["invoice__issue_date"])] += r["s"] * rates(r["invoice__currency"])
    return [by_month[m] for m in _months(start, HISTORY_MONTHS)]


def usage_forecast(history: list[Decimal], months: int) -> dict:
    """{"model": "holt" | "average" | "none", "points": [(forecast, half band width)], "sigma": σ}.

    History counts from its first month with usage; before that the meter did not exist."""
    values = [float(v) for v in history]
    while values and values[0] == 0:
        values.pop(0)
    if not values:
        return {"model": "none", "points": [(0.0, 0.0)] * months, "sigma": 0.0}
    if len(values) >= MIN_HOLT_MONTHS:
        import numpy as np
        from statsmodels.tsa.holtwinters import Holt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = Holt(np.asarray(values, dtype=float), initialization_method="estimated").fit()
            path = [float(x) for x in fit.forecast(months)]
        resid = np.asarray(fit.resid, dtype=float)
        sigma = float(np.std(resid, ddof=1)) if len(resid) > 1 else 0.0
        model = "holt"
    else:
        mean = sum(values) / len(values)
        path = [mean] * months
        sigma = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
        model = "average"
    points = [(max(path[h], 0.0), Z80 * sigma * math.sqrt(h + 1)) for h in range(months)]
    return {"model": model, "points": points, "sigma": sigma}


# --- the forecasts ---------------------------------------------------------------------------------

def _forecast(as_of: date, months: int, *, backtest: bool = False, segment: dict | None = None) -> dict:
    first = month_start(as_of)
    rates = _Rates(as_of)
    if backtest:
        con = contracted(first, months, rates, statuses=("planned", "recognized"), started_by=as_of, segment=segment)
        ren = renewals(first, months, rates, known_by=as_of, segment=segment)
        pipe = pipeline(first, months, rates, known_by=as_of, segment=segment)
    else:
        con = contracted(first, months, rates, segment=segment)
        ren = renewals(first, months, rates, segment=segment)
        pipe = pipeline(first, months, rates, segment=segment)
    usage = usage_forecast(usage_history(first, rates, segment=segment), months)
    rows = []
    for m, (u, band) in zip(_months(first, months), usage["points"], strict=True):
        u_d, band_d = _from_float(u), _from_float(band)
        total = _q(con[m]) + _q(ren[m]) + _q(pipe[m]) + u_d
        rows.append({"month": m.isoformat()[:7], "contracted": _q(con[m]), "renewals": _q(ren[m]),
                     "pipeline": _q(pipe[m]), "usage": u_d, "usage_low": max(u_d - band_d, _q(0)),
                     "usage_high": u_d + band_d, "total": total, "low": total - band_d, "high": total + band_d})
    totals = {k: sum((r[k] for r in rows), _q(0)) for k in ("contracted", "renewals", "pipeline", "usage", "total")}
    return {"as_of": as_of.isoformat(), "currency": _rep(), "segment": segment or {}, "usage_model": usage["model"],
            "usage_sigma": _from_float(usage["sigma"]), "months": rows, "totals": totals,
            "assumptions": {"renewal_probability_auto_renew": RENEWAL_PROBABILITY_AUTO,
                            "renewal_probability_manual": RENEWAL_PROBABILITY_MANUAL,
                            "stage_weights": dict(STAGE_WEIGHTS), "band": "80 %: ± 1.2816 σ √h on usage"}}


def revenue_forecast(as_of: date, months: int = 12, *, segment: dict | None = None) -> dict:
    """Revenue by month for `months` months from the month of `as_of` (see the module docstring)."""
    return _forecast(as_of, months, segment=segment)


def actual_revenue(first: date, months: int, *, segment: dict | None = None) -> dict[date, Decimal]:
    """Recognized revenue by month: revenue journal lines (credit − debit, reporting currency) by entry date."""
    from recognition.models import Account, JournalLine

    out: dict[date, Decimal] = defaultdict(lambda: ZERO)
    rows = (_in_segment(JournalLine.objects.filter(account__kind=Account.Kind.REVENUE, entry__date__gte=first,
                                                   entry__date__lt=add_months(first, months)),
                        segment, "entry__customer__")
            .values("entry__date").annotate(c=Sum("credit_reporting"), d=Sum("debit_reporting")))
    for r in rows:
        out[month_start(r["entry__date"])] += r["c"] - r["d"]
    return out


def backtest(as_of: date, months: int = 12, *, segment: dict | None = None) -> dict:
    """The forecast as it would have been made on `as_of` − 12 months, next to the actual revenue.

    Limitation: the schedule as planned on that day cannot be reconstructed (lines are recognized or
    cancelled in place), so "contracted" is the recognized + planned lines of those months for contracts
    started by then. Renewals count contracts started by then that are still active today; the pipeline
    counts quotes created by then that are still open today (their past statuses are not kept). Usage
    history and FX rates stop at that day."""
    then = add_months(as_of, -12)
    fc = _forecast(then, months, backtest=True, segment=segment)
    actual = actual_revenue(month_start(then), months, segment=segment)
    rows = []
    for row, m in zip(fc["months"], _months(month_start(then), months), strict=True):
        a = _q(actual[m])
        rows.append({**row, "actual": a, "error": a - row["total"],
                     "within_band": row["low"] <= a <= row["high"]})
    actual_total = sum((r["actual"] for r in rows), _q(0))
    mape_rows = [abs(r["error"]) / r["actual"] for r in rows if r["actual"]]
    mape = (sum(mape_rows, ZERO) / len(mape_rows) * 100).quantize(Decimal("0.01")) if mape_rows else None
    return {**fc, "as_of": as_of.isoformat(), "forecast_as_of": then.isoformat(), "months": rows,
            "totals": {**fc["totals"], "actual": actual_total}, "mape_percent": mape}


def average_days_late(customer_ids) -> dict[int, int]:
    """Per customer: the mean of (last allocation's payment date − due date) over its paid invoices,
    rounded to whole days, never negative; customers without paid invoices are absent (0)."""
    from billing.models import Invoice

    rows = (Invoice.objects.filter(customer_id__in=customer_ids, status=Invoice.Status.PAID, due_date__isnull=False)
            .annotate(last=Max("allocations__payment__received_at")).exclude(last=None)
            .values_list("customer_id", "due_date", "last"))
    lates: dict[int, list[int]] = defaultdict(list)
    for customer_id, due, last in rows:
        lates[customer_id].append((last.date() - due).days)
    return {c: max(0, round(sum(v) / len(v))) for c, v in lates.items()}


def cash_forecast(as_of: date, weeks: int = 13, *, segment: dict | None = None) -> dict:
    """Expected collections from open invoices by ISO week, from the week of `as_of`: each invoice's
    amount due on its due date (issue date when none) + its customer's average days late, at the FX
    rate on `as_of`. Expected before `as_of`: the overdue bucket; after the last week: `later`. With a
    `segment`, only that segment's customers' invoices."""
    from billing.models import Invoice

    rates = _Rates(as_of)
    week0 = as_of - timedelta(days=as_of.weekday())
    invoices = list(_in_segment(Invoice.objects.filter(status__in=Invoice.OPEN, amount_due__gt=0), segment, "customer__")
                    .only("customer_id", "currency", "amount_due", "due_date", "issue_date"))
    late = average_days_late({i.customer_id for i in invoices})
    buckets: dict[int, Decimal] = defaultdict(lambda: ZERO)
    overdue = later = ZERO
    for inv in invoices:
        due = inv.due_date or inv.issue_date or as_of
        expected = due + timedelta(days=late.get(inv.customer_id, 0))
        amount = inv.amount_due * rates(inv.currency)
        if expected < as_of:
            overdue += amount
            continue
        index = (expected - week0).days // 7
        if index >= weeks:
            later += amount
        else:
            buckets[index] += amount
    rows = []
    for i in range(weeks):
        start = week0 + timedelta(weeks=i)
        year, week, _ = start.isocalendar()
        rows.append({"week": f"{year}-W{week:02d}", "start": start.isoformat(), "amount": _q(buckets[i])})
    total = _q(overdue) + _q(later) + sum((r["amount"] for r in rows), _q(0))
    return {"as_of": as_of.isoformat(), "currency": _rep(), "segment": segment or {}, "overdue": _q(overdue),
            "weeks": rows,
            "later": _q(later), "total": total}
