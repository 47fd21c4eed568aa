"""Demo billing for `manage.py seed_demo`: tax rates, finance approval rules, six months of usage
for the contracts that meter it, monthly bill runs over the last six months (plus today's), invoices
issued on their run's date, payments (most on time, some partial, some never: AR aging and dunning
have something to show), a credit note, and the dunning reminders due today.

Demo documents are backdated to their run's date (a demo needs history; real ones are issued today).
PDFs are rendered on first download rather than for every demo invoice.

Reads ctx.shared["users"], ["rng"]. Leaves ctx.shared["invoices"] (issued demo invoices).
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Q

from contracts.models import Contract, ContractLine
from revops.kernel import money
from revops.kernel.dates import add_months

from .models import FinanceApprovalRule, Invoice, TaxRate
from .services import billrun, credit_notes, dunning, invoices, payments
from .services.invoices import PAYMENT_TERMS_DAYS
from .services.usage import usage_ingest

D = Decimal
TAX_RATES = [("Germany VAT", "DE", "19"), ("France VAT", "FR", "20"), ("UK VAT", "GB", "20"),
             ("Netherlands VAT", "NL", "21"), ("Japan consumption tax", "JP", "10"),
             ("Australia GST (incl.)", "AU", "10")]


def _usage(ctx, months: list[date]) -> int:
    """Daily storage samples (max per month is billed) and some API calls, per usage line."""
    rng, accepted = ctx.rng, 0
    lines = (ContractLine.objects.filter(period="usage", product__meter__isnull=False)
             .select_related("product__meter", "contract"))
    for line in lines:
        meter = line.product.meter
        events = []
        for month in months:
            start = max(month, line.start_date)
            end = min(add_months(month, 1) - timedelta(days=1), line.end_date, ctx.today - timedelta(days=1))
            day = start
            base = rng.randint(40, 4000)
            while day <= end:
                ts = datetime.combine(day, time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=UTC)
                if meter.code == "storage-gb":
                    base = max(1, int(base * rng.uniform(0.97, 1.05)))
                    events.append({"customer": line.contract.customer_id, "meter": meter.code,
                                   "timestamp": ts.isoformat(), "value": str(base),
                                   "idempotency_key": f"demo-{line.pk}-{day}"})
                elif rng.random() < 0.3:
                    for k in range(rng.randint(1, 5)):
                        events.append({"customer": line.contract.customer_id, "meter": meter.code,
                                       "timestamp": ts.isoformat(), "idempotency_key": f"demo-{line.pk}-{day}-{k}"})
                day += timedelta(days=1)
        for i in range(0, len(events), 5000):
            accepted += usage_ingest(events[i:i + 5000]).accepted
    return accepted


def _backdate(invoice: Invoice, day: date) -> None:
    Invoice.objects.filter(pk=invoice.pk).update(
        issue_date=day, due_date=day + timedelta(days=PAYMENT_TERMS_DAYS.get(invoice.payment_terms, 30)))


def seed(ctx) -> None:
    rng, finance = ctx.rng, ctx.shared["users"]["finance"]
    for name, country, percent in TAX_RATES:
        TaxRate.objects.create(name=name, country=country, percent=D(percent), inclusive=country == "AU")
    FinanceApprovalRule.objects.create(name="Large invoice (total above 25,000)", threshold=D("25000"),
                                       condition=FinanceApprovalRule.Condition.TOTAL_ABOVE)
    FinanceApprovalRule.objects.create(name="Invoices with a credit", condition=FinanceApprovalRule.Condition.HAS_CREDIT)

    this_month = ctx.today.replace(day=1)
    months = [add_months(this_month, -k) for k in range(6, 0, -1)]
    events = _usage(ctx, months + [this_month])
    issued: list[Invoice] = []
    for as_of in [*months, this_month, ctx.today]:
        if as_of > ctx.today:
            continue
        run = billrun.bill_run_create(as_of=as_of, by=finance)
        for chunk_id in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk_id)
        for invoice in Invoice.objects.filter(bill_run=run).order_by("id"):
            if as_of == ctx.today and rng.random() < 0.5:
                continue  # today's run: some invoices wait for finance on the approval page
            if invoice.status == Invoice.Status.PENDING_APPROVAL:
                if as_of == ctx.today:
                    continue
                invoice = invoices.invoice_approve(invoice_id=invoice.pk, by=finance)
            invoice = invoices.invoice_issue(invoice_id=invoice.pk, by=finance, render_pdf=False)
            _backdate(invoice, as_of)
            issued.append(invoice)

    # Customers pay: most on time, a few partly, some never (these age and get dunned).
    for invoice in Invoice.objects.filter(pk__in=[i.pk for i in issued], status=Invoice.Status.ISSUED,
                                          total__gt=0).order_by("issue_date", "id"):
        if invoice.due_date > ctx.today - timedelta(days=5):
            continue
        roll = rng.random()
        if roll < 0.82:
            amount = invoice.amount_due
        elif roll < 0.9:
            amount = money.quantize(invoice.amount_due * D("0.5"), invoice.currency)
        else:
            continue
        paid_on = invoice.due_date + timedelta(days=rng.randint(-10, 12))
        payments.payment_record(customer=invoice.customer, amount=amount, currency=invoice.currency, by=finance,
                                received_at=datetime.combine(min(paid_on, ctx.today), time(10), tzinfo=UTC),
                                reference=f"wire {invoice.number}", allocations=[{"invoice": invoice.pk,
                                                                                  "amount": str(amount)}])
    paid = Invoice.objects.filter(status=Invoice.Status.PAID, total__gt=100).order_by("id").first()
    if paid is not None:
        line = paid.lines.filter(amount__gt=0).first()
        credit_notes.credit_note_create(invoice_id=paid.pk, by=finance, reason="Service outage credit (SLA)",
                                        lines=[{"invoice_line": line.pk,
                                                "amount": str(money.quantize(line.amount / 10, paid.currency))}])
    reminders = dunning.dunning_run(today=ctx.today)
    ctx.shared["invoices"] = issued
    open_count = Invoice.objects.filter(Q(status=Invoice.Status.ISSUED) | Q(status=Invoice.Status.PARTIALLY_PAID)).count()
    ctx.log(f"  billing: {events} usage events, {len(issued)} invoices issued, {open_count} open, "
            f"{Invoice.objects.filter(status__in=Invoice.UNISSUED).count()} awaiting finance, "
            f"{reminders} dunning reminders, {Contract.objects.count()} contracts billed")
