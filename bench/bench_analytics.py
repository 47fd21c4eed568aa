"""Analytics: the MRR rollup for 10,000 customers with 24 months of contract history, the KPI snapshot,
the 24-month MRR series, the KPI API and `verify()`.

PostgreSQL only. The benchmark creates a scratch database, BENCH_ANALYTICS_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/revops_bench_analytics: dropped and created again, dropped at the end
unless BENCH_KEEP_DB=1), and skips with the reason printed when PostgreSQL is not reachable. Under
`python -m bench` the figures are taken in a child process (`python -m bench.bench_analytics`) that
owns the scratch database.

Data (written directly with bulk_create: a data builder, not the contract services): BENCH_CUSTOMERS
(10,000) customers, four in five in USD and one in five in EUR (FX rates entered monthly), each with a
first contract starting in the last 24 months (12 or 24 months, one or two recurring lines, monthly or
yearly prices); one in three also has a second contract starting later. One contract in four is amended
(its first line gets a second version from the amendment day, more or fewer seats); contracts whose end
is past are expired, and one in ten of the active ones was terminated early (ended: churn).

Figures:
- rollup: `customer_refresh` for every customer (customers/s, movements written);
- KPI snapshot: `kpis.snapshot(today)`, median of 5 (target under 200 ms);
- MRR series: `kpis.mrr_series` over 24 months, median of 5 (target under 200 ms);
- KPI API: GET /api/v1/kpis/ through Django's test client as a finance user, median of 5 (target
  under 200 ms);
- verify: `verify()` over all customers (target under 60 s).
For each read the query count and the slowest query (captured once, untimed) are printed.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from bench.scratch import main_for

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_analytics"
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "10000"))
REPEAT = 5
TARGET_READ_MS = 200.0
TARGET_VERIFY_S = 60.0
EUR_TO_USD = Decimal("1.0850")


def _target(ok: bool, text: str) -> str:
    return f"  (target < {text})" if ok else f"  OVER the target (< {text})"


# --- scratch data ----------------------------------------------------------------------------------

def _build(today: date) -> list[int]:
    from catalog import models as cm
    from contracts.models import Contract, ContractLine
    from customers.models import Customer
    from recognition.models import FxRate
    from revops.kernel import money
    from revops.kernel.dates import add_months, term_end

    first_month = add_months(today.replace(day=1), -24)
    FxRate.objects.bulk_create(FxRate(date=add_months(first_month, k), currency="EUR",
                                      rate=EUR_TO_USD * (1 + Decimal(k % 7) / 1000)) for k in range(-1, 26))
    seats = cm.Product.objects.create(sku="AN-SEATS", name="Seats", kind="recurring", recognition="ratable",
                                      family="Platform", currency="USD", ssp=Decimal("30"))
    addon = cm.Product.objects.create(sku="AN-ADDON", name="Add-on", kind="recurring", recognition="ratable",
                                      family="Add-ons", currency="USD", ssp=Decimal("1200"))
    sizes, regions = ["smb", "mid", "enterprise"], ["na", "emea", "apac"]
    size_values = {c.value for c in Customer.Size}
    region_values = {c.value for c in Customer.Region}
    customers = Customer.objects.bulk_create(
        [Customer(name=f"AN customer {i:05d}", external_id=f"AN-{i:06d}", currency="EUR" if i % 5 == 4 else "USD",
                  country="DE" if i % 5 == 4 else "US",
                  size=sizes[i % 3] if sizes[i % 3] in size_values else "",
                  region=regions[i % 3] if regions[i % 3] in region_values else "")
         for i in range(CUSTOMERS)], batch_size=2000)

    rows, specs = [], []
    n = 0

    def contract(customer, start: date, months: int) -> None:
        nonlocal n
        end = term_end(start, months)
        status, terminated = "active", None
        if end < today:
            status = "expired"
        elif n % 10 == 7 and start < today - timedelta(days=60):  # terminated early: churn before the term end
            terminated = start + (today - start) // 2
            end, status = terminated, "terminated"
        rows.append(Contract(number=f"AN-C-{n:06d}", customer=customer, currency=customer.currency, status=status,
                             start_date=start, end_date=end, billing_frequency="month", terminated_on=terminated,
                             activated_at=None))
        f = Decimal("0.92") if customer.currency == "EUR" else Decimal(1)
        lines = [(seats, 5 + n % 40, Decimal("27.50") * f, "month")]
        if n % 2 == 0:
            lines.append((addon, 1, Decimal("1200.00") * f, "year"))
        amend = None
        if n % 4 == 1 and (end - start).days > 60:  # amended: the first line gets a second version
            amend = start + timedelta(days=30 + n % max(1, (end - start).days - 31))
        specs.append((lines, amend, n))
        n += 1

    for i, customer in enumerate(customers):
        start = first_month + timedelta(days=(i * 7) % 700)
        contract(customer, start, (12, 24)[i % 2])
        if i % 3 == 0:
            contract(customer, start + timedelta(days=90 + i % 200), 12)
    contracts = Contract.objects.bulk_create(rows, batch_size=2000)

    lines = []
    for c, (spec, amend, k) in zip(contracts, specs, strict=True):
        for item, (product, qty, unit, period) in enumerate(spec, start=1):
            unit = money.quantize_unit_price(unit)
            versions = [(1, qty, c.start_date, c.end_date)]
            if amend and item == 1:
                new_qty = qty + 5 if k % 8 == 1 else max(1, qty - 3)
                versions = [(1, qty, c.start_date, amend - timedelta(days=1)), (2, new_qty, amend, c.end_date)]
            for version, q, start, end in versions:
                lines.append(ContractLine(contract=c, item=item, version=version, product=product,
                                          quantity=Decimal(q), unit_price=unit,
                                          amount=money.quantize(unit * q, c.currency), period=period,
                                          billing_frequency="month", start_date=start, end_date=end))
    ContractLine.objects.bulk_create(lines, batch_size=5000)
    print(f"   data: {len(customers):,} customers, {len(contracts):,} contracts "
          f"({sum(1 for c in contracts if c.status == 'expired'):,} expired, "
          f"{sum(1 for c in contracts if c.status == 'terminated'):,} terminated), "
          f"{sum(1 for s in specs if s[1]):,} amended, {len(lines):,} line versions")
    return [c.pk for c in customers]


# --- measurements ----------------------------------------------------------------------------------

def _median_ms(fn) -> float:
    durations = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        durations.append(time.perf_counter() - started)
    return statistics.median(durations) * 1000


def _queries(fn) -> str:
    """Run fn once more with the queries captured: their count, total time and the slowest one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    captured = ctx.captured_queries
    if not captured:
        return "0 queries"
    total = sum(float(q["time"]) for q in captured) * 1000
    slowest = max(captured, key=lambda q: float(q["time"]))
    sql = " ".join(slowest["sql"].split())
    sql = sql if len(sql) <= 260 else sql[:260] + " …"
    return (f"{len(captured)} queries, {total:,.0f} ms in the database; slowest {float(slowest['time']) * 1000:,.0f} ms: "
            f"{sql}")


def _read(label: str, fn) -> float:
    fn()  # warm up (connection, plan cache)
    ms = _median_ms(fn)
    print(f"analytics: {label}, {CUSTOMERS:,} customers: {ms:,.0f} ms median of {REPEAT}"
          f"{_target(ms < TARGET_READ_MS, f'{TARGET_READ_MS:.0f} ms')}")
    print(f"   {_queries(fn)}")
    return ms


def _bench() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from analytics.models import MrrMovement
    from analytics.services import kpis, mrr
    from revops.kernel.dates import add_months

    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")
    today = timezone.localdate()
    started = time.perf_counter()
    customer_ids = _build(today)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"   (built in {time.perf_counter() - started:.1f} s)")

    started = time.perf_counter()
    written = sum(mrr.customer_refresh(customer_id=pk) for pk in customer_ids)
    seconds = time.perf_counter() - started
    print(f"analytics: MRR rollup, customer_refresh × {len(customer_ids):,}: {seconds:.1f} s "
          f"({len(customer_ids) / seconds:,.0f} customers/s; {written:,} movements)")
    one = _queries(lambda: mrr.customer_refresh(customer_id=customer_ids[0]))
    print(f"   one customer: {one}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    kinds = {k: MrrMovement.objects.filter(kind=k).count() for k in MrrMovement.Kind.values}
    print("   movements by kind: " + ", ".join(f"{k} {v:,}" for k, v in kinds.items()))

    snap = kpis.snapshot(today)
    print(f"   snapshot: MRR {snap['mrr']} {snap['currency']}, {snap['customers']:,} customers, NRR {snap['nrr']} %, "
          f"movements MTD tie: {snap['movements_mtd']['ties']}")
    _read("KPI snapshot", lambda: kpis.snapshot(today))
    first = add_months(today.replace(day=1), -23)
    series = kpis.mrr_series(first, today)
    print(f"   series: {len(series)} months, every month ties: {all(r['ties'] for r in series)}")
    _read("MRR series, 24 months", lambda: kpis.mrr_series(first, today))

    user = get_user_model().objects.create_user(username="bench-finance", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/kpis/")
    print(f"   GET /api/v1/kpis/: HTTP {response.status_code}, {len(response.content):,} bytes")

    def api() -> None:
        r = client.get("/api/v1/kpis/")
        assert r.status_code == 200, r.status_code

    if response.status_code == 200:
        _read("KPI API GET /api/v1/kpis/", api)
    else:
        print(f"analytics: KPI API not measured (HTTP {response.status_code}: {response.content[:200]!r})")

    started = time.perf_counter()
    mismatches = mrr.verify()
    seconds = time.perf_counter() - started
    print(f"analytics: verify(), {CUSTOMERS:,} customers: {seconds:.1f} s ({CUSTOMERS / seconds:,.0f} customers/s; "
          f"{len(mismatches)} mismatches){_target(seconds < TARGET_VERIFY_S, f'{TARGET_VERIFY_S:.0f} s')}")


# --- entry points ----------------------------------------------------------------------------------

def main() -> None:
    main_for("bench.bench_analytics", os.environ.get("BENCH_ANALYTICS_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
