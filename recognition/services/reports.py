"""Reports from the journal and the schedules: deferred revenue waterfall and roll-forward, revenue by
period and dimension, trial balance, GL export rows."""
from __future__ import annotations

from collections import OrderedDict
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from revops.kernel import money
from revops.kernel.dates import add_months

from ..models import Account, JournalLine, PerformanceObligation, ScheduleLine

ZERO = Decimal(0)


def _months(first: date, last: date) -> list[date]:
    out, m = [], first.replace(day=1)
    while m <= last.replace(day=1):
        out.append(m)
        m = add_months(m, 1)
    return out


def waterfall(*, first: date, last: date, by: str = "contract") -> dict:
    """Planned (not yet recognized) revenue per row and month. `by`: contract | customer | product."""
    months = _months(first, last)
    labels = [m.isoformat()[:7] for m in months]
    key = {"contract": ("obligation__contract_id", "obligation__contract__number"),
           "customer": ("obligation__contract__customer_id", "obligation__contract__customer__name"),
           "product": ("obligation__product_id", "obligation__product__name")}[by]
    rows = (ScheduleLine.objects.filter(status=ScheduleLine.Status.PLANNED, period__gte=months[0],
                                        period__lte=months[-1])
            .values_list(key[0], key[1], "obligation__currency", "period").annotate(amount=Sum("amount"))
            .order_by(key[1], "period"))
    table: OrderedDict[tuple, dict] = OrderedDict()
    for row_id, label, currency, period, amount in rows:
        row = table.get((row_id, currency))
        if row is None:  # a row's twelve months are built once, not for every (row, month) fetched
            row = table[row_id, currency] = {"id": row_id, "label": label, "currency": currency,
                                             "months": dict.fromkeys(labels, ZERO), "total": ZERO}
        row["months"][period.isoformat()[:7]] += amount
        row["total"] += amount
    out = []
    for row in table.values():
        cur = row["currency"]
        row["months"] = {m: money.quantize(v, cur) for m, v in row["months"].items()}
        row["total"] = money.quantize(row["total"], cur)
        out.append(row)
    return {"months": labels, "by": by, "rows": out}


def deferred_rollforward(*, period: date) -> dict:
    """Per currency: opening + billings − recognized ± adjustments = closing, and whether closing ties
    to the Deferred Revenue account balance at the period end (in the transaction currency)."""
    start = period.replace(day=1)
    end = add_months(start, 1) - timedelta(days=1)
    lines = JournalLine.objects.filter(account__role=Account.Role.DEFERRED)
    out = []
    for currency in sorted(set(lines.values_list("entry__currency", flat=True))):
        cur_lines = lines.filter(entry__currency=currency)

        def credit_minus_debit(qs):
            agg = qs.aggregate(d=Sum("debit"), c=Sum("credit"))
            return (agg["c"] or ZERO) - (agg["d"] or ZERO)

        opening = credit_minus_debit(cur_lines.filter(entry__date__lt=start))
        in_period = cur_lines.filter(entry__date__gte=start, entry__date__lte=end)
        billings = credit_minus_debit(in_period.filter(entry__source="invoice.issued"))
        recognized = -credit_minus_debit(in_period.filter(entry__source="revenue.recognized"))
        adjustments = credit_minus_debit(in_period.exclude(entry__source__in=["invoice.issued", "revenue.recognized"]))
        closing = opening + billings - recognized + adjustments
        ledger = credit_minus_debit(cur_lines.filter(entry__date__lte=end))
        q = lambda v, c=currency: money.quantize(v, c)  # noqa: E731
        out.append({"currency": currency, "opening": q(opening), "billings": q(billings), "recognized": q(recognized),
                    "adjustments": q(adjustments), "closing": q(closing), "ledger_balance": q(ledger),
                    "ties": q(closing) == q(ledger)})
    return {"period": start.isoformat()[:7], "currencies": out}


def revenue_by(*, first: date, last: date, dimension: str = "product") -> list[dict]:
    """Recognized revenue (credits − debits on revenue accounts) by month and dimension, in the
    reporting currency. `dimension`: product | customer | segment (customer size) | family."""
    field = {"product": "product__name", "customer": "entry__customer__name", "segment": "entry__customer__size",
             "family": "account__family"}[dimension]
    rows = (JournalLine.objects.filter(account__role=Account.Role.REVENUE, entry__date__gte=first,
                                       entry__date__lte=last)
            .values(field, "entry__period__start").annotate(c=Sum("credit_reporting"), d=Sum("debit_reporting"))
            .order_by("entry__period__start", field))
    return [{"month": r["entry__period__start"].isoformat()[:7], dimension: r[field] or "(none)",
             "amount": (r["c"] or ZERO) - (r["d"] or ZERO)} for r in rows]


def trial_balance(*, as_of: date) -> dict:
    """Per account: debits, credits and balance in the reporting currency up to `as_of`; balanced."""
    rows = (JournalLine.objects.filter(entry__date__lte=as_of).values("account__code", "account__name", "account__kind")
            .annotate(d=Sum("debit_reporting"), c=Sum("credit_reporting")).order_by("account__code"))
    out, total_d, total_c = [], ZERO, ZERO
    for r in rows:
        d, c = r["d"] or ZERO, r["c"] or ZERO
        total_d, total_c = total_d + d, total_c + c
        out.append({"account": r["account__code"], "name": r["account__name"], "kind": r["account__kind"],
                    "debit": d, "credit": c, "balance": d - c})
    return {"as_of": as_of.isoformat(), "rows": out, "total_debit": total_d, "total_credit": total_c,
            "balanced": total_d == total_c}


GL_COLUMNS = ["entry_id", "date", "period", "source", "source_key", "memo", "account", "account_name", "debit",
              "credit", "currency", "debit_reporting", "credit_reporting", "reporting_currency", "fx_rate",
              "customer_id", "contract_id", "product_id", "corrects_period"]


def gl_rows(*, first: date, last: date, after_id: int | None = None):
    """One row per journal line (the ERP layout), in entry order."""
    lines = (JournalLine.objects.filter(entry__date__gte=first, entry__date__lte=last)
             .select_related("entry__period", "entry__corrects_period", "account").order_by("entry_id", "id"))
    if after_id:
        lines = lines.filter(Q(entry_id__gt=after_id))
    for x in lines.iterator(chunk_size=2000):
        e = x.entry
        yield {"entry_id": e.pk, "date": e.date.isoformat(), "period": f"{e.period.start:%Y-%m}", "source": e.source,
               "source_key": e.source_key, "memo": e.memo, "account": x.account.code, "account_name": x.account.name,
               "debit": str(money.quantize(x.debit, e.currency)), "credit": str(money.quantize(x.credit, e.currency)),
               "currency": e.currency, "debit_reporting": str(money.quantize(x.debit_reporting, e.reporting_currency)),
               "credit_reporting": str(money.quantize(x.credit_reporting, e.reporting_currency)),
               "reporting_currency": e.reporting_currency, "fx_rate": f"{e.fx_rate.normalize():f}",
               "customer_id": e.customer_id,
               "contract_id": x.contract_id, "product_id": x.product_id,
               "corrects_period": f"{e.corrects_period.start:%Y-%m}" if e.corrects_period else ""}


def obligation_status(ob: PerformanceObligation, *, as_of: date) -> dict:
    """recognized to date + remaining = allocated, always."""
    lines = ob.schedule.exclude(status=ScheduleLine.Status.CANCELLED)
    recognized = lines.filter(status=ScheduleLine.Status.RECOGNIZED).aggregate(s=Sum("amount"))["s"] or ZERO
    remaining = lines.filter(status=ScheduleLine.Status.PLANNED).aggregate(s=Sum("amount"))["s"] or ZERO
    return {"allocated": ob.allocated_price, "recognized": recognized, "remaining": remaining}


