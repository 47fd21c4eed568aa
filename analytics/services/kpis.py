"""SaaS KPIs from the MRR rollup, each with its definition next to it (shown on pages and in the API).
Amounts are in the reporting currency: each customer's MRR valued at the FX rate of its latest movement
(analytics/services/mrr.py reporting_amounts)."""
from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Case, DateField, F, IntegerField, Q, Sum, Value, When
from django.db.models.functions import TruncMonth

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


# Segment fields that are not a plain column of the customer: how to reach them from it.
SEGMENT_LOOKUPS = {"owner": "owner__username"}


def scoped(rows, *, segment: dict | None = None, currency: str | None = None, customer_path: str = "customer__",
           currency_field: str = "currency"):
    """`rows` restricted to a customer segment ({"size": "enterprise"}; {"owner": "alice"}: the customers whose
    owner, the team member, has that username) and to records in one currency."""
    if segment:
        rows = rows.filter(**{f"{customer_path}{SEGMENT_LOOKUPS.get(k, k)}": v for k, v in segment.items()})
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
    return movement_windows([(first, last)], segment=segment, currency=currency, native=native)[0]


def movement_windows(windows: list[tuple[date, date]], *, segment: dict | None = None, currency: str | None = None,
                     native: bool = False) -> list[dict]:
    """`movements(first, last)` for each of consecutive windows (each starting the day after the previous one
    ends), in one query: the movements up to the last window's end summed per window and kind (those before
    the first window in one bucket, the MRR at its start); each window's start and end are running sums of
    those totals, so the figures are exactly those of `mrr` and `movements`."""
    if not windows:
        return []
    column, q = _column_and_rounding(currency, native)
    first, last = windows[0][0], windows[-1][1]
    ends = [end for _, end in windows]
    rows = scoped(MrrMovement.objects.filter(date__lte=last), segment=segment, currency=currency).order_by()
    if len(windows) <= 64:  # each row's window in the database: a few rows back
        bucket = Case(When(date__lt=first, then=Value(-1)),
                      *[When(date__lte=end, then=Value(i)) for i, end in enumerate(ends)], output_field=IntegerField())
        grouped = rows.annotate(bucket=bucket).values("bucket", "kind").annotate(s=Sum(column))
        totals_rows = ((r["bucket"], r["kind"], r["s"]) for r in grouped)
    else:  # many short windows (days, weeks): per day and kind, placed here
        day = Case(When(date__lt=first, then=Value(None)), default=F("date"), output_field=DateField())
        grouped = rows.annotate(day=day).values("day", "kind").annotate(s=Sum(column))
        totals_rows = ((-1 if r["day"] is None else bisect_left(ends, r["day"]), r["kind"], r["s"]) for r in grouped)
    per_window: list[dict] = [defaultdict(lambda: ZERO) for _ in windows]
    start = ZERO
    for i, kind, s in totals_rows:
        if i < 0:
            start += s or ZERO
        else:
            per_window[i][kind] += s or ZERO
    out = []
    for (w_first, w_last), totals in zip(windows, per_window, strict=True):
        new, exp, react = totals["new"], totals["expansion"], totals["reactivation"]
        contr, churn = -totals["contraction"], -totals["churn"]
        end = start + new + exp + react - contr - churn
        out.append({"from": w_first.isoformat(), "to": w_last.isoformat(), "start": q(start), "new": q(new),
                    "expansion": q(exp), "reactivation": q(react), "contraction": q(contr), "churn": q(churn),
                    "end": q(end), "ties": q(start + new + exp + react - contr - churn) == q(end)})
        start = end
    return out


def customers_counts(days: list[date], *, segment: dict | None = None, currency: str | None = None) -> list[int]:
    """`customers_count(day)` for each of `days` (ascending), in one query: per customer, the running sum of
    its daily MRR changes; the days on which it crosses above zero (+1) or back to zero or below (−1), summed
    by day; each count is the running total of those up to the day."""
    if not days:
        return []
    if connection.vendor != "postgresql":  # raw SQL below: elsewhere (the SQLite demo) point by point
        return [customers_count(day, segment=segment, currency=currency) for day in days]
    per = (scoped(MrrMovement.objects.filter(date__lte=max(days)), segment=segment, currency=currency).order_by()
           .values("customer_id", "date").annotate(d=Sum("amount_reporting")))
    sql, params = per.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH per AS ({sql}),
                run AS (SELECT customer_id, "date",
                               CASE WHEN SUM(d) OVER (PARTITION BY customer_id ORDER BY "date") > 0 THEN 1 ELSE 0 END
                               AS active FROM per),
                flips AS (SELECT "date", active,
                                 LAG(active, 1, 0) OVER (PARTITION BY customer_id ORDER BY "date") AS was FROM run)
                SELECT "date", SUM(active - was) FROM flips WHERE active <> was GROUP BY "date" ORDER BY "date" """,
            params)
        changes = cursor.fetchall()
    out, count, k = [], 0, 0
    for day in days:
        while k < len(changes) and changes[k][0] <= day:
            count += int(changes[k][1])
            k += 1
        out.append(count)
    return out


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
    kept = sum((now.get(c, ZERO) for c in before), ZERO)
    capped = sum((min(now.get(c, ZERO), v) for c, v in before.items()), ZERO)
    lost = sum(1 for c in before if now.get(c, ZERO) <= 0)
    return _retention_figures(len(before), base, kept, capped, lost)


def _retention_figures(cohort: int, base: Decimal, kept: Decimal, capped: Decimal, lost: int) -> dict:
    if not cohort or base <= 0:
        return {"nrr": None, "grr": None, "logo_churn": None, "revenue_churn": None, "cohort": 0}
    pct = Decimal("0.01")
    grr = (capped / base * 100).quantize(pct)
    return {"nrr": (kept / base * 100).quantize(pct), "grr": grr,
            "logo_churn": (Decimal(lost) / cohort * 100).quantize(pct), "revenue_churn": 100 - grr,
            "cohort": cohort}


def retentions(days: list[date], *, segment: dict | None = None, currency: str | None = None) -> list[dict]:
    """`retention(day)` for each of `days`, in one query: per customer, its MRR as runs of days between two
    changes (a running sum); for each day, the run holding it 12 months before (the cohort: MRR not zero)
    and the one holding the day itself."""
    if not days:
        return []
    if connection.vendor != "postgresql":  # raw SQL below: elsewhere (the SQLite demo) point by point
        return [retention(day, segment=segment, currency=currency) for day in days]
    per = (scoped(MrrMovement.objects.filter(date__lte=max(days)), segment=segment, currency=currency).order_by()
           .values("customer_id", "date").annotate(d=Sum("amount_reporting")))
    sql, params = per.query.sql_with_params()
    points = ", ".join(["(%s, %s::date, %s::date)"] * len(days))
    point_params = [v for i, day in enumerate(days) for v in (i, day, add_months(day, -12))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH per AS ({sql}),
                runs AS (SELECT customer_id, "date" AS since, LEAD("date") OVER w AS until, SUM(d) OVER w AS mrr
                         FROM per WINDOW w AS (PARTITION BY customer_id ORDER BY "date")),
                points (i, day, then_day) AS (VALUES {points}),
                was AS (SELECT p.i, p.day, r.customer_id, r.mrr FROM points p JOIN runs r
                        ON r.since <= p.then_day AND (r.until IS NULL OR r.until > p.then_day) WHERE r.mrr <> 0)
                SELECT was.i, COUNT(*), SUM(was.mrr), SUM(COALESCE(now.mrr, 0)),
                       SUM(LEAST(COALESCE(now.mrr, 0), was.mrr)),
                       SUM(CASE WHEN COALESCE(now.mrr, 0) <= 0 THEN 1 ELSE 0 END)
                FROM was LEFT JOIN runs now ON now.customer_id = was.customer_id AND now.since <= was.day
                     AND (now.until IS NULL OR now.until > was.day)
                GROUP BY was.i""",
            [*params, *point_params])
        found = {row[0]: row[1:] for row in cursor.fetchall()}
    out = []
    for i in range(len(days)):
        cohort, base, kept, capped, lost = found.get(i, (0, ZERO, ZERO, ZERO, 0))
        out.append(_retention_figures(int(cohort), Decimal(base), Decimal(kept), Decimal(capped), int(lost)))
    return out


def snapshot(day: date, *, segment: dict | None = None) -> dict:
    # Summed and counted in the database: no row per customer comes back.
    m = mrr(day, segment=segment)
    customers = customers_count(day, segment=segment)
    month_start = day.replace(day=1)
    return {"as_of": day.isoformat(), "currency": _reporting(), "mrr": m, "arr": _q(m * 12),
            "customers": customers, "arpa": _q(m / customers) if customers else _q(ZERO),
            "movements_mtd": movements(month_start, day, segment=segment), **retention(day, segment=segment)}


def mrr_series(first: date, last: date, *, segment: dict | None = None, currency: str | None = None) -> list[dict]:
    """Month by month: MRR at each month end and the month's movements (one query: `movement_windows`)."""
    windows, month = [], first.replace(day=1)
    while month <= last:
        windows.append((month, min(add_months(month, 1) - timedelta(days=1), last)))
        month = add_months(month, 1)
    return [{"month": w_first.isoformat()[:7], **m} for (w_first, _), m in
            zip(windows, movement_windows(windows, segment=segment, currency=currency), strict=True)]


DEFINITIONS["cohorts"] = (
    "Cohort retention: customers grouped by the month of their first MRR (their 'new' movement); for each "
    "later month-end, the cohort's MRR then ÷ its MRR at the end of its first month, in %. Expansion can "
    "take a cohort above 100 %.")


def cohorts(first: date, last: date, *, months_after: int = 12) -> list[dict]:
    """Retention by start month for cohorts starting in [first, last] (reporting currency). Two queries:
    the cohorts' members, then their movements summed per customer and month; each cohort's MRR at a
    month end is the running sum of its members' monthly totals."""
    starts = (MrrMovement.objects.filter(kind=MrrMovement.Kind.NEW, date__gte=first.replace(day=1), date__lte=last)
              .values_list("customer_id", "date"))
    by_month: dict[date, set[int]] = defaultdict(set)
    cohorts_of: dict[int, set[date]] = defaultdict(set)
    for customer_id, day in starts:
        by_month[day.replace(day=1)].add(customer_id)
        cohorts_of[customer_id].add(day.replace(day=1))
    if not by_month:
        return []
    upto = add_months(max(by_month), 1) - timedelta(days=1)  # the last cohort's first month end
    # per cohort: its members' MRR changes by month (those before its start month in that month: its base)
    deltas: dict[date, dict[date, Decimal]] = {m: defaultdict(lambda: ZERO) for m in by_month}
    rows = (MrrMovement.objects.filter(customer_id__in=list(cohorts_of), date__lte=max(upto, last)).order_by()
            .annotate(month=TruncMonth("date")).values("customer_id", "month").annotate(s=Sum("amount_reporting")))
    for r in rows:
        for cohort in cohorts_of[r["customer_id"]]:
            deltas[cohort][max(r["month"], cohort)] += r["s"] or ZERO
    out = []
    for month in sorted(by_month):
        members, changes = by_month[month], deltas[month]
        base = changes[month]
        retained, now = [], base
        for k in range(1, months_after + 1):
            end = add_months(month, k + 1) - timedelta(days=1)
            if end > last:  # only month-ends inside the window
                break
            now += changes[add_months(month, k)]
            retained.append((now / base * 100).quantize(Decimal("0.1")) if base > 0 else None)
        out.append({"cohort": month.isoformat()[:7], "customers": len(members), "starting_mrr": _q(base),
                    "retention": retained})
    return out
