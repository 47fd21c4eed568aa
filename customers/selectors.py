"""Reads for customers and contacts, shared by the API and the pages.

Every queryset is scoped by the caller (DRF does not apply object permissions to lists): staff roles
see every account, a portal user only their own customer, anyone else nothing.
"""

from __future__ import annotations

from django.db.models import QuerySet

from revops.kernel.roles import is_staff_member

from .models import Contact, Customer


def customers_visible_to(*, user) -> QuerySet[Customer]:
    """Customers `user` may read."""
    if is_staff_member(user):
        return Customer.objects.all()
    contact = getattr(user, "portal_contact", None) if getattr(user, "is_authenticated", False) else None
    if contact is not None:
        return Customer.objects.filter(pk=contact.customer_id)
    return Customer.objects.none()


def contacts_visible_to(*, user) -> QuerySet[Contact]:
    """Contacts `user` may read: staff see all; a portal user the contacts of their own customer."""
    if is_staff_member(user):
        return Contact.objects.all()
    contact = getattr(user, "portal_contact", None) if getattr(user, "is_authenticated", False) else None
    if contact is not None:
        return Contact.objects.filter(customer_id=contact.customer_id)
    return Contact.objects.none()
