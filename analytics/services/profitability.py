"""Customer profitability: revenue, cost of goods, cost to serve and contribution margin, per customer and
per segment, for a window of days, in the reporting currency (settings.REVOPS_REPORTING_CURRENCY).

Every figure is defined in DEFINITIONS (shown on the pages and in the API). Each customer's figures are
quantized once to the reporting currency; segment and company totals are sums of those customer figures,
so the ranked table, the matrix and the whale curve add up to the same totals.

The computation is a handful of grouped queries whatever the number of customers (`_compute`):
customers, recognized revenue, contract lines, usage aggregates, service costs, and the allocation
drivers (tickets, seat-days, monthly revenue) only for the months that have shared costs using them.
`customer_summary` runs the same computation focused on one customer (Customer 360).
"""
from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Max, Sum
from django.db.models.functions import TruncMonth

from revops.kernel import money
from revops.kernel.background import fetch
from revops.kernel.dates import add_months
from revops.kernel.rows import plain_rows

from .cost_allocation import ALLOCATION_RULE, refresh_in_background, shared_shares

ZERO = Decimal(0)
PCT = Decimal("0.01")
CLV_CAP_MONTHS = 60
SEGMENTS = {"industry": "Industry", "size": "Size", "region": "Region", "acquisition_channel": "Acquisition channel",
            "plan": "Plan"}
MEASURES = ("revenue", "cost_of_goods", "cost_to_serve", "contribution", "margin_pct")
_ATTRS = ("name", "industry", "size", "region", "acquisition_channel")

DEFINITIONS = {
    "revenue": "Revenue: recognized revenue — credits − debits on the revenue accounts of the journal, entries "
               "dated in the window and attributed to the customer, in the reporting currency (at the rate of "
               "each entry).",
    "cost_of_goods": "Cost of goods: for each recurring contract line version (non-draft contracts) overlapping "
                     "the window, product unit cost × quantity × months served in the window (a part month "
                     "counts as its days ÷ the days of that month); one-time lines count unit cost × quantity "
                     "once, in the month they start; plus usage: each meter's aggregate of the customer's usage "
                     "events per calendar month (count, sum, max, unique count or latest, as the meter "
                     "aggregates for billing) × the meter's unit cost. Usage products' own unit cost is not used "
                     "(the meter's is). Converted at the FX rate on the first day of each month.",
    "cost_to_serve": "Cost to serve: service costs entered for the customer (direct) plus its share of the shared "
                     "ones. " + ALLOCATION_RULE + " Converted at the FX rate on the first day of the cost's "
                     "month, then split.",
    "contribution": "Contribution margin: revenue − cost of goods − cost to serve.",
    "margin_pct": "Margin %: contribution ÷ revenue × 100 (empty when there is no revenue).",
    "gross_margin_pct": "Gross margin %: (revenue − cost of goods) ÷ revenue × 100 (empty when there is no revenue).",
    "plan": "Plan: the product of the customer's main recurring contract line — the one with the highest monthly "
            "amount among those active on the last day of the window (or, failing that, on the last day the "
            "customer had any in the window); '(none)' without recurring lines.",
    "whale_curve": "Whale curve: customers sorted from the most to the least profitable (contribution); the "
                   "curve is the cumulative contribution as a % of the total. The peak is where adding less "
                   "profitable customers starts to lower the total; the customers after it consume value.",
    "clv": "Customer lifetime value: the customer's MRR at the end of the window × its gross margin % over the "
           "window ÷ the monthly revenue churn (all customers, over the window), capped at "
           f"{CLV_CAP_MONTHS} months of margin when churn is zero or lower than 1/{CLV_CAP_MONTHS}.",
    "cost_to_serve_share": "Cost-to-serve share: the customer's cost to serve ÷ its revenue over the window "
                           "(empty when there is no revenue).",
}


def reporting_currency() -> str:
    return settings.REVOPS_REPORTING_CURRENCY


def _q(value: Decimal) -> Decimal:
    """money.quantize in the reporting currency (half up), without its per-call checks: hot path."""
    return value.quantize(_exponent(reporting_currency()), rounding=ROUND_HALF_UP)


@lru_cache(maxsize=8)
def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-money.minor_units(currency))


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part * 100 / whole).quantize(PCT, rounding=ROUND_HALF_UP) if whole > 0 else None


# --- small building blocks -----------------------------------------------------------------------------

@dataclass(slots=True)
class Measures:
    """Raw (unrounded) figures while adding up; `rounded()` quantizes each once."""

    revenue: Decimal = ZERO
    product_cost: Decimal = ZERO
    usage_cost: Decimal = ZERO
    direct_cost: Decimal = ZERO
    allocated_cost: Decimal = ZERO

    def rounded(self, exponent: Decimal | None = None) -> Measures:
        e = exponent if exponent is not None else _exponent(reporting_currency())
        return Measures(self.revenue.quantize(e, rounding=ROUND_HALF_UP),
                        self.product_cost.quantize(e, rounding=ROUND_HALF_UP),
                        self.usage_cost.quantize(e, rounding=ROUND_HALF_UP),
                        self.direct_cost.quantize(e, rounding=ROUND_HALF_UP),
                        self.allocated_cost.quantize(e, rounding=ROUND_HALF_UP))

    def add(self, other: Measures) -> None:
        self.revenue += other.revenue
        self.product_cost += other.product_cost
        self.usage_cost += other.usage_cost
        self.direct_cost += other.direct_cost
        self.allocated_cost += other.allocated_cost

    @property
    def cost_of_goods(self) -> Decimal:
        return self.product_cost + self.usage_cost

    @property
    def cost_to_serve(self) -> Decimal:
        return self.direct_cost + self.allocated_cost

    @property
    def contribution(self) -> Decimal:
        return self.revenue - self.cost_of_goods - self.cost_to_serve

    @property
    def is_empty(self) -> bool:
        return not (self.revenue or self.product_cost or self.usage_cost or self.direct_cost or self.allocated_cost)

    def as_dict(self) -> dict:
        revenue = self.revenue
        cogs = self.product_cost + self.usage_cost
        cts = self.direct_cost + self.allocated_cost
        contribution = revenue - cogs - cts
        positive = revenue > 0
        return {"revenue": revenue, "cost_of_goods": cogs, "product_cost": self.product_cost,
                "usage_cost": self.usage_cost, "cost_to_serve": cts, "direct_cost": self.direct_cost,
                "allocated_cost": self.allocated_cost, "contribution": contribution,
                "margin_pct": pct(contribution, revenue) if positive else None,
                "gross_margin_pct": pct(revenue - cogs, revenue) if positive else None}


class Rates:
    """FX rates to the reporting currency, loaded once (one query), looked up as `fx_rate` does: the
    latest rate on or before the day."""

    def __init__(self) -> None:
        self._by_currency: dict[str, tuple[list[date], list[Decimal]]] | None = None
        self._cache: dict[tuple[str, date], Decimal] = {}

    def rate(self, currency: str, day: date) -> Decimal:
        if currency == reporting_currency():
            return Decimal(1)
        key = (currency, day)
        found = self._cache.get(key)
        if found is not None:
            return found
        if self._by_currency is None:
            from recognition.models import FxRate

            by: dict[str, tuple[list[date], list[Decimal]]] = {}
            for d, c, r in FxRate.objects.order_by("currency", "date").values_list("date", "currency", "rate"):
                days, rates = by.setdefault(c, ([], []))
                days.append(d)
                rates.append(r)
            self._by_currency = by
        days, rates = self._by_currency.get(currency, ([], []))
        i = bisect.bisect_right(days, day)
        if i == 0:
            from recognition.services.journal import FxRateMissing

            raise FxRateMissing(f"no FX rate for {currency} on or before {day}: enter one to report in "
                                f"{reporting_currency()}", fields={"currency": [f"FX rate for {currency} missing"]})
        self._cache[key] = rates[i - 1]
        return rates[i - 1]


def _days_by_month(first: date, last: date):
    """(first day of month, days of [first, last] in it, days of the month) for each month touched."""
    start = first
    while start <= last:
        month = start.replace(day=1)
        month_end = add_months(month, 1) - timedelta(days=1)
        end = min(month_end, last)
        yield month, (end - start).days + 1, month_end.day
        start = end + timedelta(days=1)


def months_of(first: date, last: date) -> list[date]:
    return [m for m, _days, _month_days in _days_by_month(first, last)]


def _usage_bounds(first: date, last: date):
    from billing.services.usage import day_bounds

    return day_bounds(first, last)


def usage_quantities(*, first: date, last: date, customer_id: int | None = None, customer_ids=None,
                     monthly: bool = True, per_customer: bool = True
                     ) -> dict[tuple[int | None, int, date | None], tuple[Decimal, dict]]:
    """{(customer, meter, month): (quantity, meter row)} for the meters with a unit cost, over [first, last]:
    each meter's aggregate of the usage events (as it aggregates for billing) per calendar month of the
    business time zone. Count and sum meters in the reporting currency add up over months, so unless
    `monthly` is asked for they come as one figure per customer (month None) — fewer rows. Count and sum
    meters also add up over customers: with `per_customer=False` they come as one figure per month (customer
    None) — a caller that sums over customers anyway (the monthly trends) reads a dozen rows, not 100,000."""
    from billing.models import UsageEvent
    from catalog.models import Meter

    meters = {m["pk"]: m for m in Meter.objects.filter(unit_cost__gt=0).values("pk", "aggregation", "unit_cost",
                                                                                 "currency")}
    if not meters:
        return {}
    start, end = _usage_bounds(first, last)
    tz = ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE)
    events = UsageEvent.objects.filter(meter_id__in=list(meters), timestamp__gte=start, timestamp__lt=end)
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    if customer_ids is not None:
        events = events.filter(customer_id__in=customer_ids)
    latest = [pk for pk, m in meters.items() if m["aggregation"] == Meter.Aggregation.LATEST]
    quantities: dict[tuple[int, int, date | None], Decimal] = {}
    aggregate = {Meter.Aggregation.COUNT: Count("id"), Meter.Aggregation.SUM: Sum("value"),
                 Meter.Aggregation.MAX: Max("value"), Meter.Aggregation.UNIQUE_COUNT: Count("dimension",
                                                                                           distinct=True)}
    additive = (Meter.Aggregation.COUNT, Meter.Aggregation.SUM)
    groups: dict[tuple[str, bool], list[int]] = defaultdict(list)
    for pk, m in meters.items():
        if pk in latest:
            continue
        by_month = monthly or m["aggregation"] not in additive or m["currency"] != reporting_currency()
        groups[m["aggregation"], by_month].append(pk)
    for (aggregation, by_month), meter_ids in groups.items():
        rows = events.filter(meter_id__in=meter_ids)
        keys = ["customer_id"] if per_customer or aggregation not in additive else []
        if by_month:
            rows = (rows.annotate(month=TruncMonth("timestamp", tzinfo=tz)).values_list(*keys, "meter_id", "month"))
        else:
            rows = rows.values_list(*keys, "meter_id")
        month_of: dict = {}  # a dozen distinct truncated timestamps: each made a date once
        for row in plain_rows(rows.annotate(v=aggregate[aggregation]).order_by()):
            row = row if keys else (None, *row)
            month = None
            if by_month:
                month = month_of.get(row[2])
                if month is None:
                    month = month_of[row[2]] = _as_date(row[2])
            quantities[row[0], row[1], month] = Decimal(row[-1] or 0)
    if latest:
        # the last value of each (customer, meter, month): events in time order, the last one wins
        rows = (events.filter(meter_id__in=latest).annotate(month=TruncMonth("timestamp", tzinfo=tz))
                .order_by("customer_id", "meter_id", "timestamp", "id")
                .values_list("customer_id", "meter_id", "month", "value"))
        for pk, meter_id, month, value in rows.iterator(chunk_size=5000):
            quantities[pk, meter_id, _as_date(month)] = value or ZERO
    return {key: (quantity, meters[key[1]]) for key, quantity in quantities.items()}


# The contract lines' cost of goods, exactly: a recurring line costs unit cost × quantity × Σ over the months
# it overlaps in the window of (days served that month ÷ days of that month) × the month's FX rate. Every
# month length divides COMMON_DAYS (lcm of 28, 29, 30 and 31), so each term is summed as an exact numerator
# over COMMON_DAYS and divided once per customer (in Python, at 60 digits) — no rounded fraction such as
# 10/30 can tip a half cent. A one-time line costs unit cost × quantity × the FX rate of its start month,
# once, when it starts in the window. Rates: the latest on or before the first day of the month (as
# `Rates`), 1 in the reporting currency. The plan: the product of the recurring line that ends last in
# the window, then has the highest monthly amount (compared as amount × 12 ÷ months of its period, exact),
# then the greatest name (compared by code point, as Python does).
COMMON_DAYS = 377_580
_LINES_CTES = """
WITH l AS (
  SELECT c.customer_id, p.kind, p.currency, p.unit_cost * l.quantity AS base, p.name, l.amount, l.period,
         l.start_date, GREATEST(l.start_date, %(first)s) AS s, LEAST(l.end_date, %(last)s) AS e
  FROM contracts_contractline l JOIN contracts_contract c ON c.id = l.contract_id
  JOIN catalog_product p ON p.id = l.product_id
  WHERE p.kind IN ('recurring', 'one_time') AND c.status <> 'draft' AND l.start_date <= %(last)s
    AND l.end_date >= %(first)s AND (%(focus)s::bigint IS NULL OR c.customer_id = %(focus)s::bigint)),
months AS (
  SELECT gs::date AS month, extract(day FROM gs + interval '1 month' - interval '1 day')::int AS days_in
  FROM generate_series(date_trunc('month', %(first)s::date), %(last)s::date, interval '1 month') AS gs),
fx AS (
  SELECT cur.currency, months.month, CASE WHEN cur.currency = %(reporting)s THEN 1 ELSE r.rate END AS rate
  FROM (SELECT DISTINCT currency FROM l WHERE base <> 0) cur CROSS JOIN months
  LEFT JOIN LATERAL (SELECT f.rate FROM recognition_fxrate f WHERE f.currency = cur.currency AND f.date <= months.month
                     ORDER BY f.date DESC LIMIT 1) r ON true),
ranges AS (SELECT DISTINCT currency, s, e FROM l WHERE kind = 'recurring' AND base <> 0),
range_months AS (
  SELECT r.currency, r.s, r.e, m.month,
         (LEAST(r.e, m.month + m.days_in - 1) - GREATEST(r.s, m.month) + 1) * (%(common)s / m.days_in) AS share
  FROM ranges r JOIN months m ON m.month <= r.e AND m.month + m.days_in - 1 >= r.s),
one_time AS (
  SELECT customer_id, currency, date_trunc('month', start_date)::date AS month, base FROM l
  WHERE kind = 'one_time' AND base <> 0 AND start_date >= %(first)s),
"""
# each customer's numerator over the window: the weight of each (currency, date range) once, then Σ base × weight
_LINES_TOTAL = """
weights AS (SELECT rm.currency, rm.s, rm.e, SUM(rm.share * fx.rate) AS w
            FROM range_months rm JOIN fx ON fx.currency = rm.currency AND fx.month = rm.month GROUP BY 1, 2, 3),
costs AS (
  SELECT l.customer_id, NULL::date AS month, SUM(l.base * w.w) AS n
  FROM l JOIN weights w ON w.currency = l.currency AND w.s = l.s AND w.e = l.e
  WHERE l.kind = 'recurring' AND l.base <> 0 GROUP BY 1
  UNION ALL
  SELECT o.customer_id, NULL, SUM(o.base * %(common)s * fx.rate)
  FROM one_time o JOIN fx ON fx.currency = o.currency AND fx.month = o.month GROUP BY 1)
"""
# by month (trends): each customer's numerator of each month
_LINES_MONTHLY = """
costs AS (
  SELECT l.customer_id, rm.month, SUM(l.base * rm.share * fx.rate) AS n
  FROM l JOIN range_months rm ON rm.currency = l.currency AND rm.s = l.s AND rm.e = l.e
  JOIN fx ON fx.currency = rm.currency AND fx.month = rm.month
  WHERE l.kind = 'recurring' AND l.base <> 0 GROUP BY 1, 2
  UNION ALL
  SELECT o.customer_id, o.month, SUM(o.base * %(common)s * fx.rate)
  FROM one_time o JOIN fx ON fx.currency = o.currency AND fx.month = o.month GROUP BY 1, 2)
"""
# the plan of each customer: the recurring line ending last, then the highest monthly amount, then the name
_PLANS = """SELECT DISTINCT ON (customer_id) customer_id, name FROM l WHERE kind = 'recurring'
  ORDER BY customer_id, e DESC, CASE period WHEN 'month' THEN amount * 12 WHEN 'quarter' THEN amount * 4
                                            WHEN 'year' THEN amount ELSE 0 END DESC, name COLLATE "C" DESC"""
# the FX rates a cost needs and the database lacks (Python raises FxRateMissing for the first)
_NO_RATE = """SELECT 'no rate', NULL, fx.month, NULL, fx.currency FROM fx
WHERE fx.rate IS NULL AND (EXISTS (SELECT 1 FROM range_months rm WHERE rm.currency = fx.currency AND rm.month = fx.month)
                           OR EXISTS (SELECT 1 FROM one_time o WHERE o.currency = fx.currency AND o.month = fx.month))"""
_LINES_SELECT = f"""
SELECT 'cost', customer_id, month, n, NULL FROM costs
UNION ALL
SELECT 'plan', customer_id, NULL::date, NULL::numeric, name FROM ({_PLANS}) plans
UNION ALL
{_NO_RATE}
"""
LINES_SQL = _LINES_CTES + _LINES_TOTAL + _LINES_SELECT
# the monthly trends: each month's numerator summed over the counted customers (all when %(counted)s is null)
LINES_MONTH_TOTALS_SQL = _LINES_CTES + _LINES_MONTHLY + f"""
SELECT 'cost', NULL, month, SUM(n), NULL FROM costs
WHERE %(counted)s::bigint[] IS NULL OR customer_id = ANY(%(counted)s::bigint[]) GROUP BY month
UNION ALL
{_NO_RATE}
"""
PLANS_SQL = _LINES_CTES[:_LINES_CTES.index("months AS (")].rstrip().rstrip(",") + "\n" + _PLANS


# --- the computation ------------------------------------------------------------------------------------

@dataclass
class Result:
    first: date
    last: date
    customers: dict[int, Measures] = field(default_factory=dict)  # rounded per customer
    attrs: dict[int, dict] = field(default_factory=dict)  # name, industry, size, region, channel, plan
    unallocated: Decimal = ZERO  # shared costs with nobody to carry them (reporting currency)

    @property
    def currency(self) -> str:
        return reporting_currency()


class _Run:
    """One computation over [first, last]; `focus` restricts the per-customer work to one customer. The
    monthly trends (`trends`) use its month-level reads (`by_month`, counted by `month_filter`)."""

    def __init__(self, first: date, last: date, *, focus: int | None, by_month: bool = False,
                 month_filter: tuple[str, str] | None = None):
        self.first, self.last, self.focus, self.by_month = first, last, focus, by_month
        self.month_filter = month_filter
        self.rates = Rates()
        self.months = months_of(first, last)
        self.raw: dict[int, Measures] = defaultdict(Measures)
        self.attrs: dict[int, dict] = {}
        self.lines: list[tuple] | None = None  # recurring/one-time lines of the focus (or everyone)
        self.unallocated = ZERO

    # customers
    def load_customers(self) -> None:
        from customers.models import Customer

        rows = Customer.objects.values_list("pk", *_ATTRS).order_by()
        if self.focus is not None:
            rows = rows.filter(pk=self.focus)
        self.attrs = {pk: {"name": n, "industry": i, "size": s, "region": r, "acquisition_channel": c}
                      for pk, n, i, s, r, c in plain_rows(rows)}

    # revenue
    def revenue_rows(self) -> list[tuple]:
        """[(customer, credits − debits)] on the revenue accounts over the window."""
        from recognition.models import Account, JournalLine

        accounts = list(Account.objects.filter(role=Account.Role.REVENUE).values_list("pk", flat=True))
        lines = JournalLine.objects.filter(account_id__in=accounts, entry__date__gte=self.first,
                                           entry__date__lte=self.last, entry__customer__isnull=False)
        if self.focus is not None:
            lines = lines.filter(entry__customer_id=self.focus)
        return plain_rows(lines.values_list("entry__customer_id")
                          .annotate(net=Sum(F("credit_reporting") - F("debit_reporting"))).order_by())

    def add_revenue(self, rows: list[tuple]) -> None:
        for pk, net in rows:
            if pk in self.attrs:
                self.raw[pk].revenue += net or ZERO

    # contract lines: cost of goods and plan
    def line_rows(self) -> list[tuple]:
        """The contract lines' cost of goods and plans, aggregated in SQL (LINES_SQL): rows (tag, customer,
        month, amount, text) — ('cost', customer, month or None, numerator over COMMON_DAYS, None),
        ('plan', customer, None, None, product name) and ('no rate', None, month, None, currency)."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return self.line_rows_in_python()
        params = {"first": self.first, "last": self.last, "common": COMMON_DAYS,
                  "focus": self.focus, "reporting": reporting_currency()}
        with connection.cursor() as cursor:
            cursor.execute(LINES_SQL, params)  # per customer over the window (trends: month_line_rows)
            return cursor.fetchall()

    def line_rows_in_python(self) -> list[tuple]:
        """`line_rows` computed in Python from the contract lines: the same rows (a missing FX rate raises
        at once instead of a 'no rate' row). For databases without LINES_SQL's PostgreSQL syntax (the SQLite
        demo), and the reference a test holds the SQL to."""
        from contracts.models import Contract, ContractLine
        from contracts.services.periods import MONTHS

        lines = (ContractLine.objects.filter(product__kind__in=("recurring", "one_time"), start_date__lte=self.last,
                                             end_date__gte=self.first)
                 .exclude(contract__status=Contract.Status.DRAFT))
        if self.focus is not None:
            lines = lines.filter(contract__customer_id=self.focus)
        numerators: dict[tuple[int, date | None], Decimal] = defaultdict(lambda: ZERO)
        plan: dict[int, tuple] = {}
        with localcontext(prec=60):
            for pk, kind, currency, unit_cost, quantity, start, end, amount, period, product in lines.values_list(
                    "contract__customer_id", "product__kind", "product__currency", "product__unit_cost", "quantity",
                    "start_date", "end_date", "amount", "period", "product__name").order_by():
                base = unit_cost * quantity
                if kind == "recurring":
                    s, e = max(start, self.first), min(end, self.last)
                    candidate = (e, amount * (12 // MONTHS[period]) if period in MONTHS else ZERO, product)
                    if pk not in plan or candidate > plan[pk]:
                        plan[pk] = candidate
                    if not base:
                        continue
                    for month, days, month_days in _days_by_month(s, e):
                        share = days * (COMMON_DAYS // month_days)
                        numerators[pk, month if self.by_month else None] += base * share * self.rates.rate(
                            currency, month)
                elif start >= self.first and base:
                    month = start.replace(day=1)
                    numerators[pk, month if self.by_month else None] += base * COMMON_DAYS * self.rates.rate(
                        currency, month)
        return ([("cost", pk, month, n, None) for (pk, month), n in numerators.items()]
                + [("plan", pk, None, None, c[2]) for pk, c in plan.items()])

    def load_lines(self, rows: list[tuple] | None = None) -> None:
        """Cost of goods of the contract lines (`rows` of `line_rows`, read now when not given) and each
        customer's plan."""
        rows = self.line_rows() if rows is None else rows
        for tag, _pk, month, _amount, currency in rows:
            if tag == "no rate":
                self.rates.rate(currency, month)  # raises FxRateMissing (the message names currency and day)
        plans = {pk: name for tag, pk, _month, _n, name in rows if tag == "plan"}
        for pk, attrs in self.attrs.items():  # first: the monthly view filtered by plan counts by it
            attrs["plan"] = plans.get(pk, "(none)")
        with localcontext(prec=60):  # numerator ÷ COMMON_DAYS, exactly enough to round right
            for tag, pk, _month, numerator, _name in rows:
                if tag != "cost" or pk not in self.attrs:
                    continue
                self.raw[pk].product_cost += numerator / COMMON_DAYS

    # usage
    def usage_rows(self) -> dict:
        return usage_quantities(first=self.first, last=self.last, customer_id=self.focus, monthly=False)

    def add_usage(self, quantities: dict) -> None:
        for (pk, _meter, month), (quantity, m) in quantities.items():
            if pk not in self.attrs or not quantity:
                continue
            rate = self.rates.rate(m["currency"], month) if month is not None else Decimal(1)
            self.raw[pk].usage_cost += quantity * m["unit_cost"] * rate

    # cost to serve
    def shared_shares(self, rates: Rates | None):
        """This window's shares of the shared costs (cost_allocation.Shares; `rates` None: its own)."""
        return shared_shares(months=self.months, rates=rates or Rates(), focus=self.focus)

    def load_service_costs(self, shares=None) -> None:
        """Direct costs, and the shared ones' `shares` (read now when not given)."""
        from ..models import ServiceCost

        costs = ServiceCost.objects.filter(period__gte=self.months[0], period__lte=self.last)
        direct = costs.filter(customer__isnull=False)
        if self.focus is not None:
            direct = direct.filter(customer_id=self.focus)
        for pk, period, amount, currency in direct.values_list("customer_id", "period", "amount", "currency").order_by():
            if pk not in self.attrs:
                continue
            month = period.replace(day=1)
            self.raw[pk].direct_cost += amount * self.rates.rate(currency, month)
        shares = self.shared_shares(self.rates) if shares is None else shares
        for pk, part in shares.by_customer.items():
            if pk in self.attrs:
                self.raw[pk].allocated_cost += part
        self.unallocated = shares.unallocated


    # the monthly trends: each month's figures summed over the customers counted
    def counted_customers(self) -> list[int] | None:
        """The customers the monthly view counts (None: everyone): those of the segment, or of the plan."""
        if self.month_filter is None:
            return None
        field, value = self.month_filter
        if field == "plan":
            plans = self.plans()
            return [pk for pk in self.attrs if plans.get(pk, "(none)") == value]
        return [pk for pk, attrs in self.attrs.items() if attrs.get(field) == value]

    def plans(self) -> dict[int, str]:
        """{customer: plan} of the customers with a recurring line in the window (PLANS_SQL)."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return {pk: name for tag, pk, _m, _n, name in self.line_rows_in_python() if tag == "plan"}
        with connection.cursor() as cursor:
            cursor.execute(PLANS_SQL, {"first": self.first, "last": self.last, "focus": None})
            return dict(cursor.fetchall())

    def month_line_rows(self, counted: list[int] | None) -> list[tuple]:
        """line_rows' 'cost' rows summed by month over `counted` (customer None), and its 'no rate' rows."""
        from django.db import connection

        if connection.vendor != "postgresql":
            wanted = None if counted is None else set(counted)
            sums: dict[date, Decimal] = defaultdict(lambda: ZERO)
            for tag, pk, month, n, _name in self.line_rows_in_python():
                if tag == "cost" and (wanted is None or pk in wanted):
                    sums[month] += n
            return [("cost", None, month, n, None) for month, n in sums.items()]
        params = {"first": self.first, "last": self.last, "common": COMMON_DAYS, "focus": None,
                  "reporting": reporting_currency(), "counted": counted}
        with connection.cursor() as cursor:
            cursor.execute(LINES_MONTH_TOTALS_SQL, params)
            return cursor.fetchall()

    def month_revenue_rows(self, counted: list[int] | None) -> list[tuple]:
        """[(month start, credits − debits)] on the revenue accounts, entries of `counted` (None: everyone)."""
        from recognition.models import Account, JournalLine

        accounts = list(Account.objects.filter(role=Account.Role.REVENUE).values_list("pk", flat=True))
        lines = JournalLine.objects.filter(account_id__in=accounts, entry__date__gte=self.first,
                                           entry__date__lte=self.last, entry__customer__isnull=False)
        if counted is not None:
            lines = lines.filter(entry__customer_id__in=counted)
        return plain_rows(lines.values_list("entry__period__start")
                          .annotate(net=Sum(F("credit_reporting") - F("debit_reporting"))).order_by())

    def month_usage(self, counted: list[int] | None) -> dict:
        return usage_quantities(first=self.first, last=self.last, customer_ids=counted, monthly=True,
                                per_customer=False)


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def _compute(*, first: date, last: date, focus: int | None = None) -> Result:
    if first > last:
        from revops.kernel.errors import field_error

        raise field_error("from", "must not be after to")
    run = _Run(first, last, focus=focus)
    # Over everyone, the SQL-heavy parts run on other connections while this one works through the contract
    # lines in Python (revops.kernel.background; inline inside a transaction or off PostgreSQL): the shared
    # costs' split (re-splitting a stale month first), revenue and usage aggregates, the contract lines.
    apart = focus is None
    shares = fetch(lambda: run.shared_shares(None)) if apart else None
    revenue = fetch(run.revenue_rows) if apart else None
    usage = fetch(run.usage_rows) if apart else None
    lines = fetch(run.line_rows) if apart else None
    run.load_customers()
    if not run.attrs:
        return Result(first, last)
    run.load_lines(lines.result() if apart else None)
    run.add_revenue(revenue.result() if apart else run.revenue_rows())
    run.add_usage(usage.result() if apart else run.usage_rows())
    run.load_service_costs(shares.result() if apart else None)
    exponent = _exponent(reporting_currency())
    return Result(first, last, customers={pk: m.rounded(exponent) for pk, m in run.raw.items()}, attrs=run.attrs,
                  unallocated=run.unallocated)


def compute(*, first: date, last: date) -> Result:
    """Every customer's figures over [first, last] (customers with no figure at all are left out)."""
    return _compute(first=first, last=last)


# --- views of the result --------------------------------------------------------------------------------

def customer_rows(result: Result) -> list[dict]:
    """The ranked table: customers with any figure, most contribution first (ties by name)."""
    rows = []
    for pk, m in result.customers.items():
        if m.is_empty:
            continue
        a = result.attrs[pk]
        rows.append({"customer_id": pk, "name": a["name"], "industry": a["industry"], "size": a["size"],
                     "region": a["region"], "acquisition_channel": a["acquisition_channel"], "plan": a["plan"],
                     **m.as_dict()})
    rows.sort(key=lambda r: (-r["contribution"], r["name"], r["customer_id"]))
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    return rows


def totals(rows: list[dict]) -> dict:
    m = Measures()
    for r in rows:
        m.add(Measures(r["revenue"], r["product_cost"], r["usage_cost"], r["direct_cost"], r["allocated_cost"]))
    return {"customers": len(rows), **m.as_dict()}


def segment_rows(result: Result, segment_field: str, rows: list[dict] | None = None) -> list[dict]:
    """One row per value of the segment field ('(none)' for blank): the customers' summed figures, the
    contribution per customer and each segment's share of the total contribution."""
    if segment_field not in SEGMENTS:
        from revops.kernel.errors import field_error

        raise field_error("segment_field", f"one of {', '.join(SEGMENTS)}")
    rows = customer_rows(result) if rows is None else rows
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[r[segment_field] or "(none)"].append(r)
    total_contribution = sum((r["contribution"] for r in rows), ZERO)
    out = []
    for value, members in groups.items():
        t = totals(members)
        out.append({"segment": value, **t,
                    "contribution_per_customer": _q(t["contribution"] / t["customers"]),
                    "share_of_contribution": pct(t["contribution"], total_contribution)
                    if total_contribution > 0 else None})
    out.sort(key=lambda r: (-r["contribution"], r["segment"]))
    return out


def segment_matrix(result: Result, rows: list[dict] | None = None) -> dict:
    """Segment × measure: for each segment field, its values' margin % and contribution per customer."""
    rows = customer_rows(result) if rows is None else rows
    return {f: segment_rows(result, f, rows) for f in SEGMENTS}


def whale_curve(rows: list[dict], *, points: int = 200) -> dict:
    """Cumulative contribution from the most to the least profitable customer (rows in ranked order).

    Returns the peak (its rank, the % of customers up to it, the cumulative contribution there and that
    as a % of the total) and a curve of at most `points` + the peak points for charting:
    x = % of customers, y = cumulative contribution as a % of the total (None when the total ≤ 0)."""
    n = len(rows)
    if n == 0:
        return {"customers": 0, "total": _q(ZERO), "peak": None, "curve": []}
    cumulative, running = [], ZERO
    for r in rows:
        running += r["contribution"]
        cumulative.append(running)
    total = cumulative[-1]
    peak_index = max(range(n), key=lambda i: (cumulative[i], -i))  # the first index reaching the maximum
    step = max(1, n // points)
    keep = sorted({0, peak_index, n - 1, *range(0, n, step)})
    curve = [{"rank": i + 1, "customers_pct": (Decimal(i + 1) * 100 / n).quantize(PCT, rounding=ROUND_HALF_UP),
              "cumulative": cumulative[i], "cumulative_pct": pct(cumulative[i], total) if total > 0 else None}
             for i in keep]
    peak_value = cumulative[peak_index]
    return {"customers": n, "total": total,
            "peak": {"rank": peak_index + 1, "customer_id": rows[peak_index]["customer_id"],
                     "customers_pct": (Decimal(peak_index + 1) * 100 / n).quantize(PCT, rounding=ROUND_HALF_UP),
                     "cumulative": peak_value, "pct_of_total": pct(peak_value, total) if total > 0 else None,
                     "value_destroyed": peak_value - total},
            "curve": curve}


def trends(*, first: date, last: date, segment_field: str = "", segment_value: str = "") -> list[dict]:
    """Month by month over [first, last]: the measures of every customer, or of one segment (a customer
    field or the plan). Each figure is summed over the counted customers in SQL (a dozen rows a query, not
    one per customer and month); a month's figures are rounded once."""
    from ..models import ServiceCost

    if first > last:
        from revops.kernel.errors import field_error

        raise field_error("from", "must not be after to")
    month_filter = (segment_field, segment_value) if segment_field else None
    run = _Run(first, last, focus=None, by_month=True, month_filter=month_filter)
    refresh = refresh_in_background(months=run.months)  # a stale month of the split, re-split meanwhile
    run.load_customers()
    counted = run.counted_customers()
    lines, revenue, usage = (fetch(lambda: run.month_line_rows(counted)), fetch(lambda: run.month_revenue_rows(counted)),
                             fetch(lambda: run.month_usage(counted)))
    months = {m: Measures() for m in run.months}
    rows = lines.result()
    for tag, _pk, month, _n, currency in rows:
        if tag == "no rate":
            run.rates.rate(currency, month)  # raises FxRateMissing (the message names currency and day)
    with localcontext(prec=60):
        for tag, _pk, month, numerator, _text in rows:
            if tag == "cost" and month in months:
                months[month].product_cost += numerator / COMMON_DAYS
    for month, net in revenue.result():
        if month.replace(day=1) in months:
            months[month.replace(day=1)].revenue += net or ZERO
    for (_pk, _meter, month), (quantity, meter) in usage.result().items():
        if quantity and month in months:
            months[month].usage_cost += quantity * meter["unit_cost"] * run.rates.rate(meter["currency"], month)
    direct = ServiceCost.objects.filter(period__gte=run.months[0], period__lte=last, customer__isnull=False)
    if counted is not None:
        direct = direct.filter(customer_id__in=counted)
    for period, amount, currency in direct.values_list("period", "amount", "currency").order_by():
        month = period.replace(day=1)
        months[month].direct_cost += amount * run.rates.rate(currency, month)
    refresh.wait()
    shares = shared_shares(months=run.months, rates=run.rates, by_month=True, month_customers=counted)
    for month, part in shares.by_month.items():
        months[month].allocated_cost += part
    return [{"month": month.isoformat()[:7], **m.rounded().as_dict()} for month, m in months.items()]


# --- the public interface for other areas ---------------------------------------------------------------

def monthly_revenue_churn(*, first: date, last: date, customer_ids: set[int] | None = None) -> Decimal | None:
    """(Σ churned + contracted MRR over the window's months) ÷ (Σ MRR at the start of each of those
    months), from the MRR movements (reporting currency); None when there was no MRR to churn."""
    from ..models import MrrMovement

    months = months_of(first, last)
    rows = MrrMovement.objects.filter(date__lte=last)
    if customer_ids is not None:
        rows = rows.filter(customer_id__in=customer_ids)
    by_month: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for month, amount in (rows.filter(date__lt=first).annotate(m=TruncMonth("date")).values_list("m")
                          .annotate(s=Sum("amount_reporting")).order_by()):
        by_month[_as_date(month)] += amount or ZERO
    lost = ZERO
    for day, kind, amount in (rows.filter(date__gte=first).values_list("date", "kind", "amount_reporting")
                              .order_by()):
        by_month[day.replace(day=1)] += amount
        if kind in (MrrMovement.Kind.CHURN, MrrMovement.Kind.CONTRACTION):
            lost -= amount
    return churn_rate(lost, by_month, months)


def churn_rate(lost: Decimal, movements_by_month: dict[date, Decimal], months: list[date]) -> Decimal | None:
    """lost ÷ Σ MRR at the start of each month, MRR at a month start = Σ movements of earlier months."""
    base, running = ZERO, ZERO
    ordered = sorted(movements_by_month)
    i = 0
    for month in months:
        while i < len(ordered) and ordered[i] < month:
            running += movements_by_month[ordered[i]]
            i += 1
        base += max(running, ZERO)
    if base <= 0:
        return None
    return (lost / base).quantize(Decimal("0.000001"))


def clv_value(*, monthly_margin: Decimal, churn: Decimal | None) -> Decimal:
    """monthly margin ÷ churn, capped at CLV_CAP_MONTHS months of margin (churn zero, None or tiny)."""
    months = Decimal(CLV_CAP_MONTHS)
    if churn is not None and churn > 0 and 1 / churn < months:
        months = 1 / churn
    return _q(monthly_margin * months)


def customer_summary(*, customer_id: int, first: date, last: date) -> dict:
    """One customer's profitability over [first, last] (reporting currency): revenue, cost_of_goods,
    cost_to_serve, contribution, margin_pct (Decimal or None), clv (Decimal or None), currency.
    A handful of queries (the shared costs' drivers are read only for the months that have some)."""
    from ..models import MrrMovement

    result = _compute(first=first, last=last, focus=customer_id)
    m = result.customers.get(customer_id, Measures().rounded())
    mrr = MrrMovement.objects.filter(customer_id=customer_id, date__lte=last).aggregate(s=Sum("amount_reporting"))["s"]
    clv = None
    gm = pct(m.revenue - m.cost_of_goods, m.revenue)
    if mrr and mrr > 0 and gm is not None:
        churn = monthly_revenue_churn(first=first, last=last)
        clv = clv_value(monthly_margin=mrr * gm / 100, churn=churn)
    return {"revenue": m.revenue, "cost_of_goods": m.cost_of_goods, "cost_to_serve": m.cost_to_serve,
            "contribution": m.contribution, "margin_pct": pct(m.contribution, m.revenue), "clv": clv,
            "currency": reporting_currency()}


def customer_cost_to_serve_share(*, customer_id: int, first: date, last: date) -> Decimal | None:
    """The customer's cost to serve ÷ its revenue over [first, last] (e.g. 0.25); None without revenue."""
    result = _compute(first=first, last=last, focus=customer_id)
    m = result.customers.get(customer_id)
    if m is None or m.revenue <= 0:
        return None
    return (m.cost_to_serve / m.revenue).quantize(Decimal("0.0001"))


def report(*, first: date, last: date) -> dict:
    """Everything the main page and the API show: ranked rows, totals, whale curve, unallocated."""
    result = compute(first=first, last=last)
    rows = customer_rows(result)
    return {"from": first.isoformat(), "to": last.isoformat(), "currency": result.currency, "rows": rows,
            "totals": totals(rows), "whale_curve": whale_curve(rows), "unallocated": result.unallocated,
            "result": result}


__all__ = ["DEFINITIONS", "Measures", "Result", "compute", "customer_cost_to_serve_share", "customer_rows",
           "customer_summary", "monthly_revenue_churn", "report", "segment_matrix", "segment_rows", "totals",
           "trends", "whale_curve"]


# --- who may see and enter costs ------------------------------------------------------------------------

def _roles():
    from revops.kernel import roles

    return roles


def can_see_costs(user) -> bool:
    """Finance, sales managers and admins see costs and margins; sales reps, customer success and portal
    users do not (revops.kernel.roles.COST_ROLES, the one place that says so)."""
    return _roles().can_see_costs(user)


def can_enter_costs(user) -> bool:
    """Finance and admins enter service costs, support volumes and acquisition spend."""
    r = _roles()
    return r.has_role(user, r.FINANCE, r.ADMIN)
