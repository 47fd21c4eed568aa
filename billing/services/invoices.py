"""Invoice lifecycle: draft → pending_approval | approved → issued → partially_paid | paid; void;
uncollectible. Issuing takes a gapless number in the issuing transaction, freezes the invoice (a
snapshot of the customer), applies the customer's credit, and — after commit — renders the PDF and
emails the customer. Nothing changes an issued invoice's lines or amounts; corrections are credit notes.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from revops.kernel import money
from revops.kernel.errors import InvalidTransition, PermissionDeniedError, field_error
from revops.kernel.events import record_event
from revops.kernel.numbering import format_number, next_number

from ..models import FinanceApprovalRule, Invoice, InvoiceEvent, Payment, PaymentAllocation

PAYMENT_TERMS_DAYS = {"due_on_receipt": 0, "net_15": 15, "net_30": 30, "net_45": 45, "net_60": 60, "net_90": 90}


def log(invoice: Invoice, kind: str, by=None, detail: str = "") -> None:
    InvoiceEvent.objects.create(invoice=invoice, kind=kind, detail=detail, actor=by if getattr(by, "pk", None) else None)


def amount(value, invoice: Invoice) -> str:
    return str(money.quantize(value, invoice.currency))


def payload(invoice: Invoice, **extra) -> dict:
    return {"invoice": invoice.pk, "number": invoice.number, "customer": invoice.customer_id,
            "contract": invoice.contract_id, "currency": invoice.currency, "status": invoice.status,
            "subtotal": amount(invoice.subtotal, invoice), "tax": amount(invoice.tax, invoice),
            "total": amount(invoice.total, invoice), "amount_due": amount(invoice.amount_due, invoice),
            "issue_date": invoice.issue_date.isoformat() if invoice.issue_date else None,
            "due_date": invoice.due_date.isoformat() if invoice.due_date else None, **extra}


def _locked(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


# --- finance approval --------------------------------------------------------------------------------

def approval_reasons(invoice: Invoice, rules: list[FinanceApprovalRule] | None = None, *,
                     line_amounts: list[Decimal] | None = None) -> list[str]:
    """Why finance must approve this invoice (empty: it is approved at once). `line_amounts` lets a
    caller that has the lines in memory (the bill run) judge an invoice before it is written."""
    rules = list(FinanceApprovalRule.objects.filter(active=True)) if rules is None else rules
    reasons = []
    C = FinanceApprovalRule.Condition
    for rule in rules:
        if rule.condition == C.TOTAL_ABOVE and invoice.total > rule.threshold:
            reasons.append(f"total {money.format_money(invoice.total, invoice.currency)} is above "
                           f"{rule.threshold.normalize():f}")
        elif rule.condition == C.FIRST_INVOICE and not Invoice.objects.filter(
                customer_id=invoice.customer_id, status__in=Invoice.POSTED).exclude(pk=invoice.pk).exists():
            reasons.append("the customer's first invoice")
        elif rule.condition == C.HAS_CREDIT and (
                any(a < 0 for a in line_amounts) if line_amounts is not None
                else invoice.lines.filter(amount__lt=0).exists()):
            reasons.append("contains a credit")
        elif rule.condition == C.NEGATIVE_TOTAL and invoice.total < 0:
            reasons.append("the total is negative")
    return reasons


def route_for_approval(invoice: Invoice, rules=None) -> Invoice:
    """A new draft goes to finance when a rule holds it, else it is approved at once."""
    reasons = approval_reasons(invoice, rules)
    invoice.approval_reasons = reasons
    invoice.status = Invoice.Status.PENDING_APPROVAL if reasons else Invoice.Status.APPROVED
    invoice.save(update_fields=["approval_reasons", "status"])
    log(invoice, "pending_approval" if reasons else "approved", None, "; ".join(reasons) or "no rule applies")
    return invoice


def invoice_approve(*, invoice_id: int, by) -> Invoice:
    if not by.has_perm("billing.approve_invoice"):
        raise PermissionDeniedError("approving invoices needs the finance role")
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status != Invoice.Status.PENDING_APPROVAL:
            raise InvalidTransition(f"{invoice} is {invoice.status}; only an invoice pending approval can be approved")
        invoice.status, invoice.approved_by, invoice.approved_at = Invoice.Status.APPROVED, by, timezone.now()
        invoice.save(update_fields=["status", "approved_by", "approved_at"])
        log(invoice, "approved", by)
        record_event("invoice.approved", invoice, payload(invoice))
    return invoice


def invoices_approve(*, invoice_ids: list[int], by) -> tuple[list[Invoice], dict[int, str]]:
    """Bulk approval for the finance page: each invoice on its own; refusals are reported, not raised."""
    done, refused = [], {}
    for pk in invoice_ids:
        try:
            done.append(invoice_approve(invoice_id=pk, by=by))
        except (InvalidTransition, PermissionDeniedError, Invoice.DoesNotExist) as exc:
            refused[pk] = str(exc)
    return done, refused


# --- issuing -------------------------------------------------------------------------------------------

def _snapshot(invoice: Invoice) -> dict:
    c = invoice.customer
    return {"name": c.name, "address": c.address, "country": c.country, "tax_id": c.tax_id,
            "billing_email": c.billing_email, "external_id": c.external_id}


def invoice_issue(*, invoice_id: int, by=None, render_pdf: bool = True) -> Invoice:
    """Approved → issued, with the next gapless number of the year's series (INV-2026-000123).

    After commit the PDF is rendered and emailed by a task; `render_pdf=False` (bulk imports, demo
    data) leaves it to be rendered on first download instead."""
    if by is not None and not by.has_perm("billing.issue_invoice"):
        raise PermissionDeniedError("issuing invoices needs the finance role")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().select_related("customer").get(pk=invoice_id)
        if invoice.status != Invoice.Status.APPROVED:
            raise InvalidTransition(f"cannot issue an invoice that is {invoice.status}")
        today = timezone.localdate()
        invoice.number = format_number("INV", today.year, next_number(f"INV-{today.year}"))
        invoice.issue_date = today
        invoice.due_date = today + timedelta(days=PAYMENT_TERMS_DAYS.get(invoice.payment_terms, 30))
        invoice.customer_snapshot = _snapshot(invoice)
        invoice.issued_at = timezone.now()
        invoice.status = Invoice.Status.ISSUED
        invoice.amount_due = invoice.total
        invoice.pdf_status = Invoice.PdfStatus.PENDING
        invoice.save(update_fields=["number", "issue_date", "due_date", "customer_snapshot", "issued_at", "status",
                                    "amount_due", "pdf_status"])
        log(invoice, "issued", by, invoice.number)
        if invoice.total < 0:
            # A net credit (e.g. after a downgrade): it becomes customer credit for the next invoices.
            Payment.objects.create(customer=invoice.customer, amount=-invoice.total, currency=invoice.currency,
                                   received_at=timezone.now(), reference=invoice.number, source=Payment.Source.CREDIT)
            invoice.amount_due = money.zero(invoice.currency)
            invoice.status = Invoice.Status.PAID
            invoice.save(update_fields=["amount_due", "status"])
            applied = Decimal(0)
        else:
            applied = apply_customer_credit(invoice)
        record_event("invoice.issued", invoice, payload(invoice, credit_applied=amount(applied, invoice)))
        if render_pdf:
            transaction.on_commit(lambda: _render_and_send(invoice.pk), robust=True)
        else:
            invoice.pdf_status = Invoice.PdfStatus.NONE
            invoice.save(update_fields=["pdf_status"])
    return invoice


def _render_and_send(invoice_id: int) -> None:
    from ..tasks import render_invoice_pdf

    render_invoice_pdf.delay(invoice_id, email=True)


def refresh_payment_status(invoice: Invoice) -> None:
    """amount_paid / amount_due / status from allocations and credit notes (caller holds the lock)."""
    paid = sum((a.amount for a in invoice.allocations.all()), Decimal(0))
    invoice.amount_paid = money.quantize(paid, invoice.currency)
    invoice.amount_due = money.quantize(invoice.total - invoice.amount_paid - invoice.amount_credited,
                                        invoice.currency)
    if invoice.status in Invoice.OPEN or invoice.status == Invoice.Status.PAID:
        if invoice.amount_due <= 0:
            invoice.status = Invoice.Status.PAID
        elif invoice.amount_paid > 0 or invoice.amount_credited > 0:
            invoice.status = Invoice.Status.PARTIALLY_PAID
        else:
            invoice.status = Invoice.Status.ISSUED
    invoice.save(update_fields=["amount_paid", "amount_due", "status"])


def apply_customer_credit(invoice: Invoice) -> Decimal:
    """Allocate the customer's unallocated payments and credits (oldest first) to this invoice."""
    applied = Decimal(0)
    due = invoice.total - invoice.amount_paid - invoice.amount_credited
    credits = (Payment.objects.select_for_update().filter(customer_id=invoice.customer_id, currency=invoice.currency)
               .order_by("received_at", "id"))
    for payment in credits:
        if due <= 0:
            break
        free = payment.amount - payment.amount_allocated
        if free <= 0:
            continue
        take = min(free, due)
        PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=take)
        payment.amount_allocated += take
        payment.save(update_fields=["amount_allocated"])
        due -= take
        applied += take
    if applied:
        log(invoice, "credit_applied", None, money.format_money(applied, invoice.currency))
    refresh_payment_status(invoice)
    return applied


# --- void and uncollectible --------------------------------------------------------------------------------

def invoice_void(*, invoice_id: int, by, reason: str) -> Invoice:
    """Void an invoice nobody has paid. Its charges count as not billed, so the next bill run bills
    them again (fix the contract first). A paid or partly paid invoice is corrected by a credit note."""
    if not (reason or "").strip():
        raise field_error("reason", "say why the invoice is voided")
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status in (Invoice.Status.PAID, Invoice.Status.PARTIALLY_PAID) or invoice.allocations.exists():
            raise InvalidTransition(f"{invoice} has payments; issue a credit note instead of voiding it")
        if invoice.status in (Invoice.Status.VOID, Invoice.Status.UNCOLLECTIBLE):
            raise InvalidTransition(f"{invoice} is already {invoice.status}")
        if invoice.credit_notes.exists():
            raise InvalidTransition(f"{invoice} has credit notes; it cannot be voided")
        invoice.status, invoice.voided_at, invoice.void_reason = Invoice.Status.VOID, timezone.now(), reason
        invoice.amount_due = money.zero(invoice.currency)
        invoice.save(update_fields=["status", "voided_at", "void_reason", "amount_due"])
        log(invoice, "voided", by, reason)
        record_event("invoice.voided", invoice, payload(invoice, reason=reason))
    return invoice


def invoice_mark_uncollectible(*, invoice_id: int, by, reason: str = "") -> Invoice:
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status not in Invoice.OPEN:
            raise InvalidTransition(f"{invoice} is {invoice.status}; only an unpaid issued invoice can be written off")
        invoice.status = Invoice.Status.UNCOLLECTIBLE
        invoice.save(update_fields=["status"])
        log(invoice, "uncollectible", by, reason)
        record_event("invoice.uncollectible", invoice, payload(invoice, reason=reason))
    return invoice
