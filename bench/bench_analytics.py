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
- MRR series: `kpis.mrr_series` over 24 months, and GET /api/v1/kpis/mrr/?from=&to= (24 months, monthly)
  through Django's test client, median of 5 each (target under 200 ms); the customers, ARPA, new-MRR and
  NRR series over 24 months (`kpi_series.kpi_series`) for comparison;
- KPI API: GET /api/v1/kpis/ through Django's test client as a finance user, median of 5 (target
  under 200 ms);
- verify: `verify()` over all customers (target under 60 s);
- event-to-dashboard delay (target under 2 s): a real Celery worker (`celery -A revops worker`, a child
  process on the scratch database, its own queue) and the dashboard's SSE stream served over HTTP by a
  threaded WSGI server (as runserver or gunicorn gthread would); an invoice is issued or a payment
  recorded and committed, the outbox task goes through the broker to the worker, which delivers the events
  (the MRR rollup, the journal, alerts, then the `analytics.live` bump); the time is taken until the open
  stream emits the new version. Broker: BENCH_BROKER_URL, else redis://127.0.0.1:6379/0, else
  amqp://guest:guest@127.0.0.1:5672//; skipped with the reason when none answers. BENCH_DELAY_SAMPLES (10).
  BENCH_ANALYTICS_ONLY=delay skips the other figures (and builds only BENCH_CUSTOMERS customers).
For each read the query count and the slowest query (captured once, untimed) are printed.
"""
from __future__ import annotations

import os
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

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
    if os.environ.get("BENCH_ANALYTICS_ONLY") == "delay":
        _bench_delay(customer_ids)
        return

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
    _read("MRR series, 24 months (kpis.mrr_series)", lambda: kpis.mrr_series(first, today))

    user = get_user_model().objects.create_user(username="bench-finance", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="finance"))
    client = Client()
    client.force_login(user)

    def get(url: str):
        def call() -> None:
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code, r.content[:200])
        return call

    response = client.get("/api/v1/kpis/")
    print(f"   GET /api/v1/kpis/: HTTP {response.status_code}, {len(response.content):,} bytes")
    if response.status_code == 200:
        _read("KPI API GET /api/v1/kpis/", get("/api/v1/kpis/"))
    else:
        print(f"analytics: KPI API not measured (HTTP {response.status_code}: {response.content[:200]!r})")

    window = f"from={first.isoformat()[:7]}&to={today.isoformat()}&interval=month"
    mrr_url = f"/api/v1/kpis/mrr/?{window}"
    response = client.get(mrr_url)
    if response.status_code == 200:
        body = response.json()
        print(f"   GET {mrr_url}: {len(body['points'])} points, MRR {body['value']} {body['currency']}")
        _read("MRR series, 24 months, via the API (GET /api/v1/kpis/mrr/)", get(mrr_url))
    else:
        print(f"analytics: MRR series API not measured (HTTP {response.status_code}: {response.content[:200]!r})")
    from analytics.services import kpi_series

    for name in ("customers", "arpa", "new_mrr", "nrr"):  # the other series, for comparison (no target of their own)
        _read(f"{name} series, 24 months (kpi_series)", lambda name=name: kpi_series.kpi_series(name, first, today))

    started = time.perf_counter()
    mismatches = mrr.verify()
    seconds = time.perf_counter() - started
    print(f"analytics: verify(), {CUSTOMERS:,} customers: {seconds:.1f} s ({CUSTOMERS / seconds:,.0f} customers/s; "
          f"{len(mismatches)} mismatches){_target(seconds < TARGET_VERIFY_S, f'{TARGET_VERIFY_S:.0f} s')}")
    _bench_delay(customer_ids)


# --- event-to-dashboard delay ----------------------------------------------------------------------

TARGET_DELAY_S = 2.0
BROKERS = ("redis://127.0.0.1:6379/0", "amqp://guest:guest@127.0.0.1:5672//")


def _broker() -> str | None:
    """The first broker that answers (BENCH_BROKER_URL first)."""
    from kombu import Connection

    for url in filter(None, (os.environ.get("BENCH_BROKER_URL"), *BROKERS)):
        try:
            with Connection(url, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            return url
        except Exception:  # noqa: BLE001, S112 - not reachable: try the next one
            continue
    return None


class _StreamReader:
    """An open `GET /analytics/stream/` over a plain socket (HTTP/1.1, the server closes at the end: no
    chunking); a thread notes when each `id:` line arrives."""

    def __init__(self, port: int, cookie: str):
        import queue
        import socket
        import threading

        self.ids: queue.Queue = queue.Queue()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.sendall(f"GET /analytics/stream/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                          "Accept: text/event-stream\r\n\r\n".encode())
        self.lines = self.sock.makefile("rb")
        status = self.lines.readline().decode()
        assert " 200 " in status, status
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for raw in self.lines:
                line = raw.decode().strip()
                if line.startswith("id: "):
                    self.ids.put((time.perf_counter(), line[4:]))
        except Exception:  # noqa: BLE001 - the connection is closed at the end of the benchmark
            return

    def next_change(self, after: str, timeout: float, *, event_at_least: int = 0) -> tuple[float, str] | None:
        """The first version other than `after` whose outbox part is at least `event_at_least`."""
        import queue

        deadline = time.perf_counter() + timeout
        while (left := deadline - time.perf_counter()) > 0:
            try:
                at, version = self.ids.get(timeout=left)
            except queue.Empty:
                return None
            if version != after and int(version.split(".")[0]) >= event_at_least:
                return at, version
        return None

    def close(self) -> None:
        import socket

        self.sock.shutdown(socket.SHUT_RDWR)  # the reading file holds the socket too: shut it, not only close
        self.sock.close()


def _serve_wsgi():
    """The project's WSGI app on a free local port, one thread per request (like runserver)."""
    import threading

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet)
    server.set_app(get_wsgi_application())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _start_worker(broker: str, queue_name: str):
    import subprocess
    import sys

    from django.db import connection

    env = {**os.environ, "CELERY_BROKER_URL": broker, "CELERY_TASK_DEFAULT_QUEUE": queue_name,
           "DJANGO_SETTINGS_MODULE": "revops.settings.dev", "DEBUG": "0", "LOG_LEVEL": "WARNING",
           "DATABASE_URL": os.environ["DATABASE_URL"]}
    assert connection.settings_dict["NAME"] in env["DATABASE_URL"]
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "revops", "worker", "--pool", "solo",
                             "-Q", queue_name, "-l", "WARNING", "--without-gossip", "--without-mingle",
                             "--without-heartbeat"], env=env, cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _bench_delay(customer_ids: list[int]) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from analytics.stream import live_version
    from billing.models import Invoice, InvoiceLine
    from billing.services import invoices, payments
    from customers.models import Customer
    from revops.celery import app
    from revops.kernel.models import OutboxEvent

    broker = _broker()
    if broker is None:
        print("analytics: event-to-dashboard delay skipped: no broker answers "
              f"({', '.join(BROKERS)}; set BENCH_BROKER_URL)")
        return
    from django.conf import settings

    # a closed stream's server thread notices at its next write: keep-alives every 0.5 s end it quickly
    settings.REVOPS_ANALYTICS_STREAM_KEEPALIVE = 0.5
    settings.REVOPS_ANALYTICS_STREAM_POLL = getattr(settings, "REVOPS_ANALYTICS_STREAM_POLL", 0.5)
    queue_name = f"bench-analytics-{os.getpid()}"
    # From here the outbox task goes to the broker, as in production, instead of running in this process.
    app.conf.update(broker_url=broker, task_always_eager=False, task_default_queue=queue_name)
    worker = _start_worker(broker, queue_name)
    server = _serve_wsgi()
    reader = None
    try:
        user = get_user_model().objects.create_user(username="bench-live", password="x")
        user.groups.add(Group.objects.get(name="finance"))
        client = Client()
        client.force_login(user)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        reader = _StreamReader(server.server_port, cookie)
        first = reader.next_change("", 10)
        assert first is not None, "the stream sent no first event"
        version = first[1]
        customer = Customer.objects.filter(pk__in=customer_ids, currency="USD").order_by("pk").first()

        def issue_invoice() -> None:
            invoice = Invoice.objects.create(customer=customer, currency="USD", status="approved",
                                             subtotal=Decimal("100.00"), tax=Decimal(0), total=Decimal("100.00"),
                                             amount_due=Decimal("100.00"))
            InvoiceLine.objects.create(invoice=invoice, kind="one_time", description="Bench", quantity=Decimal(1),
                                       unit_price=Decimal("100.00"), amount=Decimal("100.00"))
            invoices.invoice_issue(invoice_id=invoice.pk, render_pdf=False)

        def record_payment() -> None:
            payments.payment_record(customer=customer, amount="40.00", currency="USD", by=user)

        # warm-up: the worker's start (imports, connections) is not what a running system pays per event
        record_payment()
        warm = reader.next_change(version, 90)
        if warm is None:
            print(f"analytics: event-to-dashboard delay not measured: the worker delivered nothing in 90 s "
                  f"({worker.poll() and worker.stderr.read().decode()[-800:]})")
            return
        version = warm[1]
        while (more := reader.next_change(version, 1.5)) is not None:  # the rest of the warm-up's events
            version = more[1]
        delays = []
        rng = random.Random(7)
        for i in range(int(os.environ.get("BENCH_DELAY_SAMPLES", "10"))):
            # out of step with the stream's polls, as a real event would be (else every sample starts just
            # after a poll and waits a whole interval)
            time.sleep(rng.uniform(0, float(settings.REVOPS_ANALYTICS_STREAM_POLL)))
            started = time.perf_counter()
            (issue_invoice if i % 2 == 0 else record_payment)()
            # done when every subscriber has had the newest event: the live bump comes last in a drain
            newest = OutboxEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
            change = reader.next_change(version, 30, event_at_least=newest)
            if change is None:
                print(f"   sample {i}: no change within 30 s")
                continue
            delays.append(change[0] - started)
            version = change[1]
        print(f"   stream version at the end: {live_version()} (last seen {version})")
        if delays:
            worst = max(delays)
            print(f"analytics: event-to-dashboard delay (commit → SSE event, Celery worker via {broker.split(':')[0]}, "
                  f"stream polling every {settings.REVOPS_ANALYTICS_STREAM_POLL} s, "
                  f"{len(delays)} invoices/payments): median {statistics.median(delays) * 1000:,.0f} ms, "
                  f"max {worst * 1000:,.0f} ms{_target(worst < TARGET_DELAY_S, f'{TARGET_DELAY_S:.0f} s')}")
    finally:
        if reader is not None:
            reader.close()
            time.sleep(1.5)  # the stream's thread writes, fails, ends and closes its database connection
        server.shutdown()
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except Exception:  # noqa: BLE001 - a stuck worker is killed
            worker.kill()


# --- entry points ----------------------------------------------------------------------------------

def main() -> None:
    main_for("bench.bench_analytics", os.environ.get("BENCH_ANALYTICS_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
