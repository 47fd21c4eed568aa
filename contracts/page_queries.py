"""Reads for the contract pages, each in a fixed number of queries whatever the number of lines,
amendments or alerts (the tests pin the counts). Reads shared with the API belong in a selectors module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from catalog.models import Product
from customers.models import Customer
from revops.kernel.roles import STAFF_ROLES

from .models import Amendment, Contract, ContractEvent, ContractLine, ProrationCharge, RenewalAlert

RENEWAL_BUCKETS = (30, 60, 90, 180)


def contracts() -> QuerySet[Contract]:
    return Contract.objects.select_related("customer", "owner")


def contract_list(
    *, status: str = "", customer=None, owner=None, end_from: date | None = None, end_to: date | None = None
) -> QuerySet[Contract]:
    qs = contracts()
    if status:
        qs = qs.filter(status=status)
    if customer is not None:
        qs = qs.filter(customer=customer)
    if owner is not None:
        qs = qs.filter(owner=owner)
    if end_from is not None:
        qs = qs.filter(end_date__gte=end_from)
    if end_to is not None:
        qs = qs.filter(end_date__lte=end_to)
    return qs.order_by("end_date", "id")


def customers_with_contracts() -> QuerySet[Customer]:
    return Customer.objects.filter(contracts__isnull=False).distinct().order_by("name", "id")


def staff_users():
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=STAFF_ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


def products_for_sale() -> QuerySet[Product]:
    return Product.objects.filter(active=True).order_by("name", "sku")


# --- the contract page ------------------------------------------------------------------------------


def default_as_of(contract: Contract, today: date) -> date:
    """Today, or the start if the contract has not started, or the end if it is over."""
    return max(contract.start_date, min(contract.end_date, today))


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # event | alert | amendment
    title: str
    detail: str = ""
    actor: object = None
    amount: Decimal | None = None
    amount_label: str = ""


EVENT_TITLES = {
    "created": "Created",
    "created_from_quote": "Created from a quote",
    "created_as_renewal": "Created as a renewal",
    "activated": "Activated",
    "amended": "Amended",
    "renewal_alert": "Renewal alert sent",
    "renewal_quote_created": "Renewal quote prepared",
    "renewed": "Renewed",
    "terminated": "Terminated",
    "expired": "Expired",
}


@dataclass
class ContractPage:
    contract: Contract
    versions: list[ContractLine]  # every version, by item then version
    amendments: list[Amendment]
    alerts: list[RenewalAlert]
    timeline: list[TimelineEntry] = field(default_factory=list)

    def lines_on(self, day: date) -> list[ContractLine]:
        return [line for line in self.versions if line.start_date <= day <= line.end_date]


def contract_for_page(pk: int) -> Contract:
    """The contract with everything its header links to (raises Contract.DoesNotExist)."""
    return Contract.objects.select_related(
        "customer", "owner", "quote", "renewed_from", "renewal_quote", "renewed_by"
    ).get(pk=pk)


def contract_page(contract: Contract) -> ContractPage:
    versions = list(contract.lines.select_related("product", "amendment").order_by("item", "version"))
    amendments = list(
        contract.amendments.select_related("created_by")
        .prefetch_related(Prefetch("charges", queryset=ProrationCharge.objects.order_by("id")))
        .order_by("number")
    )
    alerts = list(contract.renewal_alerts.order_by("sent_at", "id"))
    events = list(
        ContractEvent.objects.filter(contract=contract).select_related("actor").order_by("at", "id")
    )
    page = ContractPage(contract, versions, amendments, alerts)
    page.timeline = _timeline(contract, events, alerts, amendments)
    return page


def _timeline(contract, events, alerts, amendments) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            e.at, "event", EVENT_TITLES.get(e.kind, e.kind.replace("_", " ").capitalize()), e.detail, e.actor
        )
        for e in events
    ]
    entries += [
        TimelineEntry(
            a.sent_at,
            "alert",
            f"Renewal alert: {a.offset_days} days before the end",
            f"Due {a.due_date:%Y-%m-%d}.",
            None,
            a.arr_at_risk,
            "ARR at risk",
        )
        for a in alerts
    ]
    entries += [
        TimelineEntry(
            a.created_at,
            "amendment",
            f"{a.get_kind_display()} {a.number}, effective {a.effective_date:%Y-%m-%d}",
            a.reason,
            a.created_by,
            a.proration_total,
            "Credits" if a.kind == Amendment.Kind.TERMINATE else "Proration total",
        )
        for a in amendments
    ]
    # Stable: an amendment and the event it logged share a moment; keep the record before its log line.
    order = {"amendment": 0, "alert": 1, "event": 2}
    return sorted(entries, key=lambda e: (e.at, order[e.kind]))


def lines_for_amendment(contract: Contract, today: date) -> list[ContractLine]:
    """The versions an amendment can change: those active on the first day one may be effective (no
    earlier than the latest change, since a plan cannot be effective before a later version starts)."""
    lines = list(contract.lines.select_related("product").order_by("item", "version"))
    latest_change = max((line.start_date for line in lines), default=contract.start_date)
    day = max(default_as_of(contract, today), latest_change)
    return [line for line in lines if line.start_date <= day <= line.end_date]


# --- the renewals board ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    days: int
    count: int
    arr: list[tuple[str, Decimal]]  # (currency, ARR at risk) in currency order


@dataclass(frozen=True)
class AlertMark:
    offset: int
    sent: bool
    due: date


@dataclass(frozen=True)
class RenewalRow:
    contract: Contract
    days_left: int
    alerts: list[AlertMark]


def _ending(today: date, days: int) -> Q:
    return Q(end_date__gte=today, end_date__lte=today + timedelta(days=days))


def renewal_buckets(*, today: date) -> list[Bucket]:
    """Active contracts ending within each horizon (cumulative: the 60-day bucket holds the 30-day one)
    and their ARR at risk, summed per currency; one query for all buckets."""
    widest = max(RENEWAL_BUCKETS)
    aggregates = {}
    for days in RENEWAL_BUCKETS:
        aggregates[f"n{days}"] = Count("id", filter=_ending(today, days))
        aggregates[f"arr{days}"] = Sum("arr", filter=_ending(today, days))
    rows = list(
        Contract.objects.filter(_ending(today, widest), status=Contract.Status.ACTIVE)
        .values("currency")
        .annotate(**aggregates)
        .order_by("currency")
    )
    return [
        Bucket(
            days,
            sum(r[f"n{days}"] for r in rows),
            [(r["currency"], r[f"arr{days}"]) for r in rows if r[f"n{days}"]],
        )
        for days in RENEWAL_BUCKETS
    ]


def renewals_ending(*, today: date, days: int) -> QuerySet[Contract]:
    return (
        Contract.objects.filter(_ending(today, days), status=Contract.Status.ACTIVE)
        .select_related("customer", "owner", "renewal_quote")
        .order_by("end_date", "id")
    )


def renewal_rows(contracts_page, *, today: date) -> list[RenewalRow]:
    """Rows for one page of `renewals_ending`, with which alert offsets were sent (one query)."""
    contracts_on_page = list(contracts_page)
    sent: dict[int, set[int]] = {}
    for contract_id, offset in RenewalAlert.objects.filter(contract__in=contracts_on_page).values_list(
        "contract_id", "offset_days"
    ):
        sent.setdefault(contract_id, set()).add(offset)
    rows = []
    for c in contracts_on_page:
        offsets = sorted(
            {int(o) for o in c.renewal_alert_offsets or []} | sent.get(c.pk, set()), reverse=True
        )
        marks = [AlertMark(o, o in sent.get(c.pk, set()), c.end_date - timedelta(days=o)) for o in offsets]
        rows.append(RenewalRow(c, (c.end_date - today).days, marks))
    return rows
