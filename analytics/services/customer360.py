"""Customer 360: everything the teams share about one customer, read in a bounded number of queries and
cut to what the viewer's role may see (`visibility_for`). The page (customers/views.py) and the API
(analytics/customer360_api.py) both read it through `customer_360`, so the role rules live here only.

Who sees what (see the README's table):
- every staff role: segment and owner, MRR/ARR, open quotes, contracts and renewals, usage against
  entitlements, alerts, the timeline and its comments;
- health, next best offers and upsell flags (the insights): every staff role, except that a sales rep sees
  them only on the customers it owns — a rep's insights are its own book's, the same rule as the insights
  pages and API (`INSIGHT_ROLES`, `insight_customer_ids`);
- invoices' numbers and statuses: every staff role (a rep should know an account is overdue before
  calling); their amounts, payments, credit notes, AR aging and revenue recognized/deferred: finance,
  customer success, sales managers and admins (`BILLING_ROLES`);
- cost of goods, cost to serve, contribution margin and CLV: finance, sales managers and admins
  (`COST_ROLES`);
- portal users: nothing (the page and the API answer 403).
"""
from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Prefetch, Sum
from django.utils import timezone

from billing.models import Invoice, Payment
from billing.services.dunning import BUCKETS, ar_aging
from billing.services.usage import usage_total
from catalog import pricing
from catalog.models import Price
from contracts.models import Contract, ContractLine
from contracts.services.periods import billing_anchor, billing_period_containing
from customers.models import Customer
from quotes.models import Quote
from recognition.models import Account, JournalLine, ScheduleLine
from revops.kernel import money, roles
from revops.kernel.dates import add_months

from ..models import Alert, MrrMovement
from . import kpis, timeline

ZERO = Decimal(0)
COST_ROLES = roles.COST_ROLES
# the roles whose insights (health, offers, upsell flags, churn risk lists) cover every customer; a sales rep's
# cover the customers it owns
INSIGHT_ROLES = (roles.SALES_MANAGER, roles.FINANCE, roles.CUSTOMER_SUCCESS, roles.ADMIN)
BILLING_ROLES = (roles.FINANCE, roles.CUSTOMER_SUCCESS, roles.SALES_MANAGER, roles.ADMIN)
LIST_LIMIT = 20  # rows per section; each section says how many there are in all
RENEWAL_WINDOW_DAYS = 120
MAX_USAGE_LINES = 20  # one aggregate query per usage line version in the current period: capped
PAYMENTS_LIMIT = 10
ALERTS_LIMIT = 10
PROFIT_MONTHS = 12


@dataclass(frozen=True)
class Visibility:
    costs: bool  # cost of goods, cost to serve, contribution margin, margin %, CLV
    billing: bool  # invoice amounts, payments, credit notes, AR aging, revenue recognized and deferred
    can_comment: bool
    insights: bool = True  # health, next best offers, upsell flags (of the customer asked about)

    @property
    def timeline_filter(self) -> dict:
        """customer_timeline's role arguments: no payments or credit notes, and invoice events without
        their amounts, for roles outside BILLING_ROLES."""
        hidden = set() if self.billing else timeline.BILLING_SOURCES
        return {"sources": frozenset(timeline.SOURCES) - hidden, "invoice_amounts": self.billing}


def visibility_for(user, customer: Customer | None = None) -> Visibility:
    """What `user` may see on a customer's 360 (`customer`: the one asked about, for the insights rule).
    Callers refuse non-staff users before asking."""
    return Visibility(costs=roles.has_role(user, *COST_ROLES), billing=roles.has_role(user, *BILLING_ROLES),
                      can_comment=roles.is_staff_member(user) and user.has_perm("customers.add_customercomment"),
                      insights=customer is None or roles.has_role(user, *INSIGHT_ROLES)
                      or customer.owner_id == user.pk)


def insight_customer_ids(user) -> list[int] | None:
    """The customers whose insights `user` may see: None for every customer, else the ids a sales rep owns."""
    if roles.has_role(user, *INSIGHT_ROLES):
        return None
    return list(Customer.objects.filter(owner=user).values_list("pk", flat=True))


def business_today() -> date:
    return timezone.localdate(timezone=ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE))


def _optional(module: str, function: str, **kwargs):
    """Call analytics.services.<module>.<function>(**kwargs); None while that area's module is not
    installed (the same rule as analytics/demo.py's area modules). Errors inside it are not hidden."""
    name = f"analytics.services.{module}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None
    return getattr(mod, function)(**kwargs)


# --- sections ----------------------------------------------------------------------------------------

def _m(amount: Decimal, currency: str) -> Decimal:
    """A stored amount in its currency's minor units (the columns keep more places)."""
    return money.quantize(amount, currency)


def _segment(customer: Customer) -> dict:
    owner = customer.owner
    return {
        "size": customer.size, "size_label": customer.get_size_display() if customer.size else "",
        "region": customer.region, "region_label": customer.get_region_display() if customer.region else "",
        "industry": customer.industry,
        "acquisition_channel": customer.acquisition_channel,
        "acquisition_channel_label": (customer.get_acquisition_channel_display()
                                      if customer.acquisition_channel else ""),
        "owner": ({"id": owner.pk, "username": owner.get_username(), "name": owner.get_full_name() or owner.username}
                  if owner else None),
    }


def mrr_summary(*, customer_id: int, day: date) -> dict:
    """The customer's MRR and ARR on `day` from the MRR rollup: per contract currency, and in total in the
    reporting currency (each movement converted on its day, as the company KPIs are)."""
    reporting = kpis._reporting()
    rows = (MrrMovement.objects.filter(customer_id=customer_id, date__lte=day).values("currency")
            .annotate(native=Sum("amount"), reporting=Sum("amount_reporting")).order_by("currency"))
    by_currency, total = [], ZERO
    for r in rows:
        native = money.quantize(r["native"] or ZERO, r["currency"])
        total += r["reporting"] or ZERO
        if native:
            by_currency.append({"currency": r["currency"], "mrr": native,
                                "arr": money.quantize(native * 12, r["currency"])})
    mrr = money.quantize(total, reporting)
    return {"as_of": day, "currency": reporting, "mrr": mrr, "arr": money.quantize(mrr * 12, reporting),
            "by_currency": by_currency, "definition": f"{kpis.DEFINITIONS['mrr']} {kpis.DEFINITIONS['arr']}"}


def _quotes(customer_id: int) -> dict:
    open_quotes = Quote.objects.filter(customer_id=customer_id, status__in=Quote.OPEN)
    rows = list(open_quotes.select_related("owner").order_by("-created_at", "-id")[:LIST_LIMIT])
    count = len(rows) if len(rows) < LIST_LIMIT else open_quotes.count()
    return {"count": count, "rows": [{
        "id": q.pk, "number": q.number, "version": q.version, "status": q.status, "status_label": q.get_status_display(),
        "currency": q.currency, "mrr": _m(q.mrr, q.currency), "tcv": _m(q.tcv, q.currency), "start_date": q.start_date, "valid_until": q.valid_until,
        "owner": q.owner.get_full_name() or q.owner.username,
    } for q in rows]}


def _contract_row(c: Contract, day: date) -> dict:
    return {"id": c.pk, "number": c.number, "status": c.status, "status_label": c.get_status_display(),
            "currency": c.currency, "start_date": c.start_date, "end_date": c.end_date, "mrr": _m(c.mrr, c.currency),
            "arr": _m(c.arr, c.currency), "tcv": _m(c.tcv, c.currency), "auto_renew": c.auto_renew, "days_to_end": (c.end_date - day).days}


def _contracts(customer_id: int, day: date) -> dict:
    live = Contract.objects.filter(customer_id=customer_id, status__in=[Contract.Status.ACTIVE, Contract.Status.DRAFT])
    rows = list(live.order_by("end_date", "id")[:LIST_LIMIT])
    count = len(rows) if len(rows) < LIST_LIMIT else live.count()
    return {"count": count, "rows": [_contract_row(c, day) for c in rows]}


def _renewals(customer_id: int, day: date) -> dict:
    """Active contracts ending within RENEWAL_WINDOW_DAYS: how they renew, and the renewal quote if any."""
    due = (Contract.objects.filter(customer_id=customer_id, status=Contract.Status.ACTIVE, end_date__gte=day,
                                   end_date__lte=day + timedelta(days=RENEWAL_WINDOW_DAYS))
           .select_related("renewal_quote").order_by("end_date", "id")[:LIST_LIMIT])
    rows = []
    for c in due:
        q = c.renewal_quote
        rows.append({**_contract_row(c, day), "renewal_term_months": c.renewal_term_months,
                     "renewal_uplift_percent": c.renewal_uplift_percent,
                     "renewal_quote": ({"id": q.pk, "number": q.number, "status": q.status} if q else None)})
    return {"window_days": RENEWAL_WINDOW_DAYS, "rows": rows}


def _invoices(customer_id: int, day: date, *, amounts: bool) -> dict:
    """Open invoices first (oldest due first), then the latest others; amounts only for BILLING_ROLES."""
    issued = Invoice.objects.filter(customer_id=customer_id)
    open_rows = list(issued.filter(status__in=Invoice.OPEN).order_by("due_date", "id")[:LIST_LIMIT])
    out = []
    for inv in open_rows:
        out.append(_invoice_row(inv, day, amounts))
    if len(out) < LIST_LIMIT:
        for inv in issued.exclude(status__in=Invoice.OPEN).order_by("-created_at", "-id")[:LIST_LIMIT - len(out)]:
            out.append(_invoice_row(inv, day, amounts))
    return {"rows": out}


def _invoice_row(inv: Invoice, day: date, amounts: bool) -> dict:
    overdue = (day - inv.due_date).days if inv.status in Invoice.OPEN and inv.due_date else 0
    row = {"id": inv.pk, "number": inv.number, "status": inv.status, "status_label": inv.get_status_display(),
           "issue_date": inv.issue_date, "due_date": inv.due_date, "days_overdue": max(overdue, 0)}
    if amounts:
        row.update({"currency": inv.currency, "total": _m(inv.total, inv.currency),
                    "amount_paid": _m(inv.amount_paid, inv.currency), "amount_due": _m(inv.amount_due, inv.currency)})
    return row


def _payments(customer_id: int) -> list[dict]:
    return [{"id": p.pk, "received_at": p.received_at, "amount": _m(p.amount, p.currency), "currency": p.currency,
             "reference": p.reference, "source": p.source, "source_label": p.get_source_display(),
             "unallocated": _m(p.amount - p.amount_allocated, p.currency)}
            for p in Payment.objects.filter(customer_id=customer_id).order_by("-received_at", "-id")[:PAYMENTS_LIMIT]]


def _aging(customer_id: int, day: date) -> list[dict]:
    return [{"currency": row.currency, "buckets": dict(row.buckets), "total": money.quantize(row.total, row.currency)}
            for row in ar_aging(as_of=day, customer_id=customer_id)]


def _revenue(customer_id: int) -> list[dict]:
    """Per currency: revenue recognized to date and still to recognize (the schedules), and the deferred
    revenue balance (billed, not yet recognized: credits − debits on the deferred revenue account)."""
    by_cur: dict[str, dict] = defaultdict(lambda: {"recognized": ZERO, "remaining": ZERO, "deferred": ZERO})
    for r in (ScheduleLine.objects.filter(obligation__contract__customer_id=customer_id,
                                          status__in=[ScheduleLine.Status.RECOGNIZED, ScheduleLine.Status.PLANNED])
              .values("obligation__currency", "status").annotate(s=Sum("amount")).order_by()):
        key = "recognized" if r["status"] == ScheduleLine.Status.RECOGNIZED else "remaining"
        by_cur[r["obligation__currency"]][key] += r["s"] or ZERO
    for r in (JournalLine.objects.filter(entry__customer_id=customer_id, account__role=Account.Role.DEFERRED)
              .values("entry__currency").annotate(c=Sum("credit"), d=Sum("debit")).order_by()):
        by_cur[r["entry__currency"]]["deferred"] += (r["c"] or ZERO) - (r["d"] or ZERO)
    return [{"currency": cur, **{k: money.quantize(v, cur) for k, v in vals.items()}}
            for cur, vals in sorted(by_cur.items())]


def _included(price: Price) -> Decimal | None:
    """Units included at no charge: a graduated or volume price whose first tier is free."""
    tiers = list(price.tiers.all())
    if price.model in (Price.Model.GRADUATED, Price.Model.VOLUME) and tiers:
        first = tiers[0]
        if first.up_to is not None and not first.unit_amount and not first.flat_amount:
            return Decimal(first.up_to)
    return None


def _tier_limit(price: Price, quantity: Decimal) -> Decimal | None:
    """The upper bound of the tier `quantity` is in (graduated/volume), or the end of the current package."""
    if price.model in (Price.Model.GRADUATED, Price.Model.VOLUME):
        for tier in price.tiers.all():
            if tier.up_to is None or quantity <= tier.up_to:
                return Decimal(tier.up_to) if tier.up_to is not None else None
    if price.model == Price.Model.PACKAGE and price.package_size:
        size = Decimal(price.package_size)
        return ((quantity // size) + 1) * size if quantity % size or not quantity else quantity
    return None


def usage_against_entitlements(*, customer_id: int, day: date) -> list[dict]:
    """Per usage line of the customer's active contracts: usage so far in the current billing period (as the
    bill run counts it), the units included free (a free first tier), the share of them used, the current
    tier's limit and the amount it would bill if the period ended today (before tax)."""
    contracts = (Contract.objects
                 .filter(customer_id=customer_id, status=Contract.Status.ACTIVE, start_date__lte=day,
                         end_date__gte=day)
                 .prefetch_related(Prefetch(
                     "lines",
                     queryset=ContractLine.objects.filter(period=ContractLine.Period.USAGE, price__isnull=False,
                                                          product__meter__isnull=False, start_date__lte=day,
                                                          end_date__gte=day)
                     .select_related("product__meter", "price").prefetch_related("price__tiers")
                     .order_by("item", "version")))
                 .order_by("start_date", "id"))
    rows: list[dict] = []
    for contract in contracts:
        period = billing_period_containing(billing_anchor(contract), contract.billing_frequency, day)
        for line in contract.lines.all():
            if len(rows) >= MAX_USAGE_LINES:
                return rows
            first = max(period.start, line.start_date)
            meter = line.product.meter
            quantity = usage_total(customer_id, meter, first, day)
            included = _included(line.price)
            amount = pricing.calculate(line.price, quantity).amount if quantity else money.zero(contract.currency)
            rows.append({
                "contract_id": contract.pk, "contract": contract.number, "product": line.product.name,
                "meter": meter.code, "unit": meter.unit or "units", "period_start": period.start,
                "period_end": period.end, "quantity": quantity, "included": included,
                "used_pct": ((quantity / included * 100).quantize(Decimal("0.1")) if included else None),
                "tier_limit": _tier_limit(line.price, quantity), "estimated_amount": amount,
                "currency": contract.currency,
            })
    return rows


def _alerts(customer_id: int) -> dict:
    rows = list(Alert.objects.filter(customer_id=customer_id).select_related("rule")
                .order_by("-triggered_at", "-id")[:ALERTS_LIMIT])
    return {"open": sum(1 for a in rows if a.cleared_at is None), "rows": [{
        "id": a.pk, "rule": a.rule.name, "kpi": a.rule.kpi, "message": a.message, "value": a.value,
        "triggered_at": a.triggered_at, "cleared_at": a.cleared_at} for a in rows]}


# --- the whole --------------------------------------------------------------------------------------

def customer_360(*, customer: Customer, user, day: date | None = None, timeline_limit: int = 20) -> dict:
    """The 360 of `customer` as `user` may see it (sections the role may not see are absent, not empty)."""
    day = day or business_today()
    seen = visibility_for(user, customer)
    cid = customer.pk
    # health (support cost share) and profitability read the stored split of the shared costs: a stale month
    # is re-split on another connection while the sections that do not need it are read (outside a
    # transaction on PostgreSQL; elsewhere the reads below re-split it themselves)
    from . import cost_allocation, profitability

    first = add_months(day.replace(day=1), -(PROFIT_MONTHS - 1))
    refresh = cost_allocation.refresh_in_background(months=profitability.months_of(first, day))
    data: dict = {
        "customer": {"id": cid, "name": customer.name, "currency": customer.currency, "country": customer.country,
                     "external_id": customer.external_id, **_segment(customer)},
        "as_of": day,
        "visibility": {"costs": seen.costs, "billing": seen.billing, "can_comment": seen.can_comment,
                       "insights": seen.insights},
        "mrr": mrr_summary(customer_id=cid, day=day),
        "quotes": _quotes(cid),
        "contracts": _contracts(cid, day),
        "renewals": _renewals(cid, day),
        "invoices": _invoices(cid, day, amounts=seen.billing),
        "usage": usage_against_entitlements(customer_id=cid, day=day),
        "alerts": _alerts(cid),
    }
    if seen.billing:
        data["payments"] = _payments(cid)
        data["ar_aging"] = {"buckets": list(BUCKETS), "rows": _aging(cid, day)}
        data["revenue"] = _revenue(cid)
    data["timeline"] = timeline.customer_timeline(customer_id=cid, limit=timeline_limit, with_count=False,
                                                  today=day, **seen.timeline_filter)
    if seen.insights:
        data["recommendations"] = _optional("recommendations", "recommend_for", customer_id=cid, limit=5, day=day)
        data["upsell_flags"] = _optional("recommendations", "upsell_flags", customer_id=cid, day=day)
    refresh.wait()
    if seen.insights:
        data["health"] = _optional("churn_risk", "customer_risk", customer_id=cid, day=day,
                                   costs_visible=seen.costs)
    if seen.costs:
        summary = _optional("profitability", "customer_summary", customer_id=cid, first=first, last=day)
        data["profitability"] = {"first": first, "last": day, **summary} if summary is not None else None
    return data
