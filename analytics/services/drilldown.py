"""Drill-down selectors: the records behind each dashboard number, in the reporting currency.

Each selector returns a `Drill`: the records (as `Item`s: the model instance, its date, its own amount
and currency, and the amount in the reporting currency) and their total. The selection and the
conversion follow the KPI's definition (analytics.services.kpis / finance_kpis), so the total of a
drill-down is the figure on the tile it comes from (the tests check that they tie). Every selector
takes an optional customer `segment` ({"size": "enterprise"}, ...), scoped as the KPI services scope it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Sum

from revops.kernel import money
from revops.kernel.dates import add_months

from ..models import MrrMovement
from . import finance_kpis, kpis

ZERO = Decimal(0)
AGING_BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")

AGING_DEFINITION = ("AR aging: the open invoices (issued or partially paid) with an amount due, by days past "
                    "their due date on the day (current: not yet due; then 1–30, 31–60, 61–90, over 90 days), "
                    "the amount due converted at the FX rate of the day.")
PIPELINE_DEFINITION = ("Open pipeline: TCV of the open quotes (draft, pending approval, approved, sent), "
                       "converted at the FX rate of the day.")
AT_RISK_DEFINITION = ("ARR up for renewal: ARR of the active contracts ending in the 90 days from the day that do "
                      "not renew automatically, converted at the FX rate of the day.")


@dataclass(frozen=True)
class Item:
    record: Any
    day: date | None
    amount: Decimal | None
    currency: str
    amount_reporting: Decimal
    detail: str = ""


@dataclass
class Drill:
    kind: str
    title: str
    definition: str
    currency: str
    items: list[Item] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return money.quantize(sum((i.amount_reporting for i in self.items), ZERO), self.currency)

    @property
    def records(self) -> list:
        return [i.record for i in self.items]


def _rates(day: date | None = None):
    """fx(currency, on=day) with one lookup per (currency, day)."""
    from recognition.services.journal import fx_rate

    cache: dict[tuple[str, date], Decimal] = {}

    def rate(currency: str, on: date | None = None) -> Decimal:
        key = (currency, on or day)
        if key not in cache:
            cache[key] = fx_rate(currency, key[1])
        return cache[key]

    return rate


def _segmented(rows, segment: dict | None, prefix: str = "customer__"):
    return kpis.scoped(rows, segment=segment, customer_path=prefix)


def _drill(kind: str, title: str, definition: str) -> Drill:
    return Drill(kind=kind, title=title, definition=definition, currency=kpis._reporting())


# --- MRR ---------------------------------------------------------------------------------------------------

def movements(first: date, last: date, *, kinds: list[str] | None = None, segment: dict | None = None) -> Drill:
    """The MRR movements dated in [first, last] (of `kinds`), e.g. this month's expansion."""
    rows = _segmented(MrrMovement.objects.filter(date__gte=first, date__lte=last), segment).select_related("customer")
    if kinds:
        rows = rows.filter(kind__in=kinds)
    label = " + ".join(kinds) if kinds else "all"
    drill = _drill("movements", f"MRR movements ({label}), {first} to {last}", kpis.DEFINITIONS["movements"])
    for m in rows.order_by("date", "customer__name", "pk"):
        drill.items.append(Item(m, m.date, m.amount, m.currency, m.amount_reporting,
                                f"{m.get_kind_display()}: {m.mrr_before} → {m.mrr_after} {m.currency}"))
    return drill


def customers_with_mrr(day: date, *, segment: dict | None = None, annual: bool = False) -> Drill:
    """The customers with MRR above zero on `day`, each with its MRR (or ARR: × 12)."""
    from customers.models import Customer

    by_customer = {c: v for c, v in kpis.mrr_by_customer(day, segment=segment).items() if v > 0}
    drill = _drill("arr" if annual else "customers", f"Customers with recurring revenue on {day}",
                   f"{kpis.DEFINITIONS['customers']} {kpis.DEFINITIONS['arr' if annual else 'mrr']}")
    for customer in Customer.objects.filter(pk__in=by_customer).order_by("name", "pk"):
        value = by_customer[customer.pk] * (12 if annual else 1)
        drill.items.append(Item(customer, day, None, drill.currency, kpis._q(value),
                                f"{'ARR' if annual else 'MRR'} {kpis._q(value)} {drill.currency}"))
    return drill


def retention_cohort(day: date, *, segment: dict | None = None) -> Drill:
    """The customers that had MRR 12 months before `day` (the NRR/GRR base): their MRR then and now."""
    from customers.models import Customer

    then = add_months(day, -12)
    before = kpis.mrr_by_customer(then, segment=segment)
    now = kpis.mrr_by_customer(day, segment=segment)
    drill = _drill("retention", f"Retention cohort: customers with MRR on {then}, their MRR on {day}",
                   f"{kpis.DEFINITIONS['nrr']} {kpis.DEFINITIONS['grr']}")
    for customer in Customer.objects.filter(pk__in=before).order_by("name", "pk"):
        drill.items.append(Item(customer, day, None, drill.currency, kpis._q(now.get(customer.pk, ZERO)),
                                f"MRR then {kpis._q(before[customer.pk])}, now {kpis._q(now.get(customer.pk, ZERO))}"))
    return drill


# --- sales and billing -------------------------------------------------------------------------------------

def bookings(first: date, last: date, *, segment: dict | None = None) -> Drill:
    """The quotes accepted in [first, last], at their TCV (finance_kpis.bookings)."""
    from django.utils import timezone

    from quotes.models import Quote

    rate = _rates()
    drill = _drill("bookings", f"Bookings: quotes accepted {first} to {last}",
                   finance_kpis.FINANCE_DEFINITIONS["bookings"])
    rows = _segmented(Quote.objects.filter(status=Quote.Status.ACCEPTED, accepted_at__date__gte=first,
                                           accepted_at__date__lte=last), segment).select_related("customer")
    for q in rows.order_by("accepted_at", "pk"):
        on = timezone.localdate(q.accepted_at)
        drill.items.append(Item(q, on, q.tcv, q.currency, q.tcv * rate(q.currency, on), q.customer.name))
    return drill


def billings(first: date, last: date, *, segment: dict | None = None) -> Drill:
    """The invoices issued in [first, last] (not void, not unissued), at their subtotal."""
    from billing.models import Invoice

    rate = _rates()
    drill = _drill("billings", f"Billings: invoices issued {first} to {last}",
                   finance_kpis.FINANCE_DEFINITIONS["billings"])
    rows = _segmented(Invoice.objects.filter(status__in=Invoice.POSTED, issue_date__gte=first,
                                             issue_date__lte=last), segment).select_related("customer")
    for inv in rows.order_by("issue_date", "pk"):
        drill.items.append(Item(inv, inv.issue_date, inv.subtotal, inv.currency,
                                inv.subtotal * rate(inv.currency, inv.issue_date), inv.customer.name))
    return drill


def collections(first: date, last: date, *, segment: dict | None = None) -> Drill:
    """The payments received in [first, last] from the manual and webhook sources."""
    from django.utils import timezone

    from billing.models import Payment

    rate = _rates()
    drill = _drill("collections", f"Collections: payments received {first} to {last}",
                   finance_kpis.FINANCE_DEFINITIONS["collections"])
    rows = _segmented(Payment.objects.filter(source__in=[Payment.Source.MANUAL, Payment.Source.WEBHOOK],
                                             received_at__date__gte=first, received_at__date__lte=last),
                      segment).select_related("customer")
    for p in rows.order_by("received_at", "pk"):
        on = timezone.localdate(p.received_at)
        drill.items.append(Item(p, on, p.amount, p.currency, p.amount * rate(p.currency, on), p.customer.name))
    return drill


def aging_bucket(days_past_due: int) -> str:
    from billing.services.dunning import bucket_of

    return bucket_of(days_past_due)


def aging(day: date, *, bucket: str | None = None, segment: dict | None = None) -> Drill:
    """The open invoices with an amount due, in one aging bucket (or all), on `day`."""
    from billing.models import Invoice

    rate = _rates(day)
    title = f"AR aging on {day}" + (f": {bucket} days past due" if bucket and bucket != "current" else
                                    ": not yet due" if bucket == "current" else "")
    drill = _drill("aging", title, AGING_DEFINITION)
    rows = _segmented(Invoice.objects.filter(status__in=Invoice.OPEN, amount_due__gt=0), segment)
    for inv in rows.select_related("customer").order_by("due_date", "pk"):
        late = (day - (inv.due_date or inv.issue_date or day)).days
        b = aging_bucket(late)
        if bucket and b != bucket:
            continue
        drill.items.append(Item(inv, inv.due_date, inv.amount_due, inv.currency, inv.amount_due * rate(inv.currency),
                                f"{inv.customer.name} · {max(late, 0)} days past due ({b})"))
    return drill


def aging_buckets(day: date, *, segment: dict | None = None) -> dict[str, Decimal]:
    """Bucket → total (reporting currency) of `aging(day)`; the buckets sum to its total."""
    totals: dict[str, Decimal] = {b: ZERO for b in AGING_BUCKETS}
    drill = aging(day, segment=segment)
    for item in drill.items:
        late = (day - (item.record.due_date or item.record.issue_date or day)).days
        totals[aging_bucket(late)] += item.amount_reporting
    return {b: money.quantize(v, drill.currency) for b, v in totals.items()}


def receivables(day: date, *, segment: dict | None = None) -> Drill:
    """DSO's AR: the invoices issued by `day` with an open amount at the end of that day
    (finance_kpis.receivables: total − allocations of payments received by then − credit notes issued by
    then), converted at the FX rate of the day."""
    from billing.models import CreditNote, Invoice, PaymentAllocation

    rate = _rates(day)
    drill = _drill("receivables", f"Receivables at the end of {day} (the AR behind DSO)",
                   finance_kpis.FINANCE_DEFINITIONS["dso"])
    invoices = list(_segmented(Invoice.objects.filter(status__in=Invoice.POSTED, issue_date__lte=day), segment)
                    .select_related("customer").order_by("issue_date", "pk"))
    ids = [i.pk for i in invoices]
    paid = dict(PaymentAllocation.objects.filter(invoice_id__in=ids, payment__received_at__date__lte=day)
                .values("invoice_id").annotate(s=Sum("amount")).values_list("invoice_id", "s"))
    credited = dict(CreditNote.objects.filter(invoice_id__in=ids, issued_at__date__lte=day)
                    .values("invoice_id").annotate(s=Sum("applied_to_invoice")).values_list("invoice_id", "s"))
    for inv in invoices:
        open_amount = inv.total - (paid.get(inv.pk) or ZERO) - (credited.get(inv.pk) or ZERO)
        if open_amount > 0:
            drill.items.append(Item(inv, inv.issue_date, open_amount, inv.currency, open_amount * rate(inv.currency),
                                    inv.customer.name))
    return drill


def pipeline(day: date, *, segment: dict | None = None) -> Drill:
    from quotes.models import Quote

    rate = _rates(day)
    drill = _drill("pipeline", "Open pipeline: open quotes", PIPELINE_DEFINITION)
    rows = _segmented(Quote.objects.filter(status__in=Quote.OPEN), segment).select_related("customer")
    for q in rows.order_by("-tcv", "pk"):
        drill.items.append(Item(q, q.valid_until, q.tcv, q.currency, (q.tcv or ZERO) * rate(q.currency),
                                f"{q.customer.name} · {q.get_status_display()}"))
    return drill


def renewals_at_risk(day: date, *, segment: dict | None = None) -> Drill:
    from contracts.models import Contract

    rate = _rates(day)
    drill = _drill("at_risk", f"Contracts ending {day} to {day + timedelta(days=90)} without auto-renewal",
                   AT_RISK_DEFINITION)
    rows = _segmented(Contract.objects.filter(status=Contract.Status.ACTIVE, auto_renew=False, end_date__gte=day,
                                              end_date__lte=day + timedelta(days=90)), segment)
    for c in rows.select_related("customer").order_by("end_date", "pk"):
        drill.items.append(Item(c, c.end_date, c.arr, c.currency, (c.arr or ZERO) * rate(c.currency), c.customer.name))
    return drill


# --- the journal -------------------------------------------------------------------------------------------

def _journal_by_contract(drill: Drill, role: str, *, first: date | None, last: date, segment: dict | None) -> Drill:
    """Credit − debit (reporting currency) on the accounts of `role`, per contract (entries without one
    are grouped per customer, then as one 'no contract' row)."""
    from contracts.models import Contract
    from customers.models import Customer
    from recognition.models import JournalLine

    lines = JournalLine.objects.filter(account__role=role, entry__date__lte=last)
    if first is not None:
        lines = lines.filter(entry__date__gte=first)
    lines = _segmented(lines, segment, "entry__customer__")  # as finance_kpis: the entry's customer
    sums: dict[tuple[str, int | None], Decimal] = defaultdict(lambda: ZERO)
    for contract_id, customer_id, c, d in (lines.values("contract_id", "entry__customer_id")
                                           .annotate(c=Sum("credit_reporting"), d=Sum("debit_reporting"))
                                           .values_list("contract_id", "entry__customer_id", "c", "d")):
        key = ("contract", contract_id) if contract_id else ("customer", customer_id)
        sums[key] += (c or ZERO) - (d or ZERO)
    contracts = Contract.objects.select_related("customer").in_bulk([k[1] for k in sums if k[0] == "contract"])
    customers = Customer.objects.in_bulk([k[1] for k in sums if k[0] == "customer" and k[1]])
    for (what, pk), amount in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if amount == 0:
            continue
        record = contracts.get(pk) if what == "contract" else customers.get(pk) if pk else None
        detail = record.customer.name if what == "contract" and record else ""
        drill.items.append(Item(record, None, None, drill.currency, amount, detail))
    return drill


def deferred_revenue(day: date, *, segment: dict | None = None) -> Drill:
    """The contracts carrying deferred revenue on `day`: their balance on the deferred accounts."""
    from recognition.models import Account

    drill = _drill("deferred", f"Deferred revenue on {day}, by contract",
                   finance_kpis.FINANCE_DEFINITIONS["deferred_revenue"])
    return _journal_by_contract(drill, Account.Role.DEFERRED, first=None, last=day, segment=segment)


def revenue(first: date, last: date, *, segment: dict | None = None) -> Drill:
    """The contracts whose revenue was recognized in [first, last]: credits − debits on revenue accounts."""
    from recognition.models import Account

    drill = _drill("revenue", f"Revenue recognized {first} to {last}, by contract",
                   finance_kpis.FINANCE_DEFINITIONS["revenue_mtd"])
    return _journal_by_contract(drill, Account.Role.REVENUE, first=first, last=last, segment=segment)


# --- by name -----------------------------------------------------------------------------------------------

DRILLS = ("new", "expansion", "contraction", "churn", "reactivation", "new_mrr", "movements", "mrr", "arr",
          "customers", "retention", "bookings", "billings", "collections", "aging", "receivables", "dso",
          "deferred", "revenue", "margin", "pipeline", "at_risk")


def drill(name: str, *, first: date, last: date, segment: dict | None = None, bucket: str | None = None) -> Drill:
    """The drill-down `name` over the window [first, last] (point-in-time ones: on `last`)."""
    if name in MrrMovement.Kind.values:
        return movements(first, last, kinds=[name], segment=segment)
    if name == "new_mrr":
        return movements(first, last, kinds=[MrrMovement.Kind.NEW, MrrMovement.Kind.REACTIVATION], segment=segment)
    if name == "movements":
        return movements(first, last, segment=segment)
    if name in ("mrr", "customers"):
        return customers_with_mrr(last, segment=segment)
    if name == "arr":
        return customers_with_mrr(last, segment=segment, annual=True)
    if name == "retention":
        return retention_cohort(last, segment=segment)
    if name in ("bookings", "billings", "collections"):
        return {"bookings": bookings, "billings": billings, "collections": collections}[name](
            first, last, segment=segment)
    if name == "aging":
        return aging(last, bucket=bucket if bucket in AGING_BUCKETS else None, segment=segment)
    if name in ("receivables", "dso"):
        return receivables(last, segment=segment)
    if name == "deferred":
        return deferred_revenue(last, segment=segment)
    if name in ("revenue", "margin"):  # margin: its revenue side, by contract
        return revenue(first, last, segment=segment)
    if name == "pipeline":
        return pipeline(last, segment=segment)
    if name == "at_risk":
        return renewals_at_risk(last, segment=segment)
    raise KeyError(name)
