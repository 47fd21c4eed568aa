"""Journal entries from business events, and the recognition run.

invoice issued    Dr AR (total) · Cr Unbilled receivable (up to what was recognized before billing),
                  then Cr Deferred revenue (subscription and one-time lines) · Cr Revenue (usage lines:
                  usage is recognized as rated) · Cr Tax payable; customer credit applied at issue:
                  Dr Customer credit · Cr AR
revenue recognized Dr Deferred revenue (up to the contract's deferred balance), then Dr Unbilled
                  receivable (the contract asset) · Cr Revenue (per product family)
payment received  Dr Cash · Cr AR (what was allocated) · Cr Customer credit (the rest)
credit note       the reverse of its invoice lines: Dr Deferred revenue / Revenue · Dr Tax payable ·
                  Cr AR (applied to the invoice) · Cr Customer credit (the rest)
Each posts once (its source key), into an open period.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.models import CreditNote, Invoice, Payment
from revops.kernel.dates import add_months, month_start

from ..models import Account, PerformanceObligation, ScheduleLine
from .journal import Leg, account, balance, post

ZERO = Decimal(0)
R = Account.Role


def post_invoice(invoice: Invoice, *, credit_applied: Decimal = ZERO):
    currency = invoice.currency
    legs = [Leg(account(R.RECEIVABLE), invoice.total)]
    unbilled = max(balance(R.UNBILLED, contract_id=invoice.contract_id), ZERO) if invoice.contract_id else ZERO
    for line in invoice.lines.select_related("product"):
        family = line.product.family if line.product else ""
        if line.kind == "usage" or (line.kind == "adjustment" and line.meter_id):
            legs.append(Leg(account(R.REVENUE, family), -line.amount, invoice.contract_id, line.product_id))
            continue
        amount = line.amount
        if amount > 0 and unbilled > 0:
            take = min(unbilled, amount)
            legs.append(Leg(account(R.UNBILLED), -take, invoice.contract_id, line.product_id))
            unbilled -= take
            amount -= take
        legs.append(Leg(account(R.DEFERRED), -amount, invoice.contract_id, line.product_id))
    legs.append(Leg(account(R.TAX), -invoice.tax))
    entry = post(source="invoice.issued", source_key=f"invoice.issued:{invoice.pk}", day=invoice.issue_date,
                 currency=currency, memo=f"Invoice {invoice.number}", legs=legs, customer_id=invoice.customer_id,
                 contract_id=invoice.contract_id)
    if invoice.total < 0:  # a net credit invoice becomes customer credit
        post(source="invoice.credit", source_key=f"invoice.credit:{invoice.pk}", day=invoice.issue_date,
             currency=currency, memo=f"Credit from {invoice.number}",
             legs=[Leg(account(R.RECEIVABLE), -invoice.total), Leg(account(R.CREDIT), invoice.total)],
             customer_id=invoice.customer_id, contract_id=invoice.contract_id)
    if credit_applied:
        post(source="credit.applied", source_key=f"credit.applied:{invoice.pk}", day=invoice.issue_date,
             currency=currency, memo=f"Customer credit applied to {invoice.number}",
             legs=[Leg(account(R.CREDIT), credit_applied), Leg(account(R.RECEIVABLE), -credit_applied)],
             customer_id=invoice.customer_id, contract_id=invoice.contract_id)
    return entry


def post_payment(payment: Payment, *, allocated: Decimal):
    """`allocated`: what the payment settled when it was received (the event's payload); credit it
    leaves is applied later by invoices (their own entries)."""
    if payment.source in (Payment.Source.CREDIT, Payment.Source.REFUND):
        return None  # credit notes and negative invoices post their own credit
    legs = [Leg(account(R.CASH), payment.amount), Leg(account(R.RECEIVABLE), -allocated),
            Leg(account(R.CREDIT), -(payment.amount - allocated))]
    return post(source="payment.received", source_key=f"payment.received:{payment.pk}",
                day=timezone.localtime(payment.received_at).date(), currency=payment.currency,
                memo=f"Payment {payment.reference or payment.pk}", legs=legs, customer_id=payment.customer_id)


def post_credit_note(note: CreditNote):
    invoice = note.invoice
    legs = []
    for line in note.lines.select_related("invoice_line__product"):
        inv_line = line.invoice_line
        family = inv_line.product.family if inv_line and inv_line.product else ""
        usage = inv_line is not None and (inv_line.kind == "usage" or bool(inv_line.meter_id))
        target = account(R.REVENUE, family) if usage else account(R.DEFERRED)
        legs.append(Leg(target, line.amount, invoice.contract_id, inv_line.product_id if inv_line else None))
    legs.append(Leg(account(R.TAX), note.tax))
    legs.append(Leg(account(R.RECEIVABLE), -note.applied_to_invoice))
    legs.append(Leg(account(R.CREDIT), -(note.total - note.applied_to_invoice)))
    return post(source="credit_note.issued", source_key=f"credit_note.issued:{note.pk}",
                day=timezone.localtime(note.issued_at).date(), currency=note.currency,
                memo=f"Credit note {note.number} on {invoice.number}", legs=legs, customer_id=note.customer_id,
                contract_id=invoice.contract_id)


def recognize_through(*, day: date) -> int:
    """Recognize every planned schedule line of a month that has ended by `day` (month-end posting).
    Idempotent: a recognized line is never posted again; lines of closed months post late into the
    first open period."""
    last_complete = month_start(day) if day < add_months(month_start(day), 1) - timedelta(days=1) \
        else add_months(month_start(day), 1)
    due = (ScheduleLine.objects.filter(status=ScheduleLine.Status.PLANNED, period__lt=last_complete)
           .exclude(obligation__pattern=PerformanceObligation.Pattern.USAGE)
           .select_related("obligation__product", "obligation__contract").order_by("period", "obligation_id"))
    posted = 0
    for line in due:
        with transaction.atomic():
            line = ScheduleLine.objects.select_for_update().select_related(
                "obligation__product", "obligation__contract").get(pk=line.pk)
            if line.status != ScheduleLine.Status.PLANNED or not line.amount:
                if line.status == ScheduleLine.Status.PLANNED:
                    line.status = ScheduleLine.Status.RECOGNIZED
                    line.save(update_fields=["status"])
                continue
            ob = line.obligation
            end_of_month = add_months(line.period, 1) - timedelta(days=1)
            deferred = max(-balance(R.DEFERRED, contract_id=ob.contract_id), ZERO)
            from_deferred = min(deferred, line.amount)
            legs = [Leg(account(R.DEFERRED), from_deferred, ob.contract_id, ob.product_id),
                    Leg(account(R.UNBILLED), line.amount - from_deferred, ob.contract_id, ob.product_id),
                    Leg(account(R.REVENUE, ob.product.family), -line.amount, ob.contract_id, ob.product_id)]
            entry = post(source="revenue.recognized", source_key=f"revenue.recognized:{line.pk}", day=end_of_month,
                         currency=ob.currency, memo=f"Revenue {line.period:%Y-%m}: {ob.product.name} ({ob.contract})",
                         legs=legs, customer_id=ob.contract.customer_id, contract_id=ob.contract_id)
            line.status, line.entry = ScheduleLine.Status.RECOGNIZED, entry
            line.save(update_fields=["status", "entry"])
            posted += 1
    return posted
