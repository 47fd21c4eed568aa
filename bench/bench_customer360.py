"""Customer 360: the customer page (and the 360 API) for a busy customer, on a scratch PostgreSQL database.

PostgreSQL only. The benchmark creates a scratch database, BENCH_C360_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/revops_bench_customer360: dropped and created again, dropped at the end
unless BENCH_KEEP_DB=1), and skips with the reason printed when PostgreSQL is not reachable. Under
`python -m bench` the figures are taken in a child process (`python -m bench.bench_customer360`).

Data (bulk_create, a data builder, not the services): BENCH_C360_CUSTOMERS (10,000) ordinary customers, each
with a contract, two invoices with their events, a payment and an MRR movement, so the company-wide reads
behind health, offers and margin have something to chew on; and one busy customer with BENCH_C360_BUSY (200)
quotes (5 events each), 100 contracts (3 events each, 10 ending within the renewal window, one with a usage
line and 5,000 usage events this month), 1,000 invoices (4 events each), 500 payments, 50 credit notes,
100 alerts and 300 comments with a mention.

Figures: GET /customers/<id>/ (the 360 page) as finance and as a sales rep, and GET
/api/v1/customers/<id>/360/ as finance: median of 5 (target under 300 ms), with the query count and the
slowest query.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from bench.scratch import main_for

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_customer360"
CUSTOMERS = int(os.environ.get("BENCH_C360_CUSTOMERS", "10000"))
BUSY = int(os.environ.get("BENCH_C360_BUSY", "200"))
REPEAT = 5
TARGET_MS = 300.0


def _at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _build(today: date) -> int:
    """The scratch data; returns the busy customer's id."""
    from django.contrib.auth import get_user_model

    from analytics.models import Alert, AlertRule, MrrMovement
    from billing.models import CreditNote, Invoice, InvoiceEvent, Payment, UsageEvent
    from catalog import models as cm
    from contracts.models import Contract, ContractEvent, ContractLine
    from customers.models import Customer, CustomerComment
    from quotes.models import Quote, QuoteEvent

    user = get_user_model().objects.create_user("bench-finance", password="x")
    book = cm.PriceBook.objects.create(name="Bench USD", currency="USD", is_default=True)
    seats = cm.Product.objects.create(sku="C360-SEATS", name="Seats", kind="recurring", recognition="ratable",
                                      ssp=Decimal("30"), unit_cost=Decimal("4"))
    meter = cm.Meter.objects.create(code="c360-calls", name="API calls", aggregation="sum", field="n", unit="calls")
    usage = cm.Product.objects.create(sku="C360-API", name="API calls", kind="usage", recognition="usage", meter=meter)
    price = cm.Price.objects.create(product=usage, price_book=book, model="graduated", currency="USD")
    cm.PriceTier.objects.bulk_create([cm.PriceTier(price=price, up_to=100_000, unit_amount=Decimal(0)),
                                      cm.PriceTier(price=price, up_to=None, unit_amount=Decimal("0.001"))])
    sizes, regions = ["smb", "mid_market", "enterprise"], ["na", "emea", "apac"]
    customers = Customer.objects.bulk_create(
        [Customer(name=f"C360 customer {i:05d}", external_id=f"C360-{i:06d}", currency="USD", country="US",
                  size=sizes[i % 3], region=regions[i % 3], industry="software", acquisition_channel="inbound")
         for i in range(CUSTOMERS + 1)], batch_size=2000)
    busy = customers[0]
    start = today.replace(day=1) - timedelta(days=365)

    contracts = Contract.objects.bulk_create(
        [Contract(number=f"C360-K-{i:06d}", customer=c, currency="USD", status="active", start_date=start,
                  end_date=start + timedelta(days=729), mrr=Decimal("300.00"), arr=Decimal("3600.00"))
         for i, c in enumerate(customers[1:])], batch_size=2000)
    ContractLine.objects.bulk_create(
        [ContractLine(contract=k, item=1, product=seats, quantity=10, unit_price=Decimal("30"), amount=Decimal("300"),
                      period="month", billing_frequency="month", start_date=k.start_date, end_date=k.end_date)
         for k in contracts], batch_size=2000)
    MrrMovement.objects.bulk_create(
        [MrrMovement(customer=c, date=start, currency="USD", kind="new", amount=Decimal("300.00"), mrr_before=0,
                     mrr_after=Decimal("300.00"), amount_reporting=Decimal("300.00")) for c in customers],
        batch_size=2000)
    invoices = Invoice.objects.bulk_create(
        [Invoice(number=f"C360-I-{i:07d}", customer=c, currency="USD", status="paid" if n else "issued",
                 issue_date=today - timedelta(days=30 * (n + 1)), due_date=today - timedelta(days=30 * n),
                 subtotal=Decimal("300.00"), total=Decimal("300.00"), amount_paid=Decimal("300.00") if n else 0,
                 amount_due=0 if n else Decimal("300.00"))
         for i, (c, n) in enumerate((c, n) for c in customers[1:] for n in range(2))], batch_size=2000)
    InvoiceEvent.objects.bulk_create([InvoiceEvent(invoice=inv, kind="issued", detail=inv.number) for inv in invoices],
                                     batch_size=2000)
    Payment.objects.bulk_create(
        [Payment(customer=c, amount=Decimal("300.00"), amount_allocated=Decimal("300.00"), currency="USD",
                 received_at=_at(today - timedelta(days=20))) for c in customers[1:]], batch_size=2000)

    # the busy one
    quotes = Quote.objects.bulk_create(
        [Quote(number=f"C360-Q-{i:05d}", customer=busy, owner=user, currency="USD", price_book=book,
               status=["draft", "sent", "accepted", "expired"][i % 4], start_date=today, valid_until=today,
               mrr=Decimal("100.00"), tcv=Decimal("1200.00")) for i in range(BUSY)])
    QuoteEvent.objects.bulk_create([QuoteEvent(quote=q, kind=k, actor=user) for q in quotes
                                    for k in ("created", "line_added", "submitted", "approved", "sent")])
    mine = Contract.objects.bulk_create(
        [Contract(number=f"C360-B-{i:05d}", customer=busy, currency="USD",
                  status="active" if i < 30 else "expired", start_date=start,
                  end_date=today + timedelta(days=30 + i) if i < 10 else start + timedelta(days=729),
                  mrr=Decimal("100.00"), arr=Decimal("1200.00"), auto_renew=bool(i % 2)) for i in range(100)])
    ContractEvent.objects.bulk_create([ContractEvent(contract=k, kind=e, actor=user) for k in mine
                                       for e in ("created", "activated", "amended")])
    ContractLine.objects.create(contract=mine[0], item=2, product=usage, price=price, quantity=0, unit_price=0,
                                amount=0, period="usage", billing_frequency="month", start_date=mine[0].start_date,
                                end_date=mine[0].end_date)
    UsageEvent.objects.bulk_create(
        [UsageEvent(customer_id=busy.pk, meter_id=meter.pk, timestamp=_at(today.replace(day=1), hour=i % 24),
                    value=Decimal(30), idempotency_key=f"c360-{i}") for i in range(5000)], batch_size=5000)
    busy_invoices = Invoice.objects.bulk_create(
        [Invoice(number=f"C360-BI-{i:05d}", customer=busy, currency="USD",
                 status="issued" if i % 5 == 0 else "paid", issue_date=today - timedelta(days=i),
                 due_date=today - timedelta(days=i - 30), subtotal=Decimal("100.00"), total=Decimal("100.00"),
                 amount_paid=0 if i % 5 == 0 else Decimal("100.00"), amount_due=Decimal("100.00") if i % 5 == 0 else 0)
         for i in range(1000)])
    InvoiceEvent.objects.bulk_create([InvoiceEvent(invoice=inv, kind=k, detail=inv.number) for inv in busy_invoices
                                      for k in ("created", "approved", "issued", "dunning")])
    Payment.objects.bulk_create([Payment(customer=busy, amount=Decimal("100.00"), currency="USD",
                                         received_at=_at(today - timedelta(days=i % 365))) for i in range(500)])
    CreditNote.objects.bulk_create([CreditNote(number=f"C360-CN-{i:04d}", invoice=busy_invoices[i], customer=busy,
                                               currency="USD", reason="bench", total=Decimal("10.00"))
                                    for i in range(50)])
    rule = AlertRule.objects.create(name="Bench usage", kpi="customer_usage", condition="below",
                                    threshold=Decimal(1), notify_group="finance")
    Alert.objects.bulk_create([Alert(rule=rule, customer=busy, subject_key=f"b{i}", triggered_at=_at(today - timedelta(
        days=i)), value=Decimal(1), message="bench", cleared_at=_at(today) if i else None) for i in range(100)])
    comments = CustomerComment.objects.bulk_create(
        [CustomerComment(customer=busy, author=user, body=f"note {i} @{user.username}") for i in range(300)])
    CustomerComment.mentions.through.objects.bulk_create(
        [CustomerComment.mentions.through(customercomment_id=c.pk, user_id=user.pk) for c in comments])
    return busy.pk


def _median_ms(fn) -> float:
    durations = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations)


def _queries(fn) -> str:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        fn()
    captured = ctx.captured_queries
    total = sum(float(q["time"]) for q in captured) * 1000
    slowest = max(captured, key=lambda q: float(q["time"]))
    sql = " ".join(slowest["sql"].split())
    sql = sql if len(sql) <= 200 else sql[:200] + " …"
    return (f"{len(captured)} queries, {total:,.0f} ms in the database; slowest {float(slowest['time']) * 1000:,.0f} "
            f"ms: {sql}")


def _bench() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from revops.kernel import roles

    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")
    started = time.perf_counter()
    busy = _build(timezone.localdate())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"   (built in {time.perf_counter() - started:.1f} s: {CUSTOMERS:,} customers + one busy one)")

    for role, path in ((roles.FINANCE, f"/customers/{busy}/"), (roles.SALES_REP, f"/customers/{busy}/"),
                       (roles.FINANCE, f"/api/v1/customers/{busy}/360/")):
        user = get_user_model().objects.create_user(f"bench-{role}-{len(path)}", password="x")
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)

        def get(client=client, path=path) -> None:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status_code}")

        get()  # warm up
        ms = _median_ms(get)
        verdict = "under" if ms < TARGET_MS else "OVER"
        print(f"customer 360: GET {path} as {role}: {ms:,.0f} ms median of {REPEAT} ({verdict} the "
              f"{TARGET_MS:.0f} ms target)")
        print(f"   {_queries(get)}")


def main() -> None:
    main_for("bench.bench_customer360", os.environ.get("BENCH_C360_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
