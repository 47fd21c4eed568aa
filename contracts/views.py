"""Contract pages: the list, the renewals board, the contract page (lines as of any date, versions,
amendments and prorations, timeline) and the staff forms to amend, renew and terminate.

Views stay thin: reads come from `contracts.page_queries`, writes go through `contracts.services`,
whose field errors are shown beside the field they name and change nothing.

Every form previews before it writes. An amendment's preview is `plan_amendment`, which is pure.
Renewal and termination have no pure planner, so their previews run the real service inside a
savepoint and roll it back (`_dry_run`): the figures shown are exactly what confirming would write,
with no second copy of the uplift or credit arithmetic to drift from the service. Everything those
services touch is in the database (rows, outbox events, the number counter) and on-commit hooks
registered inside a rolled-back savepoint are discarded, so a preview leaves no trace.

Who may do what: any staff role reads; amending and terminating need `contracts.add_amendment`
(finance, admin); renewing and preparing a renewal quote need `contracts.change_contract` (customer
success too). Others get 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from revops.kernel.errors import DomainError, PermissionDeniedError
from revops.kernel.money import format_money
from revops.kernel.views import staff_required

from . import page_queries
from .forms import AmendForm, ContractFilterForm, RenewForm, TerminateForm, apply_domain_errors
from .models import Contract, ContractLine, ProrationCharge
from .services.amendments import contract_amend, plan_amendment
from .services.renewals import contract_renew, renewal_quote_create
from .services.termination import contract_terminate

PAGE_SIZE = 25
BOARD_PAGE_SIZE = 50
AMEND_PERMISSION = "contracts.add_amendment"
TERMINATE_PERMISSION = "contracts.add_amendment"
RENEW_PERMISSION = "contracts.change_contract"
CHANGED_SINCE_PREVIEW = "The form changed after the preview: check this preview, then confirm again."


def _wants_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _contract_or_404(pk: int) -> Contract:
    try:
        return page_queries.contract_for_page(pk)
    except Contract.DoesNotExist:
        raise Http404("no such contract") from None


def _domain_errors(form, exc: DomainError, rows=None) -> None:
    if isinstance(exc, PermissionDeniedError):
        raise PermissionDenied(exc.message)
    apply_domain_errors(form, exc, rows)


def _finish(request, contract: Contract, message: str):
    messages.success(request, message)
    return redirect("contracts:detail", pk=contract.pk)


# --- list and renewals board -------------------------------------------------------------------------


@staff_required
def contract_list(request):
    form = ContractFilterForm(
        request.GET or None,
        customers=page_queries.customers_with_contracts(),
        owners=page_queries.staff_users(),
    )
    filters = form.filters()
    page = Paginator(page_queries.contract_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "filtered": bool(filters), "filter_form": form}
    template = "contracts/_results.html" if _wants_partial(request) else "contracts/list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@staff_required
def renewals(request):
    today = timezone.localdate()
    try:
        days = int(request.GET.get("days", page_queries.RENEWAL_BUCKETS[0]))
    except ValueError:
        days = page_queries.RENEWAL_BUCKETS[0]
    if days not in page_queries.RENEWAL_BUCKETS:
        days = page_queries.RENEWAL_BUCKETS[0]
    buckets = page_queries.renewal_buckets(today=today)
    page = Paginator(page_queries.renewals_ending(today=today, days=days), BOARD_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "today": today,
        "days": days,
        "buckets": buckets,
        "current": next(b for b in buckets if b.days == days),
        "page": page,
        "rows": page_queries.renewal_rows(page.object_list, today=today),
    }
    return render(request, "contracts/renewals.html", context)


@staff_required(permission=RENEW_PERMISSION)
@require_POST
def prepare_renewal_quote(request, pk: int):
    contract = _contract_or_404(pk)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("contracts:detail", args=[contract.pk])
    try:
        quote = renewal_quote_create(contract_id=contract.pk, by=request.user)
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from None
    except DomainError as exc:
        messages.error(request, f"{contract.number}: {exc.message}")
    else:
        messages.success(request, f"Renewal quote {quote.number} is ready for {contract.number}.")
    return redirect(back)


# --- the contract page -------------------------------------------------------------------------------


def _as_of(request, contract: Contract) -> tuple[date, str]:
    default = page_queries.default_as_of(contract, timezone.localdate())
    raw = request.GET.get("as_of", "")
    if not raw:
        return default, ""
    try:
        return date.fromisoformat(raw), ""
    except ValueError:
        return default, f"“{raw}” is not a date (YYYY-MM-DD); showing {default:%Y-%m-%d}."


@staff_required
def contract_detail(request, pk: int):
    contract = _contract_or_404(pk)
    data = page_queries.contract_page(contract)
    as_of, as_of_error = _as_of(request, contract)
    context = {
        "contract": contract,
        "page": data,
        "as_of": as_of,
        "as_of_error": as_of_error,
        "active_lines": data.lines_on(as_of),
        "renewal": getattr(contract, "renewed_by", None),
        "can": _actions(request.user, contract),
    }
    return render(request, "contracts/detail.html", context)


@staff_required
def contract_lines(request, pk: int):
    """The lines table as of ?as_of= (the contract page's date input swaps it in with htmx)."""
    contract = _contract_or_404(pk)
    as_of, as_of_error = _as_of(request, contract)
    versions = list(contract.lines.select_related("product", "amendment").order_by("item", "version"))
    context = {
        "contract": contract,
        "as_of": as_of,
        "as_of_error": as_of_error,
        "active_lines": [x for x in versions if x.start_date <= as_of <= x.end_date],
    }
    if not _wants_partial(request):
        return redirect(f"{reverse('contracts:detail', args=[contract.pk])}?as_of={as_of:%Y-%m-%d}#lines")
    return render(request, "contracts/_lines.html", context)


def _actions(user, contract: Contract) -> dict[str, bool]:
    active = contract.status == Contract.Status.ACTIVE
    renewed = getattr(contract, "renewed_by", None) is not None
    return {
        "amend": active and user.has_perm(AMEND_PERMISSION),
        "renew": contract.status in (Contract.Status.ACTIVE, Contract.Status.EXPIRED)
        and not renewed
        and user.has_perm(RENEW_PERMISSION),
        "terminate": contract.status in (Contract.Status.ACTIVE, Contract.Status.RENEWED)
        and user.has_perm(TERMINATE_PERMISSION),
        "renewal_quote": active and contract.renewal_quote_id is None and user.has_perm(RENEW_PERMISSION),
    }


# --- forms: amend, renew, terminate ------------------------------------------------------------------


def _render_form(request, name: str, context: dict):
    """The whole page, or for htmx just the form region (the preview appears inside it)."""
    template = f"contracts/_{name}_form.html" if _wants_partial(request) else f"contracts/{name}.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@staff_required(permission=AMEND_PERMISSION)
def amend(request, pk: int):
    contract = _contract_or_404(pk)
    today = timezone.localdate()
    form = AmendForm(
        request.POST or None,
        lines=page_queries.lines_for_amendment(contract, today),
        products=page_queries.products_for_sale(),
        initial={"effective_date": page_queries.default_as_of(contract, today)},
    )
    plan = token = notice = None
    if request.method == "POST" and form.is_valid():
        changes, rows = form.changes()
        if not form.errors:
            token = form.fingerprint(changes)
            effective = form.cleaned_data["effective_date"]
            try:
                if request.POST.get("action") == "confirm" and request.POST.get("previewed") == token:
                    amendment = contract_amend(
                        contract_id=contract.pk,
                        effective_date=effective,
                        changes=changes,
                        by=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                    return _finish(
                        request,
                        contract,
                        f"Amendment {amendment.number} applied from {effective:%Y-%m-%d}; "
                        f"proration total {format_money(amendment.proration_total, contract.currency)}.",
                    )
                if request.POST.get("action") == "confirm":
                    notice = CHANGED_SINCE_PREVIEW
                plan = plan_amendment(contract, effective, changes)
            except DomainError as exc:
                _domain_errors(form, exc, rows)
                plan = token = notice = None
    return _render_form(
        request, "amend", {"contract": contract, "form": form, "plan": plan, "token": token, "notice": notice}
    )


class _Rollback(Exception):
    """Raised inside a dry run to undo the service's writes."""


def _dry_run(service, collect):
    """Run `service()` in a savepoint, `collect(result)` what the preview shows, then roll it all back."""
    collected = None
    try:
        with transaction.atomic():
            collected = collect(service())
            raise _Rollback
    except _Rollback:
        pass
    return collected


@dataclass(frozen=True)
class RenewalPreview:
    start_date: date
    end_date: date
    lines: list[tuple[ContractLine, ContractLine]]  # (the line at the end, its renewed version)
    arr: Decimal
    tcv: Decimal


def _renewal_preview(contract: Contract, term: int, uplift: Decimal, by) -> RenewalPreview:
    def collect(renewal: Contract) -> RenewalPreview:
        old = {line.product_id: line for line in contract.lines.active_on(contract.end_date)}
        new = list(renewal.lines.select_related("product").order_by("item"))
        return RenewalPreview(
            renewal.start_date,
            renewal.end_date,
            [(old.get(x.product_id), x) for x in new],
            renewal.arr,
            renewal.tcv,
        )

    return _dry_run(
        lambda: contract_renew(contract_id=contract.pk, by=by, term_months=term, uplift_percent=uplift),
        collect,
    )


@staff_required(permission=RENEW_PERMISSION)
def renew(request, pk: int):
    contract = _contract_or_404(pk)
    form = RenewForm(
        request.POST or None,
        initial={
            "term_months": contract.renewal_term_months,
            "uplift_percent": contract.renewal_uplift_percent.normalize(),
        },
    )
    preview = token = notice = None
    renewal = getattr(contract, "renewed_by", None)
    if renewal is not None:
        form.add_error(None, f"{contract.number} was already renewed into {renewal.number}.")
    elif request.method == "POST" and form.is_valid():
        term, uplift = form.cleaned_data["term_months"], form.cleaned_data["uplift_percent"]
        token = form.fingerprint()
        try:
            if request.POST.get("action") == "confirm" and request.POST.get("previewed") == token:
                renewal = contract_renew(
                    contract_id=contract.pk, by=request.user, term_months=term, uplift_percent=uplift
                )
                return _finish(request, renewal, f"{contract.number} renewed into {renewal.number}.")
            if request.POST.get("action") == "confirm":
                notice = CHANGED_SINCE_PREVIEW
            preview = _renewal_preview(contract, term, uplift, request.user)
        except DomainError as exc:
            _domain_errors(form, _renamed(exc, {"renewal_term_months": "term_months"}))
            preview = token = notice = None
    return _render_form(
        request,
        "renew",
        {"contract": contract, "form": form, "preview": preview, "token": token, "notice": notice},
    )


def _renamed(exc: DomainError, names: dict[str, str]) -> DomainError:
    exc.fields = {names.get(key, key): value for key, value in exc.fields.items()}
    return exc


@dataclass(frozen=True)
class TerminationPreview:
    ending: list[tuple[ContractLine, date]]  # (the line as it is, the end date it would get)
    credits: list[ProrationCharge]
    total: Decimal
    renewal_cancelled: str  # the number of a renewal that would not start, if any


def _termination_preview(contract: Contract, effective: date, reason: str, by) -> TerminationPreview:
    before = {line.pk: line for line in contract.lines.select_related("product").order_by("item", "version")}
    renewal = getattr(contract, "renewed_by", None)

    def collect(terminated: Contract) -> TerminationPreview:
        after = dict(terminated.lines.values_list("pk", "end_date"))
        ending = [(line, after[pk]) for pk, line in before.items() if after[pk] != line.end_date]
        amendment = terminated.amendments.order_by("-number").first()
        credits = list(amendment.charges.order_by("id"))
        return TerminationPreview(
            ending,
            credits,
            amendment.proration_total,
            renewal.number if renewal and renewal.status == Contract.Status.ACTIVE else "",
        )

    return _dry_run(
        lambda: contract_terminate(contract_id=contract.pk, effective_date=effective, reason=reason, by=by),
        collect,
    )


@staff_required(permission=TERMINATE_PERMISSION)
def terminate(request, pk: int):
    contract = _contract_or_404(pk)
    today = timezone.localdate()
    form = TerminateForm(
        request.POST or None, initial={"effective_date": page_queries.default_as_of(contract, today)}
    )
    preview = token = notice = None
    if request.method == "POST" and form.is_valid():
        effective, reason = form.cleaned_data["effective_date"], form.cleaned_data["reason"]
        token = form.fingerprint()
        try:
            if request.POST.get("action") == "confirm" and request.POST.get("previewed") == token:
                contract_terminate(
                    contract_id=contract.pk, effective_date=effective, reason=reason, by=request.user
                )
                return _finish(
                    request, contract, f"{contract.number} terminated; its last day is {effective:%Y-%m-%d}."
                )
            if request.POST.get("action") == "confirm":
                notice = CHANGED_SINCE_PREVIEW
            preview = _termination_preview(contract, effective, reason, request.user)
        except DomainError as exc:
            _domain_errors(form, exc)
            preview = token = notice = None
    return _render_form(
        request,
        "terminate",
        {"contract": contract, "form": form, "preview": preview, "token": token, "notice": notice},
    )
