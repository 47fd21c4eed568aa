"""Reads for the finance pages, each in a fixed number of queries whatever the number of invoices,
lines, payments or notices (tests/billing/test_pages.py pins the counts). Reads shared with an API
belong in a selectors module; these only shape what the pages show.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Sum

from customers.models import Customer
from revops.kernel import money

from .models import (
    BillRun,
    BillRunError,
    CreditNote,
    CreditNoteLine,
    DunningNotice,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    Payment,
    PaymentAllocation,
)
from .services import dunning

OPEN = "open"  # the list's pseudo-status: issued or partly paid (money owed)

BUCKET_LABELS = {"current": "Current", "1-30": "1–30 days", "31-60": "31–60 days", "61-90": "61–90 days",
                 "90+": "Over 90 days"}


# --- invoices list and approval queue ------------------------------------------------------------------


def invoice_list(*, status: str = "", customer=None, currency: str = "", due_from: date | None = None,
                 due_to: date | None = None, run: int | None = None) -> QuerySet[Invoice]:
    qs = Invoice.objects.select_related("customer", "contract")
    if status == OPEN:
        qs = qs.filter(status__in=Invoice.OPEN)
    elif status:
        qs = qs.filter(status=status)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if currency:
        qs = qs.filter(currency=currency)
    if due_from is not None:
        qs = qs.filter(due_date__gte=due_from)
    if due_to is not None:
        qs = qs.filter(due_date__lte=due_to)
    if run is not None:
        qs = qs.filter(bill_run_id=run)
    return qs.order_by("-created_at", "-id")


def customers_with_invoices() -> QuerySet[Customer]:
    return (Customer.objects.filter(Exists(Invoice.objects.filter(customer=OuterRef("pk"))))
            .only("pk", "name", "currency").order_by("name", "id"))


def billing_currencies() -> list[str]:
    """The currencies customers are billed in (the customers table is far smaller than invoices)."""
    return list(Customer.objects.order_by("currency").values_list("currency", flat=True).distinct())


def approval_queue(status: str) -> QuerySet[Invoice]:
    """Invoices waiting for finance: pending approval, or approved and not yet issued; oldest first."""
    return (Invoice.objects.filter(status=status).select_related("customer", "contract")
            .order_by("created_at", "id"))


def queue_counts() -> dict[str, int]:
    rows = (Invoice.objects.filter(status__in=[Invoice.Status.PENDING_APPROVAL, Invoice.Status.APPROVED])
            .order_by().values("status").annotate(n=Count("id")))
    counts = {Invoice.Status.PENDING_APPROVAL: 0, Invoice.Status.APPROVED: 0}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


# --- the invoice page ------------------------------------------------------------------------------------


@dataclass
class LineRow:
    line: InvoiceLine
    credited: Decimal  # net amount already credited by credit notes
    left: Decimal  # what can still be credited


@dataclass
class InvoicePage:
    invoice: Invoice
    lines: list[LineRow]
    allocations: list[PaymentAllocation]
    credit_notes: list[CreditNote]
    history: list[InvoiceEvent]
    notices: list[DunningNotice]

    @property
    def can_be_voided(self) -> bool:
        return (self.invoice.status not in (Invoice.Status.VOID, Invoice.Status.UNCOLLECTIBLE,
                                            Invoice.Status.PAID, Invoice.Status.PARTIALLY_PAID)
                and not self.allocations and not self.credit_notes)

    @property
    def creditable(self) -> list[LineRow]:
        return [row for row in self.lines if row.left > 0]


def invoice_for_page(pk: int) -> Invoice:
    """The invoice with what its header shows (raises Invoice.DoesNotExist)."""
    return Invoice.objects.select_related("customer", "contract", "bill_run", "approved_by").get(pk=pk)


def invoice_page(invoice: Invoice) -> InvoicePage:
    lines = list(invoice.lines.order_by("position", "id"))
    allocations = list(invoice.allocations.select_related("payment", "payment__recorded_by").order_by("id"))
    notes = list(invoice.credit_notes.select_related("created_by")
                 .prefetch_related(Prefetch("lines", queryset=CreditNoteLine.objects.order_by("id")))
                 .order_by("issued_at", "id"))
    credited: dict[int, Decimal] = defaultdict(Decimal)
    for note in notes:
        for cn_line in note.lines.all():
            credited[cn_line.invoice_line_id] += cn_line.amount
    history = list(InvoiceEvent.objects.filter(invoice=invoice).select_related("actor").order_by("at", "id"))
    notices = list(invoice.dunning_notices.order_by("days_after_due"))
    rows = [LineRow(line, credited.get(line.pk, Decimal(0)), line.amount - credited.get(line.pk, Decimal(0)))
            for line in lines]
    return InvoicePage(invoice, rows, allocations, notes, history, notices)


# --- bill runs ---------------------------------------------------------------------------------------------


def bill_runs() -> QuerySet[BillRun]:
    return BillRun.objects.select_related("created_by").annotate(error_count=Count("errors")).order_by(
        "-created_at", "-id")


def bill_run_for_page(pk: int) -> BillRun:
    return BillRun.objects.select_related("created_by").annotate(error_count=Count("errors")).get(pk=pk)


@dataclass
class CurrencyTotals:
    currency: str
    count: int
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def run_invoice_totals(run: BillRun) -> list[CurrencyTotals]:
    rows = (Invoice.objects.filter(bill_run=run).order_by().values("currency")
            .annotate(n=Count("id"), subtotal=Sum("subtotal"), tax=Sum("tax"), total=Sum("total"))
            .order_by("currency"))
    return [CurrencyTotals(r["currency"], r["n"], r["subtotal"], r["tax"], r["total"]) for r in rows]


def run_invoices(run: BillRun) -> QuerySet[Invoice]:
    return Invoice.objects.filter(bill_run=run).select_related("customer", "contract").order_by("id")


def run_errors(run: BillRun) -> QuerySet[BillRunError]:
    return run.errors.select_related("contract", "customer").order_by("id")


@dataclass
class PreviewCustomer:
    """A dry run's preview for one customer and currency: the contracts that would be invoiced."""

    customer_id: int
    customer_name: str
    currency: str
    contracts: list[dict] = field(default_factory=list)
    subtotal: Decimal = Decimal(0)


def run_preview(run: BillRun) -> tuple[list[PreviewCustomer], list[tuple[str, Decimal, int]]]:
    """The dry run's preview grouped by customer (and currency), and the subtotal per currency."""
    groups: OrderedDict[tuple[int, str], PreviewCustomer] = OrderedDict()
    for entry in sorted(run.preview or [], key=lambda e: (e.get("customer_name", ""), e.get("contract", 0))):
        key = (entry["customer"], entry["currency"])
        group = groups.setdefault(key, PreviewCustomer(entry["customer"], entry["customer_name"], entry["currency"]))
        group.contracts.append(entry)
        group.subtotal += Decimal(entry["subtotal"])
    per_currency: dict[str, tuple[Decimal, int]] = {}
    for group in groups.values():
        amount, n = per_currency.get(group.currency, (Decimal(0), 0))
        per_currency[group.currency] = (amount + group.subtotal, n + len(group.contracts))
    totals = [(cur, money.quantize(amount, cur), n) for cur, (amount, n) in sorted(per_currency.items())]
    return list(groups.values()), totals


# --- receivables -------------------------------------------------------------------------------------------


@dataclass
class AgingLine:
    customer_id: int
    customer_name: str
    currency: str
    amounts: list[Decimal]  # in BUCKETS order
    total: Decimal


@dataclass
class AgingReport:
    as_of: date
    buckets: list[tuple[str, str]]  # (key, label)
    rows: list[AgingLine]
    totals: list[AgingLine]  # one per currency (customer fields empty)


def aging_report(as_of: date) -> AgingReport:
    rows = []
    sums: dict[str, list[Decimal]] = {}
    for row in dunning.ar_aging(as_of=as_of):
        amounts = [row.buckets[b] for b in dunning.BUCKETS]
        rows.append(AgingLine(row.customer_id, row.customer_name, row.currency, amounts, row.total))
        acc = sums.setdefault(row.currency, [Decimal(0)] * len(amounts))
        sums[row.currency] = [a + b for a, b in zip(acc, amounts, strict=True)]
    totals = [AgingLine(0, "", cur, [money.quantize(a, cur) for a in amounts],
                        money.quantize(sum(amounts, Decimal(0)), cur)) for cur, amounts in sorted(sums.items())]
    return AgingReport(as_of, [(b, BUCKET_LABELS[b]) for b in dunning.BUCKETS], rows, totals)


def overdue_invoices(as_of: date) -> QuerySet[Invoice]:
    return (Invoice.objects.filter(status__in=Invoice.OPEN, due_date__lt=as_of).select_related("customer")
            .prefetch_related(Prefetch("dunning_notices", queryset=DunningNotice.objects.order_by("days_after_due")))
            .order_by("due_date", "id"))


@dataclass
class OverdueRow:
    invoice: Invoice
    days_overdue: int
    notices: list[DunningNotice]
    next_step: int | None  # the next reminder (days after due) not yet sent
    next_due: bool  # that reminder is already due


def overdue_rows(invoices, as_of: date, steps: tuple[int, ...]) -> list[OverdueRow]:
    rows = []
    for invoice in invoices:
        late = (as_of - invoice.due_date).days
        notices = list(invoice.dunning_notices.all())
        sent = {n.days_after_due for n in notices}
        pending = [s for s in steps if s not in sent]
        nxt = min(pending) if pending else None
        rows.append(OverdueRow(invoice, late, notices, nxt, nxt is not None and nxt <= late))
    return rows


# --- payments ------------------------------------------------------------------------------------------------


def payment_list(*, customer=None, currency: str = "") -> QuerySet[Payment]:
    qs = Payment.objects.select_related("customer", "recorded_by").prefetch_related(
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related("invoice").order_by("id")))
    if customer is not None:
        qs = qs.filter(customer=customer)
    if currency:
        qs = qs.filter(currency=currency)
    return qs.order_by("-received_at", "-id")


def payment_for_page(pk: int) -> Payment:
    return (Payment.objects.select_related("customer", "recorded_by")
            .prefetch_related(Prefetch("allocations",
                                       queryset=PaymentAllocation.objects.select_related("invoice").order_by("id")))
            .get(pk=pk))


def customers_for_payment() -> QuerySet[Customer]:
    return Customer.objects.only("pk", "name", "currency").order_by("name", "id")
