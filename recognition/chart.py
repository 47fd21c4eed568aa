"""The default chart of accounts: one account per posting role, revenue by the demo catalog's product
families. Created by migration 0002 and re-ensured after every migrate/flush (additive: accounts an
admin added or renamed are left alone)."""

ACCOUNTS = [
    ("1000", "Cash", "asset", "cash", ""),
    ("1100", "Accounts Receivable", "asset", "receivable", ""),
    ("1200", "Unbilled Receivable (contract asset)", "asset", "unbilled", ""),
    ("2100", "Deferred Revenue (contract liability)", "liability", "deferred", ""),
    ("2200", "Tax Payable", "liability", "tax", ""),
    ("2300", "Customer Credit", "liability", "credit", ""),
    ("4000", "Revenue", "revenue", "revenue", ""),
    ("4010", "Revenue — Platform", "revenue", "revenue", "Platform"),
    ("4020", "Revenue — Add-ons", "revenue", "revenue", "Add-ons"),
    ("4030", "Revenue — Services", "revenue", "revenue", "Services"),
    ("4040", "Revenue — Usage", "revenue", "revenue", "Usage"),
    ("4050", "Revenue — Bundles", "revenue", "revenue", "Bundles"),
]


def ensure_default_chart(account_model) -> None:
    """Create the default accounts whose code and role/family are both free (idempotent)."""
    for code, name, kind, role, family in ACCOUNTS:
        if account_model.objects.filter(code=code).exists():
            continue
        if account_model.objects.filter(role=role, family=family).exclude(role="other").exists():
            continue
        account_model.objects.create(code=code, name=name, kind=kind, role=role, family=family)


def ensure_after_migrate(sender=None, **kwargs) -> None:
    from django.apps import apps

    ensure_default_chart(apps.get_model("recognition", "Account"))
