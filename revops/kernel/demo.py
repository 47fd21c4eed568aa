"""Demo users, one per role, for `manage.py seed_demo` (dev and demos only, never production data).

Every demo login uses the password DEMO_PASSWORD. `LOGINS` is what `manage.py demo_logins` prints;
other apps' demo modules may define their own `LOGINS` (the customer portal login lives in
customers/demo.py).

Leaves in ctx.shared:
- "users": {username: User} for every demo staff user;
- "reps": [User], the sales reps that own customers (rep, rep2).
"""
from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User

from . import roles

DEMO_PASSWORD = "revops-demo"  # documented in README.md; the demo data set is for local use only

# (username, first name, last name, role, what to look at first)
STAFF_USERS = [
    ("rep", "Riley", "Park", roles.SALES_REP,
     "Customers: the accounts you own (owner rep), then Catalog for what you can sell"),
    ("rep2", "Sam", "Okafor", roles.SALES_REP, "A second rep: owns the other half of the customers"),
    ("manager", "Morgan", "Reyes", roles.SALES_MANAGER, "Customers across both reps, by segment and region"),
    ("finance", "Fiona", "Laurent", roles.FINANCE,
     "Price books: USD/EUR/GBP/JPY prices in every pricing model"),
    ("success", "Casey", "Nakamura", roles.CUSTOMER_SUCCESS, "Customers and their contacts"),
    ("admin", "Alex", "Admin", roles.ADMIN,
     "/admin/: outbox events and deliveries (redeliver), audit trail, role groups"),
]

# (username, password, role, what to look at first): read by `manage.py demo_logins`.
LOGINS = [(username, DEMO_PASSWORD, role, hint) for username, _f, _l, role, hint in STAFF_USERS]


def seed(ctx) -> None:
    password = make_password(DEMO_PASSWORD)  # hashed once: the slow hasher runs once, not per user
    groups = {g.name: g for g in Group.objects.filter(name__in=roles.STAFF_ROLES)}
    missing = set(roles.STAFF_ROLES) - set(groups)
    if missing:
        raise RuntimeError(f"role groups {sorted(missing)} are missing: run `manage.py migrate` first")
    users: dict[str, User] = {}
    for username, first, last, role, _hint in STAFF_USERS:
        is_admin = role == roles.ADMIN
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first, "last_name": last, "email": f"{username}@revops.example",
                "password": password, "is_staff": is_admin, "is_superuser": is_admin,
            },
        )
        if not created:
            ctx.log(f"  kept the existing user {username!r} (password unchanged)")
        user.groups.add(groups[role])
        users[username] = user
    ctx.shared["users"] = users
    ctx.shared["reps"] = [u for name, u in users.items() if name in ("rep", "rep2")]
    ctx.log(f"  users: {', '.join(users)} (password {DEMO_PASSWORD!r})")


def seed_parts(ctx, module_names: list[str]) -> None:
    """Call `seed(ctx)` of each module named that exists, in order: an app whose areas each add their own
    demo data (`analytics.demo_profitability`, ...) lists them here instead of importing them all."""
    import importlib

    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the module exists but imports something missing: a bug to see
            continue
        module.seed(ctx)
