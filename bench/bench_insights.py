"""Insights: churn risk, recommendations and pricing insights over 10,000 customers.

PostgreSQL only, on a scratch database (BENCH_INSIGHTS_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/revops_bench_insights; dropped at the end unless BENCH_KEEP_DB=1).

Data (bulk_create, a data builder): BENCH_CUSTOMERS (10,000) customers in 3 sizes × 6 industries, each with
an active contract of one of 3 editions plus 0–3 of 4 add-ons (recurring, monthly); one in three has a
contract ending within 90 days (half auto-renewing); one in five has 1–3 overdue invoices; one in two
meters usage (~12 events a customer over 120 days, falling for one in four); a shared support cost per
month allocated by tickets (support volumes for one in three customers); 20,000 decided quotes over the
last year with 1–3 lines each and discounts from 0 to 40 %.

Figures (the first call cold — an empty cache — with its query count, then the median of 3; targets from the issue: the risk table "in a few seconds" at 10,000 customers):
risk_table(limit=50), customer_risk (one customer), top_opportunities(limit=25), recommend_for (one
customer), win_rates by band / product / rep and leakage_by_month over 12 months; query counts printed.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal

from bench.scratch import main_for

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_insights"
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "10000"))
REPEAT = 3


def _build(today: date) -> None:
    import random

    from django.contrib.auth.models import Group, User

    from analytics.models import ServiceCost, SupportVolume
    from billing.models import Invoice, UsageEvent
    from catalog import models as cm
    from contracts.models import Contract, ContractLine
    from customers.models import Customer
    from quotes.models import Quote, QuoteLine
    from revops.kernel.dates import add_months

    rng = random.Random(7)
    reps = [User.objects.create_user(username=f"bench-rep-{i}") for i in range(8)]
    for r in reps:
        r.groups.add(Group.objects.get(name="sales_rep"))
    meter = cm.Meter.objects.create(code="bench-api", name="API calls")
    book = cm.PriceBook.objects.create(name="Bench USD", currency="USD", is_default=True)
    products = [cm.Product.objects.create(sku=f"B-{i}", name=f"Bench product {i}", kind="recurring",
                                          recognition="ratable", ssp=Decimal(50)) for i in range(7)]
    prices = [cm.Price.objects.create(product=p, price_book=book, model="per_unit", currency="USD",
                                      unit_amount=Decimal(50)) for p in products]
    sizes, industries = ["smb", "mid_market", "enterprise"], ["software", "retail", "media", "fintech", "health", "edu"]
    customers = Customer.objects.bulk_create(
        [Customer(name=f"IN customer {i:05d}", currency="USD", size=sizes[i % 3], industry=industries[i % 6],
                  owner=reps[i % 8]) for i in range(CUSTOMERS)], batch_size=2000)
    contracts, lines = [], []
    for i, c in enumerate(customers):
        ends_soon = i % 3 == 0
        end = today + timedelta(days=rng.randint(5, 85)) if ends_soon else today + timedelta(days=200)
        contracts.append(Contract(number=f"BC-{i:06d}", customer=c, currency="USD", status="active",
                                  start_date=end - timedelta(days=364), end_date=end, auto_renew=ends_soon and i % 2 == 0))
    Contract.objects.bulk_create(contracts, batch_size=2000)
    for i, k in enumerate(contracts):
        held = [i % 3] + rng.sample(range(3, 7), k=rng.randint(0, 3))
        for item, p in enumerate(held, start=1):
            lines.append(ContractLine(contract=k, item=item, product=products[p], price=prices[p], quantity=Decimal(10),
                                      unit_price=Decimal(50), amount=Decimal(500), period="month", billing_frequency="month",
                                      start_date=k.start_date, end_date=k.end_date))
    ContractLine.objects.bulk_create(lines, batch_size=5000)
    invoices = []
    for i, c in enumerate(customers):
        if i % 5 == 0:
            for j in range(1 + i % 3):
                invoices.append(Invoice(customer=c, currency="USD", status="issued", number=f"BI-{i}-{j}",
                                        issue_date=today - timedelta(days=60 + j * 20), due_date=today - timedelta(days=30 + j * 20),
                                        subtotal=Decimal(500), tax=Decimal(0), total=Decimal(500), amount_due=Decimal(500)))
    Invoice.objects.bulk_create(invoices, batch_size=2000)
    events = []
    for i, c in enumerate(customers):
        if i % 2:
            continue
        falling = i % 4 == 0
        for d in range(0, 120, 10):
            n = 1 if (falling and d < 30) else 3
            for e in range(n):
                events.append(UsageEvent(customer=c, meter=meter, value=Decimal(1), idempotency_key=f"{i}-{d}-{e}",
                                         timestamp=datetime.combine(today - timedelta(days=d), dtime(12), tzinfo=UTC)))
    UsageEvent.objects.bulk_create(events, batch_size=10000)
    first = add_months(today.replace(day=1), -3)
    for m in range(4):
        month = add_months(first, m)
        ServiceCost.objects.create(period=month, category="support", amount=Decimal(50000), currency="USD",
                                   driver="tickets")
        SupportVolume.objects.bulk_create([SupportVolume(customer=c, period=month, tickets=1 + i % 4)
                                           for i, c in enumerate(customers) if i % 3 == 0], batch_size=5000)
    quotes, qlines = [], []
    for n in range(20_000):
        c = customers[rng.randrange(len(customers))]
        status = rng.choice(["accepted", "accepted", "rejected", "expired"])
        day = today - timedelta(days=rng.randint(1, 360))
        q = Quote(number=f"BQ-{n:06d}", customer=c, owner=c.owner, currency="USD", price_book=book, status=status,
                  start_date=day, valid_until=day, accepted_at=datetime.combine(day, dtime(12), tzinfo=UTC)
                  if status == "accepted" else None,
                  declined_at=datetime.combine(day, dtime(12), tzinfo=UTC) if status == "rejected" else None)
        quotes.append(q)
        disc = Decimal(rng.choice([0, 3, 7, 12, 18, 25, 35, 40]))
        for j in range(rng.randint(1, 3)):
            lst = Decimal(6000)
            qlines.append((q, products[(n + j) % 7], prices[(n + j) % 7], lst, lst * (1 - disc / 100)))
    Quote.objects.bulk_create(quotes, batch_size=5000)
    QuoteLine.objects.bulk_create([QuoteLine(quote=q, product=p, price=pr, quantity=Decimal(10), billing_period="month",
                                             list_amount=lst, amount=net) for q, p, pr, lst, net in qlines],
                                  batch_size=5000)
    print(f"   built {CUSTOMERS:,} customers, {len(lines):,} contract lines, {len(invoices):,} overdue invoices, "
          f"{len(events):,} usage events, {len(quotes):,} quotes / {len(qlines):,} lines")


def _time(label: str, fn) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cache.clear()  # the first call is cold (other insights cache; risk's support shares read the stored cost split)
    with CaptureQueriesContext(connection) as ctx:
        started = time.perf_counter()
        fn()
        cold = time.perf_counter() - started
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    print(f"insights: {label}: cold {cold * 1000:,.0f} ms ({len(ctx.captured_queries)} queries), then median "
          f"{statistics.median(runs) * 1000:,.0f} ms over {REPEAT}")


def _bench() -> None:
    from django.utils import timezone

    from analytics.services import churn_risk, pricing_insights, recommendations
    from customers.models import Customer
    from revops.kernel.dates import add_months

    today = timezone.localdate()
    started = time.perf_counter()
    _build(today)
    print(f"   (data built in {time.perf_counter() - started:.1f} s)")
    some = Customer.objects.order_by("pk").values_list("pk", flat=True)[CUSTOMERS // 2]
    first = add_months(today.replace(day=1), -11)
    _time("risk_table(limit=50)", lambda: churn_risk.risk_table(day=today, limit=50))
    _time("customer_risk (one customer)", lambda: churn_risk.customer_risk(customer_id=some, day=today))
    _time("top_opportunities(limit=25)", lambda: recommendations.top_opportunities(day=today, limit=25))
    _time("recommend_for (one customer)", lambda: recommendations.recommend_for(customer_id=some, day=today))
    for by in ("band", "product", "rep"):
        _time(f"win_rates(by={by}), 12 months", lambda by=by: pricing_insights.win_rates(by=by, first=first, last=today))
    _time("leakage_by_month, 12 months", lambda: pricing_insights.leakage_by_month(first=first, last=today))


def main() -> None:
    main_for("bench.bench_insights", os.environ.get("BENCH_INSIGHTS_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
