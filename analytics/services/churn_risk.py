"""Churn risk: a simple, explainable score from 0 to 100 per customer, the sum of four factors, each
listed with its points so anyone can see why a customer scores what it does.

| factor | points |
|---|---|
| usage trend — daily average of the last 30 days vs the 90 days before, worst meter (Σ event values; for count meters the number of events) | drop ≥ 50 %: 25 · ≥ 25 %: 15 · ≥ 10 %: 5 |
| overdue invoices — issued or partly paid, due before the day, amount due > 0 | oldest 1–30 days: 10 · 31–60: 20 · > 60: 30; +5 with 2 or more invoices (at most 35) |
| support cost share — cost to serve ÷ revenue over the last three full months and this month to date (analytics.services.profitability, over the stored split of shared costs) | ≥ 30 %: 20 · ≥ 15 %: 10 |
| renewal proximity — an active contract ending within 90 days with no renewal under way (not auto-renewing, not renewed, no renewal quote submitted) | ≤ 30 days: 20 · ≤ 60: 15 · ≤ 90: 10 |

Level: 0–29 low, 30–59 medium, 60–100 high. `risk_table` computes every factor for every customer with
one aggregate query per factor (no query per customer).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Min, Q, Sum

from customers.models import Customer
from revops.kernel import money
from revops.kernel.dates import add_months

from .recommendations import FxCache, reporting_currency

ZERO = Decimal(0)
RECENT_DAYS, BEFORE_DAYS, RENEWAL_DAYS = 30, 90, 90
SUPPORT_WINDOW = "the last three full months and this month to date"  # what _support_window measures, in words
LEVELS = [(60, "high"), (30, "medium"), (0, "low")]

DEFINITIONS = {
    "score": "Churn risk 0–100 = usage trend (up to 25) + overdue invoices (up to 35) + support cost share (up to "
             "20) + renewal proximity (up to 20). Low below 30, medium 30–59, high from 60.",
    "usage": "Usage trend: daily average of the last 30 days vs the 90 days before, the worst meter; a drop of "
             "50 % or more +25, 25 % +15, 10 % +5.",
    "overdue": "Overdue invoices (issued or partly paid, past due): oldest 1–30 days +10, 31–60 +20, over 60 +30; "
               "+5 more with two or more invoices.",
    "support": f"Support cost share: cost to serve ÷ revenue over {SUPPORT_WINDOW}; 30 % or more +20, 15 % +10.",
    "renewal": "Renewal proximity: an active contract ending within 90 days that does not renew automatically and "
               "has no renewal under way; within 30 days +20, 60 days +15, 90 days +10.",
}


def level_of(score: int) -> str:
    return next(name for floor, name in LEVELS if score >= floor)


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {money.quantize(amount, currency):,}"


# --- factors: each takes customer ids (None: everyone) and returns {customer: (points, reason)} ---------

def _usage_factor(ids: Iterable[int] | None, day: date) -> dict[int, tuple[int, str]]:
    from billing.models import UsageEvent
    from billing.services.usage import day_bounds

    start, _ = day_bounds(day - timedelta(days=RECENT_DAYS + BEFORE_DAYS - 1), day)
    recent_start, end = day_bounds(day - timedelta(days=RECENT_DAYS - 1), day)
    events = UsageEvent.objects.filter(timestamp__gte=start, timestamp__lt=end)
    if ids is not None:
        events = events.filter(customer_id__in=list(ids))
    worst: dict[int, tuple[Decimal, str]] = {}
    rows = (events.values("customer_id", "meter_id")
            .annotate(recent=Sum("value", filter=Q(timestamp__gte=recent_start)),
                      before=Sum("value", filter=Q(timestamp__lt=recent_start))))
    meters = {}
    for r in rows:
        before = r["before"] or ZERO
        if before <= 0:
            continue
        recent = r["recent"] or ZERO
        drop = (1 - (recent / RECENT_DAYS) / (before / BEFORE_DAYS)) * 100
        if r["customer_id"] not in worst or drop > worst[r["customer_id"]][0]:
            worst[r["customer_id"]] = (drop, r["meter_id"])
            meters[r["meter_id"]] = None
    if meters:
        from catalog.models import Meter

        meters = dict(Meter.objects.filter(pk__in=list(meters)).values_list("pk", "code"))
    out = {}
    for customer_id, (drop, meter_id) in worst.items():
        points = 25 if drop >= 50 else 15 if drop >= 25 else 5 if drop >= 10 else 0
        if points:
            shown = drop.quantize(Decimal("1"), rounding=ROUND_HALF_UP)
            out[customer_id] = (points, f"{meters.get(meter_id, 'usage')} usage down {shown} % (daily average, last "
                                        f"30 days vs the 90 before): +{points}")
    return out


def _overdue_factor(ids: Iterable[int] | None, day: date) -> dict[int, tuple[int, str]]:
    from billing.models import Invoice

    invoices = Invoice.objects.filter(status__in=Invoice.OPEN, due_date__lt=day, amount_due__gt=0)
    if ids is not None:
        invoices = invoices.filter(customer_id__in=list(ids))
    currency, fx = reporting_currency(), FxCache()
    agg: dict[int, dict] = defaultdict(lambda: {"n": 0, "amount": ZERO, "oldest": None, "unconverted": False})
    for r in (invoices.values("customer_id", "currency").annotate(n=Count("id"), amount=Sum("amount_due"),
                                                                   oldest=Min("due_date")).order_by()):
        a = agg[r["customer_id"]]
        a["n"] += r["n"]
        converted = fx.convert(r["amount"], r["currency"], day)
        if converted is None:
            a["unconverted"] = True
        else:
            a["amount"] += converted
        a["oldest"] = r["oldest"] if a["oldest"] is None else min(a["oldest"], r["oldest"])
    out = {}
    for customer_id, a in agg.items():
        days = (day - a["oldest"]).days
        points = min(35, (30 if days > 60 else 20 if days > 30 else 10) + (5 if a["n"] >= 2 else 0))
        what = "1 invoice" if a["n"] == 1 else f"{a['n']} invoices"
        note = ", some without an FX rate" if a["unconverted"] else ""
        out[customer_id] = (points, f"{what} overdue ({_money(a['amount'], currency)}{note}, oldest {days} days): "
                                    f"+{points}")
    return out


def _support_window(day: date) -> tuple[date, date]:
    """[the first of the month three months before `day`'s, `day`] (SUPPORT_WINDOW): costs are entered per
    month, so the window is whole months, plus the month to date so a cost entered this month counts at once."""
    return add_months(day.replace(day=1), -3), day


def _support_shares(ids: list[int] | None, day: date) -> dict[int, Decimal]:
    """{customer: cost to serve ÷ revenue, in %} over the support window, for customers with revenue: the
    same fraction, to 4 places, as analytics.services.profitability's `customer_cost_to_serve_share`, × 100.

    No cache: the shared costs' split is stored (analytics.services.cost_allocation, CostShare), so one
    customer's share costs a handful of indexed queries and the table one computation over everyone. No cost
    entered in the window → no share at all, and no computation."""
    from ..models import ServiceCost
    from . import profitability

    first, last = _support_window(day)
    if not ServiceCost.objects.filter(period__gte=first, period__lte=last).exists():
        return {}
    if ids is not None and len(ids) <= FEW:
        shares = {}
        for customer_id in ids:
            share = profitability.customer_cost_to_serve_share(customer_id=customer_id, first=first, last=last)
            if share is not None:
                shares[customer_id] = share * 100
        return shares
    shares = {}
    for customer_id, m in profitability.compute(first=first, last=last).customers.items():
        if m.revenue > 0:
            shares[customer_id] = (m.cost_to_serve / m.revenue).quantize(Decimal("0.0001")) * 100
    return shares if ids is None else {k: shares[k] for k in ids if k in shares}


FEW = 5  # up to this many customers, their shares one by one; more: one computation over everyone


def _support_factor(ids: Iterable[int] | None, day: date) -> dict[int, tuple[int, str]]:
    shares = _support_shares(None if ids is None else list(ids), day)
    out = {}
    for customer_id, pct in shares.items():
        points = 20 if pct >= 30 else 10 if pct >= 15 else 0
        if points:
            shown = pct.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
            out[customer_id] = (points, f"cost to serve is {shown} % of revenue over {SUPPORT_WINDOW}: +{points}")
    return out


def _renewal_factor(ids: Iterable[int] | None, day: date) -> dict[int, tuple[int, str]]:
    from contracts.models import Contract
    from quotes.models import Quote

    under_way = [Quote.Status.PENDING_APPROVAL, Quote.Status.APPROVED, Quote.Status.SENT, Quote.Status.ACCEPTED,
                 Quote.Status.SUPERSEDED]
    contracts = (Contract.objects.filter(status=Contract.Status.ACTIVE, auto_renew=False, end_date__gte=day,
                                         end_date__lte=day + timedelta(days=RENEWAL_DAYS), renewed_by__isnull=True)
                 .exclude(renewal_quote__status__in=under_way))
    if ids is not None:
        contracts = contracts.filter(customer_id__in=list(ids))
    out = {}
    for customer_id, number, end in contracts.order_by("end_date", "id").values_list("customer_id", "number",
                                                                                         "end_date"):
        if customer_id in out:
            continue  # the nearest end counts
        days = (end - day).days
        points = 20 if days <= 30 else 15 if days <= 60 else 10
        out[customer_id] = (points, f"contract {number} ends in {days} days ({end}) with no renewal under way: "
                                    f"+{points}")
    return out


FACTORS = [("usage", _usage_factor), ("overdue", _overdue_factor), ("support", _support_factor),
           ("renewal", _renewal_factor)]


def _assemble(customer_id: int, found: dict[str, dict[int, tuple[int, str]]], costs_visible: bool = True) -> dict:
    points, reasons, factors = 0, [], {}
    for name, _fn in FACTORS:
        hit = found[name].get(customer_id)
        factors[name] = hit[0] if hit else 0
        if hit:
            points += hit[0]
            # The cost-to-serve ratio is cost information: roles that may not see costs get the points only.
            reasons.append(hit[1] if costs_visible or name != "support" else
                           f"high cost to serve relative to revenue: +{hit[0]}")
    score = min(100, points)
    return {"score": score, "level": level_of(score), "reasons": reasons, "factors": factors}


def customer_risk(*, customer_id: int, day: date, costs_visible: bool = True) -> dict:
    """One customer's score (int 0–100), level (low|medium|high), reasons (each factor's points in words;
    without the cost figure unless `costs_visible`) and factors ({usage, overdue, support, renewal}: points)."""
    found = {name: fn([customer_id], day) for name, fn in FACTORS}
    return {"customer_id": customer_id, "as_of": day.isoformat(), **_assemble(customer_id, found, costs_visible)}


def risk_table(*, day: date, limit: int | None = 50, customer_ids: Iterable[int] | None = None,
               min_score: int = 0, costs_visible: bool = True) -> list[dict]:
    """Every customer (or `customer_ids`) by score, highest first, at most `limit` (None: all): each as
    `customer_risk` plus customer name, owner and MRR-free segment fields. One aggregate query per factor."""
    ids = None if customer_ids is None else list(customer_ids)
    if ids == []:
        return []
    found = {name: fn(ids, day) for name, fn in FACTORS}
    scored = set().union(*(f.keys() for f in found.values()))
    rows = []
    for customer_id in scored:
        row = _assemble(customer_id, found, costs_visible)
        if row["score"] >= max(min_score, 1):
            rows.append({"customer_id": customer_id, **row})
    rows.sort(key=lambda r: (-r["score"], r["customer_id"]))
    if limit is not None:
        rows = rows[:limit]
    customers = {c["pk"]: c for c in Customer.objects.filter(pk__in=[r["customer_id"] for r in rows])
                 .values("pk", "name", "size", "industry", "owner__username")}
    for r in rows:
        c = customers.get(r["customer_id"], {})
        r.update(customer_name=c.get("name", ""), size=c.get("size", ""), industry=c.get("industry", ""),
                 owner=c.get("owner__username") or "")
    return rows
