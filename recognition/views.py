"""Revenue recognition pages (finance): /revenue/…

The home figures, accounting periods (checklist, close, reopen), the deferred revenue waterfall and
roll-forward, revenue by period, the trial balance, the journal browser, the GL export and a contract's
obligations. Reads come from `recognition.page_queries` (over `services.reports`); closing and reopening
go through `services.periods`, whose refusals are shown on the page with nothing changed.

Who may do what: every page needs a recognition view permission (finance and admins hold them; the
other roles get 403). Closing needs `recognition.close_period` (finance); reopening needs the admin role
(the service's rule: finance holds the permission but not the role).
"""

from __future__ import annotations

import csv
import json
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from contracts.models import Contract
from revops.kernel import roles
from revops.kernel.dates import add_months, month_start
from revops.kernel.errors import DomainError, InvalidTransition, PermissionDeniedError
from revops.kernel.views import staff_required

from . import page_queries
from .forms import (
    AsOfForm,
    GlExportForm,
    JournalFilterForm,
    PeriodForm,
    ReopenForm,
    RevenueByForm,
    WaterfallForm,
    parse_month,
)
from .models import AccountingPeriod, JournalEntry
from .services.journal import reporting_currency
from .services.periods import month_end, period_close, period_reopen
from .services.reports import GL_COLUMNS, gl_rows, trial_balance

VIEW = "recognition.view_journalentry"
VIEW_PERIODS = "recognition.view_accountingperiod"
VIEW_OBLIGATIONS = "recognition.view_performanceobligation"
CLOSE = "recognition.close_period"
PAGE_SIZE = 50


def _today() -> date:
    return timezone.localdate()


def _key(month: date) -> str:
    return page_queries.month_key(month)


def _bind(form_class, request, defaults: dict, **kwargs):
    """A GET form over its defaults -> (form, values). Invalid input stays on the form with its errors;
    the page then shows the defaults."""
    data = {**defaults, **{k: v for k, v in request.GET.items() if v.strip()}}
    form = form_class(data, **kwargs)
    if form.is_valid():
        return form, form.cleaned_data
    fallback = form_class(defaults, **kwargs)
    fallback.is_valid()
    return form, fallback.cleaned_data


def _wants_csv(request) -> bool:
    return request.GET.get("format") == "csv"


def _csv(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _bad_csv(form) -> HttpResponse:
    errors = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
    return HttpResponseBadRequest(f"Not exported: {errors}", content_type="text/plain; charset=utf-8")


def _month_or_404(value: str) -> date:
    month = parse_month(value)
    if month is None:
        raise Http404("no such month")
    return month


# --- home --------------------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def home(request):
    today = _today()
    return render(request, "recognition/home.html", {
        "figures": page_queries.home_figures(today=today), "this_month": month_start(today),
        "last_month": add_months(month_start(today), -1), "today": today,
        "can_periods": request.user.has_perm(VIEW_PERIODS)})


# --- periods -----------------------------------------------------------------------------------------------


def _periods_page(request, *, refused: dict | None = None, reopen: tuple[str, ReopenForm] | None = None):
    """The periods page; `refused` is a close the service refused ({month, message, failed}), `reopen`
    a reopen form sent back with its errors."""
    rows = page_queries.period_rows(today=_today())
    can_reopen = roles.has_role(request.user, roles.ADMIN)
    for row in rows:
        if row.closed and can_reopen:
            bound = reopen[1] if reopen and reopen[0] == row.month else None
            row.reopen_form = bound or ReopenForm(auto_id=f"reopen-{row.month}-%s")
    return render(request, "recognition/periods.html", {
        "rows": rows, "can_close": request.user.has_perm(CLOSE), "can_reopen": can_reopen, "refused": refused,
        "open_reopen": reopen[0] if reopen else ""})


@staff_required(permission=VIEW_PERIODS)
def periods(request):
    return _periods_page(request)


def _back_to(month: str):
    return redirect(f"{reverse('recognition:periods')}#period-{month}")


@staff_required(permission=CLOSE)
@require_POST
def period_close_view(request, month: str):
    start = _month_or_404(month)
    try:
        period_close(month=start, by=request.user)
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:  # the checklist failed, or an earlier month is still open: nothing changed
        return _periods_page(request, refused={"month": month, "message": exc.message, "failed": list(exc.fields)})
    messages.success(request, f"{month} is closed: nothing more posts into it; late items go to the next open month.")
    return _back_to(month)


@staff_required(permission=VIEW_PERIODS)
@require_POST
def period_reopen_view(request, month: str):
    start = _month_or_404(month)
    # The service's rule, checked first so that any other role gets 403 whatever it sent.
    if not roles.has_role(request.user, roles.ADMIN):
        raise PermissionDenied("Reopening a closed period needs the admin role.")
    form = ReopenForm(request.POST, auto_id=f"reopen-{month}-%s")
    if form.is_valid():
        try:
            period_reopen(month=start, by=request.user, reason=form.cleaned_data["reason"])
        except AccountingPeriod.DoesNotExist:
            raise Http404("no such period") from None
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from None
        except InvalidTransition as exc:
            messages.error(request, exc.message)
            return _back_to(month)
        except DomainError as exc:
            for name, errors in (exc.fields or {None: [exc.message]}).items():
                form.add_error(name if name in form.fields else None, list(errors))
        else:
            messages.success(request, f"{month} is open again; the reason is kept with the period.")
            return _back_to(month)
    return _periods_page(request, reopen=(month, form))


# --- deferred revenue --------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def waterfall(request):
    this = month_start(_today())
    form, values = _bind(WaterfallForm, request, {"from": _key(this), "to": _key(add_months(this, 11)),
                                                  "by": "contract"})
    if _wants_csv(request) and form.errors:
        return _bad_csv(form)
    table = page_queries.waterfall_table(first=values["from_month"], last=values["to_month"], by=values["by"])
    if _wants_csv(request):
        return _csv(f"deferred-waterfall-{table['months'][0]}-{table['months'][-1]}.csv",
                    [table["by"], "id", "currency", *table["months"], "total"],
                    ([row["label"], row["id"], row["currency"], *row["cells"], row["total"]] for row in table["rows"]))
    return render(request, "recognition/waterfall.html", {"form": form, "table": table})


ROLLFORWARD_COLUMNS = ["currency", "opening", "billings", "recognized", "adjustments", "closing", "ledger_balance",
                       "ties"]


@staff_required(permission=VIEW)
def rollforward(request):
    form, values = _bind(PeriodForm, request, {"period": _key(add_months(month_start(_today()), -1))})
    if _wants_csv(request) and form.errors:
        return _bad_csv(form)
    report = page_queries.rollforward(period=values["period"])
    if _wants_csv(request):
        return _csv(f"deferred-rollforward-{report['period']}.csv", ROLLFORWARD_COLUMNS,
                    ([row[c] for c in ROLLFORWARD_COLUMNS] for row in report["currencies"]))
    return render(request, "recognition/rollforward.html", {"form": form, "report": report,
                                                            "period": values["period"]})


# --- revenue -----------------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def revenue_by_period(request):
    this = month_start(_today())
    form, values = _bind(RevenueByForm, request, {"from": _key(add_months(this, -11)), "to": _key(this),
                                                  "dimension": "product"})
    if _wants_csv(request) and form.errors:
        return _bad_csv(form)
    first, last = values["from_month"], values["to_month"]
    if _wants_csv(request) and request.GET.get("table") == "flows":
        flows = page_queries.recognized_billed_collected(first=first, last=last)
        return _csv(f"recognized-billed-collected-{_key(first)}-{_key(last)}.csv",
                    ["currency", "month", "recognized", "billed", "collected"],
                    ([f.currency, f.month, f.recognized, f.billed, f.collected] for f in flows))
    table = page_queries.revenue_by_table(first=first, last=last, dimension=values["dimension"])
    if _wants_csv(request):
        return _csv(f"revenue-by-{table['dimension']}-{_key(first)}-{_key(last)}.csv",
                    [table["dimension"], "currency", *table["months"], "total"],
                    ([row["label"], row["currency"], *row["cells"], row["total"]] for row in table["rows"]))
    return render(request, "recognition/by_period.html", {
        "form": form, "table": table, "flows": page_queries.recognized_billed_collected(first=first, last=last)})


# --- ledger --------------------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def trial_balance_view(request):
    form, values = _bind(AsOfForm, request, {"as_of": _today().isoformat()})
    return render(request, "recognition/trial_balance.html", {
        "form": form, "report": trial_balance(as_of=values["as_of"]), "currency": reporting_currency()})


@staff_required(permission=VIEW)
def journal(request):
    form = JournalFilterForm(request.GET or None, sources=page_queries.journal_sources(),
                             customers=page_queries.journal_customers())
    filters = form.filters()
    page = Paginator(page_queries.journal_entries(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "recognition/journal.html", {"page": page, "filter_form": form, "filtered": bool(filters),
                                                        "export_form": GlExportForm(initial=_export_initial())})


@staff_required(permission=VIEW)
def journal_entry(request, pk: int):
    try:
        entry = page_queries.journal_entry(pk)
    except JournalEntry.DoesNotExist:
        raise Http404("no such journal entry") from None
    lines = list(entry.lines.all())
    return render(request, "recognition/journal_entry.html", {
        "entry": entry, "lines": lines, "total_debit": sum(x.debit for x in lines),
        "total_credit": sum(x.credit for x in lines), "total_debit_reporting": sum(x.debit_reporting for x in lines),
        "total_credit_reporting": sum(x.credit_reporting for x in lines)})


def _export_initial() -> dict:
    last = add_months(month_start(_today()), -1)
    return {"from_date": last, "to_date": month_end(last), "format": "csv"}


class _Echo:
    """csv.writer into the response stream: each row is returned, not buffered."""

    def write(self, value: str) -> str:
        return value


@staff_required(permission=VIEW)
def gl_export(request):
    """One row per journal line (reports.GL_COLUMNS), streamed: CSV with a header row, or a JSON array."""
    form = GlExportForm(request.GET or None, initial=_export_initial())
    if not (form.is_bound and form.is_valid()):
        return render(request, "recognition/gl_export.html", {"form": form}, status=400 if form.is_bound else 200)
    first, last, fmt = form.cleaned_data["from_date"], form.cleaned_data["to_date"], form.cleaned_data["format"]
    rows = gl_rows(first=first, last=last)
    if fmt == "json":
        def stream_json():
            yield "["
            for i, row in enumerate(rows):
                yield ("," if i else "") + json.dumps(row)
            yield "]"

        response = StreamingHttpResponse(stream_json(), content_type="application/json")
    else:
        writer = csv.writer(_Echo())

        def stream_csv():
            yield writer.writerow(GL_COLUMNS)
            for row in rows:
                yield writer.writerow([row[c] for c in GL_COLUMNS])

        response = StreamingHttpResponse(stream_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="gl-{first:%Y%m%d}-{last:%Y%m%d}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- a contract's revenue ---------------------------------------------------------------------------------------


@staff_required(permission=VIEW_OBLIGATIONS)
def contract_revenue(request, pk: int):
    try:
        contract = Contract.objects.select_related("customer").get(pk=pk)
    except Contract.DoesNotExist:
        raise Http404("no such contract") from None
    return render(request, "recognition/contract.html", {"data": page_queries.contract_revenue(contract),
                                                         "contract": contract})
