"""Finance pages: invoices (list, approval queue, the invoice page and its actions), bill runs, AR
aging, dunning, payments.

Views stay thin: reads come from `billing.page_queries`, writes go through `billing.services`, whose
field errors are shown beside the field they name, with nothing changed (each service is one
transaction). A refused action on the invoice page re-renders the page with the form open and the
message beside its input.

Who may do what (model permissions, see revops.kernel.roles): reading invoices needs
`billing.view_invoice` (every staff role but customer success reads them; sales reps too), approving
`billing.approve_invoice`, issuing `billing.issue_invoice`, voiding, writing off and re-rendering
`billing.change_invoice`, payments `billing.add_payment`, credit notes `billing.add_creditnote`, bill
runs `billing.view_billrun` / `billing.add_billrun`. In practice: finance and admins. Others get 403.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from revops.kernel.errors import DomainError, PermissionDeniedError
from revops.kernel.money import format_money
from revops.kernel.views import staff_required

from . import page_queries
from .forms import (
    AsOfForm,
    BillRunForm,
    CreditNoteForm,
    InvoiceFilterForm,
    InvoicePaymentForm,
    PaymentFilterForm,
    PaymentForm,
    UncollectibleForm,
    VoidForm,
    apply_domain_errors,
    checked_invoice_ids,
)
from .models import BillRun, Invoice, Payment
from .services import dunning
from .services.billrun import bill_run_create
from .services.credit_notes import credit_note_create
from .services.documents import invoice_pdf_filename, invoice_pdf_render, render_invoice_pdf
from .services.invoices import (
    invoice_approve,
    invoice_issue,
    invoice_mark_uncollectible,
    invoice_void,
    invoices_approve,
)
from .services.payments import credit_balance, payment_record

logger = logging.getLogger(__name__)

PAGE_SIZE = 25
QUEUE_PAGE_SIZE = 50
RUN_PAGE_SIZE = 50
VIEW = "billing.view_invoice"
APPROVE = "billing.approve_invoice"
ISSUE = "billing.issue_invoice"
CHANGE = "billing.change_invoice"
ADD_PAYMENT = "billing.add_payment"
ADD_CREDIT_NOTE = "billing.add_creditnote"
VIEW_RUNS = "billing.view_billrun"
START_RUN = "billing.add_billrun"
VIEW_PAYMENTS = "billing.view_payment"
VIEW_DUNNING = "billing.view_dunningnotice"


def _wants_partial(request) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _invoice_or_404(pk: int) -> Invoice:
    try:
        return page_queries.invoice_for_page(pk)
    except Invoice.DoesNotExist:
        raise Http404("no such invoice") from None


def _forbid_if_denied(exc: DomainError) -> None:
    """A service's "who may" refusal is a 403 like a missing permission; other refusals are shown."""
    if isinstance(exc, PermissionDeniedError):
        raise PermissionDenied(exc.message) from exc


def _received_at(day: date) -> datetime:
    """A payment received today is stamped now; an earlier day at its start (business time zone)."""
    if day == timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(day, time.min))


def _as_of(request) -> tuple[date, AsOfForm]:
    today = timezone.localdate()
    form = AsOfForm(request.GET if "as_of" in request.GET else None, initial={"as_of": today})
    if form.is_bound and form.is_valid():
        return form.cleaned_data["as_of"], form
    return today, form


# --- invoices list and the approval queue --------------------------------------------------------------


@staff_required(permission=VIEW)
def invoice_list(request):
    form = InvoiceFilterForm(request.GET or None, customers=page_queries.customers_with_invoices(),
                             currencies=page_queries.billing_currencies())
    filters = form.filters()
    page = Paginator(page_queries.invoice_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "filtered": bool(filters), "filter_form": form,
               "queue": page_queries.queue_counts() if not _wants_partial(request) else None}
    template = "billing/_invoice_results.html" if _wants_partial(request) else "billing/invoice_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


QUEUES = {"pending": Invoice.Status.PENDING_APPROVAL, "approved": Invoice.Status.APPROVED}


@staff_required(permission=VIEW)
def approvals(request):
    queue = request.GET.get("queue", "pending")
    if queue not in QUEUES:
        queue = "pending"
    page = Paginator(page_queries.approval_queue(QUEUES[queue]), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    can_act = request.user.has_perm(APPROVE if queue == "pending" else ISSUE)
    return render(request, "billing/approvals.html", {
        "queue": queue, "page": page, "counts": page_queries.queue_counts(), "can_act": can_act})


def _bulk_back(request, queue: str):
    return redirect(f"{reverse('billing:approvals')}?queue={queue}")


@staff_required(permission=APPROVE)
@require_POST
def invoices_approve_bulk(request):
    ids = checked_invoice_ids(request.POST)
    if not ids:
        messages.warning(request, "Select the invoices to approve.")
        return _bulk_back(request, "pending")
    done, refused = invoices_approve(invoice_ids=ids, by=request.user)
    if done:
        messages.success(request, f"Approved {len(done)} invoice{'s' if len(done) != 1 else ''}; "
                                  f"they are ready to issue.")
    for pk, reason in refused.items():
        messages.error(request, f"Not approved (invoice {pk}): {reason}")
    return _bulk_back(request, "pending")


@staff_required(permission=ISSUE)
@require_POST
def invoices_issue_bulk(request):
    ids = checked_invoice_ids(request.POST)
    if not ids:
        messages.warning(request, "Select the invoices to issue.")
        return _bulk_back(request, "approved")
    issued = []
    for pk in ids:  # each invoice in its own transaction: one refusal does not hold back the others
        try:
            issued.append(invoice_issue(invoice_id=pk, by=request.user))
        except Invoice.DoesNotExist:
            messages.error(request, f"Not issued (invoice {pk}): no such invoice.")
        except DomainError as exc:
            _forbid_if_denied(exc)
            messages.error(request, f"Not issued (invoice {pk}): {exc.message}")
    if issued:
        numbers = ", ".join(inv.number for inv in issued[:10]) + (" …" if len(issued) > 10 else "")
        messages.success(request, f"Issued {len(issued)} invoice{'s' if len(issued) != 1 else ''}: {numbers}.")
    return _bulk_back(request, "approved")


# --- the invoice page --------------------------------------------------------------------------------------


def _actions(user, page: page_queries.InvoicePage) -> dict[str, bool]:
    invoice = page.invoice
    return {
        "approve": invoice.status == Invoice.Status.PENDING_APPROVAL and user.has_perm(APPROVE),
        "issue": invoice.status == Invoice.Status.APPROVED and user.has_perm(ISSUE),
        "void": page.can_be_voided and user.has_perm(CHANGE),
        "uncollectible": invoice.status in Invoice.OPEN and user.has_perm(CHANGE),
        "payment": invoice.status in Invoice.OPEN and user.has_perm(ADD_PAYMENT),
        "credit_note": (invoice.status in (*Invoice.OPEN, Invoice.Status.PAID) and bool(page.creditable)
                        and user.has_perm(ADD_CREDIT_NOTE)),
        "retry_pdf": invoice.pdf_status == Invoice.PdfStatus.FAILED and user.has_perm(CHANGE),
    }


def _invoice_page(request, invoice: Invoice, *, open_form: str = "", **bound):
    """The invoice page; `bound` holds a refused form to show with its errors (and open)."""
    data = page_queries.invoice_page(invoice)
    forms = {
        "void_form": VoidForm(),
        "uncollectible_form": UncollectibleForm(),
        "payment_form": InvoicePaymentForm(initial={"amount": invoice.amount_due}),
        "credit_form": CreditNoteForm(lines=data.creditable),
    }
    forms.update(bound)
    can = _actions(request.user, data)
    # A refused action whose form the page no longer offers (the invoice moved on): its errors on top.
    refused = next(iter(bound.values())) if bound and not can.get(open_form) else None
    context = {"invoice": invoice, "page": data, "can": can, "open_form": open_form, "refused_form": refused,
               **forms}
    return render(request, "billing/invoice_detail.html", context)


@staff_required(permission=VIEW)
def invoice_detail(request, pk: int):
    return _invoice_page(request, _invoice_or_404(pk))


def _done(request, invoice: Invoice, message: str):
    messages.success(request, message)
    return redirect("billing:invoice", pk=invoice.pk)


@staff_required(permission=APPROVE)
@require_POST
def invoice_approve_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    try:
        invoice_approve(invoice_id=invoice.pk, by=request.user)
    except DomainError as exc:
        _forbid_if_denied(exc)
        messages.error(request, exc.message)
        return redirect("billing:invoice", pk=invoice.pk)
    return _done(request, invoice, f"{invoice} approved; it is ready to issue.")


@staff_required(permission=ISSUE)
@require_POST
def invoice_issue_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    try:
        invoice = invoice_issue(invoice_id=invoice.pk, by=request.user)
    except DomainError as exc:
        _forbid_if_denied(exc)
        messages.error(request, exc.message)
        return redirect("billing:invoice", pk=invoice.pk)
    return _done(request, invoice, f"Issued as {invoice.number}, due {invoice.due_date:%Y-%m-%d}; "
                                   f"the PDF is rendered and emailed to the customer.")


@staff_required(permission=CHANGE)
@require_POST
def invoice_void_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    form = VoidForm(request.POST)
    if form.is_valid():
        try:
            invoice_void(invoice_id=invoice.pk, by=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc)
        else:
            return _done(request, invoice, f"{invoice} voided; its charges will be billed again by the next run.")
    return _invoice_page(request, invoice, open_form="void", void_form=form)


@staff_required(permission=CHANGE)
@require_POST
def invoice_uncollectible_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    form = UncollectibleForm(request.POST)
    if form.is_valid():
        try:
            invoice_mark_uncollectible(invoice_id=invoice.pk, by=request.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc)
        else:
            return _done(request, invoice, f"{invoice} written off as uncollectible.")
    return _invoice_page(request, invoice, open_form="uncollectible", uncollectible_form=form)


@staff_required(permission=ADD_PAYMENT)
@require_POST
def invoice_payment_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    form = InvoicePaymentForm(request.POST)
    if form.is_valid():
        amount = form.cleaned_data["amount"]
        try:
            payment_record(customer=invoice.customer, amount=str(amount), currency=invoice.currency,
                           received_at=_received_at(form.cleaned_data["received_on"]),
                           reference=form.cleaned_data["reference"],
                           allocations=[{"invoice": invoice.pk, "amount": str(amount)}], by=request.user)
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc, InvoicePaymentForm.ALIASES)
        else:
            invoice.refresh_from_db(fields=["amount_due", "status"])
            return _done(request, invoice, f"Payment of {format_money(amount, invoice.currency)} recorded; "
                                           f"{format_money(invoice.amount_due, invoice.currency)} is still due.")
    return _invoice_page(request, invoice, open_form="payment", payment_form=form)


@staff_required(permission=ADD_CREDIT_NOTE)
@require_POST
def invoice_credit_note_view(request, pk: int):
    invoice = _invoice_or_404(pk)
    data = page_queries.invoice_page(invoice)
    form = CreditNoteForm(request.POST, lines=data.creditable)
    if form.is_valid():
        specs, fields = form.lines_to_credit()
        try:
            note = credit_note_create(invoice_id=invoice.pk, lines=specs, reason=form.cleaned_data["reason"],
                                      by=request.user, refund=form.cleaned_data["refund"])
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc, rows=fields)
        else:
            return _done(request, invoice, f"Credit note {note.number} for "
                                           f"{format_money(note.total, note.currency)} issued.")
    return _invoice_page(request, invoice, open_form="credit_note", credit_form=form)


# --- the PDF -------------------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def invoice_pdf(request, pk: int):
    """An issued invoice's stored PDF (rendered now if it never was); a draft's preview, not stored."""
    invoice = _invoice_or_404(pk)
    if invoice.number is None:
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice_pdf_filename(invoice)}"'
        response["Cache-Control"] = "private, no-store"
        return response
    if invoice.pdf_status == Invoice.PdfStatus.FAILED:
        messages.error(request, "The PDF failed to render; retry the render below.")
        return redirect("billing:invoice", pk=invoice.pk)
    if not (invoice.pdf_status == Invoice.PdfStatus.RENDERED and invoice.pdf):
        # Demo and bulk-imported invoices are rendered on first download (the service is idempotent).
        invoice = invoice_pdf_render(invoice_id=invoice.pk)
    response = FileResponse(invoice.pdf.open("rb"), as_attachment=True, filename=invoice_pdf_filename(invoice),
                            content_type="application/pdf")
    response["Cache-Control"] = "private, no-store"
    return response


@staff_required(permission=CHANGE)
@require_POST
def invoice_pdf_retry(request, pk: int):
    from .tasks import render_invoice_pdf as render_task

    invoice = _invoice_or_404(pk)
    if invoice.number is None:
        messages.error(request, f"{invoice} is not issued; it has no PDF to render.")
        return redirect("billing:invoice", pk=invoice.pk)
    try:
        render_task.delay(invoice.pk)
    except Exception as exc:  # eager mode (dev) runs the task here: it failed again and recorded why
        logger.warning("re-rendering invoice %s failed: %s", invoice.pk, exc)
        messages.error(request, f"The render failed again: {type(exc).__name__}: {exc}")
    else:
        messages.success(request, "The PDF render was started again.")
    return redirect("billing:invoice", pk=invoice.pk)


# --- bill runs ------------------------------------------------------------------------------------------------


def _bill_runs_page(request, form: BillRunForm):
    page = Paginator(page_queries.bill_runs(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "billing/bill_runs.html",
                  {"page": page, "form": form, "can_start": request.user.has_perm(START_RUN)})


@staff_required(permission=VIEW_RUNS)
def bill_runs(request):
    return _bill_runs_page(request, BillRunForm())


@staff_required(permission=START_RUN)
def bill_run_start(request):
    form = BillRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = bill_run_create(as_of=form.cleaned_data["as_of"], dry_run=form.cleaned_data["dry_run"],
                                  by=request.user)
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc)
        else:
            kind = "Dry run" if run.dry_run else "Bill run"
            messages.success(request, f"{kind} {run.pk} as of {run.as_of:%Y-%m-%d} started.")
            return redirect("billing:bill_run", pk=run.pk)
    return _bill_runs_page(request, form)


def _run_or_404(pk: int) -> BillRun:
    try:
        return page_queries.bill_run_for_page(pk)
    except BillRun.DoesNotExist:
        raise Http404("no such bill run") from None


def _run_finished(run: BillRun) -> bool:
    return run.status in (BillRun.Status.DONE, BillRun.Status.DONE_WITH_ERRORS)


@staff_required(permission=VIEW_RUNS)
def bill_run_detail(request, pk: int):
    run = _run_or_404(pk)
    context = {"run": run, "finished": _run_finished(run), "chunks": list(run.chunks.order_by("index")),
               "errors": list(page_queries.run_errors(run))}
    if run.dry_run:
        groups, totals = page_queries.run_preview(run)
        context["preview"] = Paginator(groups, RUN_PAGE_SIZE).get_page(request.GET.get("page"))
        context["preview_totals"] = totals
    else:
        context["invoices"] = Paginator(page_queries.run_invoices(run), RUN_PAGE_SIZE).get_page(
            request.GET.get("page"))
        context["totals"] = page_queries.run_invoice_totals(run)
    return render(request, "billing/bill_run_detail.html", context)


@staff_required(permission=VIEW_RUNS)
def bill_run_progress(request, pk: int):
    """The progress region, polled while the run works; once it is done the whole page reloads."""
    run = _run_or_404(pk)
    if not _wants_partial(request):
        return redirect("billing:bill_run", pk=run.pk)
    response = render(request, "billing/_bill_run_progress.html",
                      {"run": run, "finished": _run_finished(run), "chunks": list(run.chunks.order_by("index"))})
    if _run_finished(run):
        response["HX-Refresh"] = "true"
    return response


# --- receivables ---------------------------------------------------------------------------------------------


@staff_required(permission=VIEW)
def ar_aging(request):
    as_of, form = _as_of(request)
    return render(request, "billing/ar_aging.html", {"report": page_queries.aging_report(as_of), "form": form})


@staff_required(permission=VIEW_DUNNING)
def dunning_status(request):
    as_of, form = _as_of(request)
    steps = dunning.schedule()
    page = Paginator(page_queries.overdue_invoices(as_of), QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "billing/dunning.html", {
        "form": form, "as_of": as_of, "steps": steps, "page": page,
        "rows": page_queries.overdue_rows(page.object_list, as_of, steps)})


# --- payments ------------------------------------------------------------------------------------------------


@staff_required(permission=VIEW_PAYMENTS)
def payment_list(request):
    form = PaymentFilterForm(request.GET or None, customers=page_queries.customers_for_payment(),
                             currencies=page_queries.billing_currencies())
    filters = form.filters()
    page = Paginator(page_queries.payment_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "billing/payments.html", {
        "page": page, "filter_form": form, "filtered": bool(filters),
        "can_record": request.user.has_perm(ADD_PAYMENT)})


@staff_required(permission=ADD_PAYMENT)
def payment_create(request):
    initial = {"customer": request.GET["customer"]} if request.GET.get("customer", "").isdigit() else {}
    form = PaymentForm(request.POST or None, customers=page_queries.customers_for_payment(), initial=initial)
    if request.method == "POST" and form.is_valid():
        customer = form.cleaned_data["customer"]
        currency = form.cleaned_data["currency"] or customer.currency
        try:
            payment = payment_record(customer=customer, amount=str(form.cleaned_data["amount"]), currency=currency,
                                     received_at=_received_at(form.cleaned_data["received_on"]),
                                     reference=form.cleaned_data["reference"], by=request.user)
        except DomainError as exc:
            _forbid_if_denied(exc)
            apply_domain_errors(form, exc)
        else:
            messages.success(request, f"Payment of {format_money(payment.amount, payment.currency)} from "
                                      f"{customer.name} recorded.")
            return redirect("billing:payment", pk=payment.pk)
    return render(request, "billing/payment_form.html", {"form": form})


@staff_required(permission=VIEW_PAYMENTS)
def payment_detail(request, pk: int):
    try:
        payment = page_queries.payment_for_page(pk)
    except Payment.DoesNotExist:
        raise Http404("no such payment") from None
    return render(request, "billing/payment_detail.html", {
        "payment": payment, "credit": credit_balance(payment.customer, payment.currency)})
