"""Monthly partitions of the usage events table on PostgreSQL (declarative partitioning).

Partitions are created ahead of time (the default partition catches anything outside them) and old
months can be detached, after which they are plain tables to archive or drop."""
from __future__ import annotations

from datetime import date

from django.db import connection
from django.utils import timezone

from revops.kernel.dates import add_months

PARENT = "billing_usageevent"


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year}m{month.month:02d}"


def is_partitioned() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = %s",
                    [PARENT])
        return cur.fetchone() is not None


def ensure_partitions(*, back: int = 36, ahead: int = 3, today: date | None = None) -> list[str]:
    """Create the monthly partitions from `back` months ago to `ahead` months ahead; return new names.

    A month whose rows already sit in the default partition is skipped (PostgreSQL would refuse), so
    keep the schedule ahead of the data (a daily beat task does)."""
    if not is_partitioned():
        return []
    first = (today or timezone.localdate()).replace(day=1)
    created = []
    with connection.cursor() as cur:
        for k in range(-back, ahead + 1):
            start = add_months(first, k)
            end = add_months(start, 1)
            name = partition_name(start)
            cur.execute("SELECT 1 FROM pg_class WHERE relname = %s", [name])
            if cur.fetchone():
                continue
            cur.execute(f"SELECT 1 FROM {PARENT}_default WHERE timestamp >= %s AND timestamp < %s LIMIT 1",
                        [start, end])
            if cur.fetchone():
                continue
            cur.execute(f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
                        [start.isoformat(), end.isoformat()])
            created.append(name)
    return created


def detach_before(month: date) -> list[str]:
    """Detach every monthly partition before `month` (kept as plain tables for archiving)."""
    if not is_partitioned():
        return []
    detached = []
    with connection.cursor() as cur:
        cur.execute("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                       JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s""", [PARENT])
        for (name,) in cur.fetchall():
            if not name.startswith(f"{PARENT}_y"):
                continue
            year, mon = int(name[-7:-3]), int(name[-2:])
            if date(year, mon, 1) < month.replace(day=1):
                cur.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                detached.append(name)
    return detached
