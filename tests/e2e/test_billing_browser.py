"""End-to-end in headless Chromium: a finance user starts a bill run from the page, finds the new
invoices awaiting approval, approves them in bulk, issues one, opens its page and records a payment
(a refused amount first: the message beside the field, nothing recorded).
Screenshots go to var/screenshots/."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import FinanceApprovalRule, Invoice, TaxRate
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from revops.kernel import roles
from tests.factories import CustomerFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def contracts(make_user, settings, tmp_path):
    """Three customers on 10, 5 and 2 seats at 10.00 from 2027-01-01; US tax 10%; every customer's first
    invoice waits for finance."""
    settings.MEDIA_ROOT = tmp_path  # the issued invoice's PDF
    TaxRate.objects.create(name="US sales tax", country="US", percent=Decimal("10"))
    FinanceApprovalRule.objects.create(name="First invoice", condition=FinanceApprovalRule.Condition.FIRST_INVOICE)
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable",
                                      ssp=Decimal("10"))
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="USD",
                            unit_amount=Decimal("10.00"))
    owner = make_user(roles.SALES_REP)
    return [
        contract_create(customer=CustomerFactory(name=name, country="US"), start_date=date(2027, 1, 1),
                        term_months=12, lines=[LineSpec(seats, Decimal(n), Decimal("10.00"))], by=owner)
        for name, n in (("Acme Corp", 10), ("Bolt Labs", 5), ("Cirrus Ltd", 2))
    ]


def test_a_finance_user_runs_bills_approves_in_bulk_and_issues_one(page, login, make_user, contracts,
                                                                  screenshot_dir):
    finance = make_user(roles.FINANCE, username="fiona", first_name="Fiona", last_name="Finance")
    login(finance)

    # Start a bill run from the page: it runs its chunks and lands on the run's page.
    page.goto("/billing/bill-runs/")
    page.get_by_label("Bill as of").fill("2027-01-01")
    with page.expect_navigation():
        page.get_by_role("button", name="Start bill run").click()
    expect(page.locator(".message-success")).to_contain_text("as of 2027-01-01 started")
    expect(page.locator("#run-progress .run-status")).to_have_text("Done")
    expect(page.locator("#invoices-created")).to_have_text("3")
    totals = page.locator("#run-totals tbody tr td")
    expect(totals).to_have_text(["USD", "3", "$170.00", "$17.00", "$187.00"])
    expect(page.locator("#run-invoice-table tbody tr")).to_have_count(3)
    page.screenshot(path=str(screenshot_dir / "billing-bill-run.png"), full_page=True)

    # The invoices list says three wait for approval; the queue lists them with the reason.
    page.get_by_role("link", name="Its invoices in the list").click()
    expect(page.locator("#invoice-table tbody tr")).to_have_count(3)
    with page.expect_navigation():
        page.locator("#queue-link").click()
    expect(page.locator("h1")).to_have_text("Invoices awaiting approval")
    rows = page.locator("#queue-table tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("the customer's first invoice")

    # Approve all three at once.
    page.get_by_label("Select all on this page").check()
    expect(page.locator("input[name=invoice]:checked")).to_have_count(3)
    page.screenshot(path=str(screenshot_dir / "billing-approval-queue.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Approve selected").click()
    expect(page.locator(".message-success")).to_have_text("Approved 3 invoices; they are ready to issue.")
    expect(page.locator("#queue-table")).to_have_count(0)
    assert set(Invoice.objects.values_list("status", flat=True)) == {"approved"}

    # Issue Acme's invoice from the ready-to-issue queue.
    page.get_by_role("link", name="Ready to issue").click()
    acme = Invoice.objects.get(customer__name="Acme Corp")
    page.locator(f"#pick-{acme.pk}").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Issue selected").click()
    number = f"INV-{timezone.localdate().year}-000001"
    expect(page.locator(".message-success")).to_have_text(f"Issued 1 invoice: {number}.")
    expect(page.locator("#queue-table tbody tr")).to_have_count(2)

    # Its page: number, status, figures, lines, the rendered PDF, and the history.
    page.goto("/billing/invoices/?status=open")
    page.get_by_role("link", name=number).click()
    expect(page.locator("#invoice-number")).to_have_text(number)
    expect(page.locator("h1 .invoice-status")).to_have_text("Issued")
    expect(page.locator("#total")).to_have_text("$110.00")
    expect(page.locator("#due")).to_have_text("$110.00")
    expect(page.locator("#lines-table tbody tr")).to_have_count(1)
    expect(page.locator("#lines-table tbody tr td").last).to_have_text("$100.00")
    expect(page.locator("#pdf-status")).to_contain_text("Rendered")
    expect(page.locator("#approval-reasons")).to_have_text("the customer's first invoice")
    expect(page.locator("#history")).to_contain_text("Issued")
    expect(page.locator("#history")).to_contain_text("by Fiona Finance")
    page.screenshot(path=str(screenshot_dir / "billing-invoice.png"), full_page=True)

    # Record a payment: too much is refused beside the amount; a part payment updates the figures.
    page.get_by_text("Record a payment", exact=True).click()
    page.locator("#payment-form").get_by_label("Amount").fill("200.00")
    page.get_by_label("Reference").fill("WIRE-1")
    with page.expect_navigation():
        page.get_by_role("button", name="Record payment").click()
    expect(page.locator("#id_amount_errors")).to_contain_text("at most 110.00")
    expect(page.locator("#due")).to_have_text("$110.00")
    page.locator("#payment-form").screenshot(path=str(screenshot_dir / "billing-payment-refused.png"))
    page.locator("#payment-form").get_by_label("Amount").fill("40.00")
    with page.expect_navigation():
        page.get_by_role("button", name="Record payment").click()
    expect(page.locator(".message-success")).to_have_text("Payment of $40.00 recorded; $70.00 is still due.")
    expect(page.locator("h1 .invoice-status")).to_have_text("Partially paid")
    expect(page.locator("#paid")).to_have_text("$40.00")
    expect(page.locator("#due")).to_have_text("$70.00")
    expect(page.locator("#payments tbody tr")).to_contain_text("WIRE-1")
