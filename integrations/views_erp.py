"""ERP exports page (finance and admins): export a period's journal and invoices, see earlier exports of
it, download their files."""
from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from revops.kernel.dates import month_start
from revops.kernel.errors import DomainError
from revops.kernel.views import staff_required

from .inbound_api import download_response
from .models import ErpExport
from .services import erp_export

PAGE_SIZE = 25


class ErpExportForm(forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(choices=ErpExport.Format.choices)
    full = forms.BooleanField(required=False, label="Full re-export (send everything of the period again)")

    def clean(self):
        data = super().clean()
        if data.get("period_start") and data.get("period_end") and data["period_end"] < data["period_start"]:
            self.add_error("period_end", "must be on or after the start")
        return data


def _count(n: int, noun: str) -> str:
    """'1 invoice', '2 invoices', '1 journal entry', '0 journal entries'."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun[:-1]}ies" if noun.endswith("y") else f"{n} {noun}s"


def _last_month():
    first_of_this = month_start(timezone.localdate())
    last = first_of_this - timedelta(days=1)
    return month_start(last), last


@staff_required(permission="integrations.view_erpexport")
def erp_exports(request):
    if request.method == "POST":
        if not request.user.has_perm("integrations.add_erpexport"):
            return render(request, "403.html", status=403)
        form = ErpExportForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                export = erp_export.erp_export_create(period_start=data["period_start"],
                                                      period_end=data["period_end"], format=data["format"],
                                                      full=data["full"], by=request.user)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                what = "Full re-export" if export.full else "Export"
                messages.success(request, f"{what} {export.pk}: {_count(export.journal_entries, 'journal entry')} "
                                          f"({_count(export.journal_lines, 'line')}) and "
                                          f"{_count(export.invoices, 'invoice')}.")
                return redirect("integrations:erp_exports")
    else:
        start, end = _last_month()
        form = ErpExportForm(initial={"period_start": start, "period_end": end, "format": "csv"})
    page = Paginator(ErpExport.objects.select_related("created_by"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "integrations/erp_exports.html", {
        "form": form, "page": page, "exports": page.object_list,
        "journal_columns": erp_export.JOURNAL_COLUMNS, "invoice_columns": erp_export.INVOICE_COLUMNS,
    }, status=400 if request.method == "POST" else 200)


@staff_required(permission="integrations.view_erpexport")
def erp_export_download(request, pk: int):
    export = get_object_or_404(ErpExport, pk=pk)
    part = request.GET.get("part") or "journal"
    if part not in erp_export.PARTS:
        messages.error(request, "part must be journal or invoices")
        return redirect("integrations:erp_exports")
    response = download_response(export, part)
    response["Cache-Control"] = "private, no-store"
    return response
