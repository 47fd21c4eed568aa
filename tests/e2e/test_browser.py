"""End-to-end in headless Chromium: a sales rep's day (login, home, live customer search, a customer,
the price calculator) and the 403 page for an account with no role. Screenshots go to var/screenshots/.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from catalog.models import Price, PriceTier
from revops.kernel import roles
from tests.factories import ContactFactory, CustomerFactory, PriceBookFactory, PriceFactory, ProductFactory

pytestmark = pytest.mark.e2e


@pytest.fixture
def demo_data():
    acme = CustomerFactory(
        name="Acme Corp",
        industry="manufacturing",
        size="enterprise",
        region="emea",
        currency="EUR",
        country="DE",
    )
    ContactFactory(customer=acme, name="Ada Buyer", email="ada@acme.example", role="decision_maker")
    CustomerFactory(name="Globex", industry="energy")
    CustomerFactory(name="Initech", industry="software")
    product = ProductFactory(
        name="Analytics Platform",
        sku="ANA-PLAT",
        family="analytics",
        description="Dashboards and reports, priced per seat with volume tiers.",
    )
    price = PriceFactory(
        product=product,
        price_book=PriceBookFactory(name="List USD", is_default=True),
        model=Price.Model.GRADUATED,
        unit_amount=None,
    )
    PriceTier.objects.create(price=price, up_to=10, unit_amount=Decimal("10.00"))
    PriceTier.objects.create(price=price, up_to=50, unit_amount=Decimal("8.00"), flat_amount=Decimal("20.00"))
    PriceTier.objects.create(price=price, up_to=None, unit_amount=Decimal("5.00"))
    return {"acme": acme, "price": price}


def test_a_sales_rep_signs_in_searches_customers_and_prices_a_quantity(
    page, login, make_user, demo_data, screenshot_dir
):
    rep = make_user(roles.SALES_REP, username="rita", first_name="Rita", last_name="Rep")

    # Sign in through the form; land on the home page with the navigation.
    login(rep)
    expect(page.locator("h1")).to_have_text("Welcome, Rita")
    expect(page.locator(".mainnav a.active")).to_have_text("Home")
    expect(page.locator(".mainnav a")).to_have_text(
        ["Home", "Dashboard", "Customers", "Catalog", "Price books", "Quotes", "Contracts", "Renewals"])
    expect(page.locator(".account")).to_contain_text("Sales rep")
    expect(page.locator('.panel[data-role="sales_rep"]')).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "home-sales-rep.png"), full_page=True)

    # Customers: the live search filters the table in place (no full page load).
    page.locator(".mainnav").get_by_role("link", name="Customers").click()
    expect(page.locator("h1")).to_have_text("Customers")
    expect(page.locator("#customer-table tbody tr")).to_have_count(3)
    assert page.evaluate("typeof htmx") == "object"
    page.evaluate("window.__sameDocument = 'yes'")
    page.get_by_label("Search").press_sequentially("acm", delay=40)
    expect(page.locator("#customer-table tbody tr")).to_have_count(1)
    expect(page.locator("#customer-table")).to_contain_text("Acme Corp")
    expect(page.locator(".result-count .count")).to_have_text("1 customer matches")
    expect(page.locator(".result-count").get_by_role("link", name="Clear filters")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/customers/\?q=acm"))  # the search is in the address bar
    assert page.evaluate("window.__sameDocument") == "yes"  # the page was not reloaded
    page.screenshot(path=str(screenshot_dir / "customers-live-search.png"), full_page=True)

    # A customer: segment, contacts and history.
    page.get_by_role("link", name="Acme Corp").click()
    expect(page.locator("h1")).to_have_text("Acme Corp")
    expect(page.locator("#contacts")).to_contain_text("ada@acme.example")
    expect(page.locator(".segment")).to_contain_text("Enterprise")
    expect(page.locator("#history")).to_contain_text("Created")
    page.screenshot(path=str(screenshot_dir / "customer-detail.png"), full_page=True)

    # Catalog: a graduated price and the calculator.
    page.locator(".mainnav").get_by_role("link", name="Catalog").click()
    expect(page.locator(".mainnav a.active")).to_have_text("Catalog")
    page.get_by_role("link", name="Analytics Platform").click()
    price = demo_data["price"]
    card = page.locator(f"#price-{price.pk}")
    expect(card.locator(".table-tiers tbody tr")).to_have_count(3)
    card.get_by_label("Try a quantity").press_sequentially("60", delay=40)
    # 10 x 10.00 + (40 x 8.00 + 20.00) + 10 x 5.00 = 100.00 + 340.00 + 50.00 = 490.00
    result = page.locator(f"#calc-{price.pk}")
    expect(result.locator(".amount")).to_have_text("$490.00")
    expect(result.locator("tbody tr")).to_have_count(3)
    expect(result.locator("tbody tr").nth(1)).to_contain_text("$340.00")

    shot = screenshot_dir / "catalog-price-calculator.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.is_file()
    assert shot.stat().st_size > 0


def test_a_refused_customer_form_shows_the_error_beside_the_field(page, login, make_user, screenshot_dir):
    rep = make_user(roles.SALES_REP)
    login(rep)

    page.goto("/customers/new/")
    page.get_by_label("Name").fill("Umbrella Ltd")
    page.get_by_label("Currency").fill("XYZ")
    with page.expect_navigation():
        page.get_by_role("button", name="Create customer").click()

    field = page.locator(".field.has-error")
    expect(field).to_have_count(1)
    expect(field.locator("label")).to_contain_text("Currency")
    expect(field.locator(".field-errors")).to_have_text("unknown currency code 'XYZ'")
    page.screenshot(path=str(screenshot_dir / "customer-form-error.png"), full_page=True)


def test_a_user_with_no_role_sees_the_403_page(page, login, make_user, screenshot_dir):
    nobody = make_user(username="newcomer")

    login(nobody)
    expect(page.locator("h1")).to_have_text("Your account has no role in revops")
    expect(page.locator(".mainnav")).to_have_count(0)

    response = page.goto("/customers/")
    assert response is not None and response.status == 403
    expect(page.locator("#no-role")).to_be_visible()
    expect(page.locator(".account")).to_contain_text("no role")
    page.screenshot(path=str(screenshot_dir / "no-role-403.png"), full_page=True)
