"""Dunning and receivables: overdue reminders on a schedule (days after the due date), each sent once
per invoice and step, and the AR aging report (current, 1–30, 31–60, 61–90, 90+)."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from revops.kernel import money
from revops.kernel.events import record_event

from ..models import DunningNotice, Invoice
from .invoices import log

DEFAULT_SCHEDULE = (3, 10, 30)
BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")


def schedule() -> tuple[int, ...]:
    return tuple(getattr(settings, "REVOPS_DUNNING_DAYS", DEFAULT_SCHEDULE))


def dunning_run(*, today: date) -> int:
    """Send every reminder that is due and not yet sent (a unique constraint makes each one once)."""
    steps = schedule()
    if not steps:
        return 0
    overdue = (Invoice.objects.filter(status__in=Invoice.OPEN, due_date__lte=today - timedelta(days=min(steps)))
               .select_related("customer"))
    sent = 0
    for invoice in overdue:
        late = (today - invoice.due_date).days
        already = set(invoice.dunning_notices.values_list("days_after_due", flat=True))
        due_steps = [s for s in steps if s <= late and s not in already]
        if not due_steps:
            continue
        step = max(due_steps)  # after downtime, send the latest reminder, not a burst of old ones
        try:
            with transaction.atomic():
                for s in due_steps:  # the skipped older steps are recorded as covered by this one
                    DunningNotice.objects.create(invoice=invoice, days_after_due=s, amount_due=invoice.amount_due)
                log(invoice, "dunning", None, f"{step} days overdue: {money.format_money(invoice.amount_due, invoice.currency)}")
                record_event("invoice.overdue", invoice, {"invoice": invoice.pk, "number": invoice.number,
                                                          "customer": invoice.customer_id, "days_overdue": late,
                                                          "step": step, "amount_due": str(invoice.amount_due)})
                recipient = invoice.customer.billing_email
                if recipient:
                    subject = f"Reminder: invoice {invoice.number} is {late} days overdue"
                    body = (f"Invoice {invoice.number} of {invoice.issue_date} for "
                            f"{money.format_money(invoice.total, invoice.currency)} was due on {invoice.due_date}. "
                            f"{money.format_money(invoice.amount_due, invoice.currency)} is still open.")
                    transaction.on_commit(lambda s=subject, b=body, r=recipient: send_mail(
                        s, b, settings.DEFAULT_FROM_EMAIL, [r]))
            sent += 1
        except IntegrityError:
            continue  # another run sent it
    return sent


def bucket_of(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "current"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    if days_overdue <= 90:
        return "61-90"
    return "90+"


@dataclass
class AgingRow:
    customer_id: int
    customer_name: str
    currency: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: OrderedDict((b, Decimal(0)) for b in BUCKETS))

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), Decimal(0))


def ar_aging(*, as_of: date, customer_id: int | None = None) -> list[AgingRow]:
    """Open amounts per customer and currency by days past due on `as_of`."""
    invoices = Invoice.objects.filter(status__in=Invoice.OPEN).select_related("customer")
    if customer_id:
        invoices = invoices.filter(customer_id=customer_id)
    rows: dict[tuple[int, str], AgingRow] = {}
    for inv in invoices.order_by("customer__name", "due_date"):
        row = rows.setdefault((inv.customer_id, inv.currency), AgingRow(inv.customer_id, inv.customer.name, inv.currency))
        row.buckets[bucket_of((as_of - inv.due_date).days)] += inv.amount_due
    for row in rows.values():
        for b in BUCKETS:
            row.buckets[b] = money.quantize(row.buckets[b], row.currency)
    return list(rows.values())
