"""A real Celery worker killed (SIGKILL) in the middle of a bill run: the broker redelivers the task it
had not acknowledged, a second worker finishes the run, and every contract is invoiced exactly once.

Needs PostgreSQL and RabbitMQ (REVOPS_TEST_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672//);
skipped when either is unreachable. The workers run on the test database, consume a queue of their
own (nothing else on the broker is touched) and always die in a `finally`.

Run as a module (`python -m tests.billing.test_worker_crash`), this file is the worker itself: a plain
`celery worker` (solo pool) in which, when REVOPS_TEST_CONTRACT_DELAY is set, each contract's billing
transaction pauses after writing the invoice and its lines, so the test can kill the worker with a
half-written invoice open — the moment a crash can hurt most.
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from datetime import date
from decimal import Decimal as D
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
AMQP_URL = os.environ.get("REVOPS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
CONTRACTS = 40
CHUNK_SIZE = 4  # 10 chunk tasks
DELAY = 0.08  # seconds inside each contract's transaction, in the first worker only
WORKER_READY_TIMEOUT = 30
RUN_TIMEOUT = 40


def _amqp_reachable() -> bool:
    parts = urlsplit(AMQP_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=1):
            return True
    except OSError:
        return False


# --- the test ----------------------------------------------------------------------------------------

if __name__ != "__main__":
    from django.db import connection
    from django.db.models import Count

    pytestmark = [
        pytest.mark.broker,
        pytest.mark.skipif(connection.vendor != "postgresql", reason="the worker needs a shared PostgreSQL database"),
        pytest.mark.skipif(not _amqp_reachable(), reason=f"RabbitMQ is not reachable at {AMQP_URL}"),
        pytest.mark.django_db(transaction=True),
    ]


class Worker:
    """A celery worker subprocess on the test database and a private queue, its output in a file."""

    def __init__(self, queue: str, *, delay: float = 0.0):
        db = connection.settings_dict
        database_url = (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
                        f"{db['PORT'] or 5432}/{db['NAME']}")
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "revops.settings.dev", "DEBUG": "0",
               "DATABASE_URL": database_url, "CELERY_BROKER_URL": AMQP_URL, "CELERY_TASK_DEFAULT_QUEUE": queue,
               "REVOPS_BILL_RUN_CHUNK_SIZE": str(CHUNK_SIZE), "REVOPS_TEST_CONTRACT_DELAY": str(delay),
               "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}
        self.log = tempfile.NamedTemporaryFile(prefix="revops-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.billing.test_worker_crash"], cwd=ROOT, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while " ready." not in self.output():
            assert self.proc.poll() is None, f"the worker exited:\n{self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"the worker did not start:\n{self.output()[-3000:]}"
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self) -> None:
        try:
            self.kill()
        finally:
            self.log.close()
            os.unlink(self.log.name)


def _wait_for(condition, *, timeout: float, what: str, workers=()):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = "\n".join(w.output()[-3000:] for w in workers)
            pytest.fail(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.01)


def _send(task_name: str, args: list, queue: str) -> None:
    """Publish through the real broker, whatever the test settings say (they run tasks eagerly)."""
    from revops.celery import app

    with app.connection_for_write(AMQP_URL) as conn, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "task_always_eager has no effect on send_task": intended
        app.send_task(task_name, args=args, queue=queue, connection=conn)


def _delete_queue(queue: str) -> None:
    """Best-effort cleanup: a failure here must not hide the test's own outcome."""
    from kombu import Connection

    with contextlib.suppress(Exception), Connection(AMQP_URL, connect_timeout=5) as conn:
        conn.default_channel.queue_delete(queue)


def test_a_worker_killed_mid_run_loses_nothing_and_doubles_nothing(catalog, monkeypatch):
    from billing.models import BillRun, BillRunChunk, Invoice, InvoiceLine
    from billing.services import billrun
    from contracts.services.creation import LineSpec, contract_create
    from tests.factories import CustomerFactory

    # Given 40 monthly contracts (1 + i % 4 seats at 10.00) and a recorded bill run
    contracts = [contract_create(customer=CustomerFactory(), start_date=date(2027, 1, 1), term_months=12,
                                 lines=[LineSpec(catalog["seats"], D(1 + i % 4), D("10.00"))], by=None)
                 for i in range(CONTRACTS)]
    monkeypatch.setattr(billrun, "_start_async", lambda run_id: None)  # started through the broker below
    run = billrun.bill_run_create(as_of=date(2027, 1, 1))
    queue = f"revops-test-{uuid.uuid4().hex[:12]}"
    workers: list[Worker] = []
    try:
        # When a slow worker takes the run from the broker and is SIGKILLed in the middle of a chunk
        first = Worker(queue, delay=DELAY)
        workers.append(first)
        first.wait_ready()
        _send("billing.tasks.start_bill_run", [run.pk], queue)
        invoiced = Invoice.objects.filter(bill_run=run)
        # Kill once a chunk after the first has one or two of its four contracts committed: at least
        # two more contracts (2 × DELAY) before that chunk could finish, so the kill lands inside it.
        _wait_for(lambda: (n := invoiced.count()) > CHUNK_SIZE and n % CHUNK_SIZE in (1, 2), timeout=RUN_TIMEOUT,
                  what="a chunk half billed", workers=workers)
        first.kill()
        run.refresh_from_db()
        at_kill = invoiced.count()
        assert run.status == "running" and at_kill < CONTRACTS, "the run ended before the kill; raise DELAY"
        assert run.chunks_total == CONTRACTS // CHUNK_SIZE
        unfinished = [c for c in BillRunChunk.objects.filter(bill_run=run, done=False)
                      if invoiced.filter(contract_id__in=c.contract_ids).exists()]
        assert unfinished, "the kill should land inside a chunk that had billed some of its contracts"

        # and a second worker takes over the redelivered chunk and the rest
        second = Worker(queue)
        workers.append(second)
        second.wait_ready()
        _wait_for(lambda: BillRun.objects.get(pk=run.pk).status != "running", timeout=RUN_TIMEOUT,
                  what="the run to finish", workers=workers)
    finally:
        for w in workers:
            w.close()
        _delete_queue(queue)

    # Then the run is done, every contract has exactly one invoice and no charge was billed twice
    run.refresh_from_db()
    assert (run.status, run.chunks_done, run.contracts_total) == ("done", 10, CONTRACTS)
    # the counters are exact too: the redelivered chunk counts the invoices its killed attempt committed
    assert (run.invoices_created, run.lines_created, run.contracts_billed) == (CONTRACTS, CONTRACTS, CONTRACTS)
    per_contract = dict(Invoice.objects.values_list("contract_id").annotate(n=Count("id")))
    assert per_contract == {c.pk: 1 for c in contracts}
    assert not InvoiceLine.objects.values("charge_key").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert InvoiceLine.objects.count() == CONTRACTS
    # January, 10.00 × (10 × 1 + 10 × 2 + 10 × 3 + 10 × 4 seats)
    assert sum(Invoice.objects.values_list("total", flat=True)) == D("1000.00")
    assert not run.errors.exists()


# --- the worker ----------------------------------------------------------------------------------------

def _worker_main() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    delay = float(os.environ.get("REVOPS_TEST_CONTRACT_DELAY") or 0)
    if delay:
        from billing.services import billrun

        write_invoice = billrun._write_invoice  # fails loudly (the worker exits) if it is ever renamed

        def slow_write_invoice(*args, **kwargs):
            invoice = write_invoice(*args, **kwargs)
            time.sleep(delay)  # inside bill_contract's transaction: invoice and lines written, not committed
            return invoice

        billrun._write_invoice = slow_write_invoice
    from revops.celery import app

    app.worker_main(["worker", "-P", "solo", "-l", "info", "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "-n", f"crash-test-{os.getpid()}@%h"])


if __name__ == "__main__":
    _worker_main()
