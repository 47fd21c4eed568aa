"""The invoice PDF: rendered once after issue by a Celery task (never on the bill run's path), stored
with its SHA-256, and emailed to the customer's billing address. A failed render is recorded on the
invoice (`pdf_status = failed`, `pdf_error`) and retried by the task — never a silent missing file."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils.translation import to_locale

from revops.kernel.pdf import DocumentFormatter, html_to_pdf

from ..models import Invoice
from .invoices import log

TEMPLATE = "billing/invoice_pdf.html"


def invoice_pdf_context(invoice: Invoice, *, locale: str | None = None) -> dict:
    fmt = DocumentFormatter(invoice.currency, locale or to_locale(settings.LANGUAGE_CODE))
    snapshot = invoice.customer_snapshot or {"name": invoice.customer.name, "address": invoice.customer.address,
                                              "tax_id": invoice.customer.tax_id,
                                              "billing_email": invoice.customer.billing_email}
    lines = []
    for line in invoice.lines.all().order_by("position", "id"):
        lines.append({
            "description": line.description,
            "period": (f"{fmt.date(line.period_start)} – {fmt.date(line.period_end)}"
                       if line.period_start and line.period_end and line.period_start != line.period_end else ""),
            "quantity": fmt.number(line.quantity) if line.unit_price else "",
            "unit_price": fmt.unit_price(line.unit_price) if line.unit_price else "",
            "tax": f"{line.tax_percent.normalize():f}%" if line.tax_percent else "—",
            "amount": fmt.money(line.amount),
        })
    return {
        "company": settings.REVOPS_COMPANY, "invoice": invoice, "customer": snapshot, "lines": lines,
        "issue_date": fmt.date(invoice.issue_date) if invoice.issue_date else "",
        "due_date": fmt.date(invoice.due_date) if invoice.due_date else "",
        "period": (f"{fmt.date(invoice.period_start)} – {fmt.date(invoice.period_end)}"
                   if invoice.period_start and invoice.period_end else ""),
        "subtotal": fmt.money(invoice.subtotal), "tax": fmt.money(invoice.tax), "total": fmt.money(invoice.total),
        "amount_paid": fmt.money(invoice.amount_paid + invoice.amount_credited),
        "amount_due": fmt.money(invoice.amount_due), "currency": invoice.currency,
        "tax_note": ("Prices include tax; tax is computed per line and rounded half-up."
                     if invoice.prices_include_tax else "Tax is computed per line and rounded half-up."),
        "draft": invoice.number is None,
    }


def render_invoice_pdf(invoice: Invoice, *, locale: str | None = None) -> bytes:
    return html_to_pdf(render_to_string(TEMPLATE, invoice_pdf_context(invoice, locale=locale)))


def invoice_pdf_filename(invoice: Invoice) -> str:
    return f"{invoice.number or f'draft-{invoice.pk}'}.pdf"


def invoice_pdf_render(*, invoice_id: int, email: bool = False) -> Invoice:
    """Render, store and (optionally) email an issued invoice's PDF. Idempotent: a rendered invoice is
    not rendered again; the email goes once, with the render that stored the file."""
    invoice = Invoice.objects.select_related("customer").get(pk=invoice_id)
    if invoice.number is None:
        raise ValueError(f"invoice {invoice_id} is not issued")
    if invoice.pdf_status == Invoice.PdfStatus.RENDERED and invoice.pdf:
        return invoice
    pdf = render_invoice_pdf(invoice)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.pdf_status == Invoice.PdfStatus.RENDERED and invoice.pdf:
            return invoice
        invoice.pdf.save(invoice_pdf_filename(invoice), ContentFile(pdf), save=False)
        invoice.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
        invoice.pdf_status, invoice.pdf_error = Invoice.PdfStatus.RENDERED, ""
        invoice.save(update_fields=["pdf", "pdf_sha256", "pdf_status", "pdf_error"])
        log(invoice, "pdf_rendered", None, invoice.pdf_sha256[:12])
        recipient = invoice.customer.billing_email
        if email and recipient:
            subject = f"Invoice {invoice.number} from {settings.REVOPS_COMPANY['name']}"
            body = (f"Please find attached invoice {invoice.number}, due on {invoice.due_date:%Y-%m-%d}.")
            name = invoice_pdf_filename(invoice)
            transaction.on_commit(lambda: _send(subject, body, recipient, name, pdf))
            log(invoice, "emailed", None, recipient)
    return invoice


def _send(subject: str, body: str, to: str, filename: str, pdf: bytes) -> None:
    message = EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    message.attach(filename, pdf, "application/pdf")
    message.send()


