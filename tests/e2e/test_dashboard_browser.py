"""A payment recorded elsewhere shows on an open dashboard within seconds, without a reload."""

from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_new_payment_appears_on_the_open_dashboard(page, login, make_user, finance_user, screenshot_dir):
    from django.utils import timezone

    from billing.services.payments import payment_record

    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))
    customer = CustomerFactory(currency="USD")
    contract_create(customer=customer, start_date=timezone.localdate().replace(day=1), term_months=12,
                    by=finance_user, lines=[LineSpec(seats, D(10), D("10.00"))])
    deliver_pending()
    login(make_user("finance", username="cfo"))
    page.goto("/analytics/")
    expect(page.locator('[data-kpi="mrr"]')).to_have_text("$100.00")
    page.evaluate("window.__noReload = true")
    payment_record(customer=customer, amount="1234.00", currency="USD", by=finance_user)
    expect(page.locator('[data-kpi="collections"]')).to_contain_text("$1,234.00", timeout=4000)
    assert page.evaluate("window.__noReload") is True  # updated in place
    page.screenshot(path=str(screenshot_dir / "analytics-dashboard.png"), full_page=True)
