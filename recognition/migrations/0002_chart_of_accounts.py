"""The default chart of accounts (editable in admin), from recognition/chart.py."""
from django.db import migrations


def create(apps, schema_editor):
    from recognition.chart import ensure_default_chart

    ensure_default_chart(apps.get_model("recognition", "Account"))


def remove(apps, schema_editor):
    from recognition.chart import ACCOUNTS

    apps.get_model("recognition", "Account").objects.filter(code__in=[a[0] for a in ACCOUNTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("recognition", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
