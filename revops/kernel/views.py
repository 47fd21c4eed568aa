"""Kernel pages: the home page per role, the health check, and the access rule every staff page uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import wraps

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse

from . import roles

# --- access -------------------------------------------------------------------------------------


def render_no_role(request):
    """The 403 page for a signed-in user without a staff role (a portal contact, or nobody yet)."""
    return render(request, "kernel/no_role.html", status=403)


def staff_required(view=None, *, permission: str | None = None):
    """Staff pages: sign-in, then a staff role (else the no-role 403 page), then `permission` (else 403).

    @staff_required
    def customer_list(request): ...

    @staff_required(permission="customers.add_customer")
    def customer_create(request): ...
    """

    def decorate(func):
        @login_required
        @wraps(func)
        def wrapper(request, *args, **kwargs):
            if not roles.is_staff_member(request.user):
                return render_no_role(request)
            if permission and not request.user.has_perm(permission):
                raise PermissionDenied(f"Your role does not allow this ({permission}).")
            return func(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


# --- home ---------------------------------------------------------------------------------------


@dataclass
class Panel:
    role: str
    title: str
    summary: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    figures: list[tuple[str, int]] = field(default_factory=list)  # (label, count)


# Small selectors for the figures on the panels. The kernel sits below the domain apps, so it looks
# their models up by label instead of importing them.


def customer_count() -> int:
    return apps.get_model("customers", "Customer").objects.count()


def customers_owned_count(*, user) -> int:
    return apps.get_model("customers", "Customer").objects.filter(owner=user).count()


def contact_count() -> int:
    return apps.get_model("customers", "Contact").objects.count()


def active_product_count() -> int:
    return apps.get_model("catalog", "Product").objects.filter(active=True).count()


def active_price_book_count() -> int:
    return apps.get_model("catalog", "PriceBook").objects.filter(active=True).count()


def active_price_count() -> int:
    return apps.get_model("catalog", "Price").objects.filter(active=True).count()


def dead_delivery_count() -> int:
    from .models import EventDelivery

    return EventDelivery.objects.filter(status=EventDelivery.Status.DEAD).count()


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _links(user, *entries: tuple[str, str, str | None]) -> list[tuple[str, str]]:
    """(label, url name, permission or None) -> the links that exist and the user may follow."""
    found = []
    for label, name, perm in entries:
        url = _url(name)
        if url and (perm is None or user.has_perm(perm)):
            found.append((label, url))
    return found


def home_panels(user) -> list[Panel]:
    """One panel per staff role the user holds, in a fixed order."""
    user_roles = roles.roles_of(user)
    customers = ("Customers", "customers:list", None)
    new_customer = ("New customer", "customers:create", "customers.add_customer")
    catalog = ("Catalog", "catalog:products", None)
    books = ("Price books", "catalog:price_books", None)
    panels = []
    if roles.SALES_REP in user_roles:
        panels.append(
            Panel(
                roles.SALES_REP,
                "Sales",
                "Find and set up customer accounts and look up products, prices and bundles.",
                _links(user, customers, new_customer, catalog, books),
                [
                    ("Customers you own", customers_owned_count(user=user)),
                    ("Active products", active_product_count()),
                ],
            )
        )
    if roles.SALES_MANAGER in user_roles:
        panels.append(
            Panel(
                roles.SALES_MANAGER,
                "Sales management",
                "Oversee every account and its contacts; check the catalog your team sells from.",
                _links(user, customers, new_customer, catalog, books),
                [("Customers", customer_count()), ("Active products", active_product_count())],
            )
        )
    if roles.FINANCE in user_roles:
        panels.append(
            Panel(
                roles.FINANCE,
                "Finance",
                "Keep customer billing details right and review the prices in each price book.",
                _links(user, customers, books, catalog),
                [("Active price books", active_price_book_count()), ("Active prices", active_price_count())],
            )
        )
    if roles.CUSTOMER_SUCCESS in user_roles:
        panels.append(
            Panel(
                roles.CUSTOMER_SUCCESS,
                "Customer success",
                "Look after existing accounts: their details, contacts and history.",
                _links(user, customers, catalog),
                [("Customers", customer_count()), ("Contacts", contact_count())],
            )
        )
    if roles.ADMIN in user_roles:
        admin_links = (
            _links(
                user,
                ("Admin site", "admin:index", None),
                ("Outbox events", "admin:kernel_outboxevent_changelist", None),
                ("Event deliveries", "admin:kernel_eventdelivery_changelist", None),
                ("Audit trail", "admin:kernel_auditentry_changelist", None),
                ("Users and roles", "admin:auth_user_changelist", None),
            )
            if user.is_staff
            else []
        )
        summary = "Manage users and roles, and watch the outbox and the audit trail."
        if not user.is_staff:
            summary += " Your account cannot open the admin site yet (staff status is off)."
        panels.append(
            Panel(
                roles.ADMIN,
                "Administration",
                summary,
                admin_links,
                [("Failed event deliveries", dead_delivery_count()), ("Customers", customer_count())],
            )
        )
    return panels


@login_required
def home(request):
    """One home page per role: portal users go to the portal; staff see their role's panels."""
    user_roles = roles.roles_of(request.user)
    if not user_roles & set(roles.STAFF_ROLES) and hasattr(request.user, "portal_contact"):
        return redirect("portal:home") if _url("portal:home") else render_no_role(request)
    if not roles.is_staff_member(request.user):
        return render_no_role(request)
    return render(request, "kernel/home.html", {"panels": home_panels(request.user)})


def healthz(request):
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
