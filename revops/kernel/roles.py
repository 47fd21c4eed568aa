"""Roles are Django groups. This map is the one place that says which model permissions each role has.

Patterns are `app_label.codename` globs; they match only permissions that exist, so later apps are
listed here ahead of time. `sync_role_permissions` runs after every migrate and only *adds*
permissions (what an admin granted by hand in the admin is kept). The groups themselves are created by
the kernel's data migration 0002.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

SALES_REP = "sales_rep"
SALES_MANAGER = "sales_manager"
FINANCE = "finance"
CUSTOMER_SUCCESS = "customer_success"
ADMIN = "admin"
STAFF_ROLES = (SALES_REP, SALES_MANAGER, FINANCE, CUSTOMER_SUCCESS, ADMIN)

_VIEW_SHARED = ["customers.view_*", "catalog.view_*"]
_COMMENT = ["customers.add_customercomment"]  # every staff team writes on the shared customer timeline

ROLE_PERMISSIONS: dict[str, list[str]] = {
    SALES_REP: [
        *_VIEW_SHARED, *_COMMENT,
        "customers.add_customer", "customers.change_customer",
        "customers.add_contact", "customers.change_contact",
        "quotes.view_*", "quotes.add_*", "quotes.change_*", "quotes.delete_quoteline",
        "contracts.view_*", "billing.view_invoice", "analytics.view_*",
    ],
    SALES_MANAGER: [
        *_VIEW_SHARED,
        "customers.add_*", "customers.change_*",
        "quotes.*", "contracts.view_*", "billing.view_invoice", "analytics.*",
    ],
    FINANCE: [
        *_VIEW_SHARED, *_COMMENT,
        "customers.change_customer", "catalog.change_price", "catalog.add_price",
        "catalog.add_pricetier", "catalog.change_pricetier", "catalog.delete_pricetier",
        "quotes.view_*", "quotes.approve_quote",
        "contracts.*", "billing.*", "recognition.*", "analytics.*",
        "integrations.view_erpexport", "integrations.add_erpexport", "integrations.view_erpexportitem",
    ],
    CUSTOMER_SUCCESS: [
        *_VIEW_SHARED, *_COMMENT,
        "customers.change_customer", "customers.add_contact", "customers.change_contact",
        "quotes.view_*", "quotes.add_*", "quotes.change_*",
        "contracts.view_*", "contracts.change_contract", "contracts.*renewal*",
        "billing.view_*", "analytics.view_*",
    ],
    ADMIN: ["*"],
}


def _matches(perm_label: str, patterns: list[str]) -> bool:
    return any(fnmatchcase(perm_label, p) for p in patterns)


def sync_role_permissions(sender=None, **kwargs) -> None:
    """Grant each role group the permissions its patterns match (additive; idempotent)."""
    from django.contrib.auth.models import Group, Permission

    perms = list(Permission.objects.select_related("content_type"))
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = [p for p in perms if _matches(f"{p.content_type.app_label}.{p.codename}", patterns)]
        group.permissions.add(*wanted)


def roles_of(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_revops_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached.add(ADMIN)
        user._revops_roles = cached
    return cached


def has_role(user, *roles: str) -> bool:
    return bool(roles_of(user) & set(roles))


def is_staff_member(user) -> bool:
    """Any internal role. Portal users (customer contacts) have none."""
    return bool(roles_of(user) & set(STAFF_ROLES))


# Costs (product and meter unit costs, cost of goods, cost to serve, margins, CLV) are for these roles only:
# sales reps, customer success and portal users never see them, wherever they are shown.
COST_ROLES = (FINANCE, SALES_MANAGER, ADMIN)


def can_see_costs(user) -> bool:
    return has_role(user, *COST_ROLES)
