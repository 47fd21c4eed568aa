"""Portal test helpers: a contact's portal login, invoices in any state (issued ones through the
billing service, with gapless numbers and 10 % tax per line)."""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from django.contrib.auth.models import User

from billing.models import Invoice, InvoiceLine
from billing.services import invoices
from customers.models import Customer
from customers.services import portal_access_grant
from tests.factories import ContactFactory

PASSWORD = "pw-for-tests-1"


def portal_user(customer: Customer, email: str) -> User:
    contact = ContactFactory(customer=customer, email=email, name=f"{customer.name} billing")
    return portal_access_grant(contact=contact, password=PASSWORD)


def make_invoice(customer: Customer, *amounts: str, status: str = "issued", by=None) -> Invoice:
    """An invoice with one line per amount and 10 % tax per line; "issued" goes through invoice_issue."""
    nets = [D(a) for a in amounts]
    taxes = [n / 10 for n in nets]
    invoice = Invoice.objects.create(
        customer=customer, currency="USD", status="approved" if status in ("issued", "void") else status,
        period_start=date(2027, 1, 1), period_end=date(2027, 1, 31), subtotal=sum(nets), tax=sum(taxes),
        total=sum(nets) + sum(taxes), amount_due=sum(nets) + sum(taxes))
    for i, (net, tax) in enumerate(zip(nets, taxes, strict=True)):
        InvoiceLine.objects.create(invoice=invoice, kind="recurring", description=f"Seats, line {i + 1}",
                                   quantity=D(10), unit_price=net / 10, amount=net, tax_percent=D(10), tax_amount=tax,
                                   period_start=date(2027, 1, 1), period_end=date(2027, 1, 31), position=i)
    if status in ("issued", "void"):
        invoice = invoices.invoice_issue(invoice_id=invoice.pk, render_pdf=False)
    if status == "void":
        invoice = invoices.invoice_void(invoice_id=invoice.pk, by=by, reason="sent twice")
    return invoice
