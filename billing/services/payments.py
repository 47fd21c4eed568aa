"""Payments: recorded by finance or posted by a provider's signed webhook, allocated to the customer's
open invoices oldest first (or to the invoices named), the rest kept as customer credit and applied
to the next invoice when it is issued."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from customers.models import Customer
from revops.kernel import money
from revops.kernel.errors import ValidationFailed, field_error
from revops.kernel.events import record_event

from ..models import Invoice, Payment, PaymentAllocation
from .invoices import log, refresh_payment_status

WEBHOOK_TOLERANCE_SECONDS = 300


def _amount(value, currency: str) -> Decimal:
    try:
        amount = money.to_decimal(value if not isinstance(value, float) else str(value))
    except (ValidationFailed, TypeError):
        raise field_error("amount", "must be a decimal number, e.g. \"120.00\"") from None
    if amount <= 0:
        raise field_error("amount", "must be greater than 0")
    if amount != money.quantize(amount, currency):
        raise field_error("amount", f"must have at most {money.minor_units(currency)} decimal places in {currency}")
    return amount


def payment_record(*, customer: Customer, amount, currency: str, received_at: datetime | None = None,
                   reference: str = "", allocations: list[dict] | None = None, by=None,
                   source: str = Payment.Source.MANUAL, provider: str = "", provider_event_id: str = "") -> Payment:
    """Record money received and allocate it. `allocations` ([{"invoice", "amount"}]) names the invoices;
    without it the payment goes to the oldest open invoices first. Refused whole on bad input."""
    money.validate_currency(currency)
    if currency != customer.currency and not Invoice.objects.filter(customer=customer, currency=currency).exists():
        raise field_error("currency", f"{customer.name} is billed in {customer.currency}, not {currency}")
    value = _amount(amount, currency)
    with transaction.atomic():
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    customer=customer, amount=value, currency=currency, received_at=received_at or timezone.now(),
                    reference=reference, source=source, provider=provider, provider_event_id=provider_event_id,
                    recorded_by=by if getattr(by, "pk", None) else None)
        except IntegrityError:
            # The provider sent this event before: return the payment it made then.
            return Payment.objects.get(provider=provider, provider_event_id=provider_event_id)
        _allocate(payment, allocations)
        record_event("payment.received", payment, {
            "payment": payment.pk, "customer": customer.pk, "amount": str(value), "currency": currency,
            "reference": reference, "allocated": str(money.quantize(payment.amount_allocated, currency)),
            "unallocated": str(money.quantize(payment.amount - payment.amount_allocated, currency))})
    return payment


def _allocate(payment: Payment, allocations: list[dict] | None) -> None:
    currency = payment.currency
    remaining = payment.amount
    if allocations:
        for i, a in enumerate(allocations):
            invoice = Invoice.objects.select_for_update().filter(pk=a.get("invoice"), customer=payment.customer).first()
            if invoice is None:
                raise ValidationFailed("no such invoice for this customer",
                                       fields={f"allocations[{i}].invoice": ["not found"]})
            if invoice.currency != currency:
                raise ValidationFailed(f"invoice {invoice} is in {invoice.currency}",
                                       fields={f"allocations[{i}].invoice": [f"is in {invoice.currency}"]})
            if invoice.status not in Invoice.OPEN:
                raise ValidationFailed(f"invoice {invoice} is {invoice.status}",
                                       fields={f"allocations[{i}].invoice": [f"is {invoice.status}, not open"]})
            take = _amount(a.get("amount"), currency)
            if take > invoice.amount_due:
                raise ValidationFailed("more than the invoice's amount due",
                                       fields={f"allocations[{i}].amount": [
                                           f"at most {money.quantize(invoice.amount_due, currency)}"]})
            if take > remaining:
                raise ValidationFailed("allocations exceed the payment",
                                       fields={f"allocations[{i}].amount": ["more than what is left of the payment"]})
            _allocate_to(payment, invoice, take)
            remaining -= take
        return
    open_invoices = (Invoice.objects.select_for_update()
                     .filter(customer=payment.customer, currency=currency, status__in=Invoice.OPEN)
                     .order_by("due_date", "issue_date", "id"))
    for invoice in open_invoices:
        if remaining <= 0:
            break
        take = min(remaining, invoice.amount_due)
        if take > 0:
            _allocate_to(payment, invoice, take)
            remaining -= take


def _allocate_to(payment: Payment, invoice: Invoice, amount: Decimal) -> None:
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=amount)
    payment.amount_allocated += amount
    payment.save(update_fields=["amount_allocated"])
    refresh_payment_status(invoice)
    log(invoice, "payment", payment.recorded_by, f"{money.format_money(amount, invoice.currency)} "
                                                 f"({payment.reference or payment.source})")
    if invoice.status == Invoice.Status.PAID:
        record_event("invoice.paid", invoice, {"invoice": invoice.pk, "number": invoice.number,
                                               "customer": invoice.customer_id, "currency": invoice.currency})


def credit_balance(customer: Customer, currency: str | None = None) -> Decimal:
    currency = currency or customer.currency
    free = sum((p.amount - p.amount_allocated for p in Payment.objects.filter(customer=customer, currency=currency)),
               Decimal(0))
    return money.quantize(free, currency)


# --- provider webhook ------------------------------------------------------------------------------------

def webhook_secret(provider: str) -> str:
    return settings.REVOPS_PAYMENT_WEBHOOK_SECRETS.get(provider, "")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify_webhook(provider: str, header: str, body: bytes, now: float | None = None) -> None:
    """Header `Revops-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`; 5 minutes' tolerance."""
    secret = webhook_secret(provider)
    if not secret:
        raise ValidationFailed(f"unknown payment provider {provider!r}", code="unknown_provider")
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        ts = int(parts.get("t", ""))
    except ValueError:
        raise ValidationFailed("missing or malformed signature", code="bad_signature") from None
    if abs((now or time.time()) - ts) > WEBHOOK_TOLERANCE_SECONDS:
        raise ValidationFailed("the signature's timestamp is too old", code="bad_signature")
    if not hmac.compare_digest(signature(secret, ts, body), parts.get("v1", "")):
        raise ValidationFailed("the signature does not match the body", code="bad_signature")


def payment_from_webhook(*, provider: str, body: bytes, signature_header: str) -> Payment:
    """A generic provider event: {"id", "type": "payment.succeeded", "customer" | "customer_external_id",
    "amount", "currency", "created", "reference", "invoice"?}. Idempotent by the provider's event id."""
    verify_webhook(provider, signature_header, body)
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationFailed("the body is not JSON") from None
    if data.get("type") != "payment.succeeded":
        raise ValidationFailed(f"event type {data.get('type')!r} is not handled", code="ignored_event")
    customer = (Customer.objects.filter(pk=data.get("customer")).first() if data.get("customer")
                else Customer.objects.filter(external_id=data.get("customer_external_id")).first())
    if customer is None:
        raise field_error("customer", "unknown customer")
    if not data.get("id"):
        raise field_error("id", "the provider's event id is required")
    received = parse_datetime(data["created"]) if isinstance(data.get("created"), str) else None
    allocations = _webhook_allocations(data, customer)
    return payment_record(customer=customer, amount=str(data.get("amount")), currency=data.get("currency", ""),
                          received_at=received, reference=data.get("reference", ""), allocations=allocations,
                          source=Payment.Source.WEBHOOK, provider=provider, provider_event_id=str(data["id"]))


def _webhook_allocations(data: dict, customer: Customer) -> list[dict] | None:
    """The invoice the provider names takes what it still owes; the rest is customer credit. The money
    was received either way: an invoice already paid (say, recorded by hand), voided or in another
    currency must not make the event fail — the provider would redeliver it forever and the payment would
    never be recorded — so then the payment is allocated like any other (oldest open invoices first)."""
    if not data.get("invoice"):
        return None
    invoice = Invoice.objects.filter(pk=data["invoice"] if str(data["invoice"]).isdigit() else None,
                                     customer=customer, currency=data.get("currency"),
                                     status__in=Invoice.OPEN).first()
    try:
        amount = money.to_decimal(str(data.get("amount")))
    except (ValidationFailed, TypeError):
        return None  # payment_record refuses the amount itself, naming the field
    if invoice is None or amount <= 0 or invoice.amount_due <= 0:
        return None
    return [{"invoice": invoice.pk, "amount": min(amount, invoice.amount_due)}]
