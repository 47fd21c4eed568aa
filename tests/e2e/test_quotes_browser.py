"""End-to-end in headless Chromium: a rep builds a quote (new-quote form, add a product, change a
quantity in the table without a page reload), submits and sends it; the customer opens the link in a
fresh browser context and accepts. Screenshots go to var/screenshots/.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from catalog.models import Bundle, BundleOption, Price
from quotes.models import ApprovalRule, Quote
from quotes.services import editing, lifecycle
from revops.kernel import roles
from tests.factories import CustomerFactory, PriceBookFactory, PriceFactory, ProductFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop():
    """A USD book: Analytics Platform at 40.00 a seat a month, Onboarding 2,500.00 once, and a Starter
    bundle (free itself) with 5–50 seats required and onboarding optional."""
    book = PriceBookFactory(name="List USD", is_default=True)
    platform = ProductFactory(name="Analytics Platform", sku="ANA-PLAT",
                              description="Dashboards and reports for your whole team.")
    onboarding = ProductFactory(name="Onboarding", sku="ONB", kind="one_time", recognition="point_in_time")
    starter = ProductFactory(name="Starter Bundle", sku="START")
    PriceFactory(product=platform, price_book=book, unit_amount=Decimal("40.00"))
    PriceFactory(product=onboarding, price_book=book, model=Price.Model.FLAT, unit_amount=None,
                 flat_amount=Decimal("2500.00"), billing_period="one_time")
    PriceFactory(product=starter, price_book=book, model=Price.Model.FLAT, unit_amount=None,
                 flat_amount=Decimal("0.00"))
    bundle = Bundle.objects.create(product=starter)
    BundleOption.objects.create(bundle=bundle, product=platform, required=True, default_quantity=5, min_quantity=5,
                                max_quantity=50, position=1)
    BundleOption.objects.create(bundle=bundle, product=onboarding, required=False, default_quantity=1,
                                min_quantity=1, max_quantity=1, position=2)
    customer = CustomerFactory(name="Acme Corp", currency="USD")
    return {"platform": platform, "starter": starter, "customer": customer}


def line_row(page, sku: str):
    return page.locator(f'#lines-table tr[data-sku="{sku}"]')


def test_a_rep_builds_submits_and_sends_a_quote_and_the_customer_accepts_it(
        page, login, make_user, shop, browser, live_server, screenshot_dir):
    rep = make_user(roles.SALES_REP, username="rita", first_name="Rita", last_name="Rep")
    login(rep)

    # New quote from the list.
    page.goto("/quotes/")
    expect(page.locator("h1")).to_have_text("Quotes")
    page.get_by_role("link", name="New quote").click()
    page.get_by_label("Customer").select_option(label="Acme Corp (USD)")
    page.get_by_label("Term (months)").fill("12")
    page.get_by_label("Billing frequency").select_option("month")
    with page.expect_navigation():
        page.get_by_role("button", name="Create quote").click()
    expect(page.locator(".message-success")).to_contain_text("created")
    quote = Quote.objects.get()
    expect(page.locator("#quote-header h1")).to_contain_text(quote.number)

    # Add 10 seats: 10 × 40.00 = 400.00 a month, 4,800.00 over 12 months (no page load).
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("Product").select_option(label="Analytics Platform · ANA-PLAT")
    page.locator("#quote-add").get_by_label("Quantity").fill("10")
    page.locator("#quote-add").get_by_role("button", name="Add").click()
    expect(line_row(page, "ANA-PLAT")).to_have_count(1)
    expect(page.locator('[data-total="tcv"]')).to_have_text("$4,800.00")
    expect(page.locator("#quote-alerts")).to_contain_text("Added Analytics Platform.")

    # Change the quantity in the table and leave the field with Tab: 12 × 40.00 × 12 = 5,760.00.
    quantity = line_row(page, "ANA-PLAT").get_by_label("Quantity of Analytics Platform")
    quantity.fill("12")
    quantity.press("Tab")
    expect(page.locator('[data-total="tcv"]')).to_have_text("$5,760.00")
    expect(page.locator('[data-total="mrr"]')).to_have_text("$480.00")
    assert page.evaluate("window.__sameDocument") == "yes"  # the page was not reloaded
    # keyboard: focus went on to the row's discount input and survived the swap
    expect(line_row(page, "ANA-PLAT").get_by_label("Discount % of Analytics Platform")).to_be_focused()

    # A zero quantity is refused beside the input; the totals stay.
    quantity = line_row(page, "ANA-PLAT").get_by_label("Quantity of Analytics Platform")
    quantity.fill("0")
    quantity.press("Enter")
    expect(line_row(page, "ANA-PLAT").locator(".line-errors")).to_contain_text("must be greater than 0")
    expect(page.locator('[data-total="tcv"]')).to_have_text("$5,760.00")
    quantity = line_row(page, "ANA-PLAT").get_by_label("Quantity of Analytics Platform")
    quantity.fill("12")
    quantity.press("Tab")
    expect(line_row(page, "ANA-PLAT").locator(".line-errors")).to_have_count(0)

    # "Why this price" opens from the keyboard.
    line_row(page, "ANA-PLAT").locator("summary").click()
    expect(line_row(page, "ANA-PLAT").locator(".why-steps")).to_contain_text("List price")
    assert page.evaluate("window.__sameDocument") == "yes"
    page.screenshot(path=str(screenshot_dir / "quote-builder.png"), full_page=True)

    # Submit (no approval rule applies: approved at once), then send to get the customer's link.
    with page.expect_navigation():
        page.get_by_role("button", name="Submit").click()
    expect(page.locator("#quote-header .status")).to_have_text("Approved")
    with page.expect_navigation():
        page.get_by_role("button", name="Send to customer").click()
    expect(page.locator("#quote-header .status")).to_have_text("Sent")
    url = page.locator("#acceptance-url").input_value()
    assert re.match(rf"^{re.escape(live_server.url)}/q/[^/]+/$", url)
    page.screenshot(path=str(screenshot_dir / "quote-sent.png"), full_page=True)

    # The customer: a fresh browser context, no login.
    customer_context = browser.new_context(viewport={"width": 1280, "height": 800})
    customer_context.set_default_timeout(10_000)
    try:
        customer = customer_context.new_page()
        customer.goto(url)
        expect(customer.locator("h1")).to_contain_text(quote.number)
        expect(customer.locator(".public-brand")).to_be_visible()
        expect(customer.locator(".mainnav")).to_have_count(0)
        expect(customer.locator('[data-total="tcv"]')).to_have_text("$5,760.00")
        customer.screenshot(path=str(screenshot_dir / "quote-acceptance.png"), full_page=True)
        customer.get_by_label("Full name").fill("Dana Buyer")
        customer.get_by_label("Title").fill("CFO")
        with customer.expect_navigation():
            customer.get_by_role("button", name="Accept quote").click()
        expect(customer.locator("#outcome")).to_contain_text("Accepted by Dana Buyer, CFO")
        expect(customer.get_by_role("button", name="Accept quote")).to_have_count(0)
        customer.screenshot(path=str(screenshot_dir / "quote-accepted.png"), full_page=True)
    finally:
        customer_context.close()

    quote.refresh_from_db()
    assert (quote.status, quote.accepted_by_name, quote.accepted_by_title, quote.accepted_ip) == (
        "accepted", "Dana Buyer", "CFO", "127.0.0.1")
    page.reload()
    expect(page.locator("#quote-header")).to_contain_text("Accepted by Dana Buyer, CFO")
    page.goto("/quotes/")
    expect(page.locator("#quote-table tbody tr")).to_have_count(1)
    expect(page.locator("#quote-table")).to_contain_text("Accepted")
    page.screenshot(path=str(screenshot_dir / "quote-list.png"), full_page=True)


def test_choosing_a_bundle_loads_its_options_and_adds_them_under_it(page, login, make_user, shop, screenshot_dir):
    rep = make_user(roles.SALES_REP, username="rita", first_name="Rita", last_name="Rep")
    quote = editing.quote_create(customer=shop["customer"], owner=rep, term_months=12)
    login(rep)
    page.goto(f"/quotes/{quote.pk}/")
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("Product").select_option(label="Starter Bundle · START")
    options = page.locator(".bundle-options")
    expect(options).to_contain_text("Options of Starter Bundle")
    options.get_by_label("Analytics Platform").fill("8")
    options.get_by_label("Include Onboarding").check()
    page.locator("#quote-add").get_by_role("button", name="Add").click()
    # 8 seats × 40.00 × 12 = 3,840.00 plus onboarding 2,500.00
    expect(page.locator('[data-total="tcv"]')).to_have_text("$6,340.00")
    expect(page.locator("#lines-table tbody tr")).to_have_count(3)
    expect(page.locator("#lines-table tbody tr.line-option")).to_have_count(2)
    expect(page.locator(".bundle-options")).to_have_count(0)  # the add form came back empty
    assert page.evaluate("window.__sameDocument") == "yes"
    page.screenshot(path=str(screenshot_dir / "quote-builder-bundle.png"), full_page=True)


def test_a_manager_approves_from_the_inbox(page, login, make_user, shop, screenshot_dir):
    ApprovalRule.objects.create(name="Discount over 20 %", condition="line_discount_above", threshold=Decimal("20"),
                                approver_group=Group.objects.get(name="sales_manager"), order=1)
    rep = make_user(roles.SALES_REP, username="rita", first_name="Rita", last_name="Rep")
    manager = make_user(roles.SALES_MANAGER, username="max", first_name="Max", last_name="Manager")
    quotes = []
    for owner, discount in ((rep, 25), (manager, 30)):
        quote = editing.quote_create(customer=shop["customer"], owner=owner)
        editing.quote_line_add(quote_id=quote.pk, product_id=shop["platform"].pk, quantity=20, by=owner,
                               discount_percent=discount)
        quotes.append(lifecycle.quote_submit(quote_id=quote.pk, by=owner))
    login(manager)
    page.goto("/quotes/approvals/")
    cards = page.locator(".approval")
    expect(cards).to_have_count(2)
    own = page.locator(f'.approval[data-quote="{quotes[1].pk}"]')
    expect(own).to_contain_text("your own quote")
    expect(own.get_by_role("button", name="Approve")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "quote-approvals.png"), full_page=True)
    card = page.locator(f'.approval[data-quote="{quotes[0].pk}"]')
    card.get_by_label("Comment (optional)").fill("Fine for a new logo")
    with page.expect_navigation():
        card.get_by_role("button", name="Approve").click()
    expect(page.locator(".message-success")).to_contain_text("fully approved")
    expect(page.locator(".approval")).to_have_count(1)
    quotes[0].refresh_from_db()
    assert quotes[0].status == "approved"
