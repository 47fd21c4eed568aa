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
    errors.update(_validate_terms(terms))
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors)
    with transaction.atomic():
        if terms.get("renewal_alert_offsets") is not None:
            terms["renewal_alert_offsets"] = _normalized_offsets(terms["renewal_alert_offsets"])
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


# --- renewal settings -------------------------------------------------------------------------------

UPDATABLE_TERMS = ("auto_renew", "renewal_term_months", "renewal_uplift_percent", "renewal_notice_days",
                   "renewal_alert_offsets", "owner")
SMALLINT_MAX = 32767
UPLIFT_MIN, UPLIFT_LIMIT = Decimal(-100), Decimal(1000)  # renewal_uplift_percent: 7 digits, 4 places


def _normalized_offsets(offsets) -> list[int]:
    return sorted({int(o) for o in offsets}, reverse=True)


def _validate_terms(terms: dict) -> dict[str, list[str]]:
    """Errors in renewal settings, by field (absent or None values are not checked)."""
    errors: dict[str, list[str]] = {}

    def whole(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    term = terms.get("renewal_term_months")
    if term is not None and (not whole(term) or not 1 <= term <= SMALLINT_MAX):
        errors["renewal_term_months"] = ["must be at least 1"] if whole(term) and term < 1 else [
            f"must be a whole number of months from 1 to {SMALLINT_MAX}"]
    uplift = terms.get("renewal_uplift_percent")
    if uplift is not None:
        if not isinstance(uplift, Decimal | int) or isinstance(uplift, bool) or not Decimal(uplift).is_finite():
            errors["renewal_uplift_percent"] = ["must be a decimal number"]
        elif not UPLIFT_MIN <= uplift < UPLIFT_LIMIT:
            errors["renewal_uplift_percent"] = ["must be between -100 and 999.9999 (percent)"]
        elif Decimal(uplift) != Decimal(uplift).quantize(Decimal("0.0001")):
            errors["renewal_uplift_percent"] = ["must have at most 4 decimal places"]
    notice = terms.get("renewal_notice_days")
    if notice is not None and (not whole(notice) or not 0 <= notice <= SMALLINT_MAX):
        errors["renewal_notice_days"] = [f"must be a whole number of days from 0 to {SMALLINT_MAX}"]
    offsets = terms.get("renewal_alert_offsets")
    if offsets is not None:
        if not isinstance(offsets, list | tuple):
            errors["renewal_alert_offsets"] = ["must be a list of days before the end date, e.g. [90, 60, 30]"]
        else:
            for i, offset in enumerate(offsets):
                if not whole(offset) or not 1 <= offset <= SMALLINT_MAX:
                    errors[f"renewal_alert_offsets[{i}]"] = [f"must be a whole number of days from 1 to {SMALLINT_MAX}"]
    if terms.get("auto_renew") is not None and not isinstance(terms["auto_renew"], bool):
        errors["auto_renew"] = ["must be true or false"]
    return errors


def contract_update_terms(*, contract_id: int, by, **changes) -> Contract:
    """Change a draft or active contract's renewal settings or owner (UPDATABLE_TERMS).

    Validated whole before anything is written; the contract is locked and re-checked; the change is
    audited by the model's audit trail, logged on the timeline and recorded as `contract.updated` with
    the changed field names (nothing is recorded when nothing changes). Lines, dates and status change
    only by amendment, renewal or termination."""
    unknown = sorted(set(changes) - set(UPDATABLE_TERMS))
    errors = {name: ["cannot be changed here: lines and dates change by amendment, renewal or termination"]
              for name in unknown}
    if "owner" in changes and changes["owner"] is not None and not getattr(changes["owner"], "pk", None):
        errors["owner"] = ["must be a user"]
    for name in UPDATABLE_TERMS:
        if name != "owner" and name in changes and changes[name] is None:
            errors[name] = ["may not be null"]
    errors.update(_validate_terms(changes))
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors)
    if "renewal_alert_offsets" in changes:
        changes["renewal_alert_offsets"] = _normalized_offsets(changes["renewal_alert_offsets"])
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract_id)
        if contract.status not in (Contract.Status.DRAFT, Contract.Status.ACTIVE):
            raise InvalidTransition(f"{contract} is {contract.status}; only a draft or active contract's terms "
                                    "can change")
        changed = []
        for name, value in changes.items():
            current = contract.owner_id if name == "owner" else getattr(contract, name)
            wanted = getattr(value, "pk", None) if name == "owner" else value
            if current != wanted:
                setattr(contract, name, value)
                changed.append(name)
        if changed:
            contract.save(update_fields=changed)
            log(contract, "terms_updated", by, ", ".join(
                f"{name} → {getattr(contract, name + '_id') if name == 'owner' else getattr(contract, name)}"
                for name in changed))
            record_event("contract.updated", contract, event_payload(contract, changed=changed))
    return contract
