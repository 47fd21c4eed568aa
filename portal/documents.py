"""PDF downloads for the portal (pages and API alike): the invoice's stored file, or the quote as it is."""
from __future__ import annotations

import logging

from django.http import HttpResponse

from billing.models import Invoice
from billing.services.documents import invoice_pdf_filename, invoice_pdf_render, render_invoice_pdf
from quotes.documents import quote_pdf_filename, render_quote_pdf
from quotes.models import Quote

logger = logging.getLogger(__name__)


def invoice_pdf_bytes(invoice: Invoice) -> bytes:
    """The issued invoice's PDF. Served from the stored file; an invoice not rendered yet (issued without
    rendering, the task still queued, or a failed render) is rendered and stored now, once — the same
    idempotent service the Celery task runs."""
    if invoice.pdf_status != Invoice.PdfStatus.RENDERED or not invoice.pdf:
        invoice = invoice_pdf_render(invoice_id=invoice.pk)
    try:
        with invoice.pdf.open("rb") as handle:
            return handle.read()
    except FileNotFoundError:
        # The database says rendered but the file is gone (lost storage): the invoice is frozen, so
        # rendering it again gives the same document. Logged, so the lost file is visible.
        logger.warning("invoice %s: stored PDF %s is missing; rendered it again", invoice.pk, invoice.pdf.name)
        return render_invoice_pdf(invoice)


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def invoice_pdf_response(invoice: Invoice) -> HttpResponse:
    return pdf_response(invoice_pdf_bytes(invoice), invoice_pdf_filename(invoice))


def quote_pdf_response(quote: Quote) -> HttpResponse:
    return pdf_response(render_quote_pdf(quote), quote_pdf_filename(quote))
