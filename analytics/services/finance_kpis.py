"""Finance KPIs from billing, quotes and the journal, each with its definition next to it (shown in the API).
Amounts are in the reporting currency: each source amount is converted with
`recognition.services.journal.fx_rate` on the date named in its definition (journal amounts are already
in the reporting currency, at the rate of their entry)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from revops.kernel import money
from revops.kernel.dates import add_months, month_start

ZERO = Decimal(0)
PCT = Decimal("0.01")
DSO_DAYS = 90

FINANCE_DEFINITIONS = {
    "bookings": "Bookings: total contract value (TCV) of the quotes accepted in the window (accepted_at's day), "
                "each converted at the FX rate of its acceptance day.",
    "billings": "Billings: subtotal (excluding tax) of the invoices issued in the window (issue date), void and "
                "unissued invoices excluded, each converted at the FX rate of its issue date.",
    "collections": "Collections: payments received in the window (received day) from the manual and webhook "
                   "sources only (refunds and customer credit excluded), each converted at the FX rate of its "
                   "received day.",
    "dso": f"Days sales outstanding: AR at the end of the window ÷ billings over the {DSO_DAYS} days ending "
           f"that day × {DSO_DAYS}. AR = the invoices issued by then (not void) at their total, less the "
           "payment allocations of payments received by then and the credit notes issued by then, converted at "
           "the FX rate of that day; billings as defined above (subtotals). Empty when there were no billings.",
    "deferred_revenue": "Deferred revenue: credit − debit balance of the deferred revenue (contract liability) "
                        "accounts in the journal, entries dated up to the day, in the reporting currency.",
    "rpo": "Remaining performance obligations: revenue schedule amounts of the months from the day's month on "
           "still to be recognized on the day (planned, or recognized by an entry dated after the day), "
           "converted at the FX rate of the day.",
    "revenue_mtd": "Revenue recognized month to date: credits − debits on the revenue accounts in the journal, "
                   "entries dated from the first of the day's month to the day, in the reporting currency.",
    "revenue_qtd": "Revenue recognized quarter to date: as revenue_mtd, from the first day of the day's quarter.",
    "revenue_ytd": "Revenue recognized year to date: as revenue_mtd, from 1 January of the day's year.",
    "gross_margin": "Gross margin over the window: recognized revenue (as revenue_mtd, over the window) − cost of "
                    "goods; cost of goods = for each recurring contract line (of a non-draft contract) active in "
                    "the window, product unit cost × quantity × months of service in the window (a part month "
                    "counts as its days ÷ the days of that month), plus usage cost (each meter's monthly "
                    "aggregate of each customer's usage events × the meter's unit cost), converted at the FX "
                    "rate of the first served day of each month. Margin % = gross margin ÷ recognized revenue × 100 (empty when "
                    "no revenue).",
    "revenue_recognized": "Revenue recognized over the window: credits − debits on the revenue accounts in the "
                          "journal, entries dated in the window, in the reporting currency.",
    "receivables": "Accounts receivable at the end of the day: as AR in the DSO definition.",
    "ar_overdue": "Overdue receivables at the end of the day: the part of AR (as in the DSO definition) on "
                  "invoices whose due date is before the day, converted at the FX rate of that day.",
}

SCOPE_NOTE = ("Segment filters follow each record's customer (journal entries without a customer drop out); "
              "a currency filter keeps only the records in that currency (journal: the entry's currency; cost "
              "of goods: the contract's).")


def _reporting() -> str:
    from recognition.services.journal import reporting_currency

    return reporting_currency()


def _q(value: Decimal) -> Decimal:
    return money.quantize(value, _reporting())


def _converted(rows: Iterable[tuple[str, date, Decimal]]) -> Decimal:
    """Σ amount × fx_rate(currency, day), one rate lookup per currency and day."""
    from recognition.services.journal import fx_rate

    rates: dict[tuple[str, date], Decimal] = {}
    total = ZERO
    for currency, day, amount in rows:
        if (currency, day) not in rates:
            rates[currency, day] = fx_rate(currency, day)
        total += (amount or ZERO) * rates[currency, day]
    return total


def _total(rows: Iterable[tuple[str, date, Decimal]], *, currency: str | None, native: bool) -> Decimal:
    """Reporting currency (each row converted), or with `native` the plain sum in `currency`."""
    if native:
        if not currency:
            raise ValueError("native amounts need a currency")
        return money.quantize(sum(((a or ZERO) for _c, _d, a in rows), ZERO), currency)
    return _q(_converted(rows))


def _scoped(rows, segment: dict | None, currency: str | None, *, customer_path: str = "customer__",
            currency_field: str = "currency"):
    from .kpis import scoped

    return scoped(rows, segment=segment, currency=currency, customer_path=customer_path,
                  currency_field=currency_field)


def _local_day(moment) -> date:
    from django.utils import timezone

    return timezone.localdate(moment)


# --- sales and billing -----------------------------------------------------------------------------------

def bookings(first: date, last: date, *, segment: dict | None = None, currency: str | None = None,
             native: bool = False) -> Decimal:
    from quotes.models import Quote

    quotes = _scoped(Quote.objects.filter(status=Quote.Status.ACCEPTED, accepted_at__date__gte=first,
                                          accepted_at__date__lte=last), segment, currency)
    return _total(((q.currency, _local_day(q.accepted_at), q.tcv) for q in quotes.only("currency", "accepted_at", "tcv")),
                  currency=currency, native=native)


def billings(first: date, last: date, *, segment: dict | None = None, currency: str | None = None,
             native: bool = False) -> Decimal:
    from billing.models import Invoice

    invoices = _scoped(Invoice.objects.filter(status__in=Invoice.POSTED, issue_date__gte=first,
                                              issue_date__lte=last), segment, currency)
    return _total(invoices.values_list("currency", "issue_date", "subtotal"), currency=currency, native=native)


def collections(first: date, last: date, *, segment: dict | None = None, currency: str | None = None,
                native: bool = False) -> Decimal:
    from billing.models import Payment

    payments = _scoped(Payment.objects.filter(source__in=[Payment.Source.MANUAL, Payment.Source.WEBHOOK],
                                              received_at__date__gte=first, received_at__date__lte=last),
                       segment, currency)
    return _total(((p.currency, _local_day(p.received_at), p.amount)
                   for p in payments.only("currency", "received_at", "amount")), currency=currency, native=native)


def receivables(day: date, *, segment: dict | None = None, currency: str | None = None, native: bool = False,
                overdue_only: bool = False) -> Decimal:
    """Accounts receivable at the end of `day`, rebuilt from the invoices, allocations and credit notes
    (`overdue_only`: only the invoices due before `day`)."""
    from billing.models import CreditNote, Invoice, PaymentAllocation

    rows = _scoped(Invoice.objects.filter(status__in=Invoice.POSTED, issue_date__lte=day), segment, currency)
    if overdue_only:
        rows = rows.filter(due_date__lt=day)
    invoices = {i["pk"]: i for i in rows.values("pk", "currency", "total")}
    if not invoices:
        return money.quantize(ZERO, currency) if native else _q(ZERO)
    open_by_invoice = {pk: i["total"] for pk, i in invoices.items()}
    paid = (PaymentAllocation.objects.filter(invoice_id__in=invoices, payment__received_at__date__lte=day)
            .values("invoice_id").annotate(s=Sum("amount")))
    for r in paid:
        open_by_invoice[r["invoice_id"]] -= r["s"] or ZERO
    credited = (CreditNote.objects.filter(invoice_id__in=invoices, issued_at__date__lte=day)
                .values("invoice_id").annotate(s=Sum("applied_to_invoice")))
    for r in credited:
        open_by_invoice[r["invoice_id"]] -= r["s"] or ZERO
    return _total(((invoices[pk]["currency"], day, max(amount, ZERO)) for pk, amount in open_by_invoice.items()),
                  currency=currency, native=native)


def ar_overdue(day: date, *, segment: dict | None = None, currency: str | None = None, native: bool = False) -> Decimal:
    return receivables(day, segment=segment, currency=currency, native=native, overdue_only=True)


def dso(day: date, *, segment: dict | None = None, currency: str | None = None) -> Decimal | None:
    billed = billings(day - timedelta(days=DSO_DAYS - 1), day, segment=segment, currency=currency)
    if billed <= 0:
        return None
    return (receivables(day, segment=segment, currency=currency) / billed * DSO_DAYS).quantize(PCT)


# --- the journal -----------------------------------------------------------------------------------------

def _journal(role: str, *, first: date | None = None, last: date, segment: dict | None = None,
             currency: str | None = None, native: bool = False) -> Decimal:
    """Credit − debit in the reporting currency on the accounts of a role, entries dated in [first, last]
    (with `native`: in the entries' own currency, which must be `currency`)."""
    from recognition.models import JournalLine

    lines = _scoped(JournalLine.objects.filter(account__role=role, entry__date__lte=last), segment, currency,
                    customer_path="entry__customer__", currency_field="entry__currency")
    if first is not None:
        lines = lines.filter(entry__date__gte=first)
    if native:
        if not currency:
            raise ValueError("native amounts need a currency")
        agg = lines.aggregate(c=Sum("credit"), d=Sum("debit"))
        return money.quantize((agg["c"] or ZERO) - (agg["d"] or ZERO), currency)
    agg = lines.aggregate(c=Sum("credit_reporting"), d=Sum("debit_reporting"))
    return _q((agg["c"] or ZERO) - (agg["d"] or ZERO))


def deferred_revenue(day: date, *, segment: dict | None = None, currency: str | None = None,
                     native: bool = False) -> Decimal:
    from recognition.models import Account

    return _journal(Account.Role.DEFERRED, last=day, segment=segment, currency=currency, native=native)


def revenue(first: date, last: date, *, segment: dict | None = None, currency: str | None = None,
            native: bool = False) -> Decimal:
    from recognition.models import Account

    return _journal(Account.Role.REVENUE, first=first, last=last, segment=segment, currency=currency, native=native)


def quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def revenue_to_date(day: date) -> dict:
    return {"revenue_mtd": revenue(month_start(day), day), "revenue_qtd": revenue(quarter_start(day), day),
            "revenue_ytd": revenue(date(day.year, 1, 1), day)}


def rpo(day: date, *, segment: dict | None = None, currency: str | None = None, native: bool = False) -> Decimal:
    from recognition.models import ScheduleLine

    lines = _scoped(ScheduleLine.objects.filter(period__gte=month_start(day)).filter(
        Q(status=ScheduleLine.Status.PLANNED) | Q(status=ScheduleLine.Status.RECOGNIZED, entry__date__gt=day)),
        segment, currency, customer_path="obligation__contract__customer__", currency_field="obligation__currency")
    return _total(((c, day, amount) for c, amount in lines.values_list("obligation__currency", "amount")),
                  currency=currency, native=native)


# --- margin ----------------------------------------------------------------------------------------------

def _month_slices(first: date, last: date):
    """(first served day, fraction of its month) for each calendar month of [first, last]."""
    start = first
    while start <= last:
        month_end = add_months(month_start(start), 1) - timedelta(days=1)
        end = min(month_end, last)
        yield start, Decimal((end - start).days + 1) / Decimal(month_end.day)
        start = end + timedelta(days=1)


def cost_of_goods(first: date, last: date, *, segment: dict | None = None, currency: str | None = None) -> Decimal:
    from contracts.models import Contract, ContractLine

    lines = (_scoped(ContractLine.objects.filter(product__kind="recurring", start_date__lte=last, end_date__gte=first),
                     segment, currency, customer_path="contract__customer__", currency_field="contract__currency")
             .exclude(contract__status=Contract.Status.DRAFT)
             .values_list("product__currency", "product__unit_cost", "quantity", "start_date", "end_date"))
    rows = []
    for currency, unit_cost, quantity, start, end in lines:
        if not unit_cost or not quantity:
            continue
        for served_from, months in _month_slices(max(start, first), min(end, last)):
            rows.append((currency, served_from, unit_cost * quantity * months))
    return _q(_converted(rows) + _usage_cost(first, last, segment=segment, currency=currency))


def _usage_cost(first: date, last: date, *, segment: dict | None, currency: str | None) -> Decimal:
    """Σ each meter's monthly aggregate of a customer's usage × the meter's unit cost, converted at the rate of
    the month's first day — the usage part of cost of goods, defined once with customer profitability
    (`profitability.usage_quantities`). A currency filter keeps the customers billed in that currency."""
    from customers.models import Customer

    from .profitability import usage_quantities

    customer_ids = None
    if segment or currency:
        customer_ids = list(_scoped(Customer.objects.all(), segment, currency, customer_path="")
                            .values_list("pk", flat=True))
    quantities = usage_quantities(first=first, last=last, customer_ids=customer_ids, monthly=True)
    return _converted((m["currency"], month, quantity * m["unit_cost"])
                      for (_customer, _meter, month), (quantity, m) in quantities.items() if quantity)


def gross_margin(first: date, last: date, *, segment: dict | None = None, currency: str | None = None) -> dict:
    rev = revenue(first, last, segment=segment, currency=currency)
    cogs = cost_of_goods(first, last, segment=segment, currency=currency)
    margin = _q(rev - cogs)
    return {"from": first.isoformat(), "to": last.isoformat(), "revenue": rev, "cost_of_goods": cogs,
            "gross_margin": margin, "margin_percent": (margin / rev * 100).quantize(PCT) if rev > 0 else None}


# --- all together ----------------------------------------------------------------------------------------

def snapshot(day: date) -> dict:
    """Every finance KPI as of `day`; windowed ones over the month to date (DSO over its trailing 90 days)."""
    first = month_start(day)
    return {"bookings_mtd": bookings(first, day), "billings_mtd": billings(first, day),
            "collections_mtd": collections(first, day), "dso": dso(day),
            "deferred_revenue": deferred_revenue(day), "rpo": rpo(day), **revenue_to_date(day),
            "gross_margin_mtd": gross_margin(first, day)}
