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

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import CharField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from billing.models import CreditNote, Invoice, Payment
from revops.kernel import money
from revops.kernel.dates import add_months, month_start
from revops.kernel.events import record_events

from ..models import Account, JournalEntry, JournalLine, PerformanceObligation, ScheduleLine
from .journal import EntrySpec, Leg, account, balance, post, post_many

ZERO = Decimal(0)
RECOGNITION_CHUNK = 500  # schedule lines per transaction in the recognition run
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
    first open period. Lines post in (month, obligation) order, RECOGNITION_CHUNK to a transaction."""
    last_complete = month_start(day) if day < add_months(month_start(day), 1) - timedelta(days=1) \
        else add_months(month_start(day), 1)
    order = ("period", "obligation_id", "id")
    due = list(ScheduleLine.objects.filter(status=ScheduleLine.Status.PLANNED, period__lt=last_complete)
               .exclude(obligation__pattern=PerformanceObligation.Pattern.USAGE).order_by(*order)
               .values_list("pk", flat=True))
    accounts: dict[tuple[str, str], Account] = {}

    def account_for(role: str, family: str = "") -> Account:  # looked up once per run
        if (role, family) not in accounts:
            accounts[role, family] = account(role, family)
        return accounts[role, family]

    posted = 0
    for i in range(0, len(due), RECOGNITION_CHUNK):
        posted += _recognize_lines(due[i:i + RECOGNITION_CHUNK], order, account_for)
    return posted


def _recognize_lines(ids: list[int], order: tuple[str, ...], account_for: Callable[..., Account]) -> int:
    """Post the still-planned lines among `ids`, in `order`, in one transaction. Each contract's deferred
    balance is read once (under the lines' locks) and drawn down in memory as its lines post."""
    with transaction.atomic():
        locked = (ScheduleLine.objects.select_for_update(of=("self",)).filter(pk__in=ids)
                  .select_related("obligation__product", "obligation__contract").order_by(*order))
        lines, zero = [], []
        for line in locked:
            if line.status == ScheduleLine.Status.PLANNED:
                (lines if line.amount else zero).append(line)
        keys = [f"revenue.recognized:{line.pk}" for line in lines]
        already = set(JournalEntry.objects.filter(source_key__in=keys).values_list("source_key", flat=True))
        deferred = {row["contract_id"]: (row["c"] or ZERO) - (row["d"] or ZERO) for row in (
            JournalLine.objects.filter(account__role=R.DEFERRED, contract_id__in={x.obligation.contract_id for x in lines})
            .values("contract_id").annotate(d=Sum("debit"), c=Sum("credit")).order_by())}
        specs = []
        for line, key in zip(lines, keys, strict=True):
            ob = line.obligation
            from_deferred = min(max(deferred.get(ob.contract_id, ZERO), ZERO), line.amount)
            if key not in already:  # an entry already posted is in the balance read above
                deferred[ob.contract_id] = deferred.get(ob.contract_id, ZERO) - from_deferred
            legs = [Leg(account_for(R.DEFERRED), from_deferred, ob.contract_id, ob.product_id),
                    Leg(account_for(R.UNBILLED), line.amount - from_deferred, ob.contract_id, ob.product_id),
                    Leg(account_for(R.REVENUE, ob.product.family), -line.amount, ob.contract_id, ob.product_id)]
            specs.append(EntrySpec(source="revenue.recognized", source_key=key,
                                   day=add_months(line.period, 1) - timedelta(days=1), currency=ob.currency,
                                   memo=f"Revenue {line.period:%Y-%m}: {ob.product.name} ({ob.contract})",
                                   legs=legs, customer_id=ob.contract.customer_id, contract_id=ob.contract_id))
        post_many(specs)
        posted_under_key = JournalEntry.objects.filter(
            source_key=Concat(Value("revenue.recognized:"), Cast(OuterRef("pk"), CharField()))).values("pk")[:1]
        ScheduleLine.objects.filter(pk__in=[x.pk for x in lines]).update(
            status=ScheduleLine.Status.RECOGNIZED, entry=Subquery(posted_under_key))
        ScheduleLine.objects.filter(pk__in=[x.pk for x in zero]).update(status=ScheduleLine.Status.RECOGNIZED)
        _record_recognized([x for x, key in zip(lines, keys, strict=True) if key not in already])
    return len(lines)


def _record_recognized(lines: list[ScheduleLine]) -> None:
    """One `revenue.recognized` outbox event per contract and month posted (webhooks, dashboards)."""
    by_contract_month: dict[tuple[int, date], list[ScheduleLine]] = {}
    for line in lines:
        by_contract_month.setdefault((line.obligation.contract_id, line.period), []).append(line)
    items = []
    for (_contract_id, period), group in by_contract_month.items():
        contract = group[0].obligation.contract
        items.append((contract, {
            "contract": contract.pk, "customer": contract.customer_id, "period": period.strftime("%Y-%m"),
            "currency": group[0].obligation.currency, "amount": str(money.quantize(sum((x.amount for x in group), ZERO), group[0].obligation.currency)),
            "obligations": sorted({x.obligation_id for x in group}),
        }))
    record_events("revenue.recognized", items)
