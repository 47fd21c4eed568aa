"""Progress against a KPI target, with the pace still needed to reach it.

All figures are exact Decimals in the reporting currency (customers: a count), rounded only at the end:

    days_total     = period_end − period_start + 1                       (both days count)
    days_elapsed   = clamp(as_of − period_start + 1, 0, days_total)       (as_of counts as elapsed)
    days_remaining = days_total − days_elapsed
    actual         = new_mrr:  Σ amount_reporting of `new` + `reactivation` movements dated
                               period_start .. min(as_of, period_end)
                     mrr/arr/customers: the KPI on min(as_of, period_end) (the segment's, if any)
    gap            = max(target − actual, 0)
    percent        = actual ÷ target × 100, to 0.01 (None when the target is 0)
    pace_per_day   = gap ÷ days_remaining, to 0.01 half-up (0 when the gap is 0; None when no day is left
                     and a gap remains: the target can no longer be reached)
    on_track       = actual ≥ target × days_elapsed ÷ days_total           (a straight line from zero)
    projected      = start + (actual − start) × days_total ÷ days_elapsed, to 0.01 half-up, where start =
                     the KPI on the day before period_start (0 for new_mrr): the period's change so far,
                     continued at the same pace to the period's end (None before the period starts)
    shortfall_percent = max(target − projected, 0) ÷ target × 100, to 0.01 (None when the target is 0
                     or nothing is projected yet) — what the target_shortfall alert compares

The segment may be a team member: segment_field "owner", segment_value the username of the customers' owner
(kpis.scoped), e.g. "Q3 new MRR 50,000.00 for alice" counts only the movements of the customers alice owns.

Example: a Q1 new-MRR target of 1,000.00 (90 days) with 400.00 achieved on day 45 → 45 days left,
percent 40.00, pace (1,000.00 − 400.00) ÷ 45 = 13.33 a day, projected 0 + 400.00 × 90 ÷ 45 = 800.00,
shortfall (1,000.00 − 800.00) ÷ 1,000.00 = 20.00 %.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from ..models import KpiTarget, MrrMovement
from . import kpis

ZERO = Decimal(0)
CENT = Decimal("0.01")


def _actual(target: KpiTarget, day: date) -> Decimal:
    segment = target.segment
    if target.kpi == KpiTarget.Kpi.NEW_MRR:
        if day < target.period_start:
            return kpis._q(ZERO)
        rows = kpis.scoped(MrrMovement.objects.filter(date__gte=target.period_start, date__lte=day,
                                                      kind__in=[MrrMovement.Kind.NEW, MrrMovement.Kind.REACTIVATION]),
                           segment=segment)
        return kpis._q(rows.aggregate(s=Sum("amount_reporting"))["s"] or ZERO)
    if target.kpi == KpiTarget.Kpi.CUSTOMERS:
        return Decimal(kpis.customers_count(day, segment=segment))
    m = kpis.mrr(day, segment=segment)
    return kpis._q(m * 12) if target.kpi == KpiTarget.Kpi.ARR else m


def target_progress(target: KpiTarget, as_of: date) -> dict:
    """The target's progress on `as_of` (formulas in the module docstring)."""
    days_total = (target.period_end - target.period_start).days + 1
    days_elapsed = min(max((as_of - target.period_start).days + 1, 0), days_total)
    days_remaining = days_total - days_elapsed
    actual = _actual(target, min(as_of, target.period_end))
    goal = Decimal(target.value)
    gap = max(goal - actual, ZERO)
    percent = (actual / goal * 100).quantize(CENT, rounding=ROUND_HALF_UP) if goal else None
    if gap == 0:
        pace = ZERO.quantize(CENT)
    elif days_remaining:
        pace = (gap / days_remaining).quantize(CENT, rounding=ROUND_HALF_UP)
    else:
        pace = None
    projected = shortfall = None
    if days_elapsed:
        start = _actual(target, target.period_start - timedelta(days=1))
        projected = (start + (actual - start) * days_total / days_elapsed).quantize(CENT, rounding=ROUND_HALF_UP)
        if goal:
            shortfall = (max(goal - projected, ZERO) / goal * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return {
        "target": target.pk, "kpi": target.kpi, "as_of": as_of.isoformat(),
        "period_start": target.period_start.isoformat(), "period_end": target.period_end.isoformat(),
        "segment": target.segment or {}, "currency": kpis._reporting(),
        "actual": actual, "target_value": goal, "gap": gap, "percent": percent,
        "days_total": days_total, "days_elapsed": days_elapsed, "days_remaining": days_remaining,
        "pace_per_day": pace, "on_track": actual * days_total >= goal * days_elapsed,
        "reached": gap == 0, "projected": projected, "shortfall_percent": shortfall,
    }


