"""The five steps for a contract, and contract modifications.

1. The contract: each active contract (from contract.activated / amended / terminated events).
2. Performance obligations: one per distinct contract line; a product marked not distinct combines
   with the contract's main (largest) recurring obligation. Usage lines are obligations whose
   consideration is variable: recognized as the usage is rated (invoiced), never estimated up front.
3. Transaction price: the fixed consideration of the lines over their service periods, net of every
   discount (the contract's prices already are).
4. Allocation by relative standalone selling price: SSP = product SSP × quantity × months of service
   (recurring; per month) or × quantity (one-time), converted to one currency; a product flagged
   `ssp_residual` takes what is left after the others get their SSP (the residual approach). The
   allocation uses largest remainder, so the obligations sum exactly to the transaction price. A
   product with no SSP (and not residual) stops the allocation with an error naming it.
5. Schedules: ratable obligations daily over their service period, summed by month (largest remainder
   across months); point-in-time obligations in the month of their start date.

Modifications (ASC 606-10-25-12/13): an amendment that only adds distinct products at their standalone
price is accounted for as a separate contract (its own obligations). Any other is prospective: what is
not yet recognized on the effective date, plus the change in consideration, is re-allocated over the
obligations that remain from that date. Schedules of closed periods are never rewritten.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction

from contracts.models import Contract, ContractLine
from contracts.services.periods import MONTHS
from contracts.services.values import version_value
from revops.kernel import money
from revops.kernel.dates import add_months, days_by_month, month_start
from revops.kernel.errors import ValidationFailed

from ..models import PerformanceObligation, ScheduleLine
from .journal import fx_rate

ZERO = Decimal(0)
SSP_TOLERANCE = Decimal("0.01")  # "at standalone price": within 1 % of SSP


class SspMissing(ValidationFailed):
    code = "ssp_missing"


@dataclass
class Candidate:
    item: int
    line: ContractLine
    value: Decimal  # consideration over [start, end]
    ssp: Decimal | None  # in the contract currency; None = residual
    start: date
    end: date
    quantity: Decimal


def service_months(line: ContractLine, start: date, end: date) -> Decimal:
    """Months of service of a recurring line between two dates (whole price periods, a partial one by days)."""
    step = MONTHS[line.period]
    total, k = ZERO, 0
    while True:
        p_start = add_months(line.start_date, k * step)
        if p_start > end:
            break
        p_next = add_months(line.start_date, (k + 1) * step)
        first, last = max(p_start, start), min(p_next - timedelta(days=1), end)
        if last >= first:
            total += Decimal(step) * ((last - first).days + 1) / (p_next - p_start).days
        k += 1
    return total


def _ssp(line: ContractLine, contract: Contract, start: date, end: date, on: date,
         rate: Callable[[str, date], Decimal] = fx_rate) -> Decimal | None:
    product = line.product
    if product.ssp_residual:
        return None
    if product.ssp is None:
        raise SspMissing(f"{product.sku} ({product.name}) has no standalone selling price; set its SSP or mark it "
                         "residual before this contract can be recognized",
                         fields={"ssp": [f"missing for {product.sku}"]})
    units = line.quantity * (service_months(line, start, end) if line.period in MONTHS else 1)
    ssp = product.ssp * units
    if product.currency != contract.currency:  # weights in one currency
        ssp = ssp * rate(product.currency, on) / rate(contract.currency, on)
    return ssp


def _value(line: ContractLine, start: date, end: date, currency: str) -> Decimal:
    """The line's consideration restricted to [start, end]."""
    if line.period == "one_time":
        return line.amount if start <= line.start_date <= end else ZERO
    clipped = ContractLine(start_date=line.start_date, end_date=min(line.end_date, end), amount=line.amount,
                           period=line.period)
    whole = version_value(clipped, currency)
    if start > line.start_date:
        before = ContractLine(start_date=line.start_date, end_date=start - timedelta(days=1), amount=line.amount,
                              period=line.period)
        whole -= version_value(before, currency)
    return whole


def _allocate(contract: Contract, candidates: list[Candidate], price: Decimal, on: date) -> list[tuple[Candidate, Decimal, str]]:
    currency = contract.currency
    residual = [c for c in candidates if c.ssp is None]
    observable = [c for c in candidates if c.ssp is not None]
    if len(residual) > 1:
        raise ValidationFailed(f"{contract}: only one product may use the residual approach",
                               fields={"ssp": ["more than one residual product"]})
    out: list[tuple[Candidate, Decimal, str]] = []
    if residual:
        fixed = [money.quantize(c.ssp, currency) for c in observable]
        rest = money.quantize(price, currency) - sum(fixed, ZERO)
        if rest > 0:
            out += [(c, amount, "at SSP (residual contract)") for c, amount in zip(observable, fixed, strict=True)]
            out.append((residual[0], rest, "residual approach"))
            return out
        # The observable SSPs use up the whole price (a discounted bundle): the residual approach would
        # leave the residual product nothing, so it does not apply (ASC 606-10-32-34(c)). The discount is
        # spread over every item instead: relative SSP, the residual item weighted by its own price as
        # its estimated SSP.
        estimated = [dataclasses.replace(c, ssp=c.value) for c in residual]
        weights = [c.ssp for c in observable] + [c.value for c in residual]
        parts = money.allocate(price, weights, currency) if any(weights) else [money.zero(currency)] * len(weights)
        return [(c, part, "relative SSP (residual estimated at its price: the bundle is discounted)")
                for c, part in zip(observable + estimated, parts, strict=True)]
    if not observable:
        return []
    if sum((c.ssp for c in observable), ZERO) == 0:
        weights = [c.value for c in observable]
    else:
        weights = [c.ssp for c in observable]
    parts = money.allocate(price, weights, currency) if any(weights) else [money.zero(currency)] * len(observable)
    return [(c, part, "relative SSP") for c, part in zip(observable, parts, strict=True)]


def _schedule(ob: PerformanceObligation, amount: Decimal, start: date, end: date) -> list[ScheduleLine]:
    if ob.pattern == PerformanceObligation.Pattern.POINT_IN_TIME or start >= end:
        return [ScheduleLine(obligation=ob, period=month_start(start), amount=amount)]
    spans = list(days_by_month(start, end))
    parts = money.allocate(amount, [days for _, days in spans], ob.currency) if amount else [ZERO] * len(spans)
    return [ScheduleLine(obligation=ob, period=m, amount=p) for (m, _), p in zip(spans, parts, strict=True)]


def _pattern(line: ContractLine) -> str:
    if line.period == "usage":
        return PerformanceObligation.Pattern.USAGE
    recognition = line.product.recognition
    if recognition == "point_in_time" or line.period == "one_time":
        return PerformanceObligation.Pattern.POINT_IN_TIME
    return PerformanceObligation.Pattern.RATABLE


def _build(contract: Contract, lines: list[ContractLine], start: date, *, version: int, price_extra: Decimal = ZERO,
           on: date) -> list[PerformanceObligation]:
    """Obligations (and schedules) for `lines` from `start`: transaction price = their consideration
    from `start` plus `price_extra` (the unrecognized part carried over by a modification)."""
    created, schedules = _plan(contract, lines, start, version=version, price_extra=price_extra, on=on)
    _insert(created, schedules)
    return created


def _insert(obligations: list[PerformanceObligation], schedules: list[ScheduleLine]) -> None:
    """Two inserts for the lot: the obligations get their ids back, in order, before their schedules go in."""
    if connection.features.can_return_rows_from_bulk_insert:
        PerformanceObligation.objects.bulk_create(obligations)
    else:
        for ob in obligations:
            ob.save(force_insert=True)
    ScheduleLine.objects.bulk_create(schedules)


def _plan(contract: Contract, lines: list[ContractLine], start: date, *, version: int, price_extra: Decimal = ZERO,
          on: date, rate: Callable[[str, date], Decimal] | None = None,
          ) -> tuple[list[PerformanceObligation], list[ScheduleLine]]:
    """`_build`'s obligations and schedule lines, not saved."""
    currency = contract.currency
    fixed = [x for x in lines if x.period != "usage" and x.end_date >= start]
    rate = rate or functools.cache(fx_rate)  # every line converts on the same day: one lookup per currency
    candidates = []
    for line in fixed:
        s = max(start, line.start_date)
        candidates.append(Candidate(line.item, line, _value(line, s, line.end_date, currency),
                                    _ssp(line, contract, s, line.end_date, on, rate), s, line.end_date,
                                    line.quantity))
    # Not-distinct products join the main recurring obligation.
    main = max((c for c in candidates if c.line.period in MONTHS and c.line.product.distinct),
               key=lambda c: c.value, default=None)
    merged = []
    for c in candidates:
        if not c.line.product.distinct and main is not None and c is not main:
            main.value += c.value
            main.ssp = None if main.ssp is None or c.ssp is None else main.ssp + c.ssp
        else:
            merged.append(c)
    price = sum((c.value for c in merged), ZERO) + price_extra
    created, schedules = [], []
    for c, allocated, note in _allocate(contract, merged, price, on):
        ob = PerformanceObligation(
            contract=contract, item=c.item, product=c.line.product, pattern=_pattern(c.line), quantity=c.quantity,
            start_date=c.start, end_date=c.end, currency=currency, ssp=money.quantize(c.ssp or 0, currency),
            allocated_price=allocated, version=version, allocation_note=note)
        created.append(ob)
        schedules += _schedule(ob, allocated, c.start, c.end)
    for line in lines:
        if line.period == "usage" and line.end_date >= start:
            created.append(PerformanceObligation(
                contract=contract, item=line.item, product=line.product, pattern=PerformanceObligation.Pattern.USAGE,
                quantity=line.quantity, start_date=max(start, line.start_date), end_date=line.end_date,
                currency=currency, ssp=ZERO, allocated_price=ZERO, version=version,
                allocation_note="variable consideration: recognized as rated"))
    return created, schedules


def obligations_for_contract(*, contract_id: int, end_date: date | None = None) -> list[PerformanceObligation]:
    """Steps 1–5 for a new contract, as it was when it was activated: its lines' first versions running
    to `end_date` (the end at activation, from the event; later amendments and terminations arrive as
    their own events and modify the obligations). Idempotent: a contract with obligations is left as it is."""
    return obligations_for_contracts(contracts={contract_id: end_date})[contract_id]


def obligations_for_contracts(*, contracts: dict[int, date | None]) -> dict[int, list[PerformanceObligation]]:
    """`obligations_for_contract` for many contracts at once ({contract id: end date at activation, or
    None}), for backfills and catch-up runs: the same obligations and schedules, with a handful of
    queries for the lot, in one transaction (a contract that cannot be allocated stops the lot)."""
    with transaction.atomic():
        locked = {c.pk: c for c in Contract.objects.select_for_update().filter(pk__in=list(contracts)).order_by("pk")}
        missing = [pk for pk in contracts if pk not in locked]
        if missing:
            raise Contract.DoesNotExist(f"no contract with id {missing[0]}")
        out: dict[int, list[PerformanceObligation]] = {}
        for ob in PerformanceObligation.objects.filter(contract_id__in=list(contracts)):
            out.setdefault(ob.contract_id, []).append(ob)
        versions: dict[int, list[ContractLine]] = {}
        for line in ContractLine.objects.select_related("product").filter(
                contract_id__in=[pk for pk in contracts if pk not in out], version=1):
            if line.start_date == locked[line.contract_id].start_date:
                versions.setdefault(line.contract_id, []).append(line)
        rate = functools.cache(fx_rate)
        obligations, schedules = [], []
        for contract_id, end_date in contracts.items():
            if contract_id in out:
                continue
            contract, lines = locked[contract_id], versions.get(contract_id, [])
            end = end_date or contract.end_date
            for line in lines:
                if line.end_date < end and line.period != "one_time":
                    line.end_date = end  # in memory only: the version as it was at activation
            if end_date:
                contract.end_date = end_date  # in memory, for the consideration windows
            created, lines_of = _plan(contract, lines, contract.start_date, version=1, on=contract.start_date,
                                      rate=rate)
            out[contract_id] = created
            obligations += created
            schedules += lines_of
        _insert(obligations, schedules)
        return out


def _kept_before(ob: PerformanceObligation, day: date) -> Decimal:
    """What the obligation recognizes (or has scheduled) for the days before `day`: whole months before
    day's month, plus day's month by days. The rest of its schedule is cancelled."""
    kept = ZERO
    month = month_start(day)
    for line in ob.schedule.filter(status__in=[ScheduleLine.Status.PLANNED, ScheduleLine.Status.RECOGNIZED]):
        if line.period < month:
            kept += line.amount
        elif line.period == month and ob.pattern == PerformanceObligation.Pattern.RATABLE:
            first = max(month, ob.start_date)
            last = min(add_months(month, 1) - timedelta(days=1), ob.end_date)
            days_in = (last - first).days + 1
            before = max(0, (day - first).days)
            kept += money.quantize(line.amount * before / days_in, ob.currency) if days_in else ZERO
        elif line.period == month and ob.pattern == PerformanceObligation.Pattern.POINT_IN_TIME and ob.start_date < day:
            kept += line.amount
    return kept


def _cut(ob: PerformanceObligation, day: date, status: str) -> Decimal:
    """End an obligation's schedule on the day before `day`; returns what it keeps."""
    kept = _kept_before(ob, day)
    month = month_start(day)
    recognized_from_month = ob.schedule.filter(period__gte=month, status=ScheduleLine.Status.RECOGNIZED)
    if recognized_from_month.exists():
        # Revenue in a closed or posted month is never rewritten: keep those lines as they are.
        kept = sum((x.amount for x in ob.schedule.filter(status=ScheduleLine.Status.RECOGNIZED)), ZERO) + sum(
            (x.amount for x in ob.schedule.filter(status=ScheduleLine.Status.PLANNED, period__lt=month)), ZERO)
        ob.schedule.filter(status=ScheduleLine.Status.PLANNED, period__gte=month).update(
            status=ScheduleLine.Status.CANCELLED)
    else:
        ob.schedule.filter(period__gte=month, status=ScheduleLine.Status.PLANNED).update(
            status=ScheduleLine.Status.CANCELLED)
        part = kept - sum((x.amount for x in ob.schedule.filter(period__lt=month).exclude(
            status=ScheduleLine.Status.CANCELLED)), ZERO)
        if part:
            ScheduleLine.objects.create(obligation=ob, period=month, amount=part)
    ob.allocated_price, ob.status = kept, status
    ob.end_date = max(ob.start_date, day - timedelta(days=1))
    ob.save(update_fields=["allocated_price", "status", "end_date"])
    return kept


def _is_separate_contract(contract: Contract, new_lines: list[ContractLine], on: date) -> bool:
    """Only new distinct products, each priced at its standalone selling price."""
    if not new_lines:
        return False
    for line in new_lines:
        product = line.product
        if not product.distinct or product.ssp is None or product.ssp_residual or line.period not in MONTHS:
            return False
        ssp_per_unit_period = product.ssp * MONTHS[line.period]
        if product.currency != contract.currency:
            ssp_per_unit_period = ssp_per_unit_period * fx_rate(product.currency, on) / fx_rate(contract.currency, on)
        if ssp_per_unit_period == 0 or abs(line.unit_price - ssp_per_unit_period) / ssp_per_unit_period > SSP_TOLERANCE:
            return False
    return True


def obligations_modify(*, contract_id: int, effective_date: date, amendment_id: int | None = None) -> list[PerformanceObligation]:
    """Account for an amendment effective on `effective_date` (separate contract or prospective)."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        if not contract.obligations.exists():
            return obligations_for_contract(contract_id=contract_id)
        versions = list(contract.lines.select_related("product"))
        opened = [v for v in versions if v.start_date == effective_date and v.amendment_id == amendment_id
                  and amendment_id is not None]
        known_items = set(contract.obligations.values_list("item", flat=True))
        new_items = [v for v in opened if v.item not in known_items]
        changed = [v for v in opened if v.item in known_items]
        closed = [v for v in versions if v.end_date == effective_date - timedelta(days=1) and v.item in known_items]
        if new_items and not changed and not closed and _is_separate_contract(contract, new_items, effective_date):
            version = (max(o.version for o in contract.obligations.all()) or 1)
            return _build(contract, new_items, effective_date, version=version, on=effective_date)
        active = list(contract.obligations.filter(status=PerformanceObligation.Status.ACTIVE)
                      .exclude(pattern=PerformanceObligation.Pattern.USAGE))
        remaining = ZERO
        for ob in active:
            remaining += ob.allocated_price - _cut(ob, effective_date, PerformanceObligation.Status.REPLACED)
        contract.obligations.filter(status=PerformanceObligation.Status.ACTIVE,
                                    pattern=PerformanceObligation.Pattern.USAGE).update(
            status=PerformanceObligation.Status.REPLACED, end_date=effective_date - timedelta(days=1))
        # Consideration from the effective date on under the old terms: the closed versions as they would
        # have run to the end, plus the untouched ones. The new terms' consideration is counted by _build.
        after = [v for v in versions if v.end_date >= effective_date and v.period != "usage" or
                 (v.period == "usage" and v.start_date <= effective_date <= v.end_date)]
        before_value = sum((_value(_as_uncut(v, contract), effective_date, contract.end_date, contract.currency)
                            for v in closed if v.period != "usage"), ZERO)
        before_value += sum((_value(v, effective_date, v.end_date, contract.currency)
                             for v in after if v not in opened and v.period != "usage"), ZERO)
        carried = remaining - before_value  # not yet recognized, less what the old terms still owed from D
        version = max(o.version for o in contract.obligations.all()) + 1
        return _build(contract, after, effective_date, version=version, price_extra=carried, on=effective_date)


def _as_uncut(version: ContractLine, contract: Contract) -> ContractLine:
    """A closed version as it was before the amendment closed it (co-termed to the contract's end)."""
    return ContractLine(start_date=version.start_date, end_date=contract.end_date, amount=version.amount,
                        period=version.period)


def obligations_terminate(*, contract_id: int, effective_date: date) -> None:
    """Stop every schedule after the termination date (inclusive of that day's service)."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        for ob in contract.obligations.filter(status=PerformanceObligation.Status.ACTIVE):
            if ob.pattern == PerformanceObligation.Pattern.USAGE:
                ob.status, ob.end_date = PerformanceObligation.Status.ENDED, effective_date
                ob.save(update_fields=["status", "end_date"])
                continue
            _cut(ob, effective_date + timedelta(days=1), PerformanceObligation.Status.ENDED)
