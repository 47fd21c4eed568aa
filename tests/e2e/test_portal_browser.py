"""End-to-end in headless Chromium: a customer's contact signs in on the normal login page, lands on the
portal overview, opens an invoice, downloads its PDF, and tries another customer's invoice address,
which is the portal's 404 page. Screenshots go to var/screenshots/.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from billing.services import payments
from tests.factories import CustomerFactory
from tests.portal.factories import make_invoice, portal_user

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_a_customer_signs_in_reads_an_invoice_and_cannot_open_another_customers(
        page, login, finance_user, screenshot_dir):
    acme = CustomerFactory(name="Acme Corp", currency="USD")
    globex = CustomerFactory(name="Globex Inc", currency="USD")
    user = portal_user(acme, "ap@acme.example")
    first = make_invoice(acme, "100.00")  # 110.00 with tax
    second = make_invoice(acme, "200.00", "50.00")  # 275.00
    theirs = make_invoice(globex, "300.00")
    payments.payment_record(customer=acme, amount="50.00", currency="USD", reference="WIRE-1001",
                            allocations=[{"invoice": first.pk, "amount": "50.00"}], by=finance_user)

    login(user)

    # The normal login page brings a portal user to the portal overview.
    expect(page).to_have_url(re.compile(r"/portal/$"))
    expect(page.locator("#portal-customer")).to_have_text("Acme Corp")
    expect(page.locator("#balance-due .figure-value")).to_have_text("$335.00")  # 60.00 + 275.00
    expect(page.get_by_role("navigation", name="Portal").get_by_role("link")).to_have_text(
        ["Overview", "Invoices", "Payments", "Usage", "Quotes"])
    expect(page.locator("#recent-invoices tbody tr")).to_have_count(2)
    expect(page.locator("#recent-invoices")).to_contain_text(second.number)
    page.screenshot(path=str(screenshot_dir / "portal-overview.png"), full_page=True)

    # Open the first invoice from the list.
    page.get_by_role("navigation", name="Portal").get_by_role("link", name="Invoices").click()
    expect(page.locator("h1")).to_have_text("Invoices")
    page.get_by_role("link", name=first.number).click()
    expect(page.locator("h1")).to_contain_text(f"Invoice {first.number}")
    expect(page.locator('[data-total="amount_due"]')).to_have_text("$60.00")
    expect(page.locator("#invoice-payments")).to_contain_text("WIRE-1001")
    page.screenshot(path=str(screenshot_dir / "portal-invoice.png"), full_page=True)

    with page.expect_download() as download:
        page.locator("#invoice-pdf").click()
    assert download.value.suggested_filename == f"{first.number}.pdf"

    # Another customer's invoice, by typing its address: the portal's 404 page, nothing of theirs shown.
    response = page.goto(f"/portal/invoices/{theirs.pk}/")
    assert response.status == 404
    expect(page.locator("#not-found h1")).to_have_text("Not found")
    expect(page.locator("body")).not_to_contain_text(theirs.number)
    expect(page.locator("body")).not_to_contain_text("Globex")
    page.screenshot(path=str(screenshot_dir / "portal-not-found.png"), full_page=True)
