"""Inbound deals and orders: a signed payload from a source becomes a customer (created or updated by its
external id), its contacts (matched by email) and a quote, through the customers and quotes services so
that pricing, approval rules and events apply as for a quote typed by a rep.

- A deal (CRM closed-won) gives a DRAFT quote for the rep to check and submit.
- An order (paid e-commerce order) gives an ACCEPTED quote: submitted (approval rules decide), sent and
  accepted on the buyer's behalf; the contract then comes from `quote.accepted` like any other.

Idempotent by (source, external id): the first delivery writes an InboundMessage; a redelivery of a
processed message returns it unchanged; a redelivery of a failed one is processed again with the new
payload. The domain writes happen in one savepoint: a failure (unknown product, a bad value, an order that
needs approval) leaves no customer or quote behind, and the message keeps the reason for the inbox.

Inbound prices: the quote is priced from the price book. When the payload's unit price is below the
price book's net unit price for the line (after any discount schedule), the difference becomes a manual
discount amount on the line (`discount_amount` = (book − inbound) × quantity per billing period, rounded
to the currency), so the line's net equals what was sold and discount approval rules see it. A unit price
above the price book's is refused (the message fails with the reason): revops does not invent list prices.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Product
from contracts.models import Contract
from customers import services as customer_services
from customers.models import Contact, Customer
from quotes.models import Quote
from quotes.services import editing, lifecycle
from revops.kernel import money
from revops.kernel.errors import DomainError, InvalidTransition, ValidationFailed

from ..models import InboundMessage, InboundSource
from . import mapping as mapping_service
from .signing import SignatureError, secret_generate, verify

INTEGRATION_USERNAME = "integrations"
PENDING_NOTE = "received; processing did not finish (server error): retry it"


class SignatureInvalid(DomainError):
    code = "signature_invalid"
    status = 403


class SourceUnknown(DomainError):
    code = "not_found"
    status = 404


@dataclass(frozen=True)
class InboundResult:
    message: InboundMessage
    created: bool  # the first delivery of this external id
    duplicate: bool  # an already processed message, returned as it was


# --- receiving ---------------------------------------------------------------------------------------

def source_for(name: str) -> InboundSource:
    source = InboundSource.objects.filter(name=name, enabled=True).first()
    if source is None:
        raise SourceUnknown(f"no enabled inbound source named {name!r}")
    return source


def signature_check(*, source: InboundSource, header: str, body: bytes) -> None:
    """Revops-Signature of the raw body with the source's secret (5 minutes tolerance), or SignatureInvalid."""
    try:
        verify(header, body, source.secret)
    except SignatureError as exc:
        raise SignatureInvalid(f"bad Revops-Signature: {exc}") from None


def inbound_receive(*, source: InboundSource, payload) -> InboundResult:
    """Keep the payload as a message (once per external id) and process it. Raises MappingFailed only when
    the payload has no id to key it by (nothing is written then)."""
    external_id = mapping_service.external_id_of(payload, source.mapping)
    try:
        with transaction.atomic():
            message, created = InboundMessage.objects.get_or_create(
                source=source, external_id=external_id,
                defaults={"payload": payload, "status": InboundMessage.Status.FAILED, "error": PENDING_NOTE,
                          "attempts": 0})
    except IntegrityError:  # a concurrent delivery of the same id inserted it first
        message, created = InboundMessage.objects.get(source=source, external_id=external_id), False
    return _process(message_id=message.pk, payload=payload, created=created)


def inbound_retry(*, message_id: int, by=None) -> InboundResult:
    """Process a failed message again with its stored payload and the source's current mapping."""
    message = InboundMessage.objects.filter(pk=message_id).first()
    if message is None:
        raise ValidationFailed(f"inbound message {message_id} does not exist", fields={"message": ["not found"]})
    if message.status == InboundMessage.Status.PROCESSED:
        raise InvalidTransition(f"message {message.external_id} is already processed")
    return _process(message_id=message.pk, payload=None, created=False, retry=True)


def _process(*, message_id: int, payload, created: bool, retry: bool = False) -> InboundResult:
    with transaction.atomic():
        message = InboundMessage.objects.select_for_update().select_related("source").get(pk=message_id)
        if message.status == InboundMessage.Status.PROCESSED:
            return InboundResult(message=message, created=False, duplicate=True)
        if payload is not None:
            message.payload = payload
        message.attempts += 1
        try:
            with transaction.atomic():  # the domain writes: all of them or none
                deal = mapping_service.normalize(message.payload, message.source.mapping)
                customer, quote = _apply(source=message.source, deal=deal)
        except DomainError as exc:
            message.status, message.error = InboundMessage.Status.FAILED, _reason(exc)
            message.customer = message.quote = message.contract = None
        else:
            message.status, message.error = InboundMessage.Status.PROCESSED, ""
            message.customer, message.quote = customer, quote
        message.processed_at = timezone.now()
        message.save()
        if message.status == InboundMessage.Status.PROCESSED and message.quote.status == Quote.Status.ACCEPTED:
            # Queued after the outbox delivery this transaction queued: runs once the contract exists.
            transaction.on_commit(partial(_link_contract, message.pk))
    return InboundResult(message=message, created=created, duplicate=False)


def _reason(exc: DomainError) -> str:
    details = [f"{name}: {'; '.join(msgs)}" for name, msgs in exc.fields.items()]
    extra = [d for d in details if d not in exc.message]
    return exc.message + (" | " + " | ".join(extra) if extra else "")


def _link_contract(message_id: int) -> None:
    """An order's contract is created after commit by the `quote.accepted` subscriber (at once when Celery
    runs eagerly); link it when it is there. `message_contract` finds it later otherwise (a real broker)."""
    message = InboundMessage.objects.filter(pk=message_id).only("pk", "quote_id", "contract_id").first()
    contract = Contract.objects.filter(quote_id=message.quote_id).only("pk").first() if message else None
    if contract is not None and message.contract_id != contract.pk:
        InboundMessage.objects.filter(pk=message.pk).update(contract=contract)


def message_contract(message: InboundMessage) -> Contract | None:
    if message.contract_id:
        return message.contract
    if not message.quote_id or message.quote.status != Quote.Status.ACCEPTED:
        return None  # only an order's accepted quote has a contract
    return Contract.objects.filter(quote_id=message.quote_id).first()


# --- the domain writes -------------------------------------------------------------------------------

def integration_user() -> User:
    """The owner of inbound quotes when the payload names no known user: a service account without a
    password (it cannot sign in)."""
    user, created = User.objects.get_or_create(username=INTEGRATION_USERNAME,
                                               defaults={"first_name": "Integrations", "is_active": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _owner(deal: mapping_service.NormalizedDeal, customer: Customer | None) -> User:
    if deal.owner_email:
        user = User.objects.filter(email__iexact=deal.owner_email, is_active=True).order_by("id").first()
        if user is not None:
            return user
    if customer is not None and customer.owner_id and customer.owner.is_active:
        return customer.owner
    return integration_user()


def _customer_upsert(deal: mapping_service.NormalizedDeal) -> Customer:
    fields = dict(deal.customer)
    existing = Customer.objects.filter(external_id=fields["external_id"]).first()
    if existing is None:
        if not fields.get("currency"):
            raise mapping_service.MappingFailed("a new customer needs a currency: map customer.currency or currency",
                                                fields={"customer.currency": ["missing"]})
        return customer_services.customer_create(**fields)
    # The customer's currency is kept: quotes in the deal's currency are priced in its own price book.
    changes = {k: v for k, v in fields.items() if k not in ("external_id", "currency") and v != getattr(existing, k)}
    if not changes:
        return existing
    return customer_services.customer_update(customer_id=existing.pk, **changes)


def _contacts_upsert(customer: Customer, contacts: list[mapping_service.NormalizedContact]) -> None:
    known = {c.email.lower(): c for c in Contact.objects.filter(customer=customer)}
    for spec in contacts:
        contact = known.get(spec.email)
        if contact is None:
            known[spec.email] = customer_services.contact_create(
                customer=customer, name=spec.name, email=spec.email, title=spec.title, phone=spec.phone)
            continue
        changed = [k for k in ("name", "title", "phone") if getattr(spec, k) and getattr(spec, k) != getattr(contact, k)]
        if changed:  # customers has no contact update service; the row is matched by (customer, email)
            for k in changed:
                setattr(contact, k, getattr(spec, k))
            contact.save(update_fields=changed)


def _products(deal: mapping_service.NormalizedDeal) -> dict[str, Product]:
    skus = {line.sku for line in deal.lines}
    found = {p.sku: p for p in Product.objects.filter(sku__in=skus)}
    errors = {}
    for i, line in enumerate(deal.lines):
        product = found.get(line.sku)
        if product is None:
            errors[f"lines[{i}].sku"] = [f"unknown product {line.sku!r}: add it to the catalog or fix the mapping"]
        elif not product.active:
            errors[f"lines[{i}].sku"] = [f"product {line.sku!r} is not sold any more"]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors, code="unknown_product")
    return found


def _apply(*, source: InboundSource, deal: mapping_service.NormalizedDeal) -> tuple[Customer, Quote]:
    products = _products(deal)
    customer = _customer_upsert(deal)
    _contacts_upsert(customer, deal.contacts)
    owner = _owner(deal, customer)
    quote = editing.quote_create(
        customer=customer, owner=owner, start_date=deal.start_date, term_months=deal.term_months,
        billing_frequency=deal.billing_frequency, currency=deal.currency or customer.currency,
        notes=f"From {source.name} {source.get_kind_display().split(' (')[0].lower()} {deal.external_id}.")
    parents = []
    for line in deal.lines:
        added = editing.quote_line_add(quote_id=quote.pk, product_id=products[line.sku].pk, quantity=line.quantity,
                                       by=owner, reprice=False)
        parents.append(added[0])
    editing.quote_reprice(quote=quote)
    _apply_inbound_prices(quote, deal, parents, owner)
    if source.kind == InboundSource.Kind.ORDER:
        quote = _accept_order(quote, deal, owner)
    return customer, quote


def _apply_inbound_prices(quote: Quote, deal, parents, owner) -> None:
    errors = {}
    for i, (line, parent) in enumerate(zip(deal.lines, parents, strict=True)):
        if line.unit_price is None:
            continue
        parent.refresh_from_db(fields=["net_unit_price", "quantity"])
        book = parent.net_unit_price
        if line.unit_price > book:
            errors[f"lines[{i}].unit_price"] = [
                f"{line.sku} sold at {line.unit_price} {quote.currency}, above the price book's {book.normalize():f}: "
                "update the price book or the mapping"]
            continue
        off = money.quantize((book - line.unit_price) * line.quantity, quote.currency)
        if off > Decimal(0):
            editing.quote_line_update(line_id=parent.pk, by=owner, discount_amount=off)
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first}: {errors[first][0]}", fields=errors, code="price_above_list")


def _accept_order(quote: Quote, deal, owner) -> Quote:
    quote = lifecycle.quote_submit(quote_id=quote.pk, by=owner)
    if quote.status != Quote.Status.APPROVED:
        reasons = list(quote.approval_steps.values_list("reason", flat=True))
        raise ValidationFailed(
            "the order's quote needs approval (" + "; ".join(reasons) + "): a paid order is accepted only when no "
            "approval rule applies; adjust the rule or the price book, then retry", code="approval_required")
    quote = lifecycle.quote_send(quote_id=quote.pk, by=owner)
    name = deal.buyer_name or deal.customer.get("name", "") or "online buyer"
    return lifecycle.quote_accept(token=lifecycle.acceptance_token(quote), name=name, title="paid online order")


# --- ready-made sources ------------------------------------------------------------------------------

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
READY_SOURCES = {"salesforce": "salesforce_opportunity.json", "shopify": "shopify_order.json"}


def ready_mapping(name: str) -> dict:
    """{"kind", "description", "mapping"} of a mapping shipped in integrations/mappings/."""
    return json.loads((MAPPINGS_DIR / READY_SOURCES[name]).read_text())


def inbound_source_install(*, name: str, secret: str | None = None, reset_mapping: bool = False) -> InboundSource:
    """Create the ready-made source `name` (salesforce, shopify) with its shipped mapping and a new secret;
    an existing one keeps its secret and, unless `reset_mapping`, its (possibly edited) mapping."""
    if name not in READY_SOURCES:
        raise ValidationFailed(f"no ready mapping named {name!r}: use {', '.join(READY_SOURCES)}",
                               fields={"name": [f"one of {', '.join(READY_SOURCES)}"]})
    spec = ready_mapping(name)
    with transaction.atomic():
        source, created = InboundSource.objects.select_for_update().get_or_create(name=name, defaults={
            "kind": spec["kind"], "mapping": spec["mapping"], "secret": secret or secret_generate()})
        if not created and (reset_mapping or secret):
            source.mapping = spec["mapping"] if reset_mapping else source.mapping
            source.secret = secret or source.secret
            source.save(update_fields=["mapping", "secret"])
    return source
