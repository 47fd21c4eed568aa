"""Mid-term changes on an effective date: add a product (co-termed to the contract's end), change a
line's quantity or price, remove a line (quantity 0), or terminate. Each change closes the line's
current version the day before and opens a new one, and is prorated by days over the billing period
the date falls in (see periods.py). `plan_amendment` computes everything without writing, for the
preview pages; `contract_amend` applies the same plan."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max

from catalog import pricing as engine
from catalog.models import Price, Product
from revops.kernel import money
from revops.kernel.errors import InvalidTransition, ValidationFailed
from revops.kernel.events import record_event

from ..models import Amendment, Contract, ContractLine, ContractQuote, ProrationCharge
from .creation import event_payload, log
from .periods import MONTHS, billing_anchor, billing_period_containing, prorate
from .values import refresh_values

ZERO = Decimal(0)


@dataclass
class PlannedCharge:
    item: int
    product: Product
    description: str
    period_start: date
    period_end: date
    remaining_days: int
    period_days: int
    amount: Decimal


@dataclass
class PlannedVersion:
    item: int
    product: Product
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    period: str
    price: Price | None
    closes: ContractLine | None  # the version it replaces (closed the day before), if any


@dataclass
class AmendmentPlan:
    contract: Contract
    effective_date: date
    versions: list[PlannedVersion] = field(default_factory=list)
    closes: list[ContractLine] = field(default_factory=list)  # versions ended without a successor
    charges: list[PlannedCharge] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return money.quantize(sum((c.amount for c in self.charges), ZERO), self.contract.currency)


def _errors(i: int, name: str, message: str) -> ValidationFailed:
    key = f"changes[{i}].{name}" if name else f"changes[{i}]"
    return ValidationFailed(f"{key}: {message}", fields={key: [message]})


def _dec(value, i: int, name: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except Exception:
        raise _errors(i, name, "must be a number") from None
    if not result.is_finite():
        raise _errors(i, name, "must be a number")
    return result


def _list_unit_price(product: Product, currency: str, quantity: Decimal) -> tuple[Decimal, Price | None, str]:
    """Default price for a product added by amendment: the default book's list price in the currency."""
    price = (Price.objects.filter(product=product, currency=currency, active=True).prefetch_related("tiers")
             .order_by("-price_book__is_default", "billing_period").first())
    if price is None:
        return ZERO, None, "month"
    period = "usage" if product.kind == Product.Kind.USAGE else price.billing_period
    if period == "usage":
        return ZERO, price, period
    amount = engine.calculate(price, quantity).amount if quantity > 0 else ZERO
    return (amount / quantity if quantity > 0 else ZERO), price, period


def _check_contract(contract: Contract, effective: date) -> None:
    if contract.status != Contract.Status.ACTIVE:
        raise InvalidTransition(f"{contract} is {contract.status}; only an active contract can be amended")
    if effective < contract.start_date:
        raise ValidationFailed(f"the effective date {effective} is before the contract starts "
                               f"({contract.start_date})", fields={"effective_date": ["before the contract start"]})
    if effective > contract.end_date:
        raise ValidationFailed(f"the effective date {effective} is after the contract ends ({contract.end_date})",
                               fields={"effective_date": ["after the contract end"]})


def _charge(plan: AmendmentPlan, item: int, product: Product, unit_price: Decimal, period: str,
            quantity: Decimal, what: str) -> None:
    """Prorate `quantity` (signed) at `unit_price` per `period` from the effective date."""
    contract, effective = plan.contract, plan.effective_date
    if quantity == 0:
        return
    if period == "one_time":
        if quantity > 0:
            amount = money.quantize(unit_price * quantity, contract.currency)
            plan.charges.append(PlannedCharge(item, product, f"{product.name}: {what}", effective, effective, 1, 1,
                                              amount))
        return
    if period not in MONTHS:
        return  # usage is billed in arrears on what is used
    billing = billing_period_containing(billing_anchor(contract), contract.billing_frequency, effective)
    end = min(billing.end, contract.end_date)
    amount, remaining = prorate(unit_price=unit_price, price_period=period, frequency=contract.billing_frequency,
                                quantity=quantity, period=billing, effective=effective, currency=contract.currency)
    if end < billing.end:  # the contract ends inside this billing period: prorate to its end only
        remaining = (end - effective).days + 1
        exact = unit_price * MONTHS[contract.billing_frequency] / MONTHS[period] * quantity * remaining / billing.days
        amount = money.quantize(exact, contract.currency)
    plan.charges.append(PlannedCharge(item, product, f"{product.name}: {what} ({remaining}/{billing.days} days)",
                                      effective, end, remaining, billing.days, amount))


def plan_amendment(contract: Contract, effective_date: date, changes: list[dict]) -> AmendmentPlan:
    """What `changes` would do on `effective_date`: new versions, closed versions, prorations.

    A change is {"line": <contract line id>} or {"product": <product id>}, with "quantity" (the new
    absolute quantity; 0 removes the line) and/or "unit_price" (net per unit per the line's period).
    """
    _check_contract(contract, effective_date)
    if not changes:
        raise ValidationFailed("say what changes", fields={"changes": ["at least one change is required"]})
    plan = AmendmentPlan(contract=contract, effective_date=effective_date)
    lines = list(contract.lines.select_related("product"))
    active = {line.item: line for line in lines if line.start_date <= effective_date <= line.end_date}
    later = [line for line in lines if line.start_date > effective_date]
    if later:
        raise ValidationFailed(f"the contract already changes on {later[0].start_date}; amend on or after that date",
                               fields={"effective_date": [f"before a later change on {later[0].start_date}"]})
    by_id = {line.pk: line for line in lines}
    next_item = max((line.item for line in lines), default=0) + 1
    touched: set[int] = set()
    for i, change in enumerate(changes):
        quantity = _dec(change.get("quantity"), i, "quantity")
        unit_price = _dec(change.get("unit_price"), i, "unit_price")
        if quantity is not None and quantity < 0:
            raise _errors(i, "quantity", "the resulting quantity must not be negative")
        if unit_price is not None and unit_price < 0:
            raise _errors(i, "unit_price", "must not be negative")
        if change.get("line") is not None:
            named = by_id.get(_int(change["line"], i, "line"))  # any version of the line will do
            if named is None or named.item not in active:
                raise _errors(i, "line", "no such line is active on the effective date")
            old = active[named.item]
            if old.item in touched:
                raise _errors(i, "line", "this line is changed twice in one amendment")
            touched.add(old.item)
            if old.start_date == effective_date:
                raise _errors(i, "line", f"this line already changes on {effective_date}; pick a later date")
            new_q = old.quantity if quantity is None else quantity
            new_p = old.unit_price if unit_price is None else money.quantize_unit_price(unit_price)
            if new_q == old.quantity and new_p == old.unit_price:
                raise _errors(i, "", "nothing changes for this line")
            if new_q == 0:
                plan.closes.append(old)
                _charge(plan, old.item, old.product, old.unit_price, old.period, -old.quantity,
                        f"removed {old.quantity.normalize():f} from {effective_date}")
                continue
            plan.versions.append(PlannedVersion(
                old.item, old.product, new_q, new_p, money.quantize(new_p * new_q, contract.currency), old.period,
                old.price, closes=old))
            if new_p == old.unit_price:
                _charge(plan, old.item, old.product, new_p, old.period, new_q - old.quantity,
                        f"{old.quantity.normalize():f} → {new_q.normalize():f} from {effective_date}")
            else:
                _charge(plan, old.item, old.product, old.unit_price, old.period, -old.quantity,
                        f"credit for {old.quantity.normalize():f} at {old.unit_price.normalize():f}")
                _charge(plan, old.item, old.product, new_p, old.period, new_q,
                        f"{new_q.normalize():f} at {new_p.normalize():f} from {effective_date}")
        elif change.get("product") is not None:
            product = Product.objects.filter(pk=_int(change["product"], i, "product"), active=True).first()
            if product is None:
                raise _errors(i, "product", "no such product is for sale")
            if quantity is None or quantity <= 0:
                raise _errors(i, "quantity", "a new line needs a quantity greater than 0")
            list_unit, price, period = _list_unit_price(product, contract.currency, quantity)
            unit = money.quantize_unit_price(list_unit if unit_price is None else unit_price)
            item = next_item
            next_item += 1
            plan.versions.append(PlannedVersion(item, product, quantity, unit,
                                                money.quantize(unit * quantity, contract.currency), period, price,
                                                closes=None))
            _charge(plan, item, product, unit, period, quantity, f"added {quantity.normalize():f} from {effective_date}")
        else:
            raise _errors(i, "", 'each change names a "line" or a "product"')
    return plan


def _int(value, i: int, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _errors(i, name, "must be an id") from None


def _apply(plan: AmendmentPlan, *, by, reason: str, kind: str, changes: list[dict], source_quote=None) -> Amendment:
    contract, effective = plan.contract, plan.effective_date
    number = (contract.amendments.aggregate(n=Max("number"))["n"] or 0) + 1
    amendment = Amendment.objects.create(contract=contract, number=number, kind=kind, effective_date=effective,
                                         reason=reason, source_quote=source_quote, changes=changes,
                                         proration_total=plan.total, created_by=by if getattr(by, "pk", None) else None)
    day_before = effective - timedelta(days=1)
    new_versions: dict[int, ContractLine] = {}
    for old in plan.closes + [v.closes for v in plan.versions if v.closes is not None]:
        old.end_date = day_before
        old.save(update_fields=["end_date"])
    for v in plan.versions:
        new_versions[v.item] = ContractLine.objects.create(
            contract=contract, item=v.item, version=(v.closes.version + 1) if v.closes else 1, product=v.product,
            price=v.price, quantity=v.quantity, unit_price=v.unit_price, amount=v.amount, period=v.period,
            billing_frequency=contract.billing_frequency, start_date=effective, end_date=contract.end_date,
            amendment=amendment,
        )
    closed = {line.item: line for line in plan.closes}
    for c in plan.charges:
        line = new_versions.get(c.item) or closed.get(c.item)
        ProrationCharge.objects.create(
            contract=contract, amendment=amendment, line=line, description=c.description, period_start=c.period_start,
            period_end=c.period_end, remaining_days=c.remaining_days, period_days=c.period_days, amount=c.amount,
            currency=contract.currency)
    return amendment


def contract_amend(*, contract_id: int, effective_date: date, changes: list[dict], by, reason: str = "",
                   source_quote=None) -> Amendment:
    """Apply an amendment; records `contract.amended` with the prorations for billing."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        plan = plan_amendment(contract, effective_date, changes)
        amendment = _apply(plan, by=by, reason=reason, kind=Amendment.Kind.AMEND, changes=changes,
                           source_quote=source_quote)
        refresh_values(contract)
        log(contract, "amended", by, f"amendment {amendment.number} from {effective_date}: "
                                     + "; ".join(c.description for c in plan.charges))
        record_event("contract.amended", contract, event_payload(
            contract, amendment=amendment.pk, effective_date=effective_date.isoformat(),
            proration_total=str(plan.total),
            charges=[{"description": c.description, "amount": str(c.amount)} for c in plan.charges]))
    return amendment


def contract_amend_from_quote(*, quote_id: int) -> Amendment | None:
    """An accepted amendment quote: its lines are the contract's wanted state from the quote's start
    date. Lines whose product is already on the contract change quantity/price; new products are
    added; contract lines missing from the quote are left as they are. Idempotent per quote."""
    from quotes.models import Quote

    existing = Amendment.objects.filter(source_quote_id=quote_id).first()
    if existing is not None:
        return existing
    link = ContractQuote.objects.select_related("contract").get(quote_id=quote_id)
    quote = Quote.objects.get(pk=quote_id)
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=link.contract_id)
        if Amendment.objects.filter(source_quote_id=quote_id).exists():
            return Amendment.objects.get(source_quote_id=quote_id)
        active = {line.product_id: line for line in contract.lines.active_on(quote.start_date)}
        changes = []
        for qline in quote.lines.select_related("product").order_by("position", "id"):
            current = active.get(qline.product_id)
            if current is None:
                changes.append({"product": qline.product_id, "quantity": str(qline.quantity),
                                "unit_price": str(qline.net_unit_price)})
            elif current.quantity != qline.quantity or current.unit_price != qline.net_unit_price:
                changes.append({"line": current.pk, "quantity": str(qline.quantity),
                                "unit_price": str(qline.net_unit_price)})
        if not changes:
            return None
        return contract_amend(contract_id=contract.pk, effective_date=quote.start_date, changes=changes,
                              by=quote.owner, reason=f"amendment quote {quote.number} v{quote.version}",
                              source_quote=quote)
