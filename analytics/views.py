"""The live revenue dashboard, one per audience (leadership, finance, sales, customer success), each with
its few KPI tiles and charts. Updates arrive by server-sent events (analytics/stream.py): on a push the
page re-fetches its tiles and charts; when EventSource is unavailable or broken it polls every 2 s
(static/analytics/dashboard.js). Every number links to the records behind it (drill-down pages,
analytics/services/drilldown.py); filters by period, segment and currency (analytics/views_filters.py)."""
from __future__ import annotations

from datetime import date, timedelta

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from revops.kernel import roles
from revops.kernel.views import staff_required

from .services import drilldown, finance_kpis, kpis
from .stream import live_version
from .views_charts import finance_figure, segmented
from .views_filters import SEGMENT_FIELDS, SEGMENT_LABELS, Filters, display_currencies, read_filters

AUDIENCES = {
    "leadership": ("Leadership", ["mrr", "arr", "retention", "customers", "bookings", "collections"],
                   ["mrr", "forecast", "targets"]),
    "finance": ("Finance", ["mrr", "billings", "collections", "dso", "deferred", "revenue", "margin"],
                ["flows", "aging", "forecast"]),
    "sales": ("Sales", ["mrr", "arr", "customers", "bookings", "pipeline", "new_mrr"], ["mrr", "targets"]),
    "success": ("Customer success", ["mrr", "retention", "churn", "at_risk", "customers"], ["mrr"]),
}
ROLE_AUDIENCE = {roles.FINANCE: "finance", roles.SALES_MANAGER: "sales", roles.SALES_REP: "sales",
                 roles.CUSTOMER_SUCCESS: "success", roles.ADMIN: "leadership"}
CHART_TITLES = {"mrr": "MRR with its monthly movements", "flows": "Recognized vs billed vs collected, by month",
                "aging": "AR aging", "forecast": "Revenue forecast, next 12 months (80 % band)",
                "targets": "Actual vs target"}
NOT_SEGMENTED = "Company-wide: this figure is not available by segment."


def _audience(request) -> str:
    asked = request.GET.get("audience")
    if asked in AUDIENCES:
        return asked
    mine = roles.roles_of(request.user)
    return next((ROLE_AUDIENCE[r] for r in (roles.FINANCE, roles.CUSTOMER_SUCCESS, roles.SALES_MANAGER,
                                             roles.SALES_REP) if r in mine), "leadership")


def drill_url(name: str, f: Filters, *, first=None, last=None, **extra) -> str:
    """The drill-down page for `name` with the dashboard's filters (or another window)."""
    return f"{reverse('analytics:drill', args=[name])}?{f.query(first=first, last=last, **extra)}"


def _tiles(f: Filters, snap: dict, audience: str) -> list[dict]:
    """The audience's few KPIs, each with its figure(s), its definition and its drill-down link."""
    day, first = f.as_of, f.month_first
    month = first.strftime("%B %Y") if first != timezone.localdate().replace(day=1) else "this month"
    defs = {**kpis.DEFINITIONS, **finance_kpis.FINANCE_DEFINITIONS}
    wanted = AUDIENCES[audience][1]
    month_only = {"first": first, "last": day}
    tiles = []

    def add(key, label, definition, *, amount=None, text=None, extra="", drill=None, window=None):
        if key not in wanted:
            return
        value, reporting = f.fmt(amount, day) if text is None else (text, "")
        tiles.append({"key": key, "label": label, "value": value, "reporting": reporting, "extra": extra,
                      "definition": definition, "url": drill_url(drill or key, f, **(window or {}))})

    add("mrr", "MRR", defs["mrr"], amount=snap["mrr"])
    add("arr", "ARR", defs["arr"], amount=snap["arr"])
    add("customers", "Customers", f"{defs['customers']} {defs['arpa']}", text=str(snap["customers"]),
        extra=f"ARPA {f.fmt(snap['arpa'], day)[0]}")
    add("retention", "NRR · GRR (12 months)", f"{defs['nrr']} {defs['grr']}",
        text=f"{snap['nrr']} % · {snap['grr']} %" if snap["nrr"] is not None else "—")
    lc = snap["logo_churn"]
    add("churn", f"Churn, {month}", f"{defs['movements']} {defs['logo_churn']}",
        amount=snap["movements_mtd"]["churn"], extra=f"logo churn (12 m) {lc if lc is not None else '—'} %",
        window=month_only)
    add("new_mrr", f"New MRR, {month}", defs["movements"],
        amount=snap["movements_mtd"]["new"] + snap["movements_mtd"]["reactivation"], window=month_only)
    wants = set(wanted)
    for key, label, definition in (("bookings", "Bookings", "bookings"), ("billings", "Billed", "billings"),
                                   ("collections", "Collected", "collections"),
                                   ("revenue", "Revenue recognized", "revenue_mtd")):
        if key in wants:
            add(key, f"{label}, {month}", defs[definition], amount=finance_figure(key, first, day, f),
                window=month_only)
    if "dso" in wants:
        dso = segmented(finance_kpis.dso, day, segment=f.segment)
        if dso is None and f.segment:  # a service without segments: from the drill-downs, same definition
            billed = finance_figure("billings", day - timedelta(days=finance_kpis.DSO_DAYS - 1), day, f)
            ar = drilldown.receivables(day, segment=f.segment).total
            dso = (ar / billed * finance_kpis.DSO_DAYS).quantize(finance_kpis.PCT) if billed > 0 else None
        add("dso", "DSO", defs["dso"], text=f"{dso} days" if dso is not None else "—", drill="receivables")
    if "deferred" in wants:
        deferred = segmented(finance_kpis.deferred_revenue, day, segment=f.segment)
        if deferred is None:
            deferred = drilldown.deferred_revenue(day, segment=f.segment).total
        add("deferred", "Deferred revenue", defs["deferred_revenue"], amount=deferred)
    if "margin" in wants:
        gm = segmented(finance_kpis.gross_margin, first, day, segment=f.segment)
        if gm is None:
            add("margin", f"Gross margin, {month}", NOT_SEGMENTED, text="—", window=month_only)
        else:
            add("margin", f"Gross margin, {month}", defs["gross_margin"], amount=gm["gross_margin"],
                extra=f"{gm['margin_percent']} %" if gm["margin_percent"] is not None else "", window=month_only)
    if "pipeline" in wants:
        add("pipeline", "Open pipeline (TCV)", drilldown.PIPELINE_DEFINITION,
            amount=drilldown.pipeline(day, segment=f.segment).total)
    if "at_risk" in wants:
        add("at_risk", "ARR up for renewal in 90 days", drilldown.AT_RISK_DEFINITION,
            amount=drilldown.renewals_at_risk(day, segment=f.segment).total)
    return sorted(tiles, key=lambda t: wanted.index(t["key"]))


def _tiles_context(request) -> dict:
    f = read_filters(request)
    audience = _audience(request)
    snap = kpis.snapshot(f.as_of, segment=f.segment or None)
    mtd = snap["movements_mtd"]
    movements = [(k, f.fmt(mtd[k], f.as_of)[0], drill_url(k, f, first=f.month_first, last=f.as_of))
                 for k in ("new", "expansion", "contraction", "churn")]
    return {"tiles": _tiles(f, snap, audience), "audience": audience, "audiences": AUDIENCES, "snap": snap,
            "audience_label": AUDIENCES[audience][0], "filters": f, "movements": movements,
            "version": live_version(), "definitions": kpis.DEFINITIONS, "updated_at": timezone.localtime(),
            "query": f.query(audience=audience)}


@staff_required()
def dashboard(request):
    context = _tiles_context(request)
    f: Filters = context["filters"]
    audience = context["audience"]
    series = kpis.mrr_series(f.first, f.last, segment=f.segment or None)
    for r in series:
        r["links"] = {k: drill_url(k, f, first=_month(r["month"]), last=_month(r["month"]))
                      for k in ("new", "expansion", "reactivation", "contraction", "churn")}
    if audience in ("leadership", "success"):
        context["cohorts"] = kpis.cohorts(f.first, f.last, months_after=6)
    aging = None
    if "aging" in AUDIENCES[audience][2]:
        buckets = drilldown.aging_buckets(f.as_of, segment=f.segment or None)
        aging = [(b, f.fmt(v, f.as_of), drill_url("aging", f, bucket=b)) for b, v in buckets.items()]
    segment_fields = [(name, SEGMENT_LABELS[name], f.segment.get(name, ""), _segment_choices(name))
                      for name in SEGMENT_FIELDS]
    return render(request, "analytics/dashboard.html", {
        **context, "series": series, "charts": [(c, CHART_TITLES[c]) for c in AUDIENCES[audience][2]],
        "aging": aging, "segment_fields": segment_fields, "currencies": display_currencies(),
        "chart_drill": {"aging": drill_url("aging", f), "mrr": drill_url("movements", f),
                        "flows": drill_url("billings", f)}})


def _month(label: str) -> date:
    return date.fromisoformat(f"{label}-01")


def _segment_choices(name: str) -> list[tuple[str, str]]:
    from customers.models import Customer

    if name == "industry":
        values = (Customer.objects.exclude(industry="").values_list("industry", flat=True).distinct()
                  .order_by("industry"))
        return [(v, v) for v in values]
    if name == "owner":  # the team members who own customers
        owners = (Customer.objects.filter(owner__isnull=False).values_list("owner__username", "owner__first_name",
                                                                           "owner__last_name").distinct()
                  .order_by("owner__first_name", "owner__username"))
        return [(u, f"{first} {last}".strip() or u) for u, first, last in owners]
    return {"size": Customer.Size.choices, "region": Customer.Region.choices,
            "acquisition_channel": Customer.Channel.choices}[name]


@staff_required()
def tiles(request):
    return render(request, "analytics/_tiles.html", _tiles_context(request))


def _record_url(record, kind: str) -> str | None:
    from billing.models import Invoice, Payment
    from contracts.models import Contract
    from customers.models import Customer
    from quotes.models import Quote

    from .models import MrrMovement

    if isinstance(record, Invoice):
        return reverse("billing:invoice", args=[record.pk])
    if isinstance(record, Payment):
        return reverse("billing:payment", args=[record.pk])
    if isinstance(record, Quote):
        return reverse("quotes:detail", args=[record.pk])
    if isinstance(record, Contract):  # deferred and recognized revenue: its obligations and schedule
        return reverse("recognition:contract" if kind in ("deferred", "revenue") else "contracts:detail",
                       args=[record.pk])
    if isinstance(record, Customer):
        return reverse("customers:detail", args=[record.pk])
    if isinstance(record, MrrMovement):
        return reverse("customers:detail", args=[record.customer_id])
    return None


def _record_label(record) -> str:
    from .models import MrrMovement

    if record is None:
        return "(no contract or customer)"
    if isinstance(record, MrrMovement):
        return record.customer.name
    return str(record)


@staff_required()
def drill(request, name: str):
    """The records behind a dashboard number (analytics.services.drilldown), with their total."""
    from django.http import Http404

    if name not in drilldown.DRILLS:
        raise Http404(f"no drill-down {name!r}")
    f = read_filters(request)
    first = f.first if request.GET.get("from") else f.month_first
    result = drilldown.drill(name, first=first, last=f.as_of, segment=f.segment or None,
                             bucket=request.GET.get("bucket"))
    rows = [{"record": _record_label(i.record), "url": _record_url(i.record, result.kind), "day": i.day,
             "detail": i.detail, "amount": i.amount, "currency": i.currency,
             "shown": f.fmt(i.amount_reporting, f.as_of)} for i in result.items]
    return render(request, "analytics/drill.html", {
        "drill": result, "rows": rows, "filters": f, "first": first, "name": name,
        "total": f.fmt(result.total, f.as_of), "bucket": request.GET.get("bucket", ""),
        "back": f"{reverse('analytics:dashboard')}?{f.query()}"})


@staff_required()
def movements(request):
    """Drill-down: the customers behind a month's movement figure (e.g. this month's expansion)."""
    from revops.kernel.dates import add_months

    from .models import MrrMovement

    kind = request.GET.get("kind", "")
    try:
        first = date.fromisoformat(f"{request.GET.get('month', '')}-01")
    except ValueError:
        first = timezone.localdate().replace(day=1)
    last = add_months(first, 1) - timedelta(days=1)
    result = drilldown.movements(first, last, kinds=[kind] if kind in MrrMovement.Kind.values else None)
    return render(request, "analytics/movements.html", {
        "rows": result.records, "month": first, "kind": kind, "kinds": MrrMovement.Kind.choices,
        "total": result.total, "currency": result.currency})
