"""Chart data for the dashboards, as JSON: `GET /analytics/charts/<name>/?from=&to=&<segment>&currency=`.

    mrr       MRR at each month end with the month's movements (new + reactivation, expansion,
              contraction and churn negative), kpis.mrr_series
    flows     recognized (journal) vs billed (invoice subtotals) vs collected (payments) by month
    aging     open invoices' amount due by aging bucket on the period's last day
    forecast  revenue for 12 months from the period's last day (forecast.revenue_forecast): contracted,
              renewals, pipeline, usage stacked, the total and its 80 % band (low, high)
    targets   each KPI target overlapping the period: actual vs target on the last day (targets.target_progress)

Amounts are decimal strings in the display currency (`currency`), converted from the reporting currency at
the FX rate of each month's last day (flows, mrr) or of the period's last day (aging, forecast, targets);
`reporting` carries the same figures in the reporting currency when they differ. The forecast and the
targets are company-wide or per the target's own segment: the segment filter does not apply to them."""
from __future__ import annotations

import inspect
from datetime import date, timedelta
from decimal import Decimal

from django.http import Http404, JsonResponse

from revops.kernel.dates import add_months
from revops.kernel.views import staff_required

from .services import drilldown, finance_kpis, forecast, kpis
from .views_filters import Filters, read_filters

ZERO = Decimal(0)
CHARTS = ("mrr", "flows", "aging", "forecast", "targets")


def _month_windows(f: Filters) -> list[tuple[date, date]]:
    out, month = [], f.first.replace(day=1)
    while month <= f.last:
        out.append((month, min(add_months(month, 1) - timedelta(days=1), f.last)))
        month = add_months(month, 1)
    return out


def segmented(service, *args, segment: dict | None):
    """service(*args) for the segment; None when a segment is asked and the service takes none."""
    if not segment:
        return service(*args)
    if "segment" in inspect.signature(service).parameters:
        return service(*args, segment=segment)
    return None


def finance_figure(name: str, first: date, last: date, f: Filters) -> Decimal:
    """billings / collections / bookings / revenue over [first, last], for the filter's segment: the finance
    KPI service (the drill-down's total, same definition, if the service takes no segment)."""
    value = segmented(getattr(finance_kpis, name), first, last, segment=f.segment)
    return value if value is not None else getattr(drilldown, name)(first, last, segment=f.segment).total


def _series(f: Filters, rows: dict[str, list[Decimal]], days: list[date]) -> dict:
    shown = {k: [str(f.convert(v, d)) for v, d in zip(vs, days, strict=True)] for k, vs in rows.items()}
    out = {"series": shown, "currency": f.currency, "reporting_currency": f.reporting}
    if f.converted:
        out["reporting"] = {k: [str(v) for v in vs] for k, vs in rows.items()}
    return out


def chart_mrr(f: Filters) -> dict:
    rows = kpis.mrr_series(f.first, f.last, segment=f.segment or None)
    days = [w[1] for w in _month_windows(f)]
    return {"labels": [r["month"] for r in rows], **_series(f, {
        "mrr": [r["end"] for r in rows],
        "new": [r["new"] + r["reactivation"] for r in rows],
        "expansion": [r["expansion"] for r in rows],
        "contraction": [ZERO - r["contraction"] for r in rows],  # 0 − x: never "-0.00"
        "churn": [ZERO - r["churn"] for r in rows]}, days)}


def chart_flows(f: Filters) -> dict:
    windows = _month_windows(f)
    return {"labels": [w[0].isoformat()[:7] for w in windows], **_series(f, {
        "recognized": [finance_figure("revenue", a, b, f) for a, b in windows],
        "billed": [finance_figure("billings", a, b, f) for a, b in windows],
        "collected": [finance_figure("collections", a, b, f) for a, b in windows]}, [w[1] for w in windows])}


def chart_aging(f: Filters) -> dict:
    buckets = drilldown.aging_buckets(f.as_of, segment=f.segment or None)
    labels = list(buckets)
    return {"labels": labels, "as_of": f.as_of.isoformat(),
            **_series(f, {"amount": list(buckets.values())}, [f.as_of] * len(labels))}


def chart_forecast(f: Filters) -> dict:
    fc = forecast.revenue_forecast(f.as_of, 12)
    rows = fc["months"]
    keys = ("contracted", "renewals", "pipeline", "usage", "total", "low", "high")
    return {"labels": [r["month"] for r in rows], "as_of": fc["as_of"], "usage_model": fc["usage_model"],
            **_series(f, {k: [r[k] for r in rows] for k in keys}, [f.as_of] * len(rows))}


def chart_targets(f: Filters) -> dict:
    from .models import KpiTarget
    from .services.targets import target_progress

    targets = KpiTarget.objects.filter(period_start__lte=f.last, period_end__gte=f.first).order_by(
        "period_start", "kpi", "pk")
    labels, actual, goal, ids, counts = [], [], [], [], []
    for t in targets:
        p = target_progress(t, f.as_of)
        seg = f" · {t.segment_field}={t.segment_value}" if t.segment_field else ""
        labels.append(f"{t.get_kpi_display()} {t.period_start:%Y-%m-%d}–{t.period_end:%Y-%m-%d}{seg}")
        count = t.kpi == KpiTarget.Kpi.CUSTOMERS
        actual.append(p["actual"] if count else kpis._q(p["actual"]))
        goal.append(p["target_value"] if count else kpis._q(p["target_value"]))
        ids.append(t.pk)
        counts.append(count)
    days = [f.as_of] * len(labels)
    out = {"labels": labels, "targets": ids, **_series(f, {"actual": actual, "target": goal}, days)}
    for i, is_count in enumerate(counts):  # a count of customers is not converted
        if is_count:
            for figures in (out["series"], out.get("reporting")):
                if figures:
                    figures["actual"][i], figures["target"][i] = f"{actual[i]:.0f}", f"{goal[i]:.0f}"
    return out


BUILDERS = {"mrr": chart_mrr, "flows": chart_flows, "aging": chart_aging, "forecast": chart_forecast,
            "targets": chart_targets}


def chart_data(name: str, f: Filters) -> dict:
    return {"chart": name, "from": f.first.isoformat(), "to": f.last.isoformat(), "segment": f.segment,
            **BUILDERS[name](f)}


@staff_required()
def chart(request, name: str):
    if name not in BUILDERS:
        raise Http404(f"no chart {name!r}")
    f = read_filters(request)
    return JsonResponse({**chart_data(name, f), "warnings": f.errors})
