"""Quotes made for an existing contract (the CPQ flow for renewals and amendments): the contract's
current lines are put on a quote at the contract's prices, the rep edits it, approvals run as for any
quote, and when the customer accepts, the outbox subscriber renews or amends the contract."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from catalog.models import Price
from quotes.models import Quote
from quotes.services import editing as quote_editing
from revops.kernel.errors import InvalidTransition, field_error
from revops.kernel.events import record_event

from ..models import Contract, ContractLine, ContractQuote
from .creation import event_payload, log

HUNDRED = Decimal(100)


def add_contract_lines(quote: Quote, lines, owner, *, uplift_percent: Decimal = Decimal(0)) -> None:
    """Put each recurring/usage line on the quote, discounted from list to the contract price
    (× uplift). A price above list stays at list: a quote never marks a product up."""
    for line in lines:
        if line.period == ContractLine.Period.ONE_TIME or line.quantity <= 0:
            continue
        if not Price.objects.filter(product=line.product, price_book=quote.price_book, active=True).exists():
            continue
        added = quote_editing.quote_line_add(quote_id=quote.pk, product_id=line.product_id, quantity=line.quantity,
                                             by=owner, billing_period=line.period if line.period != "usage" else None)[0]
        target = line.unit_price * (1 + uplift_percent / HUNDRED)
        added.refresh_from_db()
        if added.list_unit_price > 0 and target < added.list_unit_price:
            discount = ((1 - target / added.list_unit_price) * HUNDRED).quantize(Decimal("0.0001"))
            quote_editing.quote_line_update(line_id=added.pk, discount_percent=discount, by=owner)


def _months_left(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month + (1 if end.day >= start.day else 0)
    return max(1, months)


def amendment_quote_create(*, contract_id: int, effective_date: date, by) -> Quote:
    """A draft amendment quote from `effective_date` to the contract's end, holding the lines active
    that day at their contract prices. Edit quantities or add products, submit, send; acceptance
    amends the contract (changed and new lines) on the quote's start date."""
    with transaction.atomic():
        contract = Contract.objects.select_for_update().select_related("customer").get(pk=contract_id)
        if contract.status != Contract.Status.ACTIVE:
            raise InvalidTransition(f"{contract} is {contract.status}; only an active contract can be amended")
        if not (contract.start_date < effective_date <= contract.end_date):
            raise field_error("effective_date", f"must fall after {contract.start_date} and on or before "
                                                f"{contract.end_date}")
        owner = contract.owner or by
        quote = quote_editing.quote_create(
            customer=contract.customer, owner=owner, start_date=effective_date,
            term_months=_months_left(effective_date, contract.end_date), billing_frequency=contract.billing_frequency,
            payment_terms=contract.payment_terms, currency=contract.currency,
            valid_until=max(effective_date, timezone.localdate()),
            notes=f"Amendment of contract {contract.number} from {effective_date:%Y-%m-%d}, co-terminous with "
                  f"its end on {contract.end_date:%Y-%m-%d}.")
        add_contract_lines(quote, contract.lines.active_on(effective_date).select_related("product"), owner)
        ContractQuote.objects.create(quote=quote, contract=contract, purpose=ContractQuote.Purpose.AMENDMENT)
        log(contract, "amendment_quote_created", by, quote.number)
        record_event("contract.amendment_quote_created", contract, event_payload(contract, quote=quote.pk))
    return quote
