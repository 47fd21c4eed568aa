"""Cost to serve: entering service costs and support volumes, and splitting the shared ones over customers.

A ServiceCost is either direct (one customer) or shared: for a segment (blank segment field = every
customer) and allocated over that segment's customers for its month by its driver:
  tickets        the support tickets each customer raised that month (SupportVolume);
  seats          seat-days: Σ quantity × days served ÷ days in the month of each recurring contract line
                 version (non-draft contracts) overlapping the month;
  revenue_share  each customer's recognized revenue that month (reporting currency; a negative month
                 counts as zero).
The split is largest remainder in minor units (`largest_remainder`: revops.kernel.money.allocate's rule with
the remainders compared exactly), so the parts sum exactly to the cost.
Fallback when the driver total is zero (no tickets, seats or revenue in the segment that month): the cost
is split in equal parts over the segment's active customers that month (a recurring contract line
overlapping the month). When the segment has no active customer either, the cost stays unallocated and
is reported as such (never silently dropped).

On PostgreSQL the split is stored by month (analytics.models.CostShare) and re-split only for the months
whose inputs changed (marked by triggers): see "the stored split" below for why and how. Elsewhere (the
SQLite demo) `_split` computes it on each read.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from customers.models import Customer
from revops.kernel import money
from revops.kernel.dates import add_months
from revops.kernel.errors import ValidationFailed, field_error
from revops.kernel.rows import plain_rows

from ..models import KpiTarget, ServiceCost, SupportVolume

ZERO = Decimal(0)
# Costs and spend are scoped by customer attributes; "owner" (a team member) is a targets-only scope.
SEGMENT_FIELDS = tuple(v for v in KpiTarget.SegmentField.values if v and v != KpiTarget.SegmentField.OWNER)

ALLOCATION_RULE = (
    "Shared costs are split over the customers of their segment for their month by the entry's driver — "
    "tickets (support tickets that month), seats (seat-days of recurring contract lines that month) or "
    "revenue share (recognized revenue that month) — by largest remainder, so the parts sum exactly to the "
    "cost entered. When the driver total is zero, the cost is split equally over the segment's active "
    "customers (a recurring contract line in the month); with no active customer it stays unallocated.")


def allocate_cost(*, amount: Decimal, currency: str, weights: Mapping[int, Decimal],
                  fallback: Iterable[int] = ()) -> dict[int, Decimal]:
    """{customer id: part} summing exactly to quantize(amount, currency); {} when nobody can carry it.

    Customers with a zero weight get nothing (largest remainder never gives them a unit), so they are
    left out of the split; ties in the remainder go to the lower customer id (deterministic)."""
    positive = sorted((pk, w) for pk, w in weights.items() if w > 0)
    if not positive:
        positive = [(pk, Decimal(1)) for pk in sorted(set(fallback))]
    if not positive:
        return {}
    parts = largest_remainder(amount, [w for _pk, w in positive], currency)
    return {pk: part for (pk, _w), part in zip(positive, parts, strict=True)}


def largest_remainder(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    """revops.kernel.money.allocate's split (largest remainder in minor units, remainders compared exactly in
    integers, ties to the earlier weight); the SQL split (SPLIT_SQL) does the same integer arithmetic, so
    both give the same parts. Weights > 0, total >= 0."""
    return money.allocate(total, weights, currency)


def in_segment(attrs: Mapping[str, str], segment_field: str, segment_value: str) -> bool:
    """Whether a customer (its segment attributes) is in a cost's scope; blank field = everyone."""
    return not segment_field or attrs.get(segment_field, "") == segment_value


# --- entering costs ------------------------------------------------------------------------------------

def _month(value: date, name: str = "period") -> date:
    if not isinstance(value, date):
        raise field_error(name, "must be a date (the first day of a month)")
    return value.replace(day=1)


def _scope(segment_field: str, segment_value: str) -> tuple[str, str]:
    segment_field, segment_value = (segment_field or "").strip(), (segment_value or "").strip()
    if segment_field and segment_field not in SEGMENT_FIELDS:
        raise field_error("segment_field", f"one of {', '.join(SEGMENT_FIELDS)} (or blank for every customer)")
    if segment_field and not segment_value:
        raise field_error("segment_value", "required with a segment field")
    if not segment_field and segment_value:
        raise field_error("segment_field", "required with a segment value")
    return segment_field, segment_value


def _amount(amount, currency: str) -> Decimal:
    money.validate_currency(currency)
    try:
        value = money.to_decimal(amount)
    except (ValidationFailed, TypeError):
        raise field_error("amount", "must be a decimal number") from None
    if value < 0:
        raise field_error("amount", "must not be negative")
    if value != money.quantize(value, currency):
        raise field_error("amount", f"at most {money.minor_units(currency)} decimal places in {currency}")
    return value


def service_cost_create(*, period: date, category: str, amount, currency: str, driver: str = "direct",
                        customer_id: int | None = None, segment_field: str = "", segment_value: str = "",
                        note: str = "", by=None) -> ServiceCost:
    """Record a cost to serve for a month: direct (customer, driver 'direct') or shared (a driver, an
    optional segment). Refuses inconsistent combinations with a field error; writes nothing then."""
    if category not in ServiceCost.Category.values:
        raise field_error("category", f"one of {', '.join(ServiceCost.Category.values)}")
    if driver not in ServiceCost.Driver.values:
        raise field_error("driver", f"one of {', '.join(ServiceCost.Driver.values)}")
    value = _amount(amount, currency)
    segment_field, segment_value = _scope(segment_field, segment_value)
    if driver == ServiceCost.Driver.DIRECT:
        if not customer_id:
            raise field_error("customer", "a direct cost names its customer")
        if segment_field:
            raise field_error("segment_field", "a direct cost has no segment")
        if not Customer.objects.filter(pk=customer_id).exists():
            raise field_error("customer", f"no customer {customer_id}")
    elif customer_id:
        raise field_error("customer", "a shared cost (allocated by a driver) names no customer; use driver 'direct'")
    with transaction.atomic():
        return ServiceCost.objects.create(
            period=_month(period), category=category, amount=value, currency=currency, driver=driver,
            customer_id=customer_id or None, segment_field=segment_field, segment_value=segment_value,
            note=note[:200], created_by=by if getattr(by, "pk", None) else None)


def service_cost_delete(*, cost_id: int) -> None:
    with transaction.atomic():
        deleted, _ = ServiceCost.objects.filter(pk=cost_id).delete()
    if not deleted:
        raise field_error("id", f"no service cost {cost_id}")


def support_volume_set(*, customer_id: int, period: date, tickets: int) -> SupportVolume:
    """The customer's ticket count for the month (replaces an earlier figure for the same month)."""
    if not isinstance(tickets, int) or isinstance(tickets, bool) or tickets < 0:
        raise field_error("tickets", "a whole number, 0 or more")
    if not Customer.objects.filter(pk=customer_id).exists():
        raise field_error("customer", f"no customer {customer_id}")
    with transaction.atomic():
        row, _ = SupportVolume.objects.update_or_create(customer_id=customer_id, period=_month(period),
                                                        defaults={"tickets": tickets})
    return row


# --- allocating the shared costs of a window ------------------------------------------------------------

@dataclass
class Shares:
    """The shared costs of some months, split: per customer (sum over the months), per month (sum over the
    customers counted by `month_filter`, all of them by default), and what nobody could carry."""

    by_customer: dict[int, Decimal] = field(default_factory=dict)
    by_month: dict[date, Decimal] = field(default_factory=dict)
    unallocated: Decimal = ZERO
    # {(customer, driver): part} and {driver: unallocated} — the Python split fills them (cost_shares_verify)
    by_driver: dict[tuple[int, str], Decimal] = field(default_factory=dict)
    unallocated_by_driver: dict[str, Decimal] = field(default_factory=dict)
    fallback_drivers: set[str] = field(default_factory=set)  # with a cost that had no weight


def _seat_days(months: list[date], month_ends: list[date]) -> tuple[dict, dict]:
    """{month: {customer: Σ quantity × days served}} and {month: customers with a recurring line} — the
    seats driver and the fallback's active customers (non-draft contracts, recurring products)."""
    from django.db import connection

    from catalog.models import Product
    from contracts.models import Contract, ContractLine

    seats: dict[date, dict[int, Decimal]] = defaultdict(dict)
    active: dict[date, set[int]] = defaultdict(set)
    if connection.vendor == "postgresql":
        sql = (f"SELECT c.customer_id, m.month, SUM(l.quantity * (LEAST(l.end_date, m.month_end) "
               f"- GREATEST(l.start_date, m.month) + 1)) "
               f"FROM {ContractLine._meta.db_table} l JOIN {Contract._meta.db_table} c ON c.id = l.contract_id "
               f"JOIN {Product._meta.db_table} p ON p.id = l.product_id "
               f"JOIN (SELECT unnest(%s::date[]) AS month, unnest(%s::date[]) AS month_end) m "
               f"ON l.start_date <= m.month_end AND l.end_date >= m.month "
               f"WHERE p.kind = 'recurring' AND c.status <> 'draft' GROUP BY 1, 2")
        with connection.cursor() as cursor:
            cursor.execute(sql, [months, month_ends])
            rows = cursor.fetchall()
    else:
        sums: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
        for pk, quantity, start, end in (ContractLine.objects.filter(product__kind="recurring", start_date__lte=month_ends[-1],
                                                                     end_date__gte=months[0])
                                         .exclude(contract__status=Contract.Status.DRAFT)
                                         .values_list("contract__customer_id", "quantity", "start_date", "end_date")):
            for m, m_end in zip(months, month_ends, strict=True):
                if start <= m_end and end >= m:
                    sums[pk, m] += quantity * ((min(end, m_end) - max(start, m)).days + 1)
        rows = [(pk, m, v) for (pk, m), v in sums.items()]
    for pk, month, value in rows:
        active[month].add(pk)
        if value:
            seats[month][pk] = Decimal(value)
    return seats, active


def _tickets(months: list[date]) -> dict[date, dict[int, Decimal]]:
    from ..models import SupportVolume

    out: dict[date, dict[int, Decimal]] = defaultdict(dict)
    for pk, period, tickets in SupportVolume.objects.filter(period__in=months).values_list("customer_id", "period",
                                                                                           "tickets"):
        if tickets:
            out[period.replace(day=1)][pk] = Decimal(tickets)
    return out


def _revenue(months: list[date]) -> dict[date, dict[int, Decimal]]:
    from recognition.models import Account, JournalLine

    out: dict[date, dict[int, Decimal]] = defaultdict(dict)
    accounts = list(Account.objects.filter(role=Account.Role.REVENUE).values_list("pk", flat=True))
    rows = (JournalLine.objects.filter(account_id__in=accounts, entry__period__start__in=months,
                                       entry__customer__isnull=False)
            .values_list("entry__customer_id", "entry__period__start")
            .annotate(net=Sum("credit_reporting") - Sum("debit_reporting")).order_by())
    for pk, month, net in rows:
        if net and net > 0:
            out[month][pk] = net
    return out


def _split(months: list[date], month_ends: list[date], rates, attrs: dict[int, dict],
           month_filter: Callable[[int], bool] | None) -> Shares:
    from django.conf import settings

    from ..models import ServiceCost

    reporting = settings.REVOPS_REPORTING_CURRENCY
    shared = list(ServiceCost.objects.filter(customer__isnull=True, period__gte=months[0], period__lte=month_ends[-1])
                  .values_list("period", "amount", "currency", "driver", "segment_field", "segment_value")
                  .order_by("period", "pk"))
    shares = Shares()
    if not shared:
        return shares
    drivers = {d for _p, _a, _c, d, _f, _v in shared}
    wanted = sorted({p.replace(day=1) for p, *_rest in shared})
    seats, active = _seat_days(months, month_ends)
    tickets = _tickets(wanted) if "tickets" in drivers else {}
    revenue = _revenue(wanted) if "revenue_share" in drivers else {}
    source = {"tickets": tickets, "seats": seats, "revenue_share": revenue}
    scopes: dict[tuple[str, str], set[int]] = {}
    by_customer: dict[int, Decimal] = defaultdict(lambda: ZERO)
    by_month: dict[date, Decimal] = defaultdict(lambda: ZERO)
    for period, amount, currency, driver, seg_field, seg_value in shared:
        month = period.replace(day=1)
        total = money.quantize(amount * rates.rate(currency, month), reporting)
        weights = source.get(driver, {}).get(month, {})
        pool = active.get(month, set())
        if seg_field:
            scope = scopes.get((seg_field, seg_value))
            if scope is None:
                scope = scopes[seg_field, seg_value] = {pk for pk, a in attrs.items()
                                                        if in_segment(a, seg_field, seg_value)}
            weights = {pk: w for pk, w in weights.items() if pk in scope}
            pool = pool & scope
        if not any(w > 0 for w in weights.values()):
            shares.fallback_drivers.add(driver)
        parts = allocate_cost(amount=total, currency=reporting, weights=weights, fallback=pool)
        if not parts:
            shares.unallocated += total
            shares.unallocated_by_driver[driver] = shares.unallocated_by_driver.get(driver, ZERO) + total
            continue
        for pk, part in parts.items():
            by_customer[pk] += part
            shares.by_driver[pk, driver] = shares.by_driver.get((pk, driver), ZERO) + part
            if month_filter is None or month_filter(pk):
                by_month[month] += part
    shares.by_customer, shares.by_month = dict(by_customer), dict(by_month)
    return shares


def shared_shares(*, months: list[date], rates, focus: int | None = None, by_month: bool = False,
                  month_customers: Collection[int] | None = None) -> Shares:
    """Every shared cost of `months` (first days) split over the customers (see the module docstring):
    by customer (`focus` only, when given), by month when asked (the `month_customers` only, when given:
    e.g. a segment's, or a plan's) and the unallocated total. PostgreSQL reads the stored split
    (`stored_shares`, re-split by month when its inputs change); other databases (the SQLite demo) split in
    Python each time."""
    from django.db import connection

    if connection.vendor == "postgresql":
        return stored_shares(months=months, rates=rates, focus=focus, by_month=by_month,
                             month_customers=month_customers)
    month_ends = [add_months(m, 1) - timedelta(days=1) for m in months]
    attrs = {pk: {"size": s, "region": r, "industry": i, "acquisition_channel": c}
             for pk, s, r, i, c in Customer.objects.values_list("pk", "size", "region", "industry",
                                                                "acquisition_channel")}
    month_filter = None
    if month_customers is not None:
        counted = set(month_customers)

        def month_filter(pk: int) -> bool:
            return pk in counted
    shares = _split(months, month_ends, rates, attrs, month_filter)
    if focus is not None:
        shares.by_customer = {pk: v for pk, v in shares.by_customer.items() if pk == focus}
    if not by_month:
        shares.by_month = {}
    return shares


# --- the stored split (PostgreSQL): CostShare, re-split by month when the month's inputs change -----------
#
# Why a stored rollup: one customer's share of a shared cost depends on every other customer of the segment
# (the largest-remainder ranking), so a per-customer figure (Customer 360, churn risk) would otherwise
# re-split 10,000 customers; and the split of a year's costs is too slow to redo on every request (its
# drivers alone read ~150,000 contract-line and journal rows, then 50 allocations over 10,000 customers).
# Why triggers: the inputs are written by many areas (journal posting, contracts, customers, FX rates, bulk
# loads, raw ORM writes in data fixes and tests), so rather than trusting each writer to call a rebuild,
# statement-level PostgreSQL triggers (migrations 0005, 0006) mark the months a write touches, and a read
# re-splits only those months:
# - a change names in the month row's `stale` the drivers whose costs' split it can move, and only those
#   drivers' costs are split again (`_resplit_drivers`: the new parts merged into the stored rows, which keep
#   each customer's part by driver for that; the other drivers' parts stay as they are): ticket counts →
#   tickets; posted revenue → revenue_share; contract lines and a contract's move into or out of draft →
#   seats (the seat-days, and the active customers a cost with no weight falls back to: a seats re-split
#   also splits again the drivers named in the month row's `fallback`); a shared cost → its driver; an FX
#   rate → the drivers of the costs in its currency; a customer's segment field → the drivers of the costs
#   scoped by it (migration 0006 says exactly which months each marks);
# - the rare rest (a customer deleted, a product's kind, an account's role, a period's start) blanks the
#   month row's `inputs`: the month is split again from scratch (`_rebuild`: delete, insert).
# The triggers take the shared side of an advisory lock whose exclusive side a re-split holds, so a
# re-split never reads around an uncommitted write and a write never lands between a re-split's read and
# its "current" mark.
# The split itself runs in SQL with exact integer arithmetic in minor units (numeric div/mod): each
# customer gets floor(units × w ÷ W) and the `units − Σ floors` leftover units go one each to the largest
# remainders, ties to the lower customer id — `largest_remainder`, money.allocate's rule with exact
# remainders — checked against the Python split (`_split`, kept for SQLite and as the reference) by
# `cost_shares_verify`.

DRIVERS = ("tickets", "seats", "revenue_share")  # the shared drivers, and CostShare's columns by driver

# The parts of the costs in k (one row per cost): parts(id, month, driver, customer_id, fb, part in minor
# units), fb true for a cost with no weight split equally over the active customers of its scope (the
# fallback); pool holds every (cost, customer) that carries something. A driver's weights are read only when a cost in
# k uses it (the uncorrelated EXISTS guards are evaluated once, before the subtree).
PARTS_SQL = """
k AS (SELECT * FROM unnest(%(ids)s::bigint[], %(months)s::date[], %(units)s::numeric[], %(drivers)s::text[],
                           %(fields)s::text[], %(values)s::text[]) AS t(id, month, units, driver, seg_field, seg_value)),
m AS (SELECT DISTINCT month, (month + interval '1 month' - interval '1 day')::date AS month_end FROM k),
cu AS (SELECT id, size, region, industry, acquisition_channel FROM customers_customer),
seats AS (SELECT c.customer_id, m.month,
                 SUM(l.quantity * (LEAST(l.end_date, m.month_end) - GREATEST(l.start_date, m.month) + 1)) AS w
          FROM contracts_contractline l JOIN contracts_contract c ON c.id = l.contract_id
          JOIN catalog_product p ON p.id = l.product_id
          JOIN m ON l.start_date <= m.month_end AND l.end_date >= m.month
          WHERE p.kind = 'recurring' AND c.status <> 'draft' GROUP BY 1, 2),
rev AS (SELECT e.customer_id, ap.start AS month, SUM(jl.credit_reporting) - SUM(jl.debit_reporting) AS w
        FROM recognition_journalline jl JOIN recognition_journalentry e ON e.id = jl.entry_id
        JOIN recognition_accountingperiod ap ON ap.id = e.period_id
        WHERE jl.account_id IN (SELECT id FROM recognition_account WHERE role = 'revenue')
          AND e.customer_id IS NOT NULL AND ap.start IN (SELECT month FROM k WHERE driver = 'revenue_share')
        GROUP BY 1, 2),
w AS (SELECT 'tickets'::text AS driver, customer_id, period AS month, tickets::numeric AS w FROM analytics_supportvolume
      WHERE period IN (SELECT month FROM k WHERE driver = 'tickets') AND tickets > 0
      UNION ALL SELECT 'seats', customer_id, month, w FROM seats
      WHERE w > 0 AND EXISTS (SELECT 1 FROM k WHERE driver = 'seats')
      UNION ALL SELECT 'revenue_share', customer_id, month, w FROM rev WHERE w > 0),
scoped AS (SELECT k.id, k.month, k.units, k.driver, w.customer_id, w.w, false AS fb FROM k
           JOIN w ON w.driver = k.driver AND w.month = k.month JOIN cu ON cu.id = w.customer_id
           WHERE k.seg_field = '' OR k.seg_value = CASE k.seg_field WHEN 'size' THEN cu.size WHEN 'region' THEN cu.region
                 WHEN 'industry' THEN cu.industry WHEN 'acquisition_channel' THEN cu.acquisition_channel END),
unweighted AS (SELECT * FROM k WHERE id NOT IN (SELECT DISTINCT id FROM scoped)),
pool AS (SELECT * FROM scoped
         UNION ALL
         SELECT u.id, u.month, u.units, u.driver, s.customer_id, 1, true FROM unweighted u
         JOIN seats s ON s.month = u.month
         JOIN cu ON cu.id = s.customer_id
         WHERE EXISTS (SELECT 1 FROM unweighted)
           AND (u.seg_field = '' OR u.seg_value = CASE u.seg_field WHEN 'size' THEN cu.size WHEN 'region' THEN cu.region
                WHEN 'industry' THEN cu.industry WHEN 'acquisition_channel' THEN cu.acquisition_channel END)),
calc AS (SELECT id, month, units, driver, customer_id, fb, div(units * w, SUM(w) OVER p) AS fl,
                mod(units * w, SUM(w) OVER p) AS rem
         FROM pool WINDOW p AS (PARTITION BY id)),
parts AS (SELECT id, month, driver, customer_id, fb,
                 fl + CASE WHEN row_number() OVER (PARTITION BY id ORDER BY rem DESC, customer_id)
                                <= units - SUM(fl) OVER (PARTITION BY id) THEN 1 ELSE 0 END AS part
          FROM calc)
"""

# A whole month again: insert every customer's parts (by driver and in total); returns the costs nobody carries
# ('uncarried') and those split by the fallback ('fallback').
SPLIT_SQL = "WITH " + PARTS_SQL + """,
ins AS (INSERT INTO analytics_costshare (month, customer_id, amount_reporting, tickets, seats, revenue_share, inputs,
                                         stale, fallback)
        SELECT month, customer_id, SUM(part) * %(unit)s,
               COALESCE(SUM(part) FILTER (WHERE driver = 'tickets'), 0) * %(unit)s,
               COALESCE(SUM(part) FILTER (WHERE driver = 'seats'), 0) * %(unit)s,
               COALESCE(SUM(part) FILTER (WHERE driver = 'revenue_share'), 0) * %(unit)s, '', '', ''
        FROM parts GROUP BY 1, 2 HAVING SUM(part) <> 0)
SELECT id, 'uncarried' FROM k WHERE id NOT IN (SELECT DISTINCT id FROM pool)
UNION ALL
SELECT DISTINCT id, 'fallback' FROM pool WHERE fb
"""

# Some drivers of some months again: their parts into a temporary table, then merged (MERGE_SQL).
PARTIAL_PARTS_SQL = ("CREATE TEMPORARY TABLE cost_share_new ON COMMIT DROP AS WITH " + PARTS_SQL
                     + " SELECT id, month, driver, customer_id, fb, part FROM parts")

# sd: the drivers re-split in each month. Each stored row of those months takes the new part of each re-split
# driver (zero when it now carries none of them) and keeps its other drivers' parts; the total follows.
MERGE_SQL = """
WITH sd AS (SELECT * FROM unnest(%(sd_months)s::date[], %(sd_t)s::bool[], %(sd_s)s::bool[], %(sd_r)s::bool[])
            AS t(month, t, s, r)),
n AS (SELECT month, customer_id,
             COALESCE(SUM(part) FILTER (WHERE driver = 'tickets'), 0) * %(unit)s AS t,
             COALESCE(SUM(part) FILTER (WHERE driver = 'seats'), 0) * %(unit)s AS s,
             COALESCE(SUM(part) FILTER (WHERE driver = 'revenue_share'), 0) * %(unit)s AS r
      FROM cost_share_new GROUP BY 1, 2),
o AS (SELECT c.month, c.customer_id FROM analytics_costshare c JOIN sd ON sd.month = c.month
      WHERE c.customer_id IS NOT NULL AND ((sd.t AND c.tickets <> 0) OR (sd.s AND c.seats <> 0)
                                           OR (sd.r AND c.revenue_share <> 0)))
MERGE INTO analytics_costshare cs
USING (SELECT COALESCE(n.month, o.month) AS month, COALESCE(n.customer_id, o.customer_id) AS customer_id,
              COALESCE(n.t, 0) AS t, COALESCE(n.s, 0) AS s, COALESCE(n.r, 0) AS r, sd.t AS st, sd.s AS ss, sd.r AS sr
       FROM n FULL JOIN o ON o.month = n.month AND o.customer_id = n.customer_id
       JOIN sd ON sd.month = COALESCE(n.month, o.month)) src
ON cs.month = src.month AND cs.customer_id = src.customer_id
WHEN MATCHED THEN UPDATE SET
  tickets = CASE WHEN src.st THEN src.t ELSE cs.tickets END,
  seats = CASE WHEN src.ss THEN src.s ELSE cs.seats END,
  revenue_share = CASE WHEN src.sr THEN src.r ELSE cs.revenue_share END,
  amount_reporting = CASE WHEN src.st THEN src.t ELSE cs.tickets END + CASE WHEN src.ss THEN src.s ELSE cs.seats END
                     + CASE WHEN src.sr THEN src.r ELSE cs.revenue_share END
WHEN NOT MATCHED THEN INSERT (month, customer_id, amount_reporting, tickets, seats, revenue_share, inputs, stale,
                              fallback)
  VALUES (src.month, src.customer_id, src.t + src.s + src.r, src.t, src.s, src.r, '', '', '')
"""

MONTH_ROWS_SQL = """
SELECT m.month, cs.inputs, cs.stale, cs.amount_reporting,
       (SELECT f.amount_reporting FROM analytics_costshare f WHERE f.month = m.month AND f.customer_id = %(focus)s),
       cs.fallback
FROM unnest(%(months)s::date[]) AS m(month)
LEFT JOIN analytics_costshare cs ON cs.month = m.month AND cs.customer_id IS NULL
"""


def _current() -> str:
    from django.conf import settings

    return f"current:{settings.REVOPS_REPORTING_CURRENCY}"


def _month_rows(months: list[date], focus: int | None = None) -> dict[date, tuple]:
    """{month: (`inputs` — _current() unless every driver is stale, `stale` drivers, unallocated, the stored
    part of `focus`, `fallback` drivers)}; a month never split has inputs None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(MONTH_ROWS_SQL, {"months": months, "focus": focus})
        return {month: tuple(rest) for month, *rest in cursor.fetchall()}


def _shared_costs(first: date, last: date) -> list[tuple]:
    from ..models import ServiceCost

    return list(ServiceCost.objects.filter(customer__isnull=True, period__gte=first, period__lte=last)
                .values_list("pk", "period", "amount", "currency", "driver", "segment_field", "segment_value")
                .order_by("period", "pk"))


def _unit() -> Decimal:
    from django.conf import settings

    return Decimal(1).scaleb(-money.minor_units(settings.REVOPS_REPORTING_CURRENCY))


def _split_params(costs: list[tuple], wanted: Callable[[date, str], bool], rates) -> tuple[dict, dict]:
    """The SQL parameters of the costs `wanted(month, driver)`, and {cost id: (month, driver, total)}."""
    from django.conf import settings

    reporting = settings.REVOPS_REPORTING_CURRENCY
    unit = _unit()
    params = {"ids": [], "months": [], "units": [], "drivers": [], "fields": [], "values": [], "unit": unit}
    totals: dict[int, tuple[date, str, Decimal]] = {}
    for pk, period, amount, currency, driver, seg_field, seg_value in costs:
        month = period.replace(day=1)
        if not wanted(month, driver):
            continue
        total = money.quantize(amount * rates.rate(currency, month), reporting)
        totals[pk] = (month, driver, total)
        params["ids"].append(pk)
        params["months"].append(month)
        params["units"].append(int((total / unit).to_integral_value()))
        params["drivers"].append(driver)
        params["fields"].append(seg_field)
        params["values"].append(seg_value)
    return params, totals


def _uncarried_by_driver(totals: dict, uncarried: set[int]) -> dict[date, dict[str, Decimal]]:
    out: dict[date, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(DRIVERS, ZERO))
    for pk, (month, driver, total) in totals.items():
        if pk in uncarried:
            out[month][driver] += total
    return out


def _fallback_drivers(totals: dict, unweighted: set[int]) -> dict[date, set[str]]:
    """{month: drivers with a cost among `unweighted` (split by the fallback, or carried by nobody)}."""
    out: dict[date, set[str]] = defaultdict(set)
    for pk, (month, driver, _total) in totals.items():
        if pk in unweighted:
            out[month].add(driver)
    return out


def _joined(drivers: set[str]) -> str:
    return ",".join(d for d in DRIVERS if d in drivers)


def _rebuild(months: list[date], costs: list[tuple], current: str, rates) -> dict[date, Decimal]:
    """Split `months` again from scratch into CostShare (in the caller's transaction): delete their rows,
    insert the parts computed in SQL, then one month row each with the unallocated amount (by driver and in
    total), marked current (work_mem raised by the caller so the window sorts stay in memory). Returns
    {month: unallocated}."""
    from django.db import connection

    from ..models import CostShare

    wanted = set(months)
    params, totals = _split_params(costs, lambda month, _driver: month in wanted, rates)
    CostShare.objects.filter(month__in=months).delete()
    uncarried: set[int] = set()
    fallback: set[int] = set()
    if params["ids"]:
        with connection.cursor() as cursor:
            cursor.execute(SPLIT_SQL, params)  # inserts the parts; returns the costs without weight
            for pk, mode in cursor.fetchall():
                (uncarried if mode == "uncarried" else fallback).add(pk)
    left = _uncarried_by_driver(totals, uncarried)
    unweighted = _fallback_drivers(totals, uncarried | fallback)
    CostShare.objects.bulk_create([CostShare(month=m, customer=None, amount_reporting=sum(left[m].values(), ZERO),
                                             inputs=current, stale="", fallback=_joined(unweighted[m]), **left[m])
                                   for m in months])
    return {m: sum(left[m].values(), ZERO) for m in months}


def _resplit_drivers(stale: dict[date, set[str]], costs: list[tuple], rates,
                     previous_fallback: dict[date, str]) -> dict[date, Decimal]:
    """Split again only the costs of the `stale` drivers of each month (in the caller's transaction, under
    the lock): their new parts replace the stored parts of those drivers, the other drivers' stay. Returns
    {month: unallocated}. `previous_fallback`: each month's `fallback` drivers before, kept for the drivers
    not split again."""
    from django.db import connection

    params, totals = _split_params(costs, lambda month, driver: driver in stale.get(month, ()), rates)
    with connection.cursor() as cursor:
        # with no cost left for a driver, this still runs: the merge zeroes that driver's stored parts
        cursor.execute(PARTIAL_PARTS_SQL, params)
        cursor.execute("SELECT id, bool_or(fb) FROM cost_share_new GROUP BY id")
        carried = dict(cursor.fetchall())
        uncarried = set(params["ids"]) - set(carried)
        fallback = {pk for pk, fb in carried.items() if fb}
        months = sorted(stale)
        cursor.execute(MERGE_SQL, {"sd_months": months, "unit": params["unit"],
                                   "sd_t": ["tickets" in stale[m] for m in months],
                                   "sd_s": ["seats" in stale[m] for m in months],
                                   "sd_r": ["revenue_share" in stale[m] for m in months]})
        cursor.execute("DROP TABLE cost_share_new")
    left = _uncarried_by_driver(totals, uncarried)
    unweighted = _fallback_drivers(totals, uncarried | fallback)
    out: dict[date, Decimal] = {}
    with connection.cursor() as cursor:
        for month, drivers in sorted(stale.items()):
            new = {d: left[month][d] for d in DRIVERS if d in drivers}
            kept = set(filter(None, previous_fallback.get(month, "").split(","))) - drivers
            cursor.execute(
                "UPDATE analytics_costshare SET tickets = COALESCE(%(tickets)s, tickets), "
                "seats = COALESCE(%(seats)s, seats), revenue_share = COALESCE(%(revenue_share)s, revenue_share), "
                "amount_reporting = COALESCE(%(tickets)s, tickets) + COALESCE(%(seats)s, seats) "
                "+ COALESCE(%(revenue_share)s, revenue_share), stale = '', fallback = %(fallback)s "
                "WHERE month = %(month)s AND customer_id IS NULL RETURNING amount_reporting",
                {"month": month, "fallback": _joined(kept | unweighted[month]), **{d: new.get(d) for d in DRIVERS}})
            out[month] = cursor.fetchone()[0]
    return out


def cost_shares_refresh(*, months: list[date], rates=None, focus: int | None = None) -> tuple[dict, dict | None]:
    """Bring the stored split of `months` (first days) up to date: the months marked by the triggers (or
    never split) are split again — from scratch, or only the drivers named stale — under the exclusive
    advisory lock (in-flight writes commit first).
    Returns ({month: unallocated amount}, {month: the stored part of `focus`} — None after a re-split)."""
    from django.db import connection, transaction

    current = _current()
    rows = _month_rows(months, focus)
    if all(m in rows and rows[m][0] == current and not rows[m][1] for m in months):
        return ({m: rows[m][2] for m in months}, {m: rows[m][3] for m in months if rows[m][3] is not None})
    if rates is None:
        from .profitability import Rates

        rates = Rates()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s), set_config('work_mem', '64MB', true)", [LOCK_KEY])
            if not cursor.fetchone()[0]:  # another re-split (or a write) is running: wait, then look again
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
                rows = _month_rows(months)
        out = {m: rows[m][2] for m in months if m in rows}
        whole = [m for m in months if m not in rows or rows[m][0] != current]
        partly = {m: _drivers_to_split(rows[m][1], rows[m][4]) for m in months if m not in whole and rows[m][1]}
        if whole or partly:
            touched = sorted([*whole, *partly])
            costs = _shared_costs(touched[0], add_months(touched[-1], 1) - timedelta(days=1))
            if whole:
                out.update(_rebuild(whole, costs, current, rates))
            if partly:
                out.update(_resplit_drivers(partly, costs, rates, {m: rows[m][4] for m in partly}))
    return out, None


LOCK_KEY = 7_220_301  # pg_advisory_xact_lock key of the CostShare rebuild


def _drivers_to_split(stale: str, fallback: str) -> set[str]:
    """The drivers of a month to split again: those marked stale, and — when the seats (the active
    customers) changed — the drivers with a cost that fell back to the active customers or found none."""
    drivers = set(filter(None, stale.split(",")))
    if "seats" in drivers:
        drivers |= set(filter(None, fallback.split(",")))
    return drivers


def refresh_in_background(*, months: list[date]):
    """Start bringing the stored split of `months` up to date on another connection (a
    revops.kernel.background Job; `wait()` on it before reading), so that a re-split overlaps the caller's
    other reads. The caller's read (`stored_shares`) still checks and re-splits what is stale, so nothing
    depends on the job: off PostgreSQL or inside a transaction it is not even started."""
    from revops.kernel import background

    return background.start(lambda: cost_shares_refresh(months=months))


def stored_shares(*, months: list[date], rates=None, focus: int | None = None, by_month: bool = False,
                  month_customers: Collection[int] | None = None) -> Shares:
    """The shared costs of `months` from the stored split (refreshed first): by customer (only `focus`
    when given), by month (the `month_customers` only, when given) and the unallocated total."""
    from django.conf import settings

    from ..models import CostShare

    e = Decimal(1).scaleb(-money.minor_units(settings.REVOPS_REPORTING_CURRENCY))  # stored with 3 places
    unallocated, focus_parts = cost_shares_refresh(months=months, rates=rates, focus=focus)
    shares = Shares(unallocated=sum((u or ZERO for u in unallocated.values()), ZERO).quantize(e))
    parts = CostShare.objects.filter(month__in=months, customer__isnull=False)
    if focus is not None:
        parts = parts.filter(customer_id=focus)
    if focus is not None and focus_parts is not None and not by_month:  # read with the stamps: no query more
        if focus_parts:
            shares.by_customer = {focus: sum(focus_parts.values(), ZERO).quantize(e)}
        return shares
    shares.by_customer = {pk: v.quantize(e) for pk, v in plain_rows(parts.values_list("customer_id")
                                                                   .annotate(s=Sum("amount_reporting")).order_by())}
    if by_month:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT month, SUM(amount_reporting) FROM analytics_costshare WHERE month = ANY(%s) "
                           "AND customer_id IS NOT NULL AND (%s::bigint[] IS NULL OR customer_id = ANY(%s::bigint[])) "
                           "GROUP BY month", [months, *[None if month_customers is None
                                                         else list(month_customers)] * 2])
            shares.by_month = {m: v.quantize(e) for m, v in cursor.fetchall()}
    return shares


def cost_shares_verify(*, months: list[date]) -> dict[date, list[str]]:
    """Compare the stored split of `months` (refreshed) with a fresh Python split (`_split`, the reference):
    {month: differences} for the months that differ ({} when everything matches)."""
    from .profitability import Rates

    rates = Rates()
    cost_shares_refresh(months=months, rates=rates)
    from ..models import CostShare

    attrs = {pk: {"size": s, "region": r, "industry": i, "acquisition_channel": c}
             for pk, s, r, i, c in Customer.objects.values_list("pk", "size", "region", "industry",
                                                                "acquisition_channel")}
    out: dict[date, list[str]] = {}
    for m in months:
        fresh = _split([m], [add_months(m, 1) - timedelta(days=1)], rates, attrs, None)
        rows = {pk: (amount, dict(zip(DRIVERS, by_driver, strict=True))) for pk, amount, *by_driver in
                CostShare.objects.filter(month=m).values_list("customer_id", "amount_reporting", *DRIVERS)}
        recorded = CostShare.objects.filter(month=m, customer__isnull=True).values_list("fallback", flat=True).first()
        stored = {pk: amount for pk, (amount, _d) in rows.items() if pk is not None}
        unallocated = rows[None][0] if None in rows else None
        problems = []
        expected = {pk: v for pk, v in fresh.by_customer.items() if v}
        for pk in sorted(set(expected) | set(stored)):
            if expected.get(pk, ZERO) != stored.get(pk, ZERO):
                problems.append(f"customer {pk}: stored {stored.get(pk, ZERO)}, computed {expected.get(pk, ZERO)}")
            elif pk in rows:  # the same total: its parts by driver, too
                for d, part in rows[pk][1].items():
                    if part != fresh.by_driver.get((pk, d), ZERO):
                        problems.append(f"customer {pk}: stored {part} by {d}, "
                                        f"computed {fresh.by_driver.get((pk, d), ZERO)}")
        if (unallocated or ZERO) != fresh.unallocated:
            problems.append(f"unallocated: stored {unallocated}, computed {fresh.unallocated}")
        elif None in rows:
            for d, part in rows[None][1].items():
                if part != fresh.unallocated_by_driver.get(d, ZERO):
                    problems.append(f"unallocated by {d}: stored {part}, "
                                    f"computed {fresh.unallocated_by_driver.get(d, ZERO)}")
        if recorded is not None and recorded != _joined(fresh.fallback_drivers):
            problems.append(f"drivers with a cost without weight: stored '{recorded}', "
                            f"computed '{_joined(fresh.fallback_drivers)}'")
        if problems:
            out[m] = problems
    return out
