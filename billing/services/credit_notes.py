"""Credit notes: the only way to correct an issued invoice. Each line credits (part of) an invoice line,
with its tax credited at the line's rate (per line, half-up). The credit reduces what the invoice still
owes; what is beyond that becomes customer credit, or a refund when asked."""
from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from revops.kernel import money
from revops.kernel.errors import InvalidTransition, ValidationFailed, field_error
from revops.kernel.events import record_event
from revops.kernel.numbering import format_number, next_number

from ..models import CreditNote, CreditNoteLine, Invoice, Payment
from .invoices import log, refresh_payment_status


def credit_note_create(*, invoice_id: int, lines: list[dict], reason: str, by, refund: bool = False) -> CreditNote:
    """`lines`: [{"invoice_line": id, "amount": net amount to credit}] — at most what is left of each line."""
    if not (reason or "").strip():
        raise field_error("reason", "say why the invoice is credited")
    if not lines:
        raise field_error("lines", "credit at least one line")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if invoice.status not in (*Invoice.OPEN, Invoice.Status.PAID):
            raise InvalidTransition(f"{invoice} is {invoice.status}; only an issued invoice takes a credit note")
        currency = invoice.currency
        by_id = {x.pk: x for x in invoice.lines.select_related("tax_rate")}
        credited = _already_credited(invoice)
        prepared = []
        for i, spec in enumerate(lines):
            line = by_id.get(spec.get("invoice_line"))
            if line is None:
                raise ValidationFailed("not a line of this invoice", fields={f"lines[{i}].invoice_line": ["not found"]})
            try:
                amount = money.to_decimal(str(spec.get("amount")))
            except (ValidationFailed, TypeError):
                raise ValidationFailed("not a number", fields={f"lines[{i}].amount": ["must be a number"]}) from None
            if amount <= 0 or amount != money.quantize(amount, currency):
                raise ValidationFailed("bad amount", fields={f"lines[{i}].amount": [
                    f"must be greater than 0 with at most {money.minor_units(currency)} places"]})
            left = line.amount - credited.get(line.pk, Decimal(0))
            if amount > left:
                raise ValidationFailed("more than is left to credit", fields={f"lines[{i}].amount": [
                    f"at most {money.quantize(left, currency)} is left to credit on this line"]})
            tax = Decimal(0)
            if line.tax_percent:
                tax = (line.tax_amount if amount == line.amount else
                       money.quantize(amount * line.tax_percent / 100, currency))
            prepared.append((line, amount, tax))
        number = format_number("CN", timezone.localdate().year, next_number(f"CN-{timezone.localdate().year}"))
        note = CreditNote.objects.create(number=number, invoice=invoice, customer_id=invoice.customer_id,
                                         currency=currency, reason=reason, refund=refund,
                                         created_by=by if getattr(by, "pk", None) else None)
        CreditNoteLine.objects.bulk_create([
            CreditNoteLine(credit_note=note, invoice_line=line, description=f"Credit: {line.description}"[:300],
                           amount=amt, tax_amount=tax) for line, amt, tax in prepared])
        note.subtotal = money.quantize(sum((a for _, a, _ in prepared), Decimal(0)), currency)
        note.tax = money.quantize(sum((t for _, _, t in prepared), Decimal(0)), currency)
        note.total = note.subtotal + note.tax
        applied = min(note.total, max(invoice.amount_due, Decimal(0)))
        note.applied_to_invoice = applied
        note.save(update_fields=["subtotal", "tax", "total", "applied_to_invoice"])
        invoice.amount_credited += applied
        invoice.save(update_fields=["amount_credited"])
        refresh_payment_status(invoice)
        rest = note.total - applied
        if rest > 0:
            # Already paid: the rest goes back to the customer, as credit or as a refund.
            Payment.objects.create(customer_id=invoice.customer_id, amount=rest, currency=currency,
                                   received_at=timezone.now(), reference=note.number, source=Payment.Source.CREDIT)
            if refund:
                Payment.objects.create(customer_id=invoice.customer_id, amount=-rest, currency=currency,
                                       received_at=timezone.now(), reference=f"refund {note.number}",
                                       source=Payment.Source.REFUND, amount_allocated=-rest)
                _consume_credit(invoice.customer_id, currency, rest)
        log(invoice, "credit_note", by, f"{note.number}: {money.format_money(note.total, currency)} — {reason}")
        record_event("credit_note.issued", note, {
            "credit_note": note.pk, "number": note.number, "invoice": invoice.pk, "customer": invoice.customer_id,
            "currency": currency, "subtotal": str(note.subtotal), "tax": str(note.tax), "total": str(note.total),
            "refund": refund, "lines": [{"invoice_line": line.pk, "amount": str(a), "tax": str(t)}
                                        for line, a, t in prepared]})
    return note


def _already_credited(invoice: Invoice) -> dict[int, Decimal]:
    out: dict[int, Decimal] = {}
    for line in CreditNoteLine.objects.filter(credit_note__invoice=invoice):
        out[line.invoice_line_id] = out.get(line.invoice_line_id, Decimal(0)) + line.amount
    return out


def _consume_credit(customer_id: int, currency: str, amount: Decimal) -> None:
    """A refund pays out credit: mark that much of the newest credit as used."""
    credit = Payment.objects.select_for_update().filter(customer_id=customer_id, currency=currency,
                                                       source=Payment.Source.CREDIT).order_by("-id").first()
    credit.amount_allocated += amount
    credit.save(update_fields=["amount_allocated"])


