"""The live revenue dashboard: KPI tiles that refresh themselves (htmx polling every 2 s, so a new
invoice, payment or contract shows within seconds without a reload), the MRR trend with its monthly
movements (Chart.js, served from our static files), each figure with its definition."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.shortcuts import render
from django.utils import timezone

from billing.models import Invoice, Payment
from revops.kernel.dates import add_months
from revops.kernel.views import staff_required

from .services import kpis

SEGMENTS = {"size": "Size", "region": "Region"}


def _segment(request) -> dict:
    return {k: request.GET[k] for k in SEGMENTS if request.GET.get(k)}


def _cash_tiles(day) -> dict:
    """Billings and collections this month, in the reporting currency's own figures per currency."""
    first = day.replace(day=1)
    billed = (Invoice.objects.filter(issue_date__gte=first, issue_date__lte=day).values("currency")
              .annotate(total=Sum("total")).order_by("currency"))
    collected = (Payment.objects.filter(received_at__date__gte=first, received_at__date__lte=day,
                                        source__in=[Payment.Source.MANUAL, Payment.Source.WEBHOOK])
                 .values("currency").annotate(total=Sum("amount")).order_by("currency"))
    return {"billings": list(billed), "collections": list(collected)}


def _tiles_context(request) -> dict:
    today = timezone.localdate()
    segment = _segment(request)
    return {"snap": kpis.snapshot(today, segment=segment), "cash": _cash_tiles(today), "definitions": kpis.DEFINITIONS,
            "segment": segment, "updated_at": timezone.localtime()}


@staff_required()
def dashboard(request):
    today = timezone.localdate()
    series = kpis.mrr_series(add_months(today.replace(day=1), -11), today, segment=_segment(request))
    chart = {
        "labels": [r["month"] for r in series],
        "mrr": [str(r["end"]) for r in series],
        "new": [str(r["new"] + r["reactivation"]) for r in series],
        "expansion": [str(r["expansion"]) for r in series],
        "contraction": [str(-r["contraction"]) for r in series],
        "churn": [str(-r["churn"]) for r in series],
    }
    return render(request, "analytics/dashboard.html", {**_tiles_context(request), "series": series, "chart": chart,
                                                        "segment_fields": [(f, label, request.GET.get(f, "")) for f, label in SEGMENTS.items()]})


@staff_required()
def movements(request):
    """Drill-down: the customers behind a month's movement figure (e.g. this month's expansion)."""
    from .models import MrrMovement

    month = request.GET.get("month", "")
    kind = request.GET.get("kind", "")
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        first = timezone.localdate().replace(day=1)
    last = add_months(first, 1) - timedelta(days=1)
    rows = (MrrMovement.objects.filter(date__gte=first, date__lte=last).select_related("customer")
            .order_by("date", "customer__name"))
    if kind in MrrMovement.Kind.values:
        rows = rows.filter(kind=kind)
    rows = list(rows[:1000])
    return render(request, "analytics/movements.html", {
        "rows": rows, "month": first, "kind": kind, "kinds": MrrMovement.Kind.choices,
        "total": sum((r.amount_reporting for r in rows), Decimal(0)), "currency": kpis._reporting()})


@staff_required()
def tiles(request):
    return render(request, "analytics/_tiles.html", _tiles_context(request))


