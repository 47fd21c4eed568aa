"""Posting double entries: balanced, idempotent by source key, in the transaction currency and the
reporting currency, never into a closed period.

Reporting amounts: the entry's debit total is converted once (half-up) and split over the debit legs
and, separately, over the credit legs by largest remainder, so both sides balance in the reporting
currency too. A late item whose date falls in a closed period is posted into the first open period
after it, with `corrects_period` naming the closed one.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from revops.kernel import money
from revops.kernel.dates import add_months, month_start
from revops.kernel.errors import ValidationFailed

from ..models import Account, AccountingPeriod, FxRate, JournalEntry, JournalLine

ZERO = Decimal(0)


class FxRateMissing(ValidationFailed):
    code = "fx_rate_missing"


class PeriodClosed(ValidationFailed):
    code = "period_closed"


@dataclass(frozen=True)
class Leg:
    """Positive amount = debit, negative = credit."""

    account: Account
    amount: Decimal
    contract_id: int | None = None
    product_id: int | None = None


def reporting_currency() -> str:
    return settings.REVOPS_REPORTING_CURRENCY


def account(role: str, family: str = "") -> Account:
    """The account for a role (revenue by product family, falling back to the default revenue account)."""
    if role == Account.Role.REVENUE and family:
        found = Account.objects.filter(role=role, family=family, active=True).first()
        if found:
            return found
    found = Account.objects.filter(role=role, family="", active=True).first()
    if found is None:
        raise ValidationFailed(f"no active account has the role {role!r}; add one to the chart of accounts")
    return found


def fx_rate(currency: str, on: date) -> Decimal:
    """Units of the reporting currency for one unit of `currency` on `on` (the latest rate on or before)."""
    if currency == reporting_currency():
        return Decimal(1)
    rate = FxRate.objects.filter(currency=currency, date__lte=on).order_by("-date").values_list("rate", flat=True).first()
    if rate is None:
        raise FxRateMissing(f"no FX rate for {currency} on or before {on}: enter one to post in {currency}",
                            fields={"currency": [f"FX rate to {reporting_currency()} missing"]})
    return rate


def period_for(day: date) -> AccountingPeriod:
    start = month_start(day)
    period, _ = AccountingPeriod.objects.get_or_create(start=start,
                                                       defaults={"end": add_months(start, 1) - timedelta(days=1)})
    return period


def open_period_on_or_after(day: date) -> tuple[AccountingPeriod, AccountingPeriod | None]:
    """(the period to post in, the closed period it corrects or None)."""
    period = period_for(day)
    if period.status == AccountingPeriod.Status.OPEN:
        return period, None
    closed = period
    while period.status == AccountingPeriod.Status.CLOSED:
        period = period_for(add_months(period.start, 1))
    return period, closed


def post(*, source: str, source_key: str, day: date, currency: str, memo: str, legs: list[Leg],
         customer_id: int | None = None, contract_id: int | None = None) -> JournalEntry | None:
    """Post a balanced entry once per `source_key` (a second call returns the first entry)."""
    existing = JournalEntry.objects.filter(source_key=source_key).first()
    if existing is not None:
        return existing
    spec = EntrySpec(source=source, source_key=source_key, day=day, currency=currency, memo=memo, legs=legs,
                     customer_id=customer_id, contract_id=contract_id)
    sides = _sides(spec)
    if sides is None:
        return None
    entry, lines = _unsaved(spec, sides, fx_rate(currency, day), *open_period_on_or_after(day))
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
            JournalLine.objects.bulk_create(lines)
    except IntegrityError:
        return JournalEntry.objects.get(source_key=source_key)  # posted by a concurrent delivery
    return entry


@dataclass(frozen=True)
class EntrySpec:
    """The arguments of `post`, for `post_many`."""

    source: str
    source_key: str
    day: date
    currency: str
    memo: str
    legs: list[Leg]
    customer_id: int | None = None
    contract_id: int | None = None


Sides = tuple[list[Leg], list[Decimal], list[Decimal]]


def _sides(spec: EntrySpec) -> Sides | None:
    """The legs that round to something, with their debits and credits (None: nothing to post)."""
    currency = spec.currency
    legs = [leg for leg in spec.legs if money.quantize(leg.amount, currency) != 0]
    if not legs:
        return None
    debits = [money.quantize(leg.amount, currency) if leg.amount > 0 else ZERO for leg in legs]
    credits = [money.quantize(-leg.amount, currency) if leg.amount < 0 else ZERO for leg in legs]
    if sum(debits) != sum(credits):
        raise ValueError(f"unbalanced entry {spec.source_key}: debits {sum(debits)} ≠ credits {sum(credits)}")
    return legs, debits, credits


def _unsaved(spec: EntrySpec, sides: Sides, rate: Decimal, period: AccountingPeriod,
             corrects: AccountingPeriod | None) -> tuple[JournalEntry, list[JournalLine]]:
    """The entry and its lines, in the transaction and the reporting currency, not yet saved."""
    legs, debits, credits = sides
    rep = reporting_currency()
    total_rep = money.quantize(sum(debits) * rate, rep)
    debit_rep = _split(total_rep, debits, rep)
    credit_rep = _split(total_rep, credits, rep)
    posted_on = spec.day if corrects is None else period.start
    entry = JournalEntry(
        date=posted_on, period=period, memo=(spec.memo + (f" (late: belongs to {corrects})" if corrects else ""))[:300],
        source=spec.source, source_key=spec.source_key, currency=spec.currency, reporting_currency=rep, fx_rate=rate,
        customer_id=spec.customer_id, contract_id=spec.contract_id, corrects_period=corrects)
    lines = [JournalLine(entry=entry, account=leg.account, debit=d, credit=c, debit_reporting=dr, credit_reporting=cr,
                         contract_id=leg.contract_id or spec.contract_id, product_id=leg.product_id)
             for leg, d, c, dr, cr in zip(legs, debits, credits, debit_rep, credit_rep, strict=True)]
    return entry, lines


def post_many(specs: list[EntrySpec]) -> list[JournalEntry | None]:
    """`post` for each spec, in order, with a handful of queries for the lot (existing keys in one query,
    FX rates and periods once per currency and day, entries and lines in two inserts). All or nothing:
    one transaction (a key posted concurrently falls back to `post` one by one)."""
    if not connection.features.can_return_rows_from_bulk_insert:
        return [post(**vars(spec)) for spec in specs]
    posted: dict[str, JournalEntry] = {
        e.source_key: e for e in JournalEntry.objects.filter(source_key__in=[s.source_key for s in specs])}
    rates: dict[tuple[str, date], Decimal] = {}
    periods: dict[date, tuple[AccountingPeriod, AccountingPeriod | None]] = {}
    out: list[JournalEntry | None] = []
    new: list[tuple[JournalEntry, list[JournalLine]]] = []
    for spec in specs:
        if spec.source_key in posted:
            out.append(posted[spec.source_key])
            continue
        sides = _sides(spec)
        if sides is None:
            out.append(None)
            continue
        if (spec.currency, spec.day) not in rates:
            rates[spec.currency, spec.day] = fx_rate(spec.currency, spec.day)
        if spec.day not in periods:
            periods[spec.day] = open_period_on_or_after(spec.day)
        entry, lines = _unsaved(spec, sides, rates[spec.currency, spec.day], *periods[spec.day])
        posted[spec.source_key] = entry
        out.append(entry)
        new.append((entry, lines))
    if not new:
        return out
    try:
        with transaction.atomic():
            JournalEntry.objects.bulk_create([entry for entry, _ in new])
            JournalLine.objects.bulk_create([line for _, lines in new for line in lines])
    except IntegrityError:  # some key was posted by a concurrent delivery meanwhile
        return [post(**vars(spec)) for spec in specs]
    return out


def _split(total: Decimal, weights: list[Decimal], currency: str) -> list[Decimal]:
    if not any(weights):
        return [ZERO for _ in weights]
    return money.allocate(total, weights, currency)


def balance(role: str, *, contract_id: int | None = None, until: date | None = None) -> Decimal:
    """Debit − credit on the accounts of a role (optionally for one contract, up to a date)."""
    lines = JournalLine.objects.filter(account__role=role)
    if contract_id is not None:
        lines = lines.filter(contract_id=contract_id)
    if until is not None:
        lines = lines.filter(entry__date__lte=until)
    agg = lines.aggregate(d=Sum("debit"), c=Sum("credit"))
    return (agg["d"] or ZERO) - (agg["c"] or ZERO)
