"""Every read the customer portal makes, scoped to the signed-in contact's customer.

Pages and the /api/v1/portal/ endpoints both read through here, so there is one place that decides what
a customer may see:
- invoices once issued (issued, partially paid, paid, uncollectible, and void after issue) — never a
  draft, one pending finance approval, or one approved but not yet issued;
- quotes that were sent to them (sent, accepted, rejected, expired) — never drafts, approvals or
  superseded versions;
- their payments with the allocations to their invoices;
- the usage of their active contracts' usage lines in the current billing period, rated through the
  line's price exactly as the bill run will rate it (before tax).

A user who is not a portal contact gets empty querysets and no customer. Another customer's record is
therefore simply absent, and callers answer 404 for it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from billing.services.payments import credit_balance
from billing.services.usage import usage_total
from catalog import pricing
from contracts.models import Contract, ContractLine
from contracts.services.periods import billing_anchor, billing_period_containing
from customers.models import Contact, Customer
from quotes.models import Quote, QuoteLine
from revops.kernel import money

# What a customer may see. Void counts only when the invoice was issued first (it has a number).
VISIBLE_INVOICE_STATUSES = (
    Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID, Invoice.Status.PAID, Invoice.Status.UNCOLLECTIBLE,
    Invoice.Status.VOID,
)
VISIBLE_QUOTE_STATUSES = (Quote.Status.SENT, Quote.Status.ACCEPTED, Quote.Status.REJECTED, Quote.Status.EXPIRED)
RECENT_INVOICES = 5


def business_today() -> date:
    return timezone.localdate(timezone=ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE))


# --- who -------------------------------------------------------------------------------------------------

def portal_contact(user) -> Contact | None:
    """The contact behind a portal login, or None (anonymous, staff without a contact, anyone else)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "portal_contact", None)


def is_portal_user(user) -> bool:
    return portal_contact(user) is not None


def _customer_id(user) -> int | None:
    contact = portal_contact(user)
    return contact.customer_id if contact is not None else None


def portal_customer(user) -> Customer | None:
    contact = portal_contact(user)
    return contact.customer if contact is not None else None


# --- invoices --------------------------------------------------------------------------------------------

def portal_invoices(user) -> QuerySet[Invoice]:
    """The customer's issued-and-later invoices, newest first."""
    customer_id = _customer_id(user)
    if customer_id is None:
        return Invoice.objects.none()
    return (Invoice.objects
            .filter(customer_id=customer_id, status__in=VISIBLE_INVOICE_STATUSES, number__isnull=False)
            .order_by("-issue_date", "-id"))


def portal_invoices_with_details(user) -> QuerySet[Invoice]:
    """portal_invoices with lines and payment allocations prefetched (two queries, however many rows)."""
    return portal_invoices(user).prefetch_related(
        Prefetch("lines", queryset=InvoiceLine.objects.order_by("position", "id")),
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("payment").order_by("id")),
    )


def portal_invoice(user, invoice_id) -> Invoice | None:
    """One of the customer's visible invoices with its details, or None (absent, not theirs, not issued)."""
    try:
        pk = int(invoice_id)
    except (TypeError, ValueError):
        return None
    return portal_invoices_with_details(user).filter(pk=pk).first()


# --- payments --------------------------------------------------------------------------------------------

def portal_payments(user) -> QuerySet[Payment]:
    """The customer's payments (and credits), newest first, with allocations to their invoices."""
    customer_id = _customer_id(user)
    if customer_id is None:
        return Payment.objects.none()
    return (Payment.objects.filter(customer_id=customer_id)
            .prefetch_related(Prefetch("allocations",
                                       queryset=PaymentAllocation.objects.select_related("invoice").order_by("id")))
            .order_by("-received_at", "-id"))


# --- quotes ----------------------------------------------------------------------------------------------

def portal_quotes(user) -> QuerySet[Quote]:
    """The quotes sent to the customer (sent, accepted, rejected, expired), newest first."""
    customer_id = _customer_id(user)
    if customer_id is None:
        return Quote.objects.none()
    return (Quote.objects.filter(customer_id=customer_id, status__in=VISIBLE_QUOTE_STATUSES)
            .select_related("owner", "customer")
            .prefetch_related(Prefetch("lines", queryset=QuoteLine.objects.select_related("product")
                                       .order_by("position", "id")))
            .order_by(F("sent_at").desc(nulls_last=True), "-created_at", "-id"))


def portal_quote(user, quote_id) -> Quote | None:
    try:
        pk = int(quote_id)
    except (TypeError, ValueError):
        return None
    return portal_quotes(user).filter(pk=pk).first()


def quote_is_open(quote: Quote, today: date | None = None) -> bool:
    """A sent quote the customer can still accept (its acceptance link works)."""
    return quote.status == Quote.Status.SENT and quote.valid_until >= (today or business_today())


# --- usage -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UsageRow:
    """One usage line version in the current billing period: usage so far and what it would cost."""

    contract_line_id: int
    contract_number: str
    product_name: str
    meter_code: str
    meter_name: str
    unit: str
    period_start: date  # the billing period
    period_end: date
    window_start: date  # the part of the period this line version covers, up to today
    window_end: date
    quantity: Decimal
    estimated_amount: Decimal  # before tax, through the line's price as the bill run rates it
    currency: str


def portal_usage(user, as_of: date | None = None) -> list[UsageRow]:
    """Usage so far in the current billing period, per usage line of the customer's active contracts.

    Each line version is rated over its own days of the period (as the bill run rates usage), so a line
    amended this period shows one row per version."""
    customer_id = _customer_id(user)
    if customer_id is None:
        return []
    today = as_of or business_today()
    contracts = (Contract.objects
                 .filter(customer_id=customer_id, status=Contract.Status.ACTIVE, start_date__lte=today,
                         end_date__gte=today)
                 .prefetch_related(Prefetch(
                     "lines",
                     queryset=ContractLine.objects.filter(period=ContractLine.Period.USAGE, price__isnull=False,
                                                          product__meter__isnull=False)
                     .select_related("product__meter", "price").prefetch_related("price__tiers")
                     .order_by("item", "version"),
                 ))
                 .order_by("start_date", "id"))
    rows = []
    for contract in contracts:
        period = billing_period_containing(billing_anchor(contract), contract.billing_frequency, today)
        for line in contract.lines.all():
            first, last = max(period.start, line.start_date), min(period.end, line.end_date, today)
            if first > last:
                continue
            meter = line.product.meter
            quantity = usage_total(customer_id, meter, first, last)
            amount = pricing.calculate(line.price, quantity).amount if quantity else money.zero(contract.currency)
            rows.append(UsageRow(
                contract_line_id=line.pk, contract_number=contract.number, product_name=line.product.name,
                meter_code=meter.code, meter_name=meter.name, unit=meter.unit or "units",
                period_start=period.start, period_end=period.end, window_start=first, window_end=last,
                quantity=quantity, estimated_amount=amount, currency=contract.currency,
            ))
    return rows


# --- overview --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Amount:
    amount: Decimal
    currency: str


@dataclass
class Overview:
    customer: Customer
    balance_due: list[Amount] = field(default_factory=list)  # per currency, open invoices
    overdue: list[Amount] = field(default_factory=list)
    credit_balance: Amount | None = None
    next_due_date: date | None = None  # the earliest due date still ahead; overdue money is shown apart
    open_invoices: int = 0
    recent_invoices: list[Invoice] = field(default_factory=list)


def portal_overview(user, as_of: date | None = None) -> Overview | None:
    """What the customer owes and when, their unused credit and their latest invoices."""
    customer = portal_customer(user)
    if customer is None:
        return None
    today = as_of or business_today()
    open_invoices = list(portal_invoices(user).filter(status__in=Invoice.OPEN, amount_due__gt=0)
                         .values_list("currency", "amount_due", "due_date"))
    due: dict[str, Decimal] = defaultdict(Decimal)
    overdue: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount_due, due_date in open_invoices:
        due[currency] += amount_due
        if due_date is not None and due_date < today:
            overdue[currency] += amount_due

    def amounts(by_currency: dict[str, Decimal]) -> list[Amount]:
        return [Amount(money.quantize(v, c), c) for c, v in sorted(by_currency.items(), key=_customer_first(customer))]

    next_due = min((d for _, _, d in open_invoices if d is not None and d >= today), default=None)
    return Overview(
        customer=customer,
        balance_due=amounts(due) or [Amount(money.zero(customer.currency), customer.currency)],
        overdue=amounts(overdue),
        credit_balance=Amount(credit_balance(customer), customer.currency),
        next_due_date=next_due,
        open_invoices=len(open_invoices),
        recent_invoices=list(portal_invoices(user)[:RECENT_INVOICES]),
    )


def _customer_first(customer: Customer):
    return lambda item: (item[0] != customer.currency, item[0])


def invoice_filter(queryset: QuerySet[Invoice], status: str | None) -> QuerySet[Invoice]:
    """The invoice list's tabs: open (money owed), paid, or all."""
    if status == "open":
        return queryset.filter(status__in=Invoice.OPEN)
    if status == "paid":
        return queryset.filter(status=Invoice.Status.PAID)
    return queryset
