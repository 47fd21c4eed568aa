"""revops.kernel.background: work handed to another connection runs there only where that is safe
(PostgreSQL, outside a transaction); elsewhere it runs inline, so callers' code is the same either way."""
import logging
import threading

import pytest
from django.db import connection, transaction

from revops.kernel import background


def _backend() -> tuple[int, int]:
    """(thread id, database backend pid) of the caller."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()" if connection.vendor == "postgresql" else "SELECT 0")
        return threading.get_ident(), cursor.fetchone()[0]


@pytest.mark.django_db
def test_inside_a_transaction_nothing_runs_apart():
    assert connection.in_atomic_block  # the test's own transaction
    assert not background.can_start()
    pending = background.fetch(_backend)
    assert pending.result() == _backend()  # run inline, on this thread and connection
    ran = []
    job = background.start(lambda: ran.append(1))
    job.wait()
    assert not job.started and ran == []  # a job is an optimisation: not even started here


pytestmark_pg = pytest.mark.skipif(connection.vendor != "postgresql", reason="runs apart on PostgreSQL only")


@pytestmark_pg
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_fetch_runs_on_its_own_connection_and_returns_its_value():
    assert background.can_start()
    mine = _backend()
    theirs = background.fetch(_backend).result()
    assert theirs[0] != mine[0] and theirs[1] != mine[1]
    with transaction.atomic():  # a caller's atomic block: inline again
        assert background.fetch(_backend).result() == mine


@pytestmark_pg
@pytest.mark.django_db(transaction=True)
def test_a_fetch_raises_its_error_and_a_job_logs_and_swallows_it(caplog):
    def boom():
        raise ValueError("no such thing")

    with pytest.raises(ValueError, match="no such thing"):
        background.fetch(boom).result()
    job = background.start(boom)
    assert job.started
    with caplog.at_level(logging.ERROR, logger="revops.kernel.background"):
        job.wait()
    assert "background database job failed" in caplog.text


@pytestmark_pg
@pytest.mark.django_db(transaction=True)
def test_the_worker_threads_leave_no_connection_open():
    background.fetch(_backend).result()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
        assert cursor.fetchone()[0] == 0
