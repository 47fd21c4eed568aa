"""Query-parameter readers for API views: a bad value is a 400 in the one error shape, naming the parameter."""
from __future__ import annotations

from datetime import date

from revops.kernel.errors import ValidationFailed


def query_date(request, name: str, default: date | None) -> date | None:
    """`?name=YYYY-MM-DD`, or `YYYY-MM` for the month's first day; `default` when absent or empty."""
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01")
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD or YYYY-MM)", fields={name: ["not a date"]}) from None


def query_int(request, name: str, default: int | None, low: int, high: int) -> int | None:
    """`?name=<whole number>` within [low, high]; `default` when absent or empty."""
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}",
                               fields={name: [f"not a whole number from {low} to {high}"]})
    return value
