"""Profitability pages: the ranked table with the whale curve, the segment × measure matrix, trends by
month, acquisition (CAC, payback, CLV; spend entry by form and CSV), cost-to-serve entry, data health.

Costs and margins: finance, sales managers and admins (sales reps and customer success get 403; portal
users the no-role page). Entering costs and spend: finance and admins."""
from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from revops.kernel.dates import add_months
from revops.kernel.errors import DomainError
from revops.kernel.views import staff_required

from . import forms_profitability as forms
from .models import AcquisitionSpend, ServiceCost, SupportVolume
from .services import acquisition as acq
from .services import cost_allocation, data_health
from .services import profitability as prof

TABLE_ROWS = 100


def _require_costs(request) -> None:
    if not prof.can_see_costs(request.user):
        raise PermissionDenied("Costs and margins are for finance, sales managers and admins.")


def _require_entry(request) -> None:
    if not prof.can_enter_costs(request.user):
        raise PermissionDenied("Entering costs and spend is for finance and admins.")


def _window(request) -> tuple[forms.WindowForm, object, object]:
    form = forms.WindowForm(request.GET or None)
    today = timezone.localdate()
    first, last = add_months(today.replace(day=1), -11), today
    if form.is_valid():
        if form.cleaned_data.get("start"):
            first = form.cleaned_data["start"].replace(day=1)
        if form.cleaned_data.get("end"):
            last = add_months(form.cleaned_data["end"].replace(day=1), 1) - timedelta(days=1)
    if first > last:
        first, last = last.replace(day=1), last
    return form, first, last


def _nav(active: str, request) -> list[dict]:
    items = [("profitability", "Customers", "analytics:profitability"),
             ("matrix", "Segments", "analytics:profitability_segments"),
             ("trends", "Trends", "analytics:profitability_trends"),
             ("acquisition", "Acquisition", "analytics:acquisition"),
             ("costs", "Cost to serve", "analytics:service_costs"),
             ("health", "Data health", "analytics:data_health")]
    from django.urls import reverse

    query = request.GET.urlencode()
    return [{"key": k, "label": label, "url": reverse(name) + (f"?{query}" if query and k != "health" else ""),
             "active": k == active} for k, label, name in items]


def _chart_whale(curve: dict) -> dict:
    # the curve starts at the origin: no customer, no contribution
    return {"x": ["0"] + [str(p["customers_pct"]) for p in curve["curve"]],
            "y": ["0"] + [str(p["cumulative_pct"]) if p["cumulative_pct"] is not None else None
                          for p in curve["curve"]],
            "peak_x": str(curve["peak"]["customers_pct"]) if curve["peak"] else None,
            "peak_y": str(curve["peak"]["pct_of_total"]) if curve["peak"] and curve["peak"]["pct_of_total"] is not None
            else None}


def _error_page(request, template: str, context: dict, exc: DomainError):
    """The page without figures and the reason (e.g. an FX rate missing: fix it under data health)."""
    return render(request, template, {**context, "error": exc.message}, status=200)


@staff_required
def profitability(request):
    """The ranked table (most contribution first) and the whale curve."""
    _require_costs(request)
    form, first, last = _window(request)
    context = {"form": form, "first": first, "last": last, "nav": _nav("profitability", request),
               "definitions": prof.DEFINITIONS, "currency": prof.reporting_currency()}
    try:
        report = prof.report(first=first, last=last)
    except DomainError as exc:
        return _error_page(request, "analytics/profitability.html", context, exc)
    rows = report["rows"]
    show_all = request.GET.get("all") == "1"
    tail = [] if show_all or len(rows) <= TABLE_ROWS else rows[-10:]
    return render(request, "analytics/profitability.html", {
        **context, "rows": rows if show_all else rows[:TABLE_ROWS], "tail": tail, "count": len(rows),
        "totals": report["totals"], "whale": report["whale_curve"], "chart": _chart_whale(report["whale_curve"]),
        "unallocated": report["unallocated"], "show_all": show_all})


@staff_required
def segments(request):
    """Segment × measure: one table per segment field (or the one chosen)."""
    _require_costs(request)
    form, first, last = _window(request)
    chosen = request.GET.get("segment_field") or ""
    context = {"form": form, "first": first, "last": last, "nav": _nav("matrix", request),
               "definitions": prof.DEFINITIONS, "currency": prof.reporting_currency(), "segments": prof.SEGMENTS}
    try:
        result = prof.compute(first=first, last=last)
    except DomainError as exc:
        return _error_page(request, "analytics/profitability_segments.html", context, exc)
    rows = prof.customer_rows(result)
    fields = [chosen] if chosen in prof.SEGMENTS else list(prof.SEGMENTS)
    tables = [{"field": f, "label": prof.SEGMENTS[f], "rows": prof.segment_rows(result, f, rows)} for f in fields]
    return render(request, "analytics/profitability_segments.html", {**context, "tables": tables,
                                                                     "totals": prof.totals(rows)})


@staff_required
def trends(request):
    _require_costs(request)
    form, first, last = _window(request)
    field = request.GET.get("trend_field") or ""
    value = request.GET.get("trend_value") or ""
    if field not in prof.SEGMENTS or field == "plan" or not value:
        field, value = "", ""
    context = {"form": form, "first": first, "last": last, "nav": _nav("trends", request),
               "definitions": prof.DEFINITIONS, "currency": prof.reporting_currency(), "trend_field": field,
               "trend_value": value, "trend_fields": [(f, label) for f, label in prof.SEGMENTS.items() if f != "plan"]}
    try:
        months = prof.trends(first=first, last=last, segment_field=field, segment_value=value)
    except DomainError as exc:
        return _error_page(request, "analytics/profitability_trends.html", context, exc)
    chart = {"labels": [m["month"] for m in months], "revenue": [str(m["revenue"]) for m in months],
             "cost_of_goods": [str(m["cost_of_goods"]) for m in months],
             "cost_to_serve": [str(m["cost_to_serve"]) for m in months],
             "contribution": [str(m["contribution"]) for m in months]}
    return render(request, "analytics/profitability_trends.html", {**context, "months": months, "chart": chart})


@staff_required
def acquisition(request):
    """CAC, payback, CLV and CLV:CAC by channel, segment or plan, and the spend entered (finance/admin enter).
    An unknown "by" (a hand-edited address) answers 400 with the choices, not another grouping's figures."""
    _require_costs(request)
    form, first, last = _window(request)
    by = request.GET.get("by") or "acquisition_channel"
    spend_form = forms.AcquisitionSpendForm(initial={"period": timezone.localdate().replace(day=1)})
    context = {"form": form, "first": first, "last": last, "nav": _nav("acquisition", request),
               "currency": prof.reporting_currency(), "by": by, "groupings": acq.GROUPING_LABELS,
               "spend_form": spend_form, "csv_form": forms.SpendCsvForm(),
               "can_enter": prof.can_enter_costs(request.user), "definitions": acq.DEFINITIONS,
               "formula": acq.FORMULA}
    if by not in acq.GROUPINGS:
        choices = ", ".join(acq.GROUPING_LABELS.values())
        return _acquisition_render(request, {**context, "by": "acquisition_channel",
                                             "by_error": f"Unknown grouping \"{by[:40]}\": choose one of {choices}."},
                                   first, last, None, status=400)
    return _acquisition_render(request, context, first, last, by)


def _acquisition_render(request, context, first, last, by, status=200):
    """The page; `by` None: no figures (the grouping asked for was refused)."""
    report = None
    if by is not None:
        try:
            report = acq.acquisition_report(first=first, last=last, by=by)
        except DomainError as exc:
            return _error_page(request, "analytics/acquisition.html", context, exc)
    spend = (AcquisitionSpend.objects.filter(period__gte=first.replace(day=1), period__lte=last)
             .order_by("-period", "channel", "id")[:200])
    return render(request, "analytics/acquisition.html", {**context, "report": report, "spend": spend},
                  status=status)


@staff_required
@require_POST
def spend_create(request):
    _require_costs(request)
    _require_entry(request)
    spend_form = forms.AcquisitionSpendForm(request.POST)
    if spend_form.is_valid():
        try:
            acq.acquisition_spend_create(by=request.user, **spend_form.cleaned_data)
            messages.success(request, "Spend recorded.")
            return redirect("analytics:acquisition")
        except DomainError as exc:
            forms.apply_errors(spend_form, exc)
    today = timezone.localdate()
    first, last = add_months(today.replace(day=1), -11), today
    context = {"form": forms.WindowForm(), "first": first, "last": last, "nav": _nav("acquisition", request),
               "currency": prof.reporting_currency(), "by": "acquisition_channel", "groupings": acq.GROUPING_LABELS,
               "spend_form": spend_form, "csv_form": forms.SpendCsvForm(), "can_enter": True,
               "definitions": acq.DEFINITIONS, "formula": acq.FORMULA}
    return _acquisition_render(request, context, first, last, "acquisition_channel", status=400)


@staff_required
@require_POST
def spend_upload(request):
    _require_costs(request)
    _require_entry(request)
    csv_form = forms.SpendCsvForm(request.POST, request.FILES)
    csv_errors: list[str] = []
    if csv_form.is_valid():
        try:
            text = csv_form.cleaned_data["file"].read().decode("utf-8-sig")
            created = acq.acquisition_spend_import(text=text, by=request.user)
            messages.success(request, f"{len(created)} spend rows imported.")
            return redirect("analytics:acquisition")
        except UnicodeDecodeError:
            csv_errors = ["The file is not UTF-8 text."]
        except DomainError as exc:
            csv_errors = [exc.message] + [f"{k}: {'; '.join(v)}" for k, v in sorted(exc.fields.items())]
    today = timezone.localdate()
    first, last = add_months(today.replace(day=1), -11), today
    context = {"form": forms.WindowForm(), "first": first, "last": last, "nav": _nav("acquisition", request),
               "currency": prof.reporting_currency(), "by": "acquisition_channel", "groupings": acq.GROUPING_LABELS,
               "spend_form": forms.AcquisitionSpendForm(), "csv_form": csv_form, "csv_errors": csv_errors,
               "can_enter": True, "definitions": acq.DEFINITIONS, "formula": acq.FORMULA}
    return _acquisition_render(request, context, first, last, "acquisition_channel", status=400)


@staff_required
@require_POST
def spend_delete(request, pk: int):
    return _delete_entry(request, lambda: acq.acquisition_spend_delete(spend_id=pk), "Spend entry deleted.",
                         "analytics:acquisition")


def _delete_entry(request, delete, done: str, back: str):
    """Delete a cost input (finance, admin) through its service; the outcome as a message on `back`."""
    _require_costs(request)
    _require_entry(request)
    try:
        delete()
        messages.success(request, done)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(back)


@staff_required
def service_costs(request):
    """The costs to serve entered (and support volumes), with forms to add them (finance, admin)."""
    _require_costs(request)
    can_enter = prof.can_enter_costs(request.user)
    cost_form = forms.ServiceCostForm(initial={"period": timezone.localdate().replace(day=1)}, prefix="cost")
    volume_form = forms.SupportVolumeForm(initial={"period": timezone.localdate().replace(day=1)}, prefix="tickets")
    status = 200
    if request.method == "POST":
        _require_entry(request)
        if "cost-period" in request.POST:
            cost_form = forms.ServiceCostForm(request.POST, prefix="cost")
            if cost_form.is_valid():
                data = dict(cost_form.cleaned_data)
                customer = data.pop("customer")
                try:
                    cost_allocation.service_cost_create(customer_id=customer.pk if customer else None, by=request.user,
                                                        **data)
                    messages.success(request, "Service cost recorded.")
                    return redirect("analytics:service_costs")
                except DomainError as exc:
                    forms.apply_errors(cost_form, exc)
        else:
            volume_form = forms.SupportVolumeForm(request.POST, prefix="tickets")
            if volume_form.is_valid():
                data = volume_form.cleaned_data
                try:
                    cost_allocation.support_volume_set(customer_id=data["customer"].pk, period=data["period"],
                                                       tickets=data["tickets"])
                    messages.success(request, "Support volume recorded.")
                    return redirect("analytics:service_costs")
                except DomainError as exc:
                    forms.apply_errors(volume_form, exc)
        status = 400
    costs = ServiceCost.objects.select_related("customer").order_by("-period", "category", "id")[:200]
    volumes = SupportVolume.objects.select_related("customer").order_by("-period", "customer__name")[:200]
    return render(request, "analytics/profitability_costs.html", {
        "nav": _nav("costs", request), "costs": costs, "volumes": volumes, "cost_form": cost_form,
        "volume_form": volume_form, "can_enter": can_enter, "allocation_rule": prof.DEFINITIONS["cost_to_serve"]},
        status=status)


@staff_required
@require_POST
def service_cost_delete(request, pk: int):
    return _delete_entry(request, lambda: cost_allocation.service_cost_delete(cost_id=pk), "Service cost deleted.",
                         "analytics:service_costs")


@staff_required
def data_health_page(request):
    """Every staff role sees the checks (no costs on this page)."""
    summary = data_health.summary(today=timezone.localdate())
    nav = _nav("health", request) if prof.can_see_costs(request.user) else []
    return render(request, "analytics/data_health.html", {**summary, "nav": nav})
