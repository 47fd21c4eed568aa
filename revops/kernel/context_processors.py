"""Navigation by role for the base layout."""

from django.urls import NoReverseMatch, reverse

from . import roles

# (label, url name, roles that see it); portal users get their own menu.
STAFF_NAV = [
    ("Home", "home", roles.STAFF_ROLES),
    ("Dashboard", "analytics:dashboard", roles.STAFF_ROLES),
    ("Customers", "customers:list", roles.STAFF_ROLES),
    ("Catalog", "catalog:products", roles.STAFF_ROLES),
    ("Price books", "catalog:price_books", roles.STAFF_ROLES),
    ("Quotes", "quotes:list", roles.STAFF_ROLES),
    ("Approvals", "quotes:approvals", (roles.SALES_MANAGER, roles.FINANCE, roles.ADMIN)),
    ("Contracts", "contracts:list", roles.STAFF_ROLES),
    ("Renewals", "contracts:renewals", roles.STAFF_ROLES),
    ("Invoices", "billing:invoices", (roles.FINANCE, roles.ADMIN, roles.CUSTOMER_SUCCESS, roles.SALES_MANAGER)),
    ("Bill runs", "billing:bill_runs", (roles.FINANCE, roles.ADMIN)),
    ("AR aging", "billing:ar_aging", (roles.FINANCE, roles.ADMIN)),
    ("Payments", "billing:payments", (roles.FINANCE, roles.ADMIN, roles.CUSTOMER_SUCCESS)),
    ("Dunning", "billing:dunning", (roles.FINANCE, roles.ADMIN, roles.CUSTOMER_SUCCESS)),
    ("Revenue", "recognition:home", (roles.FINANCE, roles.ADMIN)),
    ("Close", "recognition:periods", (roles.FINANCE, roles.ADMIN)),
    ("Profitability", "analytics:profitability", (roles.FINANCE, roles.ADMIN, roles.SALES_MANAGER)),
    ("Insights", "analytics:insights", (roles.SALES_MANAGER, roles.FINANCE, roles.ADMIN, roles.CUSTOMER_SUCCESS)),
    ("Data health", "analytics:data_health", (roles.FINANCE, roles.ADMIN)),
    ("Webhooks", "integrations:webhooks", (roles.ADMIN,)),
    ("Inbox", "integrations:inbox", (roles.ADMIN,)),
    ("ERP export", "integrations:erp_exports", (roles.FINANCE, roles.ADMIN)),
]


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def _active_url(path: str, urls: list[str]) -> str | None:
    """The most specific nav URL the path is under: /catalog/price-books/3/ is "Price books", not "Catalog"."""
    matches = [url for url in urls if path == url or (url != "/" and path.startswith(url))]
    return max(matches, key=len) if matches else None


def navigation(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    user_roles = roles.roles_of(user)
    items = []
    for label, name, allowed in STAFF_NAV:
        if user_roles & set(allowed):
            url = _url(name)
            if url:
                items.append({"label": label, "url": url, "active": False})
    if roles.ADMIN in user_roles and user.is_staff:
        items.append({"label": "Admin", "url": reverse("admin:index"), "active": False})
    active = _active_url(request.path, [item["url"] for item in items])
    for item in items:
        item["active"] = item["url"] == active
    return {"nav_items": items, "user_roles": sorted(user_roles)}
