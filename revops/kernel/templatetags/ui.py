"""Small presentation helpers for the pages: `{% load ui %}`."""

from __future__ import annotations

from django import template

from revops.kernel import roles

register = template.Library()

ROLE_LABELS = {
    roles.SALES_REP: "Sales rep",
    roles.SALES_MANAGER: "Sales manager",
    roles.FINANCE: "Finance",
    roles.CUSTOMER_SUCCESS: "Customer success",
    roles.ADMIN: "Admin",
}


@register.filter
def role_label(role: str) -> str:
    return ROLE_LABELS.get(role, role.replace("_", " ").capitalize())


@register.filter
def field_label(name: str) -> str:
    """An audit-trail field name for people: `acquisition_channel` -> "Acquisition channel"."""
    name = name.removesuffix("_id") if name.endswith("_id") and name != "external_id" else name
    return name.replace("_", " ").capitalize()
