"""The live revenue dashboard: KPI tiles that refresh themselves (htmx polling every 2 s, so a new
invoice, payment or contract shows within seconds without a reload), the MRR trend with its monthly
movements (Chart.js, served from our static files), each figure with its definition."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.shortcuts import render
from django.utils import timezone

from revops.kernel import money, roles
from revops.kernel.dates import add_months
from revops.kernel.views import staff_required

from .services import finance_kpis, kpis

SEGMENTS = {"size": "Size", "region": "Region"}


def _segment(request) -> dict:
    return {k: request.GET[k] for k in SEGMENTS if request.GET.get(k)}


AUDIENCES = {
    "leadership": ("Leadership", ["mrr", "arr", "retention", "customers", "bookings", "collections"]),
    "finance": ("Finance", ["mrr", "billings", "collections", "dso", "deferred", "revenue", "margin"]),
    "sales": ("Sales", ["mrr", "arr", "customers", "bookings", "pipeline", "new_mrr"]),
    "success": ("Customer success", ["mrr", "retention", "churn", "at_risk", "customers"]),
}
ROLE_AUDIENCE = {roles.FINANCE: "finance", roles.SALES_MANAGER: "sales", roles.SALES_REP: "sales",
                 roles.CUSTOMER_SUCCESS: "success", roles.ADMIN: "leadership"}


def _audience(request) -> str:
    asked = request.GET.get("audience")
    if asked in AUDIENCES:
        return asked
    mine = roles.roles_of(request.user)
    return next((ROLE_AUDIENCE[r] for r in (roles.FINANCE, roles.CUSTOMER_SUCCESS, roles.SALES_MANAGER,
                                             roles.SALES_REP) if r in mine), "leadership")


def _tiles(day, snap: dict, audience: str) -> list[dict]:
    """The audience's few KPIs, each a finished string with its definition (one place: the services)."""
    cur = snap["currency"]
    fmt = lambda v: money.format_money(v, cur) if v is not None else "—"  # noqa: E731
    first = day.replace(day=1)
    defs = {**kpis.DEFINITIONS, **finance_kpis.FINANCE_DEFINITIONS}
    wanted = AUDIENCES[audience][1]
    tiles = []

    def add(key, label, value, definition):
        if key in wanted:
            tiles.append({"key": key, "label": label, "value": value, "definition": definition})

    add("mrr", "MRR", fmt(snap["mrr"]), defs["mrr"])
    add("arr", "ARR", fmt(snap["arr"]), defs["arr"])
    add("customers", "Customers", f"{snap['customers']} · ARPA {fmt(snap['arpa'])}", f"{defs['customers']} {defs['arpa']}")
    add("retention", "NRR · GRR (12 months)",
        f"{snap['nrr']} % · {snap['grr']} %" if snap["nrr"] is not None else "—", f"{defs['nrr']} {defs['grr']}")
    add("churn", "Churn this month", f"{fmt(snap['movements_mtd']['churn'])} · logo churn (12 m) "
        f"{snap['logo_churn'] if snap['logo_churn'] is not None else '—'} %", f"{defs['movements']} {defs['logo_churn']}")
    add("new_mrr", "New MRR this month", fmt(snap["movements_mtd"]["new"] + snap["movements_mtd"]["reactivation"]),
        defs["movements"])
    wants = set(wanted)
    if wants & {"bookings", "billings", "collections", "dso", "deferred", "revenue", "margin"}:
        add("bookings", "Bookings this month", fmt(finance_kpis.bookings(first, day)),
            finance_kpis.FINANCE_DEFINITIONS.get("bookings", ""))
        add("billings", "Billed this month", fmt(finance_kpis.billings(first, day)),
            finance_kpis.FINANCE_DEFINITIONS.get("billings", ""))
        add("collections", "Collected this month", fmt(finance_kpis.collections(first, day)),
            finance_kpis.FINANCE_DEFINITIONS.get("collections", ""))
        if "dso" in wants:
            dso = finance_kpis.dso(day)
            add("dso", "DSO", f"{dso} days" if dso is not None else "—", finance_kpis.FINANCE_DEFINITIONS.get("dso", ""))
        if "deferred" in wants:
            add("deferred", "Deferred revenue", fmt(finance_kpis.deferred_revenue(day)),
                finance_kpis.FINANCE_DEFINITIONS.get("deferred_revenue", ""))
        if "revenue" in wants:
            add("revenue", "Revenue recognized this month", fmt(finance_kpis.revenue(first, day)),
                finance_kpis.FINANCE_DEFINITIONS.get("revenue_mtd", ""))
        if "margin" in wants:
            gm = finance_kpis.gross_margin(first, day)
            add("margin", "Gross margin this month", f"{fmt(gm['gross_margin'])}"
                + (f" · {gm['margin_percent']} %" if gm["margin_percent"] is not None else ""),
                finance_kpis.FINANCE_DEFINITIONS.get("gross_margin", ""))
    if "pipeline" in wants:
        add("pipeline", "Open pipeline (TCV)", fmt(_pipeline(day)), "TCV of open quotes (draft, pending approval, "
            "approved, sent), converted at today's rates.")
    if "at_risk" in wants:
        add("at_risk", "ARR up for renewal in 90 days", fmt(_arr_at_risk(day)), "ARR of active contracts ending in the "
            "next 90 days that do not renew automatically, converted at today's rates.")
    return sorted(tiles, key=lambda t: wanted.index(t["key"]))


def _pipeline(day) -> Decimal:
    from quotes.models import Quote
    from recognition.services.journal import fx_rate

    total = Decimal(0)
    for currency, tcv in Quote.objects.filter(status__in=Quote.OPEN).values_list("currency").annotate(t=Sum("tcv")):
        total += (tcv or 0) * fx_rate(currency, day)
    return money.quantize(total, kpis._reporting())


def _arr_at_risk(day) -> Decimal:
    from contracts.models import Contract
    from recognition.services.journal import fx_rate

    total = Decimal(0)
    ending = (Contract.objects.filter(status=Contract.Status.ACTIVE, auto_renew=False, end_date__gte=day,
                                      end_date__lte=day + timedelta(days=90))
              .values_list("currency").annotate(a=Sum("arr")))
    for currency, arr in ending:
        total += (arr or 0) * fx_rate(currency, day)
    return money.quantize(total, kpis._reporting())


def _tiles_context(request) -> dict:
    today = timezone.localdate()
    audience = _audience(request)
    segment = _segment(request)
    snap = kpis.snapshot(today, segment=segment)
    return {"tiles": _tiles(today, snap, audience), "audience": audience, "audiences": AUDIENCES, "snap": snap,
            "audience_label": AUDIENCES[audience][0],
            "definitions": kpis.DEFINITIONS, "updated_at": timezone.localtime()}


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
    context = _tiles_context(request)
    if context["audience"] in ("leadership", "success"):
        context["cohorts"] = kpis.cohorts(add_months(today.replace(day=1), -11), today, months_after=6)
    return render(request, "analytics/dashboard.html", {**context, "series": series, "chart": chart,
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


