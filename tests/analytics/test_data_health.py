"""Data health counts on a constructed data set: each check finds exactly the records planted for it."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from analytics.services import data_health
from billing.models import UsageEvent
from catalog import models as cm
from contracts.models import Contract
from customers.models import Contact
from recognition.models import FxRate
from revops.kernel.dates import add_months
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def planted(make_user):
    today = timezone.localdate()
    owner = make_user("sales_rep")
    c1 = CustomerFactory(name="Alpha", currency="EUR", billing_email="a@alpha.com", external_id="CRM-001")
    c2 = CustomerFactory(name="Alpha Inc", currency="GBP", billing_email="b@Alpha.com", external_id="X-9")
    c3 = CustomerFactory(name="Alfa", billing_email="c@gmail.com", external_id="crm001")
    c4 = CustomerFactory(name="Beta", billing_email="d@gmail.com", external_id="Z-1", owner=owner)
    CustomerFactory(name="Beta Two", billing_email="f@beta.io", external_id="Z-2", size="",
                         acquisition_channel="")
    CustomerFactory(name="Gamma", billing_email="", external_id=None, industry="")
    Contact.objects.create(customer=c4, name="E", email="e@beta.io")
    Contact.objects.create(customer=c3, name="G", email="g@gmail.com")  # free mail: not a duplicate signal
    # products: two without a cost, one without an SSP; bundles, inactive and residual products are exempt
    free_meter = cm.Meter.objects.create(code="free", name="Free", unit_cost=0)
    paid_meter = cm.Meter.objects.create(code="paid", name="Paid", unit_cost=D("0.001"))
    cm.Product.objects.create(sku="OK", name="Fine", kind="recurring", recognition="ratable", ssp=D("100"),
                              unit_cost=D("10"))
    cm.Product.objects.create(sku="NOCOST", name="No cost", kind="recurring", recognition="ratable", ssp=D("50"))
    cm.Product.objects.create(sku="NOSSP", name="No SSP", kind="one_time", recognition="point_in_time",
                              unit_cost=D("5"), currency="JPY")
    cm.Product.objects.create(sku="RESID", name="Residual", kind="one_time", recognition="point_in_time",
                              unit_cost=D("5"), ssp_residual=True)
    cm.Product.objects.create(sku="USE0", name="Usage free", kind="usage", recognition="usage", ssp=D("0.01"),
                              meter=free_meter)
    cm.Product.objects.create(sku="USE1", name="Usage paid", kind="usage", recognition="usage", ssp=D("0.01"),
                              meter=paid_meter)
    cm.Product.objects.create(sku="OLD", name="Retired", kind="recurring", recognition="ratable", active=False)
    bundle = cm.Product.objects.create(sku="BUNDLE", name="Bundle", kind="recurring", recognition="ratable")
    cm.Bundle.objects.create(product=bundle)

    def contract(n, customer, status, owner=None):
        Contract.objects.create(number=f"DH-{n}", customer=customer, currency="USD", status=status, owner=owner,
                                start_date=date(2026, 1, 1), end_date=date(2027, 12, 31))

    contract(1, c1, "active")  # nobody owns it: counted
    contract(2, c2, "active", owner=owner)
    contract(3, c4, "draft")  # the customer has an owner
    contract(4, c3, "expired")  # over
    now = timezone.now()
    UsageEvent.objects.bulk_create(
        [UsageEvent(customer_id=999_999, meter_id=paid_meter.pk, timestamp=now - timedelta(days=1),
                    idempotency_key=f"ghost{k}") for k in range(3)]
        + [UsageEvent(customer_id=999_999, meter_id=paid_meter.pk, timestamp=now - timedelta(days=200),
                      idempotency_key="old-ghost"),
           UsageEvent(customer_id=c1.pk, meter_id=paid_meter.pk, timestamp=now, idempotency_key="real")])
    first_recent = add_months(today.replace(day=1), -2)
    for k in range(3):
        FxRate.objects.create(date=add_months(first_recent, k), currency="EUR", rate=D("1.1"))
    FxRate.objects.create(date=add_months(today, -12), currency="GBP", rate=D("1.3"))  # stale
    return today


def by_key(today):
    return {c["key"]: c for c in data_health.checks(today=today)}


def test_counts(planted):
    checks = by_key(planted)
    assert checks["customers_without_segment"]["count"] == 2
    assert [i["label"] for i in checks["customers_without_segment"]["items"]] == [
        "Beta Two — missing size", "Gamma — missing industry"]
    assert checks["customers_without_channel"]["count"] == 1
    assert checks["products_without_unit_cost"]["count"] == 2
    assert sorted(i["label"] for i in checks["products_without_unit_cost"]["items"]) == [
        "NOCOST — No cost", "USE0 — Usage free"]
    assert checks["products_without_ssp"]["count"] == 1
    dup = checks["duplicate_customers"]
    assert (dup["count"], dup["customers_involved"]) == (3, 5)
    assert [i["label"] for i in dup["items"]] == ["same domain alpha.com: Alpha, Alpha Inc",
                                                  "same domain beta.io: Beta, Beta Two",
                                                  "same external id crm001: Alpha, Alfa"]
    assert checks["contracts_without_owner"]["count"] == 1
    assert checks["contracts_without_owner"]["items"][0]["label"].startswith("DH-1")
    usage = checks["usage_for_unknown_customers"]
    assert (usage["count"], usage["events"], usage["keys"]) == (3, 3, 0)
    assert usage["items"] == [{"id": 999_999, "label": "customer id 999999 (no such customer)", "url": ""}]
    fx = checks["fx_rates_missing"]
    assert fx["count"] == 2
    assert [i["currency"] for i in fx["items"]] == ["GBP", "JPY"]
    assert fx["items"][1]["label"].startswith("JPY: no rate for ")


def test_links_to_fix(planted):
    checks = by_key(planted)
    assert checks["customers_without_segment"]["items"][0]["url"].startswith("/customers/")
    assert checks["contracts_without_owner"]["items"][0]["url"].startswith("/contracts/")
    assert checks["fx_rates_missing"]["fix_url"] == "/admin/recognition/fxrate/"
    summary = data_health.summary(today=planted)
    assert summary["failing"] == 8 and summary["problems"] == 2 + 1 + 2 + 1 + 3 + 1 + 3 + 2


def test_clean_data_passes(db):
    CustomerFactory(billing_email="x@one.com")
    CustomerFactory(billing_email="y@two.com")
    summary = data_health.summary(today=timezone.localdate())
    assert summary["failing"] == 0 and all(c["ok"] for c in summary["checks"])


def test_normalized_external_ids():
    assert data_health.normalize_external_id("CRM-00042") == data_health.normalize_external_id("crm00042")
    assert data_health.normalize_external_id("00042") == data_health.normalize_external_id("42")
