"""Gapless document numbers from a locked counter row (FIELD_NOTES: sequences are not gapless)."""
from django.db import IntegrityError, connection, transaction

from .models import NumberSeries


def next_number(series: str) -> int:
    """Take the next number of `series` inside the caller's transaction.

    The counter row stays locked until the caller commits, so numbers are handed out in commit
    order with no gaps; keep the transaction that takes a number short.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("next_number must run inside the transaction that uses the number")
    row = NumberSeries.objects.select_for_update().filter(name=series).first()
    if row is None:
        try:
            with transaction.atomic():
                NumberSeries.objects.create(name=series, last=0)
        except IntegrityError:
            pass  # another transaction created it first
        row = NumberSeries.objects.select_for_update().get(name=series)
    row.last += 1
    row.save(update_fields=["last"])
    return row.last


def format_number(prefix: str, year: int, n: int, width: int = 6) -> str:
    """INV-2026-000123"""
    return f"{prefix}-{year}-{n:0{width}d}"
