"""Acquisition: marketing and sales spend per channel and month, CAC, CAC payback and CLV.

Figures (reporting currency; DEFINITIONS is what the page and the API show):
  CAC          = spend in the window ÷ new customers acquired in the window
                 (new = the customer's MRR movement of kind 'new' falls in the window)
  payback      = CAC ÷ (ARPA × gross margin %)                      months
  CLV          = ARPA × gross margin % ÷ monthly revenue churn, at most 60 months of that margin
  CLV:CAC      = CLV ÷ CAC
ARPA is the group's MRR at the end of the window ÷ its customers with MRR; gross margin % is the group's
(revenue − cost of goods) ÷ revenue over the window (analytics.services.profitability); monthly revenue
churn is the group's churned + contracted MRR over the window ÷ Σ its MRR at the start of each month.

Groupings: the acquisition channel, a segment field (size, region, industry) or the plan — the product of
the customer's main recurring contract line as profitability defines it (DEFINITIONS['plan'] there), read
from the same computation (`prof.compute(...).attrs[pk]['plan']`), so both reports put a customer in the
same plan. Spend cannot be entered for a plan (a spend's segment is one of SEGMENT_FIELDS), so by plan
every entry is split over the plans of its channel's new customers in its scope (see `_group_spend`).
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from customers.models import Customer
from revops.kernel import money
from revops.kernel.errors import ValidationFailed, field_error

from ..models import AcquisitionSpend, MrrMovement
from . import profitability as prof
from .cost_allocation import SEGMENT_FIELDS, in_segment

ZERO = Decimal(0)
GROUPINGS = ("acquisition_channel", "size", "region", "industry", "plan")
GROUPING_LABELS = {g: prof.SEGMENTS[g] for g in GROUPINGS}  # the page's "By" choices
UNATTRIBUTED = "(unattributed)"
CSV_COLUMNS = ["channel", "period", "category", "amount", "currency", "segment_field", "segment_value", "note"]
MAX_CSV_ROWS = 5000

DEFINITIONS = {
    "spend": "Spend: marketing and sales spend entered for the months of the window, converted at the FX rate on "
             "the first day of each entry's month.",
    "new_customers": "New customers: customers whose first MRR (their MRR movement of kind 'new') starts in the "
                     "window.",
    "cac": "CAC = spend ÷ new customers (empty without new customers). By segment: spend entered for the segment, "
           "plus each channel-wide entry split over the segment's values in proportion to that channel's new "
           "customers (largest remainder); spend of a channel without new customers is 'unattributed'. By plan: "
           "spend is never entered for a plan, so every entry is split that way, over the plans of the channel's "
           "new customers in the entry's segment.",
    "plan": prof.DEFINITIONS["plan"] + " A new customer counts in the plan it holds at the end of the window, "
            "not the one it started on.",
    "arpa": "ARPA = the group's MRR at the end of the window ÷ its customers with MRR then.",
    "gross_margin_pct": "Gross margin % = (recognized revenue − cost of goods) ÷ recognized revenue over the window, "
                        "for the group's customers (see profitability).",
    "churn": "Monthly revenue churn = the group's churned + contracted MRR over the window ÷ Σ of its MRR at the "
             "start of each month of the window.",
    "payback_months": "CAC payback (months) = CAC ÷ (ARPA × gross margin %).",
    "clv": f"CLV = ARPA × gross margin % ÷ monthly revenue churn; when churn is zero (or below "
           f"1/{prof.CLV_CAP_MONTHS}) it is capped at {prof.CLV_CAP_MONTHS} months: ARPA × gross margin % × "
           f"{prof.CLV_CAP_MONTHS}.",
    "clv_cac": "CLV:CAC = CLV ÷ CAC.",
}
FORMULA = (f"CAC = spend ÷ new customers · payback = CAC ÷ (ARPA × gross margin %) · "
           f"CLV = ARPA × gross margin % ÷ monthly revenue churn (capped at {prof.CLV_CAP_MONTHS} months when churn "
           f"is zero) · CLV:CAC = CLV ÷ CAC")


def _q(value: Decimal) -> Decimal:
    return money.quantize(value, prof.reporting_currency())


# --- entering spend -------------------------------------------------------------------------------------

def _validated(*, channel, period, category, amount, currency, segment_field="", segment_value="", note="") -> dict:
    """The fields of one spend entry, checked; raises ValidationFailed naming the field."""
    if channel not in Customer.Channel.values:
        raise field_error("channel", f"one of {', '.join(Customer.Channel.values)}")
    if category not in AcquisitionSpend.Category.values:
        raise field_error("category", f"one of {', '.join(AcquisitionSpend.Category.values)}")
    if isinstance(period, str):
        raw = period.strip()
        try:
            period = date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01")
        except ValueError:
            raise field_error("period", "a month, YYYY-MM or YYYY-MM-DD") from None
    if not isinstance(period, date):
        raise field_error("period", "a month, YYYY-MM or YYYY-MM-DD")
    currency = (currency or "").strip()
    try:
        money.validate_currency(currency)
    except ValidationFailed:
        raise field_error("currency", f"unknown currency code {currency!r}") from None
    try:
        value = money.to_decimal(amount.strip() if isinstance(amount, str) else amount)
    except (ValidationFailed, TypeError):
        raise field_error("amount", "must be a decimal number") from None
    if value < 0:
        raise field_error("amount", "must not be negative")
    if value != money.quantize(value, currency):
        raise field_error("amount", f"at most {money.minor_units(currency)} decimal places in {currency}")
    segment_field, segment_value = (segment_field or "").strip(), (segment_value or "").strip()
    if segment_field and segment_field not in SEGMENT_FIELDS:
        raise field_error("segment_field", f"one of {', '.join(SEGMENT_FIELDS)} (or blank)")
    if bool(segment_field) != bool(segment_value):
        raise field_error("segment_value" if segment_field else "segment_field",
                          "segment_field and segment_value go together")
    return {"channel": channel, "period": period.replace(day=1), "category": category, "amount": value,
            "currency": currency, "segment_field": segment_field, "segment_value": segment_value,
            "note": (note or "")[:200]}


def acquisition_spend_create(*, by=None, **fields) -> AcquisitionSpend:
    """One spend entry (channel, month, category, amount, currency, optional segment)."""
    data = _validated(**fields)
    with transaction.atomic():
        return AcquisitionSpend.objects.create(**data, created_by=by if getattr(by, "pk", None) else None)


def acquisition_spend_delete(*, spend_id: int) -> None:
    with transaction.atomic():
        deleted, _ = AcquisitionSpend.objects.filter(pk=spend_id).delete()
    if not deleted:
        raise field_error("id", f"no acquisition spend {spend_id}")


def acquisition_spend_import(*, text: str, by=None) -> list[AcquisitionSpend]:
    """Spend from CSV (header: channel, period, category, amount, currency[, segment_field, segment_value,
    note]). All or nothing: any bad row refuses the whole file with every row's errors, as
    fields {"rows[<n>].<column>": [...]} (n = the data row, 1 = the first after the header)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in CSV_COLUMNS[:5] if c not in header]
    if missing:
        raise ValidationFailed(f"the CSV header lacks {', '.join(missing)}; expected {', '.join(CSV_COLUMNS)}",
                               fields={"file": [f"missing column {c}" for c in missing]})
    rows, errors = [], {}
    for n, raw in enumerate(reader, start=1):
        if n > MAX_CSV_ROWS:
            raise field_error("file", f"at most {MAX_CSV_ROWS} rows per file")
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        try:
            rows.append(_validated(**{c: row.get(c, "") for c in CSV_COLUMNS}))
        except ValidationFailed as exc:
            for f, messages in (exc.fields or {"row": [exc.message]}).items():
                errors[f"rows[{n}].{f}"] = messages
    if errors:
        raise ValidationFailed(f"{len({k.split('.')[0] for k in errors})} row(s) of the CSV are invalid; nothing was "
                               "imported", fields=errors)
    if not rows:
        raise field_error("file", "the CSV has no data rows")
    creator = by if getattr(by, "pk", None) else None
    with transaction.atomic():
        return AcquisitionSpend.objects.bulk_create([AcquisitionSpend(**r, created_by=creator) for r in rows])


# --- figures --------------------------------------------------------------------------------------------

def new_customers(*, first: date, last: date) -> dict[int, date]:
    return dict(MrrMovement.objects.filter(kind=MrrMovement.Kind.NEW, date__gte=first, date__lte=last)
                .values_list("customer_id", "date"))


def _spend_rows(first: date, last: date, rates: prof.Rates) -> list[dict]:
    rows = []
    for s in (AcquisitionSpend.objects.filter(period__gte=first.replace(day=1), period__lte=last)
              .values("pk", "channel", "period", "category", "amount", "currency", "segment_field", "segment_value")):
        s["amount_reporting"] = _q(s["amount"] * rates.rate(s["currency"], s["period"]))
        rows.append(s)
    return rows


def _group_spend(spend: list[dict], by: str, new: dict[int, date], attrs: dict[int, dict]) -> dict[str, Decimal]:
    """Spend (reporting currency) per value of `by`. By channel: each entry's channel. Otherwise an entry
    entered for that very field (segment_field == by) goes to its value whole; any other entry — channel-wide
    or scoped to another field — is split over the `by` values of the channel's new customers within the
    entry's scope, in proportion to their counts (largest remainder), and stays UNATTRIBUTED when the
    channel has no such new customer. Plan is never a spend segment (SEGMENT_FIELDS), so by plan every
    entry is split: e.g. inbound 900 with new customers A (Plan One) and D (Plan Two) → 450 each; outbound
    200 entered for size smb, whose one smb new customer C is on Plan One → 200 to Plan One."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    if by == "acquisition_channel":
        for s in spend:
            out[s["channel"]] += s["amount_reporting"]
        return out
    for s in spend:
        if s["segment_field"] == by:
            out[s["segment_value"]] += s["amount_reporting"]
            continue
        pool: dict[str, int] = defaultdict(int)
        for pk in new:
            a = attrs.get(pk)
            if a and a["acquisition_channel"] == s["channel"] and in_segment(a, s["segment_field"], s["segment_value"]):
                pool[a[by] or "(none)"] += 1
        if not pool:
            out[UNATTRIBUTED] += s["amount_reporting"]
            continue
        values = sorted(pool)
        parts = money.allocate(s["amount_reporting"], [pool[v] for v in values], prof.reporting_currency())
        for v, part in zip(values, parts, strict=True):
            out[v] += part
    return out


def _figures(*, label: str, spend: Decimal, new: int, mrr: dict[int, Decimal], members: set[int],
             result: prof.Result, churn: Decimal | None) -> dict:
    paying = [mrr[pk] for pk in members if mrr.get(pk, ZERO) > 0]
    arpa = _q(sum(paying, ZERO) / len(paying)) if paying else None
    revenue = sum((result.customers[pk].revenue for pk in members if pk in result.customers), ZERO)
    cogs = sum((result.customers[pk].cost_of_goods for pk in members if pk in result.customers), ZERO)
    gm = prof.pct(revenue - cogs, revenue)
    cac = _q(spend / new) if new else None
    margin = arpa * gm / 100 if arpa is not None and gm is not None else None
    payback = (cac / margin).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if cac is not None and margin and margin > 0 else None
    clv = prof.clv_value(monthly_margin=margin, churn=churn) if margin is not None and margin > 0 else None
    capped = clv is not None and (churn is None or churn <= 0 or 1 / churn >= prof.CLV_CAP_MONTHS)
    return {"group": label, "spend": _q(spend), "new_customers": new, "cac": cac, "customers": len(paying),
            "arpa": arpa, "gross_margin_pct": gm, "monthly_churn_pct": (churn * 100).quantize(Decimal("0.01"))
            if churn is not None else None, "payback_months": payback, "clv": clv, "clv_capped": capped,
            "clv_cac": (clv / cac).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) if clv is not None and cac else None}


def acquisition_report(*, first: date, last: date, by: str = "acquisition_channel") -> dict:
    """CAC, payback, CLV and CLV:CAC per channel (by='acquisition_channel'), per value of a segment field
    (size, region, industry) or per plan (by='plan': profitability's plan, at the end of the window), with an
    'all' row; the formulas and definitions beside them. An unknown `by` raises ValidationFailed (field by)."""
    if by not in GROUPINGS:
        raise field_error("by", f"one of {', '.join(GROUPINGS)}")
    result = prof.compute(first=first, last=last)
    attrs = result.attrs
    rates = prof.Rates()
    spend = _spend_rows(first, last, rates)
    new = new_customers(first=first, last=last)
    from .kpis import mrr_by_customer

    mrr = mrr_by_customer(last)
    spend_by = _group_spend(spend, by, new, attrs)
    members: dict[str, set[int]] = defaultdict(set)
    for pk, a in attrs.items():
        members[a[by] or "(none)"].add(pk)
    labels = sorted(set(spend_by) | {attrs[pk][by] or "(none)" for pk in new if pk in attrs}
                    | {k for k, v in members.items() if any(mrr.get(pk, ZERO) > 0 for pk in v)})
    rows = []
    for label in labels:
        group = members.get(label, set())
        churn = prof.monthly_revenue_churn(first=first, last=last, customer_ids=group) if group else None
        rows.append(_figures(label=label, spend=spend_by.get(label, ZERO),
                             new=sum(1 for pk in new if pk in group), mrr=mrr, members=group, result=result,
                             churn=churn))
    everyone = set(attrs)
    total = _figures(label="all", spend=sum((s["amount_reporting"] for s in spend), ZERO), new=len(new), mrr=mrr,
                     members=everyone, result=result, churn=prof.monthly_revenue_churn(first=first, last=last))
    by_month: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for s in spend:
        by_month[s["period"].isoformat()[:7]] += s["amount_reporting"]
    return {"from": first.isoformat(), "to": last.isoformat(), "by": by, "currency": prof.reporting_currency(),
            "rows": rows, "total": total, "spend_by_month": dict(sorted(by_month.items())), "formula": FORMULA,
            "definitions": DEFINITIONS}


def spend_total(*, first: date, last: date) -> Decimal:
    rates = prof.Rates()
    return _q(sum((s["amount_reporting"] for s in _spend_rows(first, last, rates)), ZERO))


__all__ = ["DEFINITIONS", "FORMULA", "GROUPINGS", "GROUPING_LABELS", "acquisition_report",
           "acquisition_spend_create", "acquisition_spend_delete",
           "acquisition_spend_import", "new_customers", "spend_total"]
