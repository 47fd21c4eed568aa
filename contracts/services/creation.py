"""Contracts come from accepted quotes (once per quote, however often the event is delivered) or are
entered directly by staff for imported deals."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Price, Product
from customers.models import Customer
from quotes.models import Quote
from revops.kernel import money
from revops.kernel.dates import term_end
from revops.kernel.errors import InvalidTransition, ValidationFailed
from revops.kernel.events import record_event
from revops.kernel.numbering import format_number, next_number

from ..models import Contract, ContractEvent, ContractLine
from .values import refresh_values

PERIOD_OF_PRODUCT_KIND = {"one_time": "one_time", "usage": "usage"}


def log(contract: Contract, kind: str, by=None, detail: str = "") -> None:
    ContractEvent.objects.create(contract=contract, kind=kind, detail=detail,
                                 actor=by if getattr(by, "pk", None) else None)


def event_payload(contract: Contract, **extra) -> dict:
    return {"contract": contract.pk, "number": contract.number, "customer": contract.customer_id,
            "currency": contract.currency, "status": contract.status, "start_date": contract.start_date.isoformat(),
            "end_date": contract.end_date.isoformat(), "tcv": _amount(contract.tcv, contract),
            "arr": _amount(contract.arr, contract), "mrr": _amount(contract.mrr, contract), **extra}


def _amount(value, contract: Contract) -> str:
    return str(money.quantize(value, contract.currency))


def _new_number(today: date) -> str:
    return format_number("C", today.year, next_number(f"C-{today.year}"))


def contract_create_from_quote(*, quote_id: int) -> Contract:
    """The active contract for an accepted quote. Idempotent: a replayed `quote.accepted` returns the
    contract made the first time (the quote is unique on the contract, so two racing deliveries
    cannot both insert)."""
    existing = Contract.objects.filter(quote_id=quote_id).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            quote = Quote.objects.select_for_update().select_related("customer").get(pk=quote_id)
            if quote.status != Quote.Status.ACCEPTED:
                raise InvalidTransition(f"{quote} is {quote.status}; only an accepted quote becomes a contract")
            existing = Contract.objects.filter(quote_id=quote_id).first()
            if existing is not None:
                return existing
            contract = Contract.objects.create(
                number=_new_number(timezone.localdate()), customer=quote.customer, quote=quote, owner=quote.owner,
                currency=quote.currency, status=Contract.Status.ACTIVE, start_date=quote.start_date,
                end_date=term_end(quote.start_date, quote.term_months), billing_frequency=quote.billing_frequency,
                payment_terms=quote.payment_terms, renewal_term_months=quote.term_months,
                activated_at=timezone.now(),
            )
            lines = quote.lines.select_related("product", "price").order_by("position", "id")
            for item, qline in enumerate(lines, start=1):
                period = PERIOD_OF_PRODUCT_KIND.get(qline.product.kind, qline.price.billing_period)
                ContractLine.objects.create(
                    contract=contract, item=item, product=qline.product, price=qline.price, quantity=qline.quantity,
                    unit_price=qline.net_unit_price, amount=qline.net_period_amount, period=period,
                    billing_frequency=quote.billing_frequency, start_date=contract.start_date,
                    end_date=contract.end_date, quote_line=qline,
                )
            refresh_values(contract)
            log(contract, "created_from_quote", None, f"{quote.number} v{quote.version}")
            log(contract, "activated")
            record_event("contract.activated", contract, event_payload(contract, quote=quote.pk))
            return contract
    except IntegrityError:
        # Another delivery of the same event created it between our check and insert.
        return Contract.objects.get(quote_id=quote_id)


@dataclass(frozen=True)
class LineSpec:
    product: Product
    quantity: Decimal
    unit_price: Decimal
    period: str | None = None  # default: from the product kind / its price


def _validate_line(i: int, spec: LineSpec, currency: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if spec.quantity is None or spec.quantity < 0:
        errors[f"lines[{i}].quantity"] = ["must not be negative"]
    if spec.unit_price is None or spec.unit_price < 0:
        errors[f"lines[{i}].unit_price"] = ["must not be negative"]
    if spec.period and spec.period not in dict(ContractLine.Period.choices):
        errors[f"lines[{i}].period"] = ["must be month, quarter, year, one_time or usage"]
    return errors


def contract_create(*, customer: Customer, start_date: date, term_months: int, lines: list[LineSpec], by,
                    billing_frequency: str = "month", currency: str | None = None, activate: bool = True,
                    **terms) -> Contract:
    """A contract entered by staff (imported deals): validated whole, written whole."""
    currency = currency or customer.currency
    money.validate_currency(currency)
    errors: dict[str, list[str]] = {}
    if not term_months or term_months < 1:
        errors["term_months"] = ["must be at least 1"]
    if billing_frequency not in dict(Contract.BillingFrequency.choices):
        errors["billing_frequency"] = ["must be month, quarter or year"]
    if not lines:
        errors["lines"] = ["a contract needs at least one line"]
    for i, spec in enumerate(lines):
        errors.update(_validate_line(i, spec, currency))
    if terms.get("renewal_term_months") is not None and terms["renewal_term_months"] < 1:
        errors["renewal_term_months"] = ["must be at least 1"]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors)
    with transaction.atomic():
        contract = Contract.objects.create(
            number=_new_number(timezone.localdate()), customer=customer, owner=terms.pop("owner", None) or by,
            currency=currency, status=Contract.Status.DRAFT, start_date=start_date,
            end_date=term_end(start_date, term_months), billing_frequency=billing_frequency,
            renewal_term_months=terms.pop("renewal_term_months", None) or term_months, **terms,
        )
        for item, spec in enumerate(lines, start=1):
            period = spec.period or PERIOD_OF_PRODUCT_KIND.get(spec.product.kind) or _price_period(spec.product,
                                                                                                  currency)
            ContractLine.objects.create(
                contract=contract, item=item, product=spec.product, quantity=spec.quantity,
                unit_price=money.quantize_unit_price(spec.unit_price),
                amount=money.quantize(spec.unit_price * spec.quantity, currency), period=period,
                billing_frequency=billing_frequency, start_date=start_date, end_date=contract.end_date,
                price=_price(spec.product, currency),
            )
        refresh_values(contract)
        log(contract, "created", by)
        record_event("contract.created", contract, event_payload(contract))
        if activate:
            contract_activate(contract_id=contract.pk, by=by)
            contract.refresh_from_db()
    return contract


def _price(product: Product, currency: str) -> Price | None:
    return (Price.objects.filter(product=product, currency=currency, active=True)
            .order_by("-price_book__is_default", "billing_period").first())


def _price_period(product: Product, currency: str) -> str:
    price = _price(product, currency)
    if price is None or price.billing_period == "one_time":
        return "month"
    return price.billing_period


def contract_activate(*, contract_id: int, by=None) -> Contract:
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        if contract.status != Contract.Status.DRAFT:
            raise InvalidTransition(f"{contract} is {contract.status}; only a draft can be activated")
        contract.status, contract.activated_at = Contract.Status.ACTIVE, timezone.now()
        contract.save(update_fields=["status", "activated_at"])
        log(contract, "activated", by)
        record_event("contract.activated", contract, event_payload(contract))
    return contract
