"""The default chart of accounts (editable in admin): one account per posting role, and revenue by
the demo catalog's product families."""
from django.db import migrations

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


def create(apps, schema_editor):
    Account = apps.get_model("recognition", "Account")
    for code, name, kind, role, family in ACCOUNTS:
        Account.objects.get_or_create(code=code, defaults={"name": name, "kind": kind, "role": role, "family": family})


def remove(apps, schema_editor):
    apps.get_model("recognition", "Account").objects.filter(code__in=[a[0] for a in ACCOUNTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("recognition", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
