"""Reads for the revenue pages, shaped for the templates (rows with their cells in column order, totals
per currency). The figures come from `recognition.services.reports` and the journal; these only pivot
and total them, in a fixed number of queries whatever the number of entries, obligations or months
(tests/recognition/test_pages.py pins the counts of the journal browser).
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.models import Invoice, Payment
from contracts.models import Contract
from customers.models import Customer
from revops.kernel import money
from revops.kernel.dates import add_months, month_start

from .models import Account, AccountingPeriod, JournalEntry, JournalLine, PerformanceObligation, ScheduleLine
from .services import reports
from .services.journal import reporting_currency
from .services.periods import close_checklist, month_end

ZERO = Decimal(0)
R = Account.Role
SEGMENTS = dict(Customer.Size.choices)

CHECK_LABELS = {
    "no_unissued_invoices": "No unissued invoices dated in the month",
    "recognition_complete": "Recognition run complete for the month",
    "deferred_ties_out": "Deferred revenue roll-forward ties to the ledger",
}


def month_key(month: date) -> str:
    return f"{month:%Y-%m}"


def months_between(first: date, last: date) -> list[date]:
    out, m = [], month_start(first)
    while m <= month_start(last):
        out.append(m)
        m = add_months(m, 1)
    return out


# --- home -------------------------------------------------------------------------------------------------


@dataclass
class CurrencyFigures:
    currency: str
    this_month: Decimal = ZERO
    last_month: Decimal = ZERO
    deferred: Decimal = ZERO  # the contract liability, shown positive (credit balance)
    unbilled: Decimal = ZERO  # the contract asset (debit balance)


def home_figures(*, today: date) -> list[CurrencyFigures]:
    """Per transaction currency: revenue recognized this month and last month, and the Deferred Revenue
    and Unbilled Receivable balances today (journal.balance by role, split by currency). Two queries."""
    this, last = month_start(today), add_months(month_start(today), -1)
    figures: dict[str, CurrencyFigures] = {}

    def row(currency: str) -> CurrencyFigures:
        return figures.setdefault(currency, CurrencyFigures(currency))

    revenue = (JournalLine.objects.filter(account__role=R.REVENUE, entry__period__start__in=[this, last])
               .values("entry__currency", "entry__period__start")
               .annotate(c=Sum("credit"), d=Sum("debit")))
    for r in revenue:
        amount = money.quantize((r["c"] or ZERO) - (r["d"] or ZERO), r["entry__currency"])
        if r["entry__period__start"] == this:
            row(r["entry__currency"]).this_month = amount
        else:
            row(r["entry__currency"]).last_month = amount
    balances = (JournalLine.objects.filter(account__role__in=[R.DEFERRED, R.UNBILLED], entry__date__lte=today)
                .values("account__role", "entry__currency").annotate(d=Sum("debit"), c=Sum("credit")))
    for r in balances:
        debit_minus_credit = money.quantize((r["d"] or ZERO) - (r["c"] or ZERO), r["entry__currency"])
        if r["account__role"] == R.DEFERRED:
            row(r["entry__currency"]).deferred = -debit_minus_credit
        else:
            row(r["entry__currency"]).unbilled = debit_minus_credit
    return [figures[c] for c in sorted(figures)]


# --- periods ----------------------------------------------------------------------------------------------


@dataclass
class Check:
    key: str
    label: str
    ok: bool
    detail: str


@dataclass
class PeriodRow:
    period: AccountingPeriod  # unsaved for a month nothing has posted into yet
    entries: int
    checks: list[Check]
    ended: bool  # the month is over (only then is it offered for closing)
    reopened: dict | None = None  # {"by": name, "at": datetime, "reason": str} when it was reopened
    reopen_form: object = None  # set by the view for closed months when the user may reopen

    @property
    def month(self) -> str:
        return month_key(self.period.start)

    @property
    def closed(self) -> bool:
        return self.period.status == AccountingPeriod.Status.CLOSED

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)


def _checks(checklist: dict) -> list[Check]:
    return [Check(key, CHECK_LABELS.get(key, key.replace("_", " ").capitalize()), bool(v.get("ok")),
                  v.get("detail", "")) for key, v in checklist.items() if key != "reopened"]


def period_rows(*, today: date) -> list[PeriodRow]:
    """Every period, newest first, with last month and this month even before anything posts into them.
    Open periods show the live checklist (what closing would check now); closed ones the checklist
    recorded at their close."""
    periods = list(AccountingPeriod.objects.select_related("closed_by").annotate(entry_count=Count("entries"))
                   .order_by("-start"))
    known = {p.start for p in periods}
    for start in (month_start(today), add_months(month_start(today), -1)):
        if start not in known:
            periods.append(AccountingPeriod(start=start, end=month_end(start)))
    periods.sort(key=lambda p: p.start, reverse=True)
    reopeners = {p.checklist["reopened"].get("by") for p in periods
                 if isinstance(p.checklist, dict) and isinstance(p.checklist.get("reopened"), dict)}
    names = {u.pk: u.get_full_name() or u.username
             for u in get_user_model().objects.filter(pk__in=[pk for pk in reopeners if pk])}
    rows = []
    for p in periods:
        closed = p.status == AccountingPeriod.Status.CLOSED
        checks = _checks(p.checklist) if closed else _checks(close_checklist(p))
        reopened = None
        if isinstance(p.checklist, dict) and isinstance(p.checklist.get("reopened"), dict):
            info = p.checklist["reopened"]
            at = info.get("at")
            reopened = {"by": names.get(info.get("by"), "someone"), "reason": info.get("reason", ""),
                        "at": datetime.fromisoformat(at) if at else None}
        rows.append(PeriodRow(period=p, entries=getattr(p, "entry_count", 0), checks=checks, ended=p.end < today,
                              reopened=reopened))
    return rows


# --- waterfall, roll-forward ---------------------------------------------------------------------------------


def _totals(rows: list[dict], months: list[str]) -> list[dict]:
    """One totals row per currency: each month and the total (amounts are already rounded)."""
    by_currency: OrderedDict[str, dict] = OrderedDict()
    for row in sorted(rows, key=lambda r: r["currency"]):
        total = by_currency.setdefault(row["currency"], {"currency": row["currency"],
                                                         "cells": [ZERO for _ in months], "total": ZERO})
        total["cells"] = [a + b for a, b in zip(total["cells"], row["cells"], strict=True)]
        total["total"] += row["total"]
    return list(by_currency.values())


def waterfall_table(*, first: date, last: date, by: str) -> dict:
    """reports.waterfall with each row's months as a list in column order, and totals per currency."""
    report = reports.waterfall(first=first, last=last, by=by)
    rows = [{**row, "cells": [row["months"][m] for m in report["months"]]} for row in report["rows"]]
    return {"months": report["months"], "by": by, "rows": rows, "totals": _totals(rows, report["months"])}


def rollforward(*, period: date) -> dict:
    return reports.deferred_rollforward(period=period)


# --- revenue by period ----------------------------------------------------------------------------------------


def revenue_by_table(*, first: date, last: date, dimension: str) -> dict:
    """reports.revenue_by pivoted: one row per dimension value, the months as columns (reporting currency)."""
    months = [month_key(m) for m in months_between(first, last)]
    currency = reporting_currency()
    table: OrderedDict[str, dict] = OrderedDict()
    for r in reports.revenue_by(first=month_start(first), last=month_end(last), dimension=dimension):
        label = SEGMENTS.get(r[dimension], r[dimension]) if dimension == "segment" else str(r[dimension])
        row = table.setdefault(label, {"label": label, "months": dict.fromkeys(months, ZERO)})
        if r["month"] in row["months"]:
            row["months"][r["month"]] += r["amount"]
    rows = []
    for label in sorted(table, key=str.lower):
        cells = [money.quantize(v, currency) for v in table[label]["months"].values()]
        rows.append({"label": label, "currency": currency, "cells": cells, "total": sum(cells, ZERO)})
    return {"months": months, "dimension": dimension, "currency": currency, "rows": rows,
            "totals": _totals(rows, months)}


@dataclass
class MonthFlow:
    currency: str
    month: str
    recognized: Decimal = ZERO
    billed: Decimal = ZERO
    collected: Decimal = ZERO


def recognized_billed_collected(*, first: date, last: date) -> list[MonthFlow]:
    """Per currency and month, in the transaction currency: revenue recognized (credits − debits on the
    revenue accounts, by accounting period), billed (issued invoices' subtotals by issue month; voided
    invoices excluded) and collected (money received by received month: payments less refunds; customer
    credit is not money and is left out). Three queries."""
    start, end = month_start(first), month_end(last)
    months = [month_key(m) for m in months_between(start, end)]
    flows: dict[tuple[str, str], MonthFlow] = {}

    def flow(currency: str, month: date) -> MonthFlow:
        key = (currency, month_key(month))
        return flows.setdefault(key, MonthFlow(currency, key[1]))

    recognized = (JournalLine.objects.filter(account__role=R.REVENUE, entry__period__start__gte=start,
                                             entry__period__start__lte=end)
                  .values("entry__currency", "entry__period__start").annotate(c=Sum("credit"), d=Sum("debit")))
    for r in recognized:
        flow(r["entry__currency"], r["entry__period__start"]).recognized = (r["c"] or ZERO) - (r["d"] or ZERO)
    billed = (Invoice.objects.filter(status__in=Invoice.POSTED, issue_date__gte=start, issue_date__lte=end)
              .annotate(month=TruncMonth("issue_date")).values("currency", "month").annotate(s=Sum("subtotal")))
    for r in billed:
        flow(r["currency"], _as_date(r["month"])).billed = r["s"] or ZERO
    tz = timezone.get_current_timezone()
    received_from = timezone.make_aware(datetime.combine(start, time.min), tz)
    received_to = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min), tz)
    collected = (Payment.objects.filter(received_at__gte=received_from, received_at__lt=received_to)
                 .exclude(source=Payment.Source.CREDIT)
                 .annotate(month=TruncMonth("received_at")).values("currency", "month").annotate(s=Sum("amount")))
    for r in collected:
        flow(r["currency"], _as_date(r["month"])).collected += r["s"] or ZERO
    for currency in {c for c, _ in flows}:  # every month shown for each currency, even a quiet one
        for m in months:
            flows.setdefault((currency, m), MonthFlow(currency, m))
    for f in flows.values():
        f.recognized, f.billed, f.collected = (money.quantize(v, f.currency)
                                               for v in (f.recognized, f.billed, f.collected))
    return [flows[k] for k in sorted(flows)]


def _as_date(value) -> date:
    """TruncMonth gives a date for a DateField and an aware datetime for a DateTimeField."""
    if isinstance(value, datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


# --- journal --------------------------------------------------------------------------------------------------


def journal_sources() -> list[str]:
    return list(JournalEntry.objects.order_by("source").values_list("source", flat=True).distinct())


def journal_customers() -> QuerySet[Customer]:
    """Customers with entries, for the filter (one query when the select renders)."""
    return Customer.objects.filter(pk__in=JournalEntry.objects.filter(customer__isnull=False)
                                   .values("customer_id")).order_by("name")


def journal_entries(*, source: str = "", contract: str = "", customer: Customer | None = None,
                    date_from: date | None = None, date_to: date | None = None) -> QuerySet[JournalEntry]:
    """Entries newest first with their amount (the debit total) and line count: one query a page."""
    qs = (JournalEntry.objects.select_related("customer", "contract", "period", "corrects_period")
          .annotate(amount=Sum("lines__debit"), line_count=Count("lines")))
    if source:
        qs = qs.filter(source=source)
    if contract:
        qs = qs.filter(contract__number__iexact=contract.strip())
    if customer is not None:
        qs = qs.filter(customer=customer)
    if date_from is not None:
        qs = qs.filter(date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(date__lte=date_to)
    return qs.order_by("-date", "-id")


def journal_entry(pk: int) -> JournalEntry:
    return (JournalEntry.objects.select_related("customer", "contract", "period", "corrects_period")
            .prefetch_related(Prefetch("lines", queryset=JournalLine.objects.select_related(
                "account", "contract", "product").order_by("id")))
            .get(pk=pk))


# --- a contract's revenue ---------------------------------------------------------------------------------------


@dataclass
class ObligationRow:
    obligation: PerformanceObligation
    schedule: list[ScheduleLine]
    recognized: Decimal
    remaining: Decimal

    @property
    def balanced(self) -> bool:
        return self.recognized + self.remaining == self.obligation.allocated_price


@dataclass
class ContractRevenue:
    contract: Contract
    obligations: list[ObligationRow]
    totals: list[dict] = field(default_factory=list)  # per currency: allocated, recognized, remaining
    deferred: Decimal = ZERO
    unbilled: Decimal = ZERO


def contract_revenue(contract: Contract) -> ContractRevenue:
    """The contract's obligations (every version) with their schedules; recognized to date and remaining
    as in reports.obligation_status (recognized and planned lines; cancelled ones count for neither),
    summed from the prefetched schedule so the page costs the same for any number of obligations."""
    obligations = (PerformanceObligation.objects.filter(contract=contract).select_related("product")
                   .prefetch_related(Prefetch("schedule", queryset=ScheduleLine.objects.order_by("period", "id")))
                   .order_by("item", "version", "id"))
    rows, totals = [], OrderedDict()
    for ob in obligations:
        lines = list(ob.schedule.all())
        recognized = sum((x.amount for x in lines if x.status == ScheduleLine.Status.RECOGNIZED), ZERO)
        remaining = sum((x.amount for x in lines if x.status == ScheduleLine.Status.PLANNED), ZERO)
        rows.append(ObligationRow(ob, lines, recognized, remaining))
        t = totals.setdefault(ob.currency, {"currency": ob.currency, "allocated": ZERO, "recognized": ZERO,
                                            "remaining": ZERO})
        t["allocated"] += ob.allocated_price
        t["recognized"] += recognized
        t["remaining"] += remaining
    balances = defaultdict(lambda: ZERO)
    for r in (JournalLine.objects.filter(contract=contract, account__role__in=[R.DEFERRED, R.UNBILLED])
              .values("account__role").annotate(d=Sum("debit"), c=Sum("credit"))):
        balances[r["account__role"]] = (r["d"] or ZERO) - (r["c"] or ZERO)
    return ContractRevenue(contract, rows, list(totals.values()), deferred=-balances[R.DEFERRED],
                           unbilled=balances[R.UNBILLED])
