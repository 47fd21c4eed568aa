"""Quote pages (CPQ): the list, a new-quote form, the builder, the approvals inbox, the PDF.

Views stay thin: reads come from `quotes.page_queries`, writes go through `quotes.services`, whose
field errors are shown beside the field they name (`lines[3].quantity` beside that line's input).

Who sees what: `page_queries` / `quotes.selectors` — managers, finance and admins every quote, reps and
customer success their own; another rep's quote is a 404 on every page, as in the API. Who may change
what is the services' rule (`can_edit`), the model permissions only decide which controls appear.

The builder edits in place with htmx: every edit answers with the page's regions that changed
(`hx-swap-oob`), the edited control's region included, so the lines, totals, product-rule warnings,
revenue preview, approvals and history always agree; a refused edit re-renders the same regions with
the message beside the input and nothing saved. Without htmx the same endpoints redirect (PRG).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from revops.kernel import money
from revops.kernel.errors import DomainError, PermissionDeniedError
from revops.kernel.views import staff_required

from . import page_queries
from .filters import QuoteFilter
from .forms import (
    LineAddForm,
    LineChangeForm,
    QuoteCreateForm,
    QuoteListFilterForm,
    QuoteTermsForm,
    RejectForm,
    apply_domain_errors,
)
from .models import ApprovalStep, Quote, QuoteLine
from .services import editing, lifecycle

PAGE_SIZE = 25
LINE_FIELDS = ("quantity", "discount_percent", "discount_amount")
LINE_ERROR_KEY = re.compile(r"^lines\[(\d+)\]\.(\w+)$")

# The builder's regions (templates/quotes/_<name>.html, each a root element with id="quote-<name>").
# An edit of the lines answers with all of these; the add and terms forms come back only when they were
# the ones posted, so what the user is typing in the other form is never wiped.
LINE_REGIONS = ("header", "alerts", "rules", "lines", "totals", "revenue", "approvals", "history")


@dataclass(frozen=True)
class Alert:
    level: str  # error | warning | info | success
    text: str


def _wants_partial(request) -> bool:
    """An htmx request for a fragment (a history restore needs the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _quote_or_404(request, pk: int) -> Quote:
    try:
        return page_queries.quote_for_page(user=request.user, quote_id=pk)
    except Quote.DoesNotExist:
        raise Http404("No quote with this id.") from None


# --- list and create ------------------------------------------------------------------------------

@staff_required(permission="quotes.view_quote")
def quote_list(request):
    user = request.user
    can_see_all = page_queries.sees_every_quote(user)
    scope = request.GET.get("scope") or page_queries.default_scope(user)
    if scope not in (page_queries.SCOPE_MINE, page_queries.SCOPE_ALL) or not can_see_all:
        scope = page_queries.SCOPE_MINE
    rows = page_queries.quote_rows(user=user, scope=scope)
    filterset = QuoteFilter(request.GET, queryset=rows, request=request)
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "scope": scope,
        "can_see_all": can_see_all,
        "filtered": any(request.GET.get(name) for name in QuoteListFilterForm.base_fields),
    }
    if _wants_partial(request):
        response = render(request, "quotes/_results.html", context)
    else:
        context["filter_form"] = QuoteListFilterForm(
            request.GET, owners=page_queries.owner_choices(user=user) if can_see_all else [],
            customers=page_queries.customer_choices(user=user))
        response = render(request, "quotes/list.html", context)
    patch_vary_headers(response, ["HX-Request"])  # same URL, two representations
    return response


@staff_required(permission="quotes.add_quote")
def quote_create(request):
    customers = page_queries.customers_for_new_quote()
    initial = {"customer": request.GET.get("customer")} if request.GET.get("customer", "").isdigit() else {}
    form = QuoteCreateForm(request.POST or None, customers=customers, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            quote = editing.quote_create(owner=request.user, **form.cleaned_data)
        except DomainError as exc:
            apply_domain_errors(form, exc, QuoteCreateForm.ALIASES)
        else:
            messages.success(request, f"Quote {quote.number} created. Add the products below.")
            return redirect("quotes:detail", pk=quote.pk)
    return render(request, "quotes/create.html", {"form": form})


# --- the builder ----------------------------------------------------------------------------------

def _can_decide(user, quote: Quote, step: ApprovalStep | None) -> bool:
    """Whether to offer Approve / Reject on the page (the service decides again on the post)."""
    if quote.status != Quote.Status.PENDING_APPROVAL or step is None or quote.owner_id == user.pk:
        return False
    if not user.has_perm("quotes.approve_quote"):
        return False
    return user.is_superuser or user.groups.filter(pk=step.approver_group_id).exists()


def _builder_context(request, quote: Quote, *, line_errors=None, index_errors=None, add_form=None,
                     options_errors=None, terms_form=None, alerts=()) -> dict:
    """Everything the builder's regions show, from the database as it is now.

    line_errors {line id: (errors, typed values)} and index_errors {i: errors for lines[i]} put a
    refused edit back beside its inputs."""
    user = request.user
    lines = page_queries.ordered_lines(quote)
    rows = page_queries.line_rows(quote, lines)
    for row in rows:
        errors, values = (line_errors or {}).get(row.line.pk, ({}, {}))
        row.errors = {**(index_errors or {}).get(row.index, {}), **errors}
        row.values = values
    steps = page_queries.approval_steps(quote)
    waiting = page_queries.waiting_step(steps)
    editor = editing.can_edit(quote, user)
    editable = quote.is_editable and editor and user.has_perm("quotes.change_quote")
    can = {
        "edit_lines": editable and user.has_perm("quotes.change_quoteline"),
        "add_lines": editable and user.has_perm("quotes.add_quoteline"),
        "remove_lines": editable and user.has_perm("quotes.delete_quoteline"),
        "edit_terms": editable,
        "submit": editor and quote.status == Quote.Status.DRAFT and user.has_perm("quotes.change_quote"),
        "send": editor and quote.status in (Quote.Status.APPROVED, Quote.Status.SENT)
        and user.has_perm("quotes.change_quote"),
        # A draft is changed in place; revising is for a quote that went out or through approval.
        "revise": editor and quote.status in lifecycle.REVISABLE and quote.status != Quote.Status.DRAFT
        and user.has_perm("quotes.add_quote") and user.has_perm("quotes.change_quote"),
        "decide": _can_decide(user, quote, waiting),
    }
    if can["add_lines"] and add_form is None:
        add_form = LineAddForm(products=page_queries.addable_products(quote), options_url=_options_url(quote))
    add_product, option_rows = (None, [])
    if add_form is not None and add_form.is_bound:
        add_product, option_rows = _option_rows(quote, add_form.data)
    months = page_queries.revenue(quote, lines)
    return {
        "quote": quote,
        "rows": rows,
        "can": can,
        "editable": editable,
        "violations": editing.rule_violations(quote),
        "discount_percent": page_queries.discount_percent(quote),
        "revenue_years": page_queries.revenue_grid(months, quote.currency),
        "month_names": page_queries.MONTH_NAMES,
        "revenue_total": sum((m.amount for m in months), money.zero(quote.currency)),
        "steps": steps,
        "waiting_step": waiting,
        "history": page_queries.history(quote),
        "add_form": add_form,
        "add_product": add_product,
        "option_rows": option_rows,
        "options_errors": options_errors or [],
        "terms_form": terms_form or (QuoteTermsForm(initial=QuoteTermsForm.initial_for(quote)) if editable
                                     else None),
        "acceptance_link": (request.build_absolute_uri(lifecycle.acceptance_url(quote))
                            if quote.status == Quote.Status.SENT and editor and quote.acceptance_nonce else ""),
        "next_version": page_queries.next_version(quote),
        "alerts": list(alerts),
        "detail_url": reverse("quotes:detail", args=[quote.pk]),
    }


def _options_url(quote: Quote) -> str:
    return reverse("quotes:bundle_options", args=[quote.pk])


def _option_rows(quote: Quote, data) -> tuple:
    """The bundle options of the product in `data` with what was typed (or their defaults)."""
    product_id = str(data.get("product", ""))
    if not product_id.isdigit():
        return None, []
    product, options = page_queries.bundle_options(quote=quote, product_id=int(product_id))
    return product, [page_queries.OptionRow.of(option, data) for option in options]


@staff_required(permission="quotes.view_quote")
@require_GET
def quote_detail(request, pk: int):
    quote = _quote_or_404(request, pk)
    return render(request, "quotes/detail.html", _builder_context(request, quote))


def _answer(request, pk: int, *, regions, failed: bool, **context):
    """htmx: the regions, out of band. Otherwise: back to the page (PRG), or the page with the errors."""
    quote = _quote_or_404(request, pk)  # fresh: status and totals as the service left them
    if _wants_partial(request):
        return render(request, "quotes/_update.html",
                      {**_builder_context(request, quote, **context), "regions": regions})
    if failed:
        return render(request, "quotes/detail.html", _builder_context(request, quote, **context))
    for alert in context.get("alerts", ()):
        messages.add_message(request, getattr(messages, alert.level.upper()), alert.text)
    return redirect("quotes:detail", pk=pk)


def _returned_to_draft(before: str, quote_id: int) -> list[Alert]:
    if before in (Quote.Status.PENDING_APPROVAL, Quote.Status.APPROVED) and \
            Quote.objects.filter(pk=quote_id, status=Quote.Status.DRAFT).exists():
        return [Alert("warning", "The quote is back in draft: an approval covers the quote as it was approved. "
                                 "Submit it again when you are done.")]
    return []


def _split_errors(exc: DomainError, own: tuple[str, ...]) -> tuple[dict, dict, list[str]]:
    """A service error as (errors for the posted fields, {i: errors of lines[i]}, messages for the top)."""
    mine: dict[str, list[str]] = {}
    by_index: dict[int, dict[str, list[str]]] = {}
    loose: list[str] = []
    for key, msgs in exc.fields.items():
        match = LINE_ERROR_KEY.match(key)
        if match:
            by_index.setdefault(int(match.group(1)), {})[match.group(2)] = list(msgs)
        elif key in own:
            mine[key] = list(msgs)
        else:
            loose.extend(msgs)
    if not exc.fields:
        loose.append(exc.message)
    return mine, by_index, loose


@staff_required(permission="quotes.change_quoteline")
@require_POST
def line_update(request, pk: int, line_id: int):
    quote = _quote_or_404(request, pk)
    line = get_object_or_404(QuoteLine, pk=line_id, quote_id=quote.pk)
    form = LineChangeForm(request.POST)
    typed = {name: request.POST.get(name, "") for name in LINE_FIELDS}
    errors, index_errors, alerts = {}, {}, []
    if not form.is_valid():
        errors = {name: list(msgs) for name, msgs in form.errors.items()}
    elif changes := form.changes(line):
        try:
            editing.quote_line_update(line_id=line.pk, by=request.user, **changes)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            errors, index_errors, loose = _split_errors(exc, LINE_FIELDS)
            alerts = [Alert("error", text) for text in loose]
        else:
            alerts = _returned_to_draft(quote.status, quote.pk)
    failed = bool(errors or index_errors or any(a.level == "error" for a in alerts))
    return _answer(request, pk, regions=LINE_REGIONS, failed=failed, alerts=alerts,
                   line_errors={line.pk: (errors, typed)} if failed else None, index_errors=index_errors)


@staff_required(permission="quotes.delete_quoteline")
@require_POST
def line_remove(request, pk: int, line_id: int):
    quote = _quote_or_404(request, pk)
    line = get_object_or_404(QuoteLine.objects.select_related("product"), pk=line_id, quote_id=quote.pk)
    try:
        editing.quote_line_remove(line_id=line.pk, by=request.user)
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    except DomainError as exc:
        alerts, failed = [Alert("error", exc.message)], True
    else:
        alerts = [Alert("success", f"Removed {line.product.name}."), *_returned_to_draft(quote.status, quote.pk)]
        failed = False
    return _answer(request, pk, regions=LINE_REGIONS, failed=failed, alerts=alerts)


@staff_required(permission="quotes.add_quoteline")
@require_POST
def line_add(request, pk: int):
    quote = _quote_or_404(request, pk)
    form = LineAddForm(request.POST, products=page_queries.addable_products(quote), options_url=_options_url(quote))
    alerts, options_errors, index_errors = [], [], {}
    failed = True
    if form.is_valid():
        data = form.cleaned_data
        existing = quote.lines.count()
        try:
            added = editing.quote_line_add(
                quote_id=quote.pk, product_id=data["product"], quantity=data["quantity"], by=request.user,
                discount_percent=data["discount_percent"] or 0, discount_amount=data["discount_amount"] or 0,
                options=form.options())
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            mine, by_index, loose = _split_errors(exc, ("product", "quantity", "discount_percent",
                                                        "discount_amount", "billing_period", "options"))
            # lines[i] at or past the old end are the lines this add was creating: the add form's fields.
            for i, errors in by_index.items():
                if i >= existing:
                    for name, msgs in errors.items():
                        (mine.setdefault(name, []) if name in form.fields else loose).extend(msgs)
                else:
                    index_errors[i] = errors
            options_errors = mine.pop("options", [])
            if "billing_period" in mine:
                mine.setdefault("product", []).extend(mine.pop("billing_period"))
            for name, msgs in mine.items():
                form.add_error(name, msgs)
            if loose:
                form.add_error(None, loose)
        else:
            failed = False
            names = ", ".join(line.product.name for line in added[:1])
            extra = f" with {len(added) - 1} option{'s' if len(added) > 2 else ''}" if len(added) > 1 else ""
            alerts = [Alert("success", f"Added {names}{extra}."), *_returned_to_draft(quote.status, quote.pk)]
            form = None  # a fresh, empty form for the next product
    return _answer(request, pk, regions=(*LINE_REGIONS, "add"), failed=failed, alerts=alerts, add_form=form,
                   options_errors=options_errors, index_errors=index_errors)


@staff_required(permission="quotes.add_quoteline")
@require_GET
def bundle_options(request, pk: int):
    """The options fragment of the add form for the product chosen (empty for a plain product)."""
    quote = _quote_or_404(request, pk)
    product, rows = _option_rows(quote, request.GET)
    return render(request, "quotes/_bundle_options.html", {"add_product": product, "option_rows": rows})


@staff_required(permission="quotes.change_quote")
@require_POST
def quote_terms(request, pk: int):
    quote = _quote_or_404(request, pk)
    form = QuoteTermsForm(request.POST, initial=QuoteTermsForm.initial_for(quote))
    alerts, index_errors, failed = [], {}, True
    if form.is_valid():
        try:
            if form.has_changed():
                editing.quote_update(quote_id=quote.pk, by=request.user, **form.changes())
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except DomainError as exc:
            mine, index_errors, loose = _split_errors(exc, tuple(form.fields))
            for name, msgs in mine.items():
                form.add_error(name, msgs)
            if loose:
                form.add_error(None, loose)
        else:
            failed = False
            form = None  # re-read from the saved quote
            alerts = [Alert("success", "Terms saved."), *_returned_to_draft(quote.status, quote.pk)]
    return _answer(request, pk, regions=(*LINE_REGIONS, "terms"), failed=failed, alerts=alerts, terms_form=form,
                   index_errors=index_errors)


# --- state changes (whole-page posts) ---------------------------------------------------------------

def _transition(request, pk: int, action, done: str):
    quote = _quote_or_404(request, pk)
    try:
        result = action(quote_id=quote.pk, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message[:1].upper() + exc.message[1:])
        return redirect("quotes:detail", pk=quote.pk)
    messages.success(request, done.format(quote=result, status=result.get_status_display().lower()))
    return redirect("quotes:detail", pk=result.pk)


@staff_required(permission="quotes.change_quote")
@require_POST
def quote_submit(request, pk: int):
    return _transition(request, pk, lifecycle.quote_submit, "Submitted: the quote is {status}.")


@staff_required(permission="quotes.change_quote")
@require_POST
def quote_send(request, pk: int):
    return _transition(request, pk, lifecycle.quote_send,
                       "Sent. Copy the acceptance link below and send it to the customer; earlier links no "
                       "longer work.")


@staff_required(permission="quotes.add_quote")
@require_POST
def quote_revise(request, pk: int):
    return _transition(request, pk, lifecycle.quote_revise, "Version {quote.version} is a new draft.")


@staff_required(permission="quotes.view_quote")
@require_GET
def quote_pdf(request, pk: int):
    quote = _quote_or_404(request, pk)
    from .documents import quote_pdf_filename, render_quote_pdf

    response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{quote_pdf_filename(quote)}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- approvals ------------------------------------------------------------------------------------

@staff_required(permission="quotes.approve_quote")
@require_GET
def approvals(request):
    quotes = page_queries.approvals_waiting_for(user=request.user)
    for quote in quotes:
        quote.is_own = quote.owner_id == request.user.pk
    return render(request, "quotes/approvals.html", {"quotes": quotes, "reject_form": RejectForm()})


def _back(request, default: str):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


def _decide(request, pk: int, *, approve: bool):
    quote = _quote_or_404(request, pk)
    comment = request.POST.get("comment", "").strip()
    try:
        if approve:
            lifecycle.quote_approve(quote_id=quote.pk, by=request.user, comment=comment)
        else:
            lifecycle.quote_reject(quote_id=quote.pk, by=request.user, comment=comment)
    except DomainError as exc:
        verb = "approve" if approve else "reject"
        messages.error(request, f"Could not {verb} {quote}: {exc.message}.")
    else:
        quote.refresh_from_db(fields=["status"])
        if approve:
            messages.success(request, f"Approved {quote}" + (" — it is now fully approved." if
                                                               quote.status == Quote.Status.APPROVED else "."))
        else:
            messages.success(request, f"Rejected {quote}: it is back in draft with your comment for "
                                      f"{quote.owner.get_full_name() or quote.owner.username}.")
    return _back(request, reverse("quotes:approvals"))


@staff_required(permission="quotes.approve_quote")
@require_POST
def quote_approve(request, pk: int):
    return _decide(request, pk, approve=True)


@staff_required(permission="quotes.approve_quote")
@require_POST
def quote_reject(request, pk: int):
    return _decide(request, pk, approve=False)
