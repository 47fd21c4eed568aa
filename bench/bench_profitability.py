"""Profitability: the ranked table and the whale curve over 10,000 customers, the segment matrix, the
trends, the acquisition report and one customer's summary (Customer 360).

PostgreSQL only. The benchmark creates a scratch database, BENCH_PROFITABILITY_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/revops_bench_profitability: dropped and created again, dropped at the
end unless BENCH_KEEP_DB=1), and skips with the reason printed when PostgreSQL is not reachable. Under
`python -m bench` the figures are taken in a child process (`python -m bench.bench_profitability`).

Data: the customers, contracts and line versions of bench/bench_analytics.py (`_build`, imported: 10,000
customers, a fifth in EUR, 24 months of contracts, amendments, terminations), product unit costs, then
written directly with bulk_create: a new-MRR movement per customer; recognized revenue, one journal entry
a month for each customer with an active contract that month (last 12 months); support tickets for half
the customers each month; four shared service costs a month (tickets, seats for enterprise, seats for
mid-market in EUR, revenue share) and 200 direct ones; 200,000 usage events on a costed meter; spend per
channel and month.

Figures (median of 5; targets: report under 500 ms, Customer 360 under 300 ms). Nothing is cached: the
shared costs' split is a stored rollup (analytics.models.CostShare) that PostgreSQL triggers mark stale by
month (or by month and driver) when an input changes; a read re-splits what is stale. The report reads the
split, revenue, usage and contract lines on other connections at once (revops.kernel.background): the
benchmark calls it outside a transaction, as a page request does. So each figure is given twice:
- "stored split current": no input changed since the last read (the steady state);
- "after a ticket change this month": before each timed call, one customer's ticket count of the current
  month is updated (a real write through the trigger), so the call re-splits that month's tickets-driven
  costs — the cold path after a ticket count changes;
- for the report over 12 months also "after posting revenue this month" (a journal entry: the month's
  revenue-share costs re-split) and "after a contract amendment effective today" (a quantity change through
  contracts.services.amendments: the month's seats-driven costs, and those that fell back to the active
  customers, re-split);
and once, the split of all 12 months from an empty rollup (what the first read after deploying pays).
Measured: report + whale curve (12 and 3 months), segment matrix, trends (12 months), acquisition report,
customer_summary and churn_risk.customer_risk of the customer with the most tickets this month, and the
Customer 360 page (GET /customers/<id>/ as finance) of that customer.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.scratch import main_for

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_profitability"
REPEAT = 5
TARGET_MS = 500.0
USAGE_EVENTS = int(os.environ.get("BENCH_USAGE_EVENTS", "200000"))


def _median_ms(fn, before=None) -> float:
    """Median of REPEAT timed calls of `fn` after a warm-up; `before` (a write) runs before each, untimed."""
    if before is not None:
        before()
    fn()  # warm up
    durations = []
    for _ in range(REPEAT):
        if before is not None:
            before()
        started = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1000


def _queries(fn, before=None) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if before is not None:
        before()
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def _report(label: str, fn, target: float | None = TARGET_MS, before=None) -> None:
    """Print the median time of `fn` (after the untimed write `before`, when given) and its queries on this
    connection (the report's reads on other connections are not counted)."""
    ms = _median_ms(fn, before)
    verdict = "" if target is None else (f"  (target < {target:.0f} ms)" if ms < target
                                         else f"  OVER the target (< {target:.0f} ms)")
    print(f"profitability: {label}: {ms:,.0f} ms median of {REPEAT}, {_queries(fn, before)} queries{verdict}")


def _inputs(today, customer_ids: list[int]) -> None:
    from django.db.models import Min

    from analytics.models import AcquisitionSpend, MrrMovement, ServiceCost, SupportVolume
    from billing.models import UsageEvent
    from catalog.models import Meter, Product
    from contracts.models import Contract, ContractLine
    from customers.models import Customer
    from recognition.models import Account, AccountingPeriod, JournalEntry, JournalLine
    from revops.kernel.dates import add_months

    Product.objects.filter(sku="AN-SEATS").update(unit_cost=Decimal("6.00"))
    Product.objects.filter(sku="AN-ADDON").update(unit_cost=Decimal("40.00"))
    channels = [c.value for c in Customer.Channel]
    industries = ["software", "retail", "health", "finance", "media"]
    for k, channel in enumerate(channels):
        Customer.objects.filter(pk__in=customer_ids[k::len(channels)]).update(acquisition_channel=channel)
    for k, industry in enumerate(industries):
        Customer.objects.filter(pk__in=customer_ids[k::len(industries)]).update(industry=industry)

    first = dict(Contract.objects.values_list("customer_id").order_by("customer_id").annotate(s=Min("start_date")))
    MrrMovement.objects.bulk_create([MrrMovement(customer_id=c, date=d, currency="USD", kind="new",
                                                 amount=Decimal("500.00"), mrr_before=0, mrr_after=Decimal("500.00"),
                                                 amount_reporting=Decimal("500.00")) for c, d in first.items()],
                                    batch_size=5000)

    months = [add_months(today.replace(day=1), -k) for k in range(12, -1, -1)]
    periods = {m: AccountingPeriod.objects.get_or_create(start=m, defaults={"end": add_months(m, 1) - timedelta(days=1)})[0]
               for m in months}
    revenue = Account.objects.get(role="revenue", family="")
    deferred = Account.objects.get(role="deferred", family="")
    active: dict = {m: set() for m in months}
    for customer_id, start, end in ContractLine.objects.filter(period="month").values_list(
            "contract__customer_id", "start_date", "end_date"):
        for m in months:
            if start <= add_months(m, 1) - timedelta(days=1) and end >= m:
                active[m].add(customer_id)
    entries = []
    for m in months:
        for customer_id in sorted(active[m]):
            entries.append(JournalEntry(date=m + timedelta(days=27), period=periods[m], memo="revenue",
                                        source="revenue.recognized", source_key=f"bench:{customer_id}:{m}",
                                        currency="USD", reporting_currency="USD", customer_id=customer_id))
    entries = JournalEntry.objects.bulk_create(entries, batch_size=5000)
    lines = []
    for e in entries:
        amount = Decimal(300 + e.customer_id % 900)
        lines.append(JournalLine(entry=e, account=deferred, debit=amount, debit_reporting=amount))
        lines.append(JournalLine(entry=e, account=revenue, credit=amount, credit_reporting=amount))
    JournalLine.objects.bulk_create(lines, batch_size=10000)

    SupportVolume.objects.bulk_create([SupportVolume(customer_id=c, period=m, tickets=1 + (c + i) % 7)
                                       for i, m in enumerate(months) for c in customer_ids[i % 2::2]],
                                      batch_size=10000)
    costs = []
    for m in months:
        costs += [ServiceCost(period=m, category="support", amount=Decimal("400000"), currency="USD", driver="tickets"),
                  ServiceCost(period=m, category="success", amount=Decimal("150000"), currency="USD", driver="seats",
                              segment_field="size", segment_value="enterprise"),
                  ServiceCost(period=m, category="success", amount=Decimal("90000"), currency="EUR", driver="seats",
                              segment_field="region", segment_value="emea"),
                  ServiceCost(period=m, category="infrastructure", amount=Decimal("250000"), currency="USD",
                              driver="revenue_share")]
    costs += [ServiceCost(period=months[k % len(months)], category="other", amount=Decimal("750"), currency="USD",
                          customer_id=customer_ids[k * 37 % len(customer_ids)], driver="direct") for k in range(200)]
    ServiceCost.objects.bulk_create(costs)
    AcquisitionSpend.objects.bulk_create([AcquisitionSpend(channel=ch, period=m, category="marketing",
                                                           amount=Decimal("20000"), currency="USD")
                                          for m in months for ch in channels])
    meter = Meter.objects.create(code="bench-calls", name="Calls", unit_cost=Decimal("0.002"), currency="USD")
    start = datetime.combine(months[0], datetime.min.time(), tzinfo=UTC)
    span = (datetime.now(UTC) - start).total_seconds()
    batch = []
    for k in range(USAGE_EVENTS):
        batch.append(UsageEvent(customer_id=customer_ids[(k * 7919) % len(customer_ids)], meter_id=meter.pk,
                                timestamp=start + timedelta(seconds=span * ((k * 104729) % USAGE_EVENTS) / USAGE_EVENTS),
                                idempotency_key=f"b{k}"))
        if len(batch) == 20000:
            UsageEvent.objects.bulk_create(batch)
            batch = []
    UsageEvent.objects.bulk_create(batch)
    print(f"   inputs: {len(entries):,} revenue entries, {len(costs)} service costs, {USAGE_EVENTS:,} usage events")


def _bench() -> None:
    from django.db import connection
    from django.utils import timezone

    from analytics.services import acquisition, profitability
    from bench.bench_analytics import _build
    from revops.kernel.dates import add_months

    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")
    today = timezone.localdate()
    started = time.perf_counter()
    customer_ids = _build(today)
    _inputs(today, customer_ids)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"   (built in {time.perf_counter() - started:.1f} s)")

    year = (add_months(today.replace(day=1), -11), today)
    quarter = (add_months(today.replace(day=1), -2), today)
    report = profitability.report(first=year[0], last=year[1])
    peak = report["whale_curve"]["peak"]
    print(f"   12 months: {report['totals']['customers']:,} customers, contribution "
          f"{report['totals']['contribution']:,} {report['currency']}, margin {report['totals']['margin_pct']} %, "
          f"peak at {peak['customers_pct']} % of customers ({peak['pct_of_total']} % of the total), "
          f"unallocated {report['unallocated']}")
    from analytics.models import CostShare, ServiceCost, SupportVolume
    from analytics.services import churn_risk, cost_allocation

    this_month = today.replace(day=1)
    months = profitability.months_of(*year)
    CostShare.objects.all().delete()
    started = time.perf_counter()
    cost_allocation.cost_shares_refresh(months=months)
    print(f"   stored split from empty, 12 months (what the first read after deploying pays): "
          f"{(time.perf_counter() - started) * 1000:,.0f} ms")
    busy = (SupportVolume.objects.filter(period=this_month).order_by("-tickets", "customer_id")
            .values_list("customer_id", flat=True).first())
    tick = iter(range(10**6))

    def change() -> None:
        """A real write: one customer's tickets this month (the trigger marks this month's tickets driver)."""
        SupportVolume.objects.filter(customer_id=busy, period=this_month).update(tickets=1 + next(tick) % 50)

    from recognition.models import Account, AccountingPeriod, JournalEntry, JournalLine

    revenue_account = Account.objects.get(role="revenue", family="")
    deferred_account = Account.objects.get(role="deferred", family="")
    period = AccountingPeriod.objects.get(start=this_month)

    def post_revenue() -> None:
        """A real write: one revenue entry this month (the revenue-share costs of the month are re-split)."""
        k = next(tick)
        entry = JournalEntry.objects.create(date=today, period=period, memo="revenue", source="revenue.recognized",
                                            source_key=f"bench-post:{k}", currency="USD", reporting_currency="USD",
                                            customer_id=busy)
        JournalLine.objects.bulk_create([
            JournalLine(entry=entry, account=deferred_account, debit=Decimal("10.00"), debit_reporting=Decimal("10.00")),
            JournalLine(entry=entry, account=revenue_account, credit=Decimal("10.00"), credit_reporting=Decimal("10.00"))])

    from django.contrib.auth import get_user_model

    from contracts.models import Contract
    from contracts.services.amendments import contract_amend

    clerk = get_user_model().objects.create_user("bench-clerk", password="x")
    amendable = iter(Contract.objects.filter(status="active", start_date__lt=this_month, end_date__gt=today,
                                             lines__product__kind="recurring", lines__end_date__gt=today)
                     .exclude(lines__start_date__gt=today).order_by("pk").distinct()[:20])

    def change_contract() -> None:
        """A real amendment effective today (contracts.services.amendments): a recurring line's quantity + 1 —
        its version is end-dated yesterday and a new one starts today, so this month's seats are split again."""
        contract = next(amendable)
        line = contract.lines.filter(product__kind="recurring", start_date__lte=today, end_date__gte=today).first()
        contract_amend(contract_id=contract.pk, effective_date=today, by=clerk, reason="bench",
                       changes=[{"line": line.pk, "quantity": str(line.quantity + 1)}])

    def add_cost() -> None:
        """A real write: a shared cost entered this month, allocated by tickets (the month's tickets-driven
        costs are split again); the one entered before is deleted first, so the costs stay as many."""
        ServiceCost.objects.filter(period=this_month, category="other", customer__isnull=True).delete()
        ServiceCost.objects.create(period=this_month, category="other", amount=Decimal("1000.00") + next(tick),
                                   currency="USD", driver="tickets")

    def both(label: str, fn, target: float | None = TARGET_MS) -> None:
        _report(f"{label} (stored split current)", fn, target)
        _report(f"{label} (after a ticket change this month: its tickets costs re-split)", fn, target, before=change)

    both("report + whale curve, 12 months", lambda: profitability.report(first=year[0], last=year[1]))
    year_report = lambda: profitability.report(first=year[0], last=year[1])  # noqa: E731
    _report("report + whale curve, 12 months (after posting revenue this month: its revenue-share costs re-split)",
            year_report, before=post_revenue)
    _report("report + whale curve, 12 months (after a contract amendment effective today: the month's seats "
            "re-split)", year_report, before=change_contract)
    _report("report + whale curve, 12 months (after a shared cost entered this month: its driver's costs re-split)",
            year_report, before=add_cost)
    both("report + whale curve, 3 months", lambda: profitability.report(first=quarter[0], last=quarter[1]))
    result = report["result"]
    rows = report["rows"]
    _report("segment matrix (5 fields) on a computed result", lambda: profitability.segment_matrix(result, rows),
            target=None)
    both("trends, 12 months", lambda: profitability.trends(first=year[0], last=year[1]), target=None)
    both("acquisition report by channel, 12 months",
         lambda: acquisition.acquisition_report(first=year[0], last=year[1]), target=None)
    both("customer_summary (Customer 360), 12 months",
         lambda: profitability.customer_summary(customer_id=busy, first=year[0], last=year[1]), target=300.0)
    both("churn_risk.customer_risk (Customer 360)",
         lambda: churn_risk.customer_risk(customer_id=busy, day=today), target=300.0)
    _page(busy, change, add_cost)


def _page(customer_id: int, change, add_cost) -> None:
    """GET /customers/<id>/ as finance (every section, costs included), current and after a change."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from revops.kernel import roles

    user = get_user_model().objects.create_user("bench-finance", password="x")
    user.groups.add(Group.objects.get(name=roles.FINANCE))
    client = Client()
    client.force_login(user)

    def get() -> None:
        response = client.get(f"/customers/{customer_id}/")
        if response.status_code != 200:
            raise RuntimeError(f"GET /customers/{customer_id}/: HTTP {response.status_code}")

    _report("Customer 360 page as finance (stored split current)", get, 300.0)
    _report("Customer 360 page as finance (after a ticket change this month: its tickets costs re-split)", get,
            300.0, before=change)
    _report("Customer 360 page as finance (after a shared cost entered this month: its driver's costs re-split)",
            get, 300.0, before=add_cost)


def main() -> None:
    main_for("bench.bench_profitability", os.environ.get("BENCH_PROFITABILITY_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
