"""Cost to serve: entering service costs and support volumes, and splitting the shared ones over customers.

A ServiceCost is either direct (one customer) or shared: for a segment (blank segment field = every
customer) and allocated over that segment's customers for its month by its driver:
  tickets        the support tickets each customer raised that month (SupportVolume);
  seats          seat-days: Σ quantity × days served ÷ days in the month of each recurring contract line
                 version (non-draft contracts) overlapping the month;
  revenue_share  each customer's recognized revenue that month (reporting currency; a negative month
                 counts as zero).
The split is `revops.kernel.money.allocate` (largest remainder), so the parts sum exactly to the cost.
Fallback when the driver total is zero (no tickets, seats or revenue in the segment that month): the cost
is split in equal parts over the segment's active customers that month (a recurring contract line
overlapping the month). When the segment has no active customer either, the cost stays unallocated and
is reported as such (never silently dropped).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum

from customers.models import Customer
from revops.kernel import money
from revops.kernel.dates import add_months
from revops.kernel.errors import ValidationFailed, field_error

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
    if positive:
        parts = money.allocate(amount, [w for _pk, w in positive], currency)
        return {pk: part for (pk, _w), part in zip(positive, parts, strict=True)}
    equal = sorted(set(fallback))
    if not equal:
        return {}
    parts = money.allocate(amount, [1] * len(equal), currency)
    return dict(zip(equal, parts, strict=True))


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

CACHE_SECONDS = 300


@dataclass
class Shares:
    """The shared costs of some months, split: per customer (sum over the months), per month (sum over the
    customers counted by `month_filter`, all of them by default), and what nobody could carry."""

    by_customer: dict[int, Decimal] = field(default_factory=dict)
    by_month: dict[date, Decimal] = field(default_factory=dict)
    unallocated: Decimal = ZERO


def _fingerprint(months: list[date]) -> str:
    """One query over what the split depends on: shared costs and tickets of the months, revenue postings,
    contract lines and contracts, customers and FX rates. A change in any of them changes the key (edits
    of a customer's segment fields do not: the cache lives CACHE_SECONDS at most)."""
    from django.db import connection

    from contracts.models import Contract, ContractLine
    from recognition.models import FxRate, JournalEntry

    from ..models import ServiceCost, SupportVolume

    t = {m: m._meta.db_table for m in (ServiceCost, SupportVolume, JournalEntry, ContractLine, Contract, Customer,
                                        FxRate)}
    first, last = months[0], months[-1]
    sql = (f"SELECT (SELECT COUNT(*) FROM {t[ServiceCost]} WHERE customer_id IS NULL AND period >= %s AND period <= %s),"
           f" (SELECT MAX(id) FROM {t[ServiceCost]}), (SELECT SUM(amount) FROM {t[ServiceCost]} WHERE customer_id IS NULL"
           f" AND period >= %s AND period <= %s),"
           f" (SELECT COUNT(*) FROM {t[SupportVolume]} WHERE period >= %s AND period <= %s),"
           f" (SELECT SUM(tickets) FROM {t[SupportVolume]} WHERE period >= %s AND period <= %s),"
           f" (SELECT MAX(id) FROM {t[SupportVolume]}), (SELECT MAX(id) FROM {t[JournalEntry]}),"
           f" (SELECT COUNT(*) FROM {t[JournalEntry]}), (SELECT MAX(id) FROM {t[ContractLine]}),"
           f" (SELECT COUNT(*) FROM {t[ContractLine]}), (SELECT COUNT(*) FROM {t[Contract]} WHERE status <> 'draft'),"
           f" (SELECT MAX(id) FROM {t[Contract]}), (SELECT COUNT(*) FROM {t[Customer]}), (SELECT MAX(id) FROM {t[Customer]}),"
           f" (SELECT COUNT(*) FROM {t[FxRate]}), (SELECT MAX(id) FROM {t[FxRate]})")
    with connection.cursor() as cursor:
        cursor.execute(sql, [first, last] * 4)
        return ":".join(str(v) for v in cursor.fetchone())


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
        parts = allocate_cost(amount=total, currency=reporting, weights=weights, fallback=pool)
        if not parts:
            shares.unallocated += total
            continue
        for pk, part in parts.items():
            by_customer[pk] += part
            if month_filter is None or month_filter(pk):
                by_month[month] += part
    shares.by_customer, shares.by_month = dict(by_customer), dict(by_month)
    return shares


def shared_shares(*, months: list[date], rates, attrs: dict[int, dict] | None = None,
                  month_filter: Callable[[int], bool] | None = None) -> Shares:
    """Split every shared cost of `months` (first days) over the customers (see the module docstring).
    Without a month filter the result is cached (CACHE_SECONDS) under a fingerprint of its inputs, so the
    Customer 360 summary of one customer does not redo the split of 10,000."""
    from django.core.cache import cache

    month_ends = [add_months(m, 1) - timedelta(days=1) for m in months]

    def everyone() -> dict[int, dict]:
        if attrs is not None:
            return attrs
        return {pk: {"size": s, "region": r, "industry": i, "acquisition_channel": c}
                for pk, s, r, i, c in Customer.objects.values_list("pk", "size", "region", "industry",
                                                                   "acquisition_channel")}

    if month_filter is not None:
        return _split(months, month_ends, rates, everyone(), month_filter)
    key = f"revops:profitability:shares:{months[0]}:{months[-1]}:{_fingerprint(months)}"
    found = cache.get(key)
    if found is None:
        found = _split(months, month_ends, rates, everyone(), None)
        cache.set(key, found, CACHE_SECONDS)
    return found
