"""Writes for customers and contacts. Every change records an outbox event in the same transaction."""
from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from revops.kernel import money
from revops.kernel.errors import ValidationFailed, field_error
from revops.kernel.events import record_event

from .models import Contact, Customer

CUSTOMER_FIELDS = (
    "name", "external_id", "currency", "billing_email", "country", "tax_exempt", "tax_id", "industry", "size",
    "region", "acquisition_channel", "address", "owner",
)


def _payload(customer: Customer) -> dict:
    return {
        "id": customer.pk, "name": customer.name, "external_id": customer.external_id,
        "currency": customer.currency, "country": customer.country, "industry": customer.industry,
        "size": customer.size, "region": customer.region, "acquisition_channel": customer.acquisition_channel,
        "owner": customer.owner_id,
    }


def _clean(customer: Customer) -> None:
    money.validate_currency(customer.currency)
    if not customer.name or not customer.name.strip():
        raise field_error("name", "a customer needs a name")
    if customer.external_id == "":
        customer.external_id = None  # blank means "none": keeps the unique constraint meaningful
    if customer.country:
        customer.country = customer.country.upper()
        if len(customer.country) != 2 or not customer.country.isalpha():
            raise field_error("country", "use a two-letter ISO 3166 country code, e.g. US or DE")
    if customer.external_id is not None:
        clash = Customer.objects.filter(external_id=customer.external_id).exclude(pk=customer.pk).exists()
        if clash:
            raise field_error("external_id", f"another customer already has external id {customer.external_id!r}")


def customer_create(*, by: User | None = None, **fields) -> Customer:
    """Create a customer and record `customer.created`. Raises ValidationFailed naming the field."""
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown customer fields: {', '.join(sorted(unknown))}")
    customer = Customer(**fields)
    _clean(customer)
    try:
        with transaction.atomic():
            customer.save()
            record_event("customer.created", customer, _payload(customer))
    except IntegrityError as exc:  # a concurrent create won the external_id race
        raise field_error("external_id", "another customer already has this external id") from exc
    return customer


def customer_update(*, customer_id: int, by: User | None = None, **changes) -> Customer:
    """Change a customer's fields and record `customer.updated` with the changed field names."""
    unknown = set(changes) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown customer fields: {', '.join(sorted(unknown))}")
    try:
        with transaction.atomic():
            customer = Customer.objects.select_for_update().get(pk=customer_id)
            before = {name: getattr(customer, name) for name in changes}
            for name, value in changes.items():
                setattr(customer, name, value)
            _clean(customer)
            # Compared after normalising ("de" -> "DE", "" -> None) so a no-op records no event.
            changed = [name for name in changes if getattr(customer, name) != before[name]]
            if not changed:
                return customer
            customer.save()
            record_event("customer.updated", customer, {**_payload(customer), "changed": sorted(changed)})
    except IntegrityError as exc:  # a concurrent write won the external_id race
        if "external_id" not in changes:
            raise
        raise field_error("external_id", "another customer already has this external id") from exc
    return customer


def contact_create(*, customer: Customer, name: str, email: str, by: User | None = None, **fields) -> Contact:
    email = (email or "").strip().lower()
    if Contact.objects.filter(customer=customer, email=email).exists():
        raise field_error("email", f"{customer.name} already has a contact with email {email}")
    try:
        with transaction.atomic():
            contact = Contact.objects.create(customer=customer, name=name, email=email, **fields)
            record_event("contact.created", customer, {"customer": customer.pk, "contact": contact.pk, "email": email})
    except IntegrityError as exc:  # a concurrent create of the same email won the race
        raise field_error("email", f"{customer.name} already has a contact with email {email}") from exc
    return contact


def portal_access_grant(*, contact: Contact, password: str | None = None) -> User:
    """Give a contact a portal login (username = email). The user holds no staff role."""
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=contact.pk)
        if contact.portal_user_id:
            return contact.portal_user
        if User.objects.filter(username=contact.email).exists():
            raise field_error("email", f"a user named {contact.email} already exists")
        user = User.objects.create_user(username=contact.email, email=contact.email, password=password)
        if password is None:
            user.set_unusable_password()
            user.save(update_fields=["password"])
        contact.portal_user = user
        contact.save(update_fields=["portal_user"])
        record_event("contact.portal_access_granted", contact.customer, {"contact": contact.pk})
    return user
