"""Billing: usage ingest (in process and over HTTP under gunicorn), a bill run of 10,000 contracts with
one and two workers, and the invoice PDF.

PostgreSQL only (the ingest path, the row locks and the partitioned events table are what is measured).
The benchmark creates a scratch database, BENCH_BILLING_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/revops_bench_billing: dropped and created again, dropped at the
end unless BENCH_KEEP_DB=1), and skips with the reason printed when PostgreSQL is not reachable. Under
`python -m bench` the figures are taken in a child process (`python -m bench.bench_billing`) that owns
the scratch database; helper processes (gunicorn, chunk workers, PDF renderers) are its children.

Figures:
- usage ingest in process: `usage_ingest` batches of 10,000 events (the COPY path), events/s;
- usage ingest over HTTP: POST /api/v1/usage-events/ under gunicorn (2 sync workers, 127.0.0.1), batches
  of BENCH_HTTP_BATCH (5,000) events with fresh idempotency keys from 3 client threads for
  BENCH_HTTP_SECONDS (15 s; 0 skips it): events/s sustained (target >= 20,000/s), p50/p99 batch latency;
- bill run: BENCH_CONTRACTS (10,000) active monthly contracts (a seat line and a graduated usage line,
  BENCH_EVENTS_PER_CONTRACT events each) billed to approved invoices (3 lines each: two months in
  advance, last month's usage in arrears, 10 % tax): one worker in process (eager tasks, as
  `make run`), then two worker processes on disjoint chunks (target: under 60 s with one);
  BENCH_PROFILE=1 adds a cProfile of one chunk;
- invoice PDF, 10 lines: median ms (target < 400 ms) and PDFs/s from 2 processes.
Other processes on the machine move these figures a lot (the 2 cores are shared with PostgreSQL):
compare runs taken on a quiet machine.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_billing"
CONTRACTS = int(os.environ.get("BENCH_CONTRACTS", "10000"))
EVENTS_PER_CONTRACT = int(os.environ.get("BENCH_EVENTS_PER_CONTRACT", "20"))
HTTP_SECONDS = float(os.environ.get("BENCH_HTTP_SECONDS", "15"))
HTTP_BATCH = int(os.environ.get("BENCH_HTTP_BATCH", "5000"))
HTTP_CLIENTS = int(os.environ.get("BENCH_HTTP_CLIENTS", "3"))
PDF_RUNS = 7
PDF_SECONDS = 8.0
INGEST_BATCH = 10_000


def _target(ok: bool, text: str) -> str:
    return "" if ok else f"  OVER the {text} target"


# --- scratch data ----------------------------------------------------------------------------------

def _catalog():
    from billing.models import FinanceApprovalRule, TaxRate
    from catalog import models as cm

    book = cm.PriceBook.objects.create(name="Bench USD", currency="USD", is_default=True)
    meter = cm.Meter.objects.create(code="bench-api-calls", name="API calls", aggregation="count", unit="calls")
    seats = cm.Product.objects.create(sku="BENCH-SEATS", name="Platform seats", kind="recurring",
                                      recognition="ratable", ssp=Decimal("10"))
    api = cm.Product.objects.create(sku="BENCH-API", name="API calls", kind="usage", recognition="usage", meter=meter)
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="USD",
                            unit_amount=Decimal("10"))
    api_price = cm.Price.objects.create(product=api, price_book=book, model="graduated", currency="USD")
    cm.PriceTier.objects.create(price=api_price, up_to=10, unit_amount=Decimal("0.10"))
    cm.PriceTier.objects.create(price=api_price, up_to=None, unit_amount=Decimal("0.05"))
    TaxRate.objects.create(name="US sales tax", country="US", percent=Decimal("10"))
    # The demo's rules: neither holds these invoices, but both are evaluated for each one.
    FinanceApprovalRule.objects.create(name="Large invoice", condition="total_above", threshold=Decimal("25000"))
    FinanceApprovalRule.objects.create(name="Invoices with a credit", condition="has_credit")
    return seats, api, api_price, meter


def _contracts(n: int, start: date, seats, api, api_price) -> list[int]:
    """n active monthly contracts written directly (bulk), each with a seat line and a usage line."""
    from contracts.models import Contract, ContractLine
    from customers.models import Customer
    from revops.kernel.dates import term_end

    end = term_end(start, 12)
    customers = Customer.objects.bulk_create(
        [Customer(name=f"Bench customer {i}", external_id=f"BENCH-{i:06d}", currency="USD", country="US",
                  billing_email=f"ap{i}@bench.example") for i in range(n)], batch_size=2000)
    contracts = Contract.objects.bulk_create(
        [Contract(number=f"BENCH-C-{i:06d}", customer=c, currency="USD", status="active", start_date=start,
                  end_date=end, billing_frequency="month") for i, c in enumerate(customers)], batch_size=2000)
    lines = []
    for i, c in enumerate(contracts):
        qty = Decimal(1 + i % 20)
        lines.append(ContractLine(contract=c, item=1, product=seats, quantity=qty, unit_price=Decimal("10.00"),
                                  amount=qty * 10, period="month", billing_frequency="month", start_date=start,
                                  end_date=end))
        lines.append(ContractLine(contract=c, item=2, product=api, price=api_price, quantity=1, unit_price=0,
                                  amount=0, period="usage", billing_frequency="month", start_date=start,
                                  end_date=end))
    ContractLine.objects.bulk_create(lines, batch_size=5000)
    return [c.customer_id for c in contracts]


def _event_batches(customer_ids: list[int], per_customer: int, first_day: date, days: int, prefix: str):
    """Batches of INGEST_BATCH events: `per_customer` per customer spread over `days` days."""
    base = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    span = days * 86400
    batch = []
    for k, cid in enumerate(customer_ids):
        for j in range(per_customer):
            ts = base + timedelta(seconds=(k * 7919 + j * 104729) % span)
            batch.append({"customer": cid, "meter": "bench-api-calls", "timestamp": ts.isoformat(),
                          "idempotency_key": f"{prefix}-{cid}-{j}"})
            if len(batch) == INGEST_BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


# --- usage ingest -----------------------------------------------------------------------------------

def _ingest_in_process(customer_ids: list[int], last_month: date) -> None:
    from billing.services.usage import usage_ingest

    batches = list(_event_batches(customer_ids, EVENTS_PER_CONTRACT, last_month,
                                  (last_month.replace(day=28) - last_month).days + 1, "bench"))
    total = accepted = 0
    started = time.perf_counter()
    for batch in batches:
        result = usage_ingest(batch)
        total += len(batch)
        accepted += result.accepted
    seconds = time.perf_counter() - started
    print(f"usage ingest in process: {total / seconds:,.0f} events/s ({total:,} events in batches of "
          f"{INGEST_BATCH:,}, {seconds:.1f} s, {accepted:,} accepted)")
    started = time.perf_counter()
    again = usage_ingest(batches[0])
    print(f"   a retried batch of {len(batches[0]):,}: {again.duplicates:,} duplicates, {again.accepted} accepted, "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api_token() -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    user = User.objects.create_superuser("bench-admin", "bench@example.com", None)
    return Token.objects.create(user=user).key


def _ingest_over_http(customer_ids: list[int]) -> None:
    from billing.services.usage import MAX_BATCH

    if HTTP_SECONDS <= 0:
        print("usage ingest over HTTP: skipped (BENCH_HTTP_SECONDS=0)")
        return
    if not (ROOT / "billing" / "api.py").exists():
        print("usage ingest over HTTP: skipped (billing/api.py, POST /api/v1/usage-events/, does not exist yet)")
        return
    token = _api_token()
    port = _free_port()
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "0", "LOG_LEVEL": "WARNING"}
    gunicorn = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "revops.wsgi:application", "--workers", "2",
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for_port(port, gunicorn)
        _http_load(port, token, customer_ids, min(HTTP_BATCH, MAX_BATCH))
    finally:
        gunicorn.terminate()
        try:
            gunicorn.wait(timeout=15)
        except subprocess.TimeoutExpired:
            gunicorn.kill()
            gunicorn.wait()
        errors = gunicorn.stderr.read().decode(errors="replace").strip() if gunicorn.stderr else ""
        if errors:
            print(f"   gunicorn said: {errors[-600:]}")


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start listening")


def _http_load(port: int, token: str, customer_ids: list[int], batch_size: int) -> None:
    """Clients post pre-encoded batches (encoding is not what is measured) back to back."""
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    now = datetime.now(UTC).replace(microsecond=0)
    stamp = (now - timedelta(minutes=5)).isoformat()
    per_second = 40_000  # encode enough for 40k events/s for the whole duration, plus the warm-up
    n_batches = int(per_second * HTTP_SECONDS / batch_size) + 2 * HTTP_CLIENTS
    bodies: list[bytes] = []
    for b in range(n_batches):
        events = [{"customer": customer_ids[(b * batch_size + i) % len(customer_ids)], "meter": "bench-api-calls",
                   "timestamp": stamp, "idempotency_key": f"http-{b}-{i}"} for i in range(batch_size)]
        bodies.append(json.dumps(events).encode())  # the body is a JSON array of events
    # One batch first, to check the contract of the endpoint and warm both workers up.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/api/v1/usage-events/", body=bodies.pop(), headers=headers)
    first = conn.getresponse()
    reply = first.read()
    conn.close()
    if first.status >= 300:
        print(f"usage ingest over HTTP: the endpoint answered {first.status}: {reply[:300]!r}")
        return
    counts = json.loads(reply)
    if counts.get("accepted") != batch_size:
        print(f"usage ingest over HTTP: the first batch was not accepted whole: {str(counts)[:300]}")
        return

    lock = threading.Lock()
    latencies: list[float] = []
    accepted = [0]
    failures: list[str] = []
    stop_at = time.perf_counter() + HTTP_SECONDS

    def client() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            while time.perf_counter() < stop_at:
                with lock:
                    if not bodies:
                        return
                    body = bodies.pop()
                t0 = time.perf_counter()
                c.request("POST", "/api/v1/usage-events/", body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
                elapsed = time.perf_counter() - t0
                with lock:
                    if r.status >= 300:
                        failures.append(f"{r.status}: {data[:200]!r}")
                        return
                    latencies.append(elapsed)
                    result = json.loads(data)
                    accepted[0] += result["accepted"]
        finally:
            c.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(HTTP_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    sent = len(latencies) * batch_size
    rate = sent / seconds
    if failures:
        print(f"   HTTP failures: {len(failures)}, first: {failures[0]}")
    if not latencies:
        return
    q = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [latencies[0]] * 99
    print(f"usage ingest over HTTP (gunicorn 2 sync workers, {HTTP_CLIENTS} clients, batches of {batch_size:,}): "
          f"{rate:,.0f} events/s sustained over {seconds:.1f} s ({sent:,} events, {accepted[0]:,} accepted)"
          f"{_target(rate >= 20_000, '20,000 events/s')}")
    print(f"   batch latency p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms ({len(latencies)} batches)")


# --- bill run ------------------------------------------------------------------------------------------

def _reset_invoices() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE billing_invoiceline, billing_invoiceevent, billing_invoice, billing_billrunchunk, "
                    "billing_billrunerror, billing_billrun, kernel_outboxevent CASCADE")


def _describe_run(run) -> str:
    statuses = _status_counts(run)
    return (f"{run.invoices_created:,} invoices, {run.lines_created:,} lines, status {run.status}, "
            f"invoices {', '.join(f'{k} {v:,}' for k, v in sorted(statuses.items()))}")


def _status_counts(run) -> dict[str, int]:
    from django.db.models import Count

    from billing.models import Invoice

    return dict(Invoice.objects.filter(bill_run=run).values_list("status").annotate(n=Count("id")))


def _bill_run_one_worker(as_of: date) -> float:
    from billing.services import billrun

    started = time.perf_counter()
    run = billrun.bill_run_create(as_of=as_of)  # eager Celery: plan and every chunk, in this process
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    print(f"bill run, {run.contracts_total:,} contracts, 1 worker (in process): {seconds:.1f} s, "
          f"{run.contracts_total / seconds:,.0f} contracts/s; {_describe_run(run)}{_target(seconds < 60, '60 s')}")
    return seconds


def _bill_run_workers(as_of: date, workers: int, one: float) -> None:
    """Worker processes (started and set up first) take disjoint chunks of one planned run."""
    from billing.services import billrun

    procs = [subprocess.Popen([sys.executable, "-m", "bench.bench_billing", "chunks", str(k), str(workers)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for k in range(workers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    original = billrun._start_async
    billrun._start_async = lambda run_id: None
    try:
        started = time.perf_counter()
        run = billrun.bill_run_create(as_of=as_of)
        billrun.bill_run_plan(run_id=run.pk)
        for p in procs:
            p.stdin.write(f"{run.pk}\n")
            p.stdin.flush()
        busy = [float(p.stdout.readline()) for p in procs]
        seconds = time.perf_counter() - started
    finally:
        billrun._start_async = original
        for p in procs:
            p.wait(timeout=60)
    run.refresh_from_db()
    print(f"bill run, {run.contracts_total:,} contracts, {workers} worker processes: {seconds:.1f} s "
          f"({one / seconds:.2f}× one worker; busy {', '.join(f'{b:.1f}' for b in busy)} s); {_describe_run(run)}")


def _chunk_worker(k: int, n: int) -> None:
    from billing.models import BillRunChunk
    from billing.services import billrun

    print("ready", flush=True)
    run_id = int(sys.stdin.readline())
    started = time.perf_counter()
    ids = BillRunChunk.objects.filter(bill_run_id=run_id).order_by("index").values_list("pk", "index")
    for pk, index in ids:
        if index % n == k:
            billrun.bill_run_chunk(chunk_id=pk)
    print(f"{time.perf_counter() - started:.3f}", flush=True)


def _profile_chunk(as_of: date) -> None:
    import cProfile
    import pstats

    from billing.services import billrun

    original = billrun._start_async
    billrun._start_async = lambda run_id: None
    try:
        run = billrun.bill_run_create(as_of=as_of)
        chunk_ids = billrun.bill_run_plan(run_id=run.pk)
    finally:
        billrun._start_async = original
    profiler = cProfile.Profile()
    profiler.runcall(billrun.bill_run_chunk, chunk_id=chunk_ids[0])
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)


def _queries_per_contract(as_of: date) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.services import billrun

    original = billrun._start_async
    billrun._start_async = lambda run_id: None
    try:
        run = billrun.bill_run_create(as_of=as_of)
        chunk_ids = billrun.bill_run_plan(run_id=run.pk)
    finally:
        billrun._start_async = original
    from billing.models import BillRunChunk

    chunk = BillRunChunk.objects.get(pk=chunk_ids[0])
    with CaptureQueriesContext(connection) as ctx:
        billrun.bill_run_chunk(chunk_id=chunk.pk)
    print(f"   queries: {len(ctx.captured_queries)} for a chunk of {len(chunk.contract_ids)} contracts "
          f"({len(ctx.captured_queries) / len(chunk.contract_ids):.1f} per contract)")


# --- PDF -----------------------------------------------------------------------------------------------

def _pdf_invoice():
    """An issued invoice of 10 lines."""
    from billing.models import Invoice, InvoiceLine, TaxRate
    from billing.services import invoices
    from customers.models import Customer

    customer = Customer.objects.create(name="Bench PDF Customer Ltd", currency="USD", country="US",
                                       address="1 Bench Road\nSpringfield, IL 62701", tax_id="US-123456789",
                                       billing_email="ap@pdf.bench.example")
    rate = TaxRate.objects.get(country="US")
    invoice = Invoice.objects.create(customer=customer, currency="USD", status="approved",
                                     period_start=date(2026, 10, 1), period_end=date(2026, 10, 31))
    lines = [InvoiceLine(invoice=invoice, kind="recurring", description=f"Platform seats, edition {i} "
                         f"(2026-10-01 – 2026-10-31)", quantity=Decimal(5 + i), unit_price=Decimal("12.50"),
                         amount=Decimal("12.50") * (5 + i), period_start=date(2026, 10, 1),
                         period_end=date(2026, 10, 31), tax_rate=rate, tax_percent=rate.percent,
                         tax_amount=(Decimal("1.25") * (5 + i)), position=i + 1) for i in range(10)]
    InvoiceLine.objects.bulk_create(lines)
    invoice.subtotal = sum(x.amount for x in lines)
    invoice.tax = sum(x.tax_amount for x in lines)
    invoice.total = invoice.amount_due = invoice.subtotal + invoice.tax
    invoice.save()
    return invoices.invoice_issue(invoice_id=invoice.pk, render_pdf=False)


def _pdf(invoice_id: int) -> None:
    from billing.models import Invoice
    from billing.services.documents import render_invoice_pdf

    invoice = Invoice.objects.get(pk=invoice_id)
    started = time.perf_counter()
    pdf = render_invoice_pdf(invoice)
    first = (time.perf_counter() - started) * 1000
    durations = []
    for _ in range(PDF_RUNS):
        started = time.perf_counter()
        render_invoice_pdf(invoice)
        durations.append((time.perf_counter() - started) * 1000)
    ms = statistics.median(durations)
    print(f"invoice PDF, 10 lines: {ms:.0f} ms median of {PDF_RUNS} (first render {first:.0f} ms), "
          f"{len(pdf) / 1024:.0f} KiB{_target(ms < 400, '400 ms')}")
    procs = [subprocess.Popen([sys.executable, "-m", "bench.bench_billing", "pdf", str(invoice_id)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    counts = [int(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
    print(f"invoice PDF, 2 processes: {sum(counts) / PDF_SECONDS:.1f} PDFs/s "
          f"({' + '.join(str(c) for c in counts)} in {PDF_SECONDS:.0f} s)")


def _pdf_worker(invoice_id: int) -> None:
    from billing.models import Invoice
    from billing.services.documents import render_invoice_pdf

    invoice = Invoice.objects.get(pk=invoice_id)
    render_invoice_pdf(invoice)  # fonts loaded, templates compiled
    count, stop_at = 0, time.perf_counter() + PDF_SECONDS
    while time.perf_counter() < stop_at:
        render_invoice_pdf(invoice)
        count += 1
    print(count, flush=True)


# --- entry points ----------------------------------------------------------------------------------

def _bench() -> None:
    from django.db import connection

    today = date.today()
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")

    started = time.perf_counter()
    seats, api, api_price, _ = _catalog()
    customer_ids = _contracts(CONTRACTS, last_month, seats, api, api_price)
    print(f"   ({CONTRACTS:,} contracts written in {time.perf_counter() - started:.1f} s)")

    _ingest_in_process(customer_ids, last_month)
    _ingest_over_http(customer_ids)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")

    if os.environ.get("BENCH_PROFILE"):
        _profile_chunk(this_month)
        _reset_invoices()
    _queries_per_contract(this_month)
    _reset_invoices()
    one = _bill_run_one_worker(this_month)
    _reset_invoices()
    _bill_run_workers(this_month, 2, one)

    _pdf(_pdf_invoice().pk)


def _setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "revops.settings.dev"
    os.environ["DEBUG"] = "0"  # time what production runs, not the debug cursor
    os.environ["CELERY_BROKER_URL"] = ""  # eager tasks: the bill run runs in this process
    os.environ["REVOPS_BILL_RUN_CHUNK_SIZE"] = os.environ.get("BENCH_CHUNK_SIZE", "250")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres"))


def _scratch_run() -> None:
    url = os.environ.get("BENCH_BILLING_DATABASE_URL", DEFAULT_URL)
    name = urlsplit(url).path.lstrip("/")
    try:
        import psycopg

        admin = psycopg.connect(_admin_url(url).replace("postgres://", "postgresql://", 1), autocommit=True,
                                connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip, saying why
        print(f"skipped: PostgreSQL is not reachable at {_admin_url(url)} ({type(exc).__name__}: {exc})")
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _setup(url)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"   (scratch database migrated in {time.perf_counter() - started:.1f} s)")
        _bench()
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("BENCH_KEEP_DB"):
            with psycopg.connect(_admin_url(url).replace("postgres://", "postgresql://", 1), autocommit=True) as a:
                a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _helper(argv: list[str]) -> None:
    """Child processes of the benchmark, on the scratch database named by DATABASE_URL."""
    _setup(os.environ["DATABASE_URL"])
    if argv[0] == "chunks":
        _chunk_worker(int(argv[1]), int(argv[2]))
    elif argv[0] == "pdf":
        _pdf_worker(int(argv[1]))


def main() -> None:
    from django.apps import apps

    if apps.ready:  # Django already runs on the configured database: measure in a child process
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", "bench.bench_billing"], cwd=ROOT, check=True)
    else:
        _scratch_run()


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    if len(sys.argv) > 1:
        _helper(sys.argv[1:])
    else:
        main()
