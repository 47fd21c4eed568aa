"""The usage events table is partitioned by month on PostgreSQL; events land in their month."""
from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import connection

from billing.services.partitions import detach_before, ensure_partitions, is_partitioned, partition_name
from billing.services.usage import usage_ingest

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(connection.vendor != "postgresql", reason="partitioning is PostgreSQL's (CI runs it)")]


def _count(table: str) -> int:
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


def test_events_are_stored_in_their_months_partition(subscription):
    assert is_partitioned()
    contract = subscription(start=date(2026, 6, 1), usage=True)
    ts = datetime(2026, 7, 15, 12, tzinfo=UTC)
    result = usage_ingest([{"customer": contract.customer_id, "meter": "api-calls", "timestamp": ts.isoformat(),
                            "idempotency_key": f"p-{i}"} for i in range(7)])
    assert result.accepted == 7
    assert _count(partition_name(date(2026, 7, 1))) == 7
    assert _count(f"{partition_name(date(2026, 7, 1)).rsplit('_', 1)[0]}_default") == 0


def test_partitions_are_created_ahead_and_old_ones_detached():
    created = ensure_partitions(back=0, ahead=40, today=date(2027, 1, 1))  # far ahead: new months
    assert partition_name(date(2030, 5, 1)) in created
    assert ensure_partitions(back=0, ahead=40, today=date(2027, 1, 1)) == []  # idempotent
    detached = detach_before(date(2024, 1, 1))
    assert all(name < partition_name(date(2024, 1, 1)) for name in detached)
    call_command("usage_partitions", "--ahead", "1")
