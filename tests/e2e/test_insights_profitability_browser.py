"""Profitability, insights and data health in headless Chromium: finance reads the ranked table and the
whale curve, enters a service cost through the page form and sees the totals move; the insights tabs
render; data health lists a planted problem with the link that fixes it."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analytics.services.cost_allocation import service_cost_create
from billing.models import Invoice
from contracts.services.creation import LineSpec, contract_create
from quotes.services.editing import quote_create
from revops.kernel import roles
from tests.analytics.test_profitability_data import post_revenue
from tests.factories import CustomerFactory, PriceBookFactory, PriceFactory, ProductFactory
from tests.portal.factories import make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
WINDOW = "?start=2026-01&end=2026-03"


@pytest.fixture
def three_customers(finance_user):
    """Recognized revenue in Q1 2026: Alpha 1,000.00 (January), Beta 500.00 (February), Gamma 100.00
    (March); no contracts, so no cost of goods; Gamma costs 250.00 of support (January, direct).
    Contribution: Alpha 1,000.00 (100.00 %), Beta 500.00 (100.00 %), Gamma −150.00 (−150.00 %); total
    1,350.00. Whale curve: profit peaks at customer 2 of 3 with 1,500.00 = 111.11 % of the total."""
    alpha = CustomerFactory(name="Alpha Inc", currency="USD")
    beta = CustomerFactory(name="Beta GmbH", currency="USD")
    gamma = CustomerFactory(name="Gamma LLC", currency="USD")
    post_revenue(alpha, date(2026, 1, 28), "1000.00")
    post_revenue(beta, date(2026, 2, 28), "500.00")
    post_revenue(gamma, date(2026, 3, 28), "100.00")
    service_cost_create(period=date(2026, 1, 1), category="support", amount="250.00", currency="USD",
                        customer_id=gamma.pk, by=finance_user)
    return {"alpha": alpha, "beta": beta, "gamma": gamma}


def _ranked(page) -> list[list[str]]:
    return page.locator("#ranked tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].filter((c, i) => i !== 2).map(c => c.innerText.trim()))")


def test_finance_reads_the_ranking_and_the_whale_curve_and_enters_a_cost(page, login, make_user, three_customers,
                                                                        screenshot_dir):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(make_user(roles.FINANCE, username="fran"))
    page.goto(f"/analytics/profitability/{WINDOW}")
    expect(page.locator("h1")).to_have_text("Customer profitability")
    totals = page.locator("h2:text('All customers') + table tbody td")
    expect(totals).to_have_text(["3", "$1,600.00", "$0.00", "$250.00", "$1,350.00", "84.38 %"])
    assert _ranked(page) == [
        ["1", "Alpha Inc", "(none)", "$1,000.00", "$0.00", "$0.00", "$1,000.00", "100.00 %"],
        ["2", "Beta GmbH", "(none)", "$500.00", "$0.00", "$0.00", "$500.00", "100.00 %"],
        ["3", "Gamma LLC", "(none)", "$100.00", "$0.00", "$250.00", "-$150.00", "-150.00 %"],
    ]
    expect(page.locator("#ranked tbody tr.loss")).to_have_count(1)
    expect(page.locator("#whale-peak")).to_contain_text("Profit peaks at customer 2 of 3")
    expect(page.locator("#whale-peak")).to_contain_text("make $1,500.00 (111.11 % of the total contribution)")
    expect(page.locator("#whale-peak")).to_contain_text("take $150.00 back")
    canvas = page.locator("canvas#whale-chart")
    expect(canvas).to_be_visible()
    chart = page.evaluate("""() => {
        const c = Chart.getChart(document.getElementById('whale-chart'));
        return c ? {points: c.data.datasets[0].data.length, peak: c.data.datasets[1].data[0]} : null;
    }""")
    assert chart is not None and chart["points"] == 4  # the origin and the three customers
    assert chart["peak"] == {"x": 66.67, "y": 111.11}
    page.screenshot(path=str(screenshot_dir / "profitability.png"), full_page=True)

    # 200.00 of success costs for Beta in February, through the cost-to-serve page's form.
    page.get_by_role("link", name="Cost to serve").click()
    expect(page.locator("h1")).to_have_text("Cost to serve")
    page.locator("#id_cost-period").fill("2026-02")
    page.locator("#id_cost-category").select_option("success")
    page.locator("#id_cost-amount").fill("200.00")
    page.locator("#id_cost-currency").fill("USD")
    page.locator("#id_cost-driver").select_option("direct")
    page.locator("#id_cost-customer").select_option(label="Beta GmbH")
    with page.expect_navigation():
        page.get_by_role("button", name="Record cost").click()
    expect(page.locator(".message-success")).to_have_text("Service cost recorded.")
    expect(page.locator("#costs tbody tr").first).to_contain_text("Beta GmbH")
    expect(page.locator("#costs tbody tr").first).to_contain_text("$200.00")

    page.goto(f"/analytics/profitability/{WINDOW}")
    expect(totals).to_have_text(["3", "$1,600.00", "$0.00", "$450.00", "$1,150.00", "71.88 %"])
    assert _ranked(page)[1] == ["2", "Beta GmbH", "(none)", "$500.00", "$0.00", "$200.00", "$300.00", "60.00 %"]
    expect(page.locator("#whale-peak")).to_contain_text("make $1,300.00 (113.04 % of the total contribution)")
    assert errors == []


def test_the_insights_tabs_render(page, login, make_user):
    today = timezone.localdate()
    delta = CustomerFactory(name="Delta Co", currency="USD")
    invoice = make_invoice(delta, "100.00")  # 110.00 with tax
    Invoice.objects.filter(pk=invoice.pk).update(due_date=today - timedelta(days=20))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(make_user(roles.SALES_MANAGER, username="mona"))
    page.goto("/analytics/insights/")
    expect(page.locator("h1")).to_have_text("Expansion and pricing insights")
    tabs = page.locator("nav.tabs a.tab")
    expect(tabs).to_have_text(["Recommendations", "Pricing", "Churn risk"])
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Recommendations")
    expect(page.locator("#offers-table tbody")).to_have_text(
        "No offer stands out: no product is more common among similar customers than overall.")

    tabs.get_by_text("Pricing").click()
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Pricing")
    expect(page.locator("#pricing canvas#band-chart")).to_have_count(1)
    expect(page.locator("#win-rate-table")).to_be_visible()
    expect(page.locator("#leakage-table")).to_be_visible()

    tabs.get_by_text("Churn risk").click()
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Churn risk")
    rows = page.locator("#risk-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.locator("td").nth(0)).to_have_text("Delta Co")
    expect(rows).to_contain_text("1 invoice overdue (USD 110.00, oldest 20 days)")
    assert errors == []


def test_data_health_lists_a_planted_problem_with_its_fix_link(page, login, make_user):
    nameless = CustomerFactory(name="Nameless Ltd", size="", currency="USD")
    CustomerFactory(name="Complete Corp", currency="USD")
    login(make_user(roles.SALES_REP, username="sid"))
    page.goto("/analytics/data-health/")
    expect(page.locator("h1")).to_have_text("Data health")
    row = page.locator("#check-customers_without_segment")
    expect(row.locator("td.num")).to_have_text("1")
    expect(row.locator(".badge-warn")).to_have_text("1")
    expect(row.get_by_role("link", name="Edit the customers")).to_have_attribute("href", "/customers/")
    expect(page.locator("#check-customers_without_channel .badge-ok")).to_have_text("OK")
    example = row.get_by_role("link", name="Nameless Ltd — missing size")
    with page.expect_navigation():
        example.click()
    assert page.url.endswith(f"/customers/{nameless.pk}/edit/")
    expect(page.locator("h1")).to_contain_text("Nameless Ltd")


def test_the_quote_builder_shows_the_next_best_offer(page, login, make_user, finance_user):
    """SMB · software: Target holds A; s1 A + B (100.00 a month), s2 A + B (300.00), s3 A; enterprise ·
    retail o1 holds C. Holders 5; similar to Target (share A): s1, s2, s3. B: 2 of 3 similar vs 2 of 5
    overall → lift (2/3) ÷ (2/5) = 1.67, expected MRR median(100, 300) = 200.00. C: no similar holder."""
    start = timezone.localdate().replace(day=1)
    book = PriceBookFactory(name="List USD", is_default=True)
    a, b, c = (ProductFactory(sku=sku, name=f"Product {sku}") for sku in "ABC")
    for product in (a, b, c):
        PriceFactory(product=product, price_book=book, unit_amount=D("10.00"))

    def holds(customer, *lines):
        contract_create(customer=customer, start_date=start, term_months=12, by=finance_user,
                        lines=[LineSpec(p, D(1), D(amount)) for p, amount in lines])

    rep = make_user(roles.SALES_REP, username="rae")
    target = CustomerFactory(name="Target Co", owner=rep)
    holds(target, (a, "40"))
    holds(CustomerFactory(), (a, "40"), (b, "100"))
    holds(CustomerFactory(), (a, "40"), (b, "300"))
    holds(CustomerFactory(), (a, "40"))
    holds(CustomerFactory(size="enterprise", industry="retail"), (c, "10"))
    quote = quote_create(customer=target, owner=rep)

    login(rep)
    page.goto(f"/quotes/{quote.pk}/")
    box = page.locator("#quote-suggestions")
    expect(box.locator("h2")).to_have_text("Suggestions for Target Co")
    offers = box.locator("ul.plain > li")
    expect(offers).to_have_count(1)
    expect(offers.first).to_contain_text("B Product B — lift 1.67, expected MRR $200.00")
    expect(offers.first).to_contain_text("2 of 3 similar customers (SMB · software, sharing any of A) have B, "
                                         "vs 2 of 5 customers overall: lift 1.67")
