"""Nothing lost, nothing doubled, under real concurrency: real threads, each on its own PostgreSQL
connection, started together on a barrier. Two bill runs racing over the same contracts, four clerks
issuing invoices at once, two clients sending overlapping usage batches.

PostgreSQL only (SQLite serialises writers, so there would be nothing to prove); CI runs PostgreSQL."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import BillRun, Invoice, InvoiceLine, UsageEvent, UsageKey
from billing.services import billrun, invoices
from billing.services.usage import usage_ingest
from contracts.services.creation import LineSpec, contract_create
from revops.kernel.errors import InvalidTransition
from revops.kernel.models import NumberSeries
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql",
                       reason="needs PostgreSQL row locks and concurrent writers (CI runs PostgreSQL)"),
    pytest.mark.django_db(transaction=True),
]

TIMEOUT = 60  # seconds; a deadlock fails the test instead of hanging the suite


def _in_threads(*targets) -> list:
    """Run each target in its own thread, released together by a barrier; return their results in
    order, re-raising the first exception. Each thread closes its database connection at the end."""
    barrier = threading.Barrier(len(targets))
    results: list = [None] * len(targets)
    errors: list[BaseException] = []

    def body(i, target):
        try:
            barrier.wait(timeout=TIMEOUT)
            results[i] = target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i, t), daemon=True) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a thread is still running (deadlock?)"
    if errors:
        raise errors[0]
    return results


def _contracts(catalog, n: int) -> list:
    """n monthly contracts from 2027-01-01: contract i has 1 + i % 3 seats at 10.00 a month, and every
    fifth (i % 5 == 0) a 250.00 setup fee."""
    out = []
    for i in range(n):
        lines = [LineSpec(catalog["seats"], D(1 + i % 3), D("10.00"))]
        if i % 5 == 0:
            lines.append(LineSpec(catalog["setup"], D(1), D("250.00")))
        out.append(contract_create(customer=CustomerFactory(), start_date=date(2027, 1, 1), term_months=12,
                                   lines=lines, by=None))
    return out


def _run_synchronously(as_of: date, *, reverse: bool = False) -> BillRun:
    run = billrun.bill_run_create(as_of=as_of)
    chunk_ids = billrun.bill_run_plan(run_id=run.pk)
    for chunk_id in (reversed(chunk_ids) if reverse else chunk_ids):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    run.refresh_from_db()
    return run


@pytest.fixture
def no_async_start(monkeypatch):
    """The threads drive plan and chunks themselves (so errors surface here), not the eager task."""
    monkeypatch.setattr(billrun, "_start_async", lambda run_id: None)
    monkeypatch.setattr(billrun, "CHUNK_SIZE", 5)


def test_two_bill_runs_racing_on_the_same_day_bill_every_charge_once(catalog, no_async_start):
    contracts = _contracts(catalog, 30)

    # One run walks its chunks forwards, the other backwards, so they meet in the middle.
    first, second = _in_threads(lambda: _run_synchronously(date(2027, 3, 1)),
                                lambda: _run_synchronously(date(2027, 3, 1), reverse=True))

    assert (first.status, second.status) == ("done", "done")
    assert (first.chunks_total, second.chunks_total) == (6, 6)
    assert first.invoices_created + second.invoices_created == 30
    assert [Invoice.objects.filter(contract=c).count() for c in contracts] == [1] * 30
    # January, February, March in advance for 30 contracts, and 6 setup fees: 96 charge keys, once each.
    keys = InvoiceLine.objects.values("charge_key").annotate(n=Count("id"))
    assert len(keys) == 96
    assert {k["n"] for k in keys} == {1}
    assert not InvoiceLine.objects.exclude(charge_seq=0).exists()
    # 3 months × 10.00 × (10 × 1 + 10 × 2 + 10 × 3 seats) = 1,800.00, plus 6 × 250.00 setup = 3,300.00
    assert Invoice.objects.aggregate(s=Sum("total"))["s"] == D("3300.00")
    assert not first.errors.exists() and not second.errors.exists()


def test_a_third_run_after_the_race_finds_nothing_left_to_bill(catalog, no_async_start):
    _contracts(catalog, 10)
    _in_threads(lambda: _run_synchronously(date(2027, 2, 1)), lambda: _run_synchronously(date(2027, 2, 1)))
    total = Invoice.objects.aggregate(s=Sum("total"))["s"]
    third = _run_synchronously(date(2027, 2, 1))
    assert (third.status, third.invoices_created) == ("done", 0)
    # 2 months × 10.00 × (4 × 1 + 3 × 2 + 3 × 3 seats) = 380.00, plus 2 × 250.00 setup = 880.00
    assert Invoice.objects.aggregate(s=Sum("total"))["s"] == total == D("880.00")


def test_invoices_issued_by_four_threads_at_once_are_numbered_without_gap_or_duplicate(catalog, no_async_start):
    _contracts(catalog, 34)
    _run_synchronously(date(2027, 1, 1))
    approved = list(Invoice.objects.filter(status="approved").order_by("pk").values_list("pk", flat=True))
    assert len(approved) == 34
    # Four of them go back to finance: issuing those is refused and must not burn a number.
    held = approved[::9]
    Invoice.objects.filter(pk__in=held).update(status="pending_approval")
    refused: list[int] = []
    lock = threading.Lock()

    def clerk(ids):
        def issue_all():
            for pk in ids:
                try:
                    invoices.invoice_issue(invoice_id=pk, render_pdf=False)
                except InvalidTransition:
                    with lock:
                        refused.append(pk)
        return issue_all

    _in_threads(*(clerk(approved[k::4]) for k in range(4)))

    year = timezone.localdate().year
    numbers = sorted(Invoice.objects.exclude(number=None).values_list("number", flat=True))
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 31)]
    assert sorted(refused) == sorted(held)
    assert NumberSeries.objects.get(name=f"INV-{year}").last == 30
    assert set(Invoice.objects.filter(pk__in=held).values_list("status", "number")) == {("pending_approval", None)}


def _usage_events(customer, keys) -> list[dict]:
    ts = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    return [{"customer": customer.pk, "meter": "api-calls", "timestamp": (ts - timedelta(seconds=i)).isoformat(),
             "idempotency_key": key} for i, key in enumerate(keys)]


def test_overlapping_usage_batches_sent_at_once_store_each_event_once(catalog):
    customer = CustomerFactory()
    shared = [f"shared-{i:05d}" for i in range(2000)]
    # The same 2,000 keys in both batches (in opposite orders) plus 500 of each client's own.
    batch_a = _usage_events(customer, shared + [f"a-{i}" for i in range(500)])
    batch_b = _usage_events(customer, [f"b-{i}" for i in range(500)] + shared[::-1])

    a, b = _in_threads(lambda: usage_ingest(batch_a), lambda: usage_ingest(batch_b))

    assert (a.rejected, b.rejected) == ([], [])
    assert a.accepted + a.duplicates == 2500 and b.accepted + b.duplicates == 2500
    assert a.accepted + b.accepted == 3000
    assert a.duplicates + b.duplicates == 2000
    assert UsageEvent.objects.count() == 3000
    assert UsageKey.objects.count() == 3000
    assert not UsageEvent.objects.values("customer_id", "idempotency_key").annotate(n=Count("id")).filter(n__gt=1)
