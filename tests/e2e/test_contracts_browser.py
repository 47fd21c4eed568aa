"""End-to-end in headless Chromium: a finance user amends a contract — the proration preview appears
inline (htmx, no page load), confirming applies it, and the contract page shows the new version; a
customer-success user works the renewals board and the notification bell.
Screenshots go to var/screenshots/."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from revops.kernel import roles
from revops.kernel.dates import add_months
from revops.kernel.notifications import notify
from tests.factories import CustomerFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def contract(make_user):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    plan = cm.Product.objects.create(
        sku="PLAN", name="Team plan", kind="recurring", recognition="ratable", ssp=Decimal("20")
    )
    cm.Price.objects.create(
        product=plan, price_book=book, model="per_unit", currency="USD", unit_amount=Decimal("20.00")
    )
    owner = make_user(roles.SALES_REP, first_name="Sam", last_name="Seller")
    return contract_create(
        customer=CustomerFactory(name="Acme Corp", currency="USD"),
        start_date=date(2027, 4, 11),
        term_months=12,
        lines=[LineSpec(plan, Decimal(1), Decimal("20.00"))],
        by=owner,
    )


def test_a_finance_user_previews_an_amendment_inline_and_confirms_it(
    page, login, make_user, contract, screenshot_dir
):
    finance = make_user(roles.FINANCE, username="fiona", first_name="Fiona", last_name="Finance")
    login(finance)

    page.goto(f"/contracts/{contract.pk}/")
    expect(page.locator("h1")).to_contain_text(contract.number)
    expect(page.locator("#contract-lines tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Amend").click()
    expect(page.locator("h1")).to_contain_text("Amend")

    # Fill the form and preview: the proration appears inside the page, which is not reloaded.
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("Effective date").fill("2027-04-26")
    page.get_by_label("New unit price of Team plan").fill("30.00")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#amend-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("table.charges tbody tr")).to_have_count(2)
    expect(preview.locator("table.charges tbody tr").nth(0)).to_contain_text("-$10.00")
    expect(preview.locator("table.charges tbody tr").nth(1)).to_contain_text("$15.00")
    expect(preview.locator(".total")).to_have_text("$5.00")
    assert page.evaluate("window.__sameDocument") == "yes"
    page.screenshot(path=str(screenshot_dir / "contract-amend-preview.png"), full_page=True)

    # Confirm: back on the contract page with the new version.
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm amendment").click()
    expect(page.locator(".message-success")).to_contain_text("Amendment 1 applied from 2027-04-26")
    expect(page.locator("#versions-table tbody tr")).to_have_count(2)
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("As of").fill("2027-04-26")
    lines = page.locator("#contract-lines")
    expect(lines.locator(".as-of")).to_have_text("2027-04-26")
    expect(lines.locator("tbody tr")).to_contain_text("$30.00")
    expect(lines.locator("tbody tr")).to_contain_text("v2")
    assert page.evaluate("window.__sameDocument") == "yes"
    expect(page.locator("#amendments")).to_contain_text("$5.00")
    page.screenshot(path=str(screenshot_dir / "contract-after-amendment.png"), full_page=True)


def test_customer_success_works_the_renewals_board_and_the_notification_bell(
    page, login, make_user, contract, screenshot_dir
):
    success = make_user(roles.CUSTOMER_SUCCESS, username="cara", first_name="Cara", last_name="Success")
    today = timezone.localdate()
    plan = contract.lines.get().product
    ending = contract_create(
        customer=CustomerFactory(name="Globex", currency="USD"),
        start_date=add_months(today, -12) + timedelta(days=20),
        term_months=12,
        lines=[LineSpec(plan, Decimal(5), Decimal("20.00"))],
        by=success,
        owner=success,
    )
    notify(
        users=[success],
        kind="renewal_alert",
        message=f"Globex: contract {ending.number} ends soon",
        link=f"/contracts/{ending.pk}/",
        dedupe_key="e2e",
    )
    login(success)
    expect(page.locator(".bell .bell-count")).to_have_text("1 unread")  # loaded by htmx after the page

    page.goto("/contracts/renewals/")
    expect(page.locator("#bucket-30 .tab-count")).to_have_text("1 contract")
    row = page.locator(f'tr[data-contract="{ending.number}"]')
    expect(row).to_contain_text("$1,200.00")  # 5 × 20.00 × 12
    expect(row.locator("td.num").first).to_have_text("19")
    page.screenshot(path=str(screenshot_dir / "contracts-renewals-board.png"), full_page=True)
    with page.expect_navigation():
        row.get_by_role("button", name="Prepare renewal quote").click()
    expect(page.locator(".message-success")).to_contain_text("Renewal quote")
    expect(page.locator(f'tr[data-contract="{ending.number}"]')).not_to_contain_text("Prepare renewal quote")

    page.locator(".bell").click()
    expect(page.locator("h1")).to_have_text("Notifications")
    expect(page.locator(".notification.unread")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "notifications.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Mark read").click()
    expect(page.locator(".notification.unread")).to_have_count(0)
    expect(page.locator(".bell .bell-count")).to_have_count(0)
