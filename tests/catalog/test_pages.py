"""Catalog pages (Django test client): product list with search and filters, product detail with prices,
tiers, bundle options and rules, the "try a quantity" calculator, price books; access and query counts.

Expected amounts are worked out by hand in each test, never by calling the pricing engine.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.models import Bundle, BundleOption, Price, PriceTier, ProductRule
from revops.kernel import roles
from tests.factories import ContactFactory, MeterFactory, PriceBookFactory, PriceFactory, ProductFactory

pytestmark = pytest.mark.django_db

PRODUCTS = reverse("catalog:products")
BOOKS = reverse("catalog:price_books")


def _client(client, user):
    client.force_login(user)
    return client


def graduated_price(**kwargs) -> Price:
    """Units 1-10 at 10.00, 11-50 at 8.00 plus a 20.00 tier fee, above 50 at 5.00."""
    price = PriceFactory(model=Price.Model.GRADUATED, unit_amount=None, **kwargs)
    PriceTier.objects.create(price=price, up_to=10, unit_amount=Decimal("10.00"))
    PriceTier.objects.create(price=price, up_to=None, unit_amount=Decimal("5.00"))
    PriceTier.objects.create(price=price, up_to=50, unit_amount=Decimal("8.00"), flat_amount=Decimal("20.00"))
    return price


def calc(c, price, **params):
    return c.get(reverse("catalog:price_calculate", args=[price.pk]), params, HTTP_HX_REQUEST="true")


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_every_staff_role_sees_the_catalog_pages(client, make_user, role):
    price = graduated_price(
        product=ProductFactory(name="Analytics Platform"), price_book=PriceBookFactory(name="List USD")
    )
    c = _client(client, make_user(role))

    pages = {
        PRODUCTS: "Analytics Platform",
        reverse("catalog:product", args=[price.product_id]): "List USD",
        BOOKS: "List USD",
        reverse("catalog:price_book", args=[price.price_book_id]): "Analytics Platform",
    }
    for url, text in pages.items():
        response = c.get(url)
        assert response.status_code == 200, url
        assert text in response.text, url
    assert "$490.00" in calc(c, price, quantity="60").text


@pytest.mark.parametrize("who", ["no_role", "portal"])
def test_users_without_a_staff_role_get_403_on_every_catalog_page(client, make_user, who):
    user = make_user(username=f"{who}@client.example")
    if who == "portal":
        ContactFactory(portal_user=user)
    price = graduated_price()
    c = _client(client, user)

    urls = [
        PRODUCTS,
        reverse("catalog:product", args=[price.product_id]),
        BOOKS,
        reverse("catalog:price_book", args=[price.price_book_id]),
        reverse("catalog:price_calculate", args=[price.pk]) + "?quantity=60",
    ]
    for url in urls:
        response = c.get(url)
        assert response.status_code == 403, url
        assert "Your account has no role in revops" in response.text
        assert "$490.00" not in response.text


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(PRODUCTS)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- product list ------------------------------------------------------------------------------


def test_products_filter_by_search_kind_and_family(client, sales_rep):
    meter = MeterFactory(code="api-calls")
    ProductFactory(sku="PLAT", name="Platform", family="core", kind="recurring")
    ProductFactory(
        sku="API", name="API calls", family="usage", kind="usage", recognition="usage", meter=meter
    )
    ProductFactory(
        sku="ONB",
        name="Onboarding",
        family="services",
        kind="one_time",
        recognition="point_in_time",
        description="Guided platform setup",
    )
    c = _client(client, sales_rep)

    def skus(**params):
        html = c.get(PRODUCTS, params).text
        return sorted(s for s in ("PLAT", "API", "ONB") if f'<td class="mono">{s}</td>' in html)

    assert skus() == ["API", "ONB", "PLAT"]
    assert skus(q="platform") == ["ONB", "PLAT"]  # ONB by its description
    assert skus(kind="usage") == ["API"]
    assert skus(family="services") == ["ONB"]
    assert skus(kind="recurring", family="usage") == []


def test_the_family_filter_lists_the_families_in_use(client, sales_rep):
    ProductFactory(family="core")
    ProductFactory(family="services")
    ProductFactory(family="")

    html = _client(client, sales_rep).get(PRODUCTS, {"family": "core"}).text

    assert '<option value="core" selected>core</option>' in html
    assert '<option value="services">services</option>' in html


def test_an_htmx_search_returns_the_results_partial(client, sales_rep):
    ProductFactory(sku="PLAT", name="Platform")
    ProductFactory(sku="ONB", name="Onboarding")

    response = _client(client, sales_rep).get(PRODUCTS, {"q": "onb"}, HTTP_HX_REQUEST="true")

    assert response.text.lstrip().startswith('<div id="product-results"')
    assert "Onboarding" in response.text and "Platform" not in response.text
    assert "<html" not in response.text


def test_the_product_list_costs_the_same_queries_for_3_or_40_products(
    client, sales_rep, django_assert_num_queries
):
    def add(n):
        for _ in range(n):
            graduated_price(product=ProductFactory(family="core", meter=MeterFactory()))

    add(3)
    c = _client(client, sales_rep)
    # session, user, roles, families, count, page (meter joined, prices counted)
    with django_assert_num_queries(6):
        small = c.get(PRODUCTS)
    add(37)
    with django_assert_num_queries(6):
        big = c.get(PRODUCTS)

    assert small.status_code == big.status_code == 200
    assert "40 products" in big.text


# --- product detail ----------------------------------------------------------------------------


def test_the_product_shows_its_price_in_each_book_with_model_and_tiers(client, finance_user):
    product = ProductFactory(name="Analytics Platform", sku="ANA", ssp=Decimal("12.500000"))
    graduated_price(product=product, price_book=PriceBookFactory(name="List USD"))
    PriceFactory(
        product=product,
        price_book=PriceBookFactory(name="List EUR", currency="EUR"),
        model=Price.Model.PER_UNIT,
        unit_amount=Decimal("0.000600"),
    )
    PriceFactory(
        product=product,
        price_book=PriceBookFactory(name="List JPY", currency="JPY"),
        model=Price.Model.FLAT,
        unit_amount=None,
        flat_amount=Decimal("1200"),
        active=False,
    )

    html = _client(client, finance_user).get(reverse("catalog:product", args=[product.pk])).text

    assert html.index("List EUR") < html.index("List JPY") < html.index("List USD")  # by currency
    assert "Graduated tiers" in html and "Per unit" in html and "Flat fee" in html
    # tier table, in bound order, with the units each tier covers
    assert html.index("up to 10</td>") < html.index("over 10, up to 50</td>") < html.index("over 50</td>")
    assert '<td class="num">$10.00</td>' in html
    assert '<td class="num">$20.00</td>' in html  # tier 2's flat fee
    assert "€0.0006 per unit" in html  # unit prices keep their places: no rounding in templates
    assert "¥1,200 flat" in html
    assert "Inactive" in html
    assert "$12.50" in html  # the SSP


def test_the_product_shows_bundle_options_and_rules(client, sales_rep):
    suite = ProductFactory(sku="SUITE", name="Suite")
    seats = ProductFactory(sku="SEATS", name="Seats")
    support = ProductFactory(sku="SUPPORT", name="Premium support")
    legacy = ProductFactory(sku="LEGACY", name="Legacy plan")
    bundle = Bundle.objects.create(product=suite)
    BundleOption.objects.create(
        bundle=bundle,
        product=seats,
        required=True,
        default_quantity=Decimal("10"),
        min_quantity=Decimal("5"),
        max_quantity=Decimal("500"),
        position=1,
    )
    BundleOption.objects.create(bundle=bundle, product=support, default_quantity=Decimal("1"), position=2)
    ProductRule.objects.create(
        kind="excludes", product=suite, other_product=legacy, message="Suite replaces it"
    )
    ProductRule.objects.create(kind="requires", product=support, other_product=suite)

    html = _client(client, sales_rep).get(reverse("catalog:product", args=[suite.pk])).text

    options = html[html.index("Bundle options") :]
    assert options.index("Seats") < options.index("Premium support")
    assert '<td class="num">10</td>' in options and '<td class="num">500</td>' in options
    assert "Required" in options and "Optional" in options
    rules = html[html.index("<h2>Rules</h2>") :]
    assert "excludes" in rules and "LEGACY" in rules and "Suite replaces it" in rules
    assert "requires" in rules and "SUPPORT" in rules  # a rule naming the suite on the other side


def test_the_product_detail_query_count_does_not_grow_with_prices(
    client, sales_rep, django_assert_num_queries
):
    product = ProductFactory()
    graduated_price(product=product)
    c = _client(client, sales_rep)
    url = reverse("catalog:product", args=[product.pk])
    # session, user, roles, product, prices, tiers, bundle options, rules
    with django_assert_num_queries(8):
        c.get(url)
    for _ in range(5):
        graduated_price(product=product)
    with django_assert_num_queries(8):
        response = c.get(url)

    assert response.text.count('class="calc"') == 6


# --- calculator ----------------------------------------------------------------------------------


def test_the_calculator_shows_the_graduated_amount_and_breakdown(client, sales_rep):
    price = graduated_price()
    c = _client(client, sales_rep)

    response = calc(c, price, quantity="60")

    html = response.text
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<div id="calc-{price.pk}"')
    # 10 x 10.00 + (40 x 8.00 + 20.00) + 10 x 5.00 = 100.00 + 340.00 + 50.00
    assert '<strong class="amount">$490.00</strong>' in html
    assert "60 units cost" in html
    rows = html[html.index("<tbody>") :]
    assert rows.index("$100.00") < rows.index("$340.00") < rows.index("$50.00")


@pytest.mark.parametrize(
    ("quantity", "amount"),
    [("5", "$50.00"), ("10", "$100.00"), ("10.5", "$124.00"), ("50", "$440.00"), ("0", "$0.00")],
)
def test_graduated_amounts_at_the_tier_edges(client, sales_rep, quantity, amount):
    # 10.5: 100.00 + 0.5 x 8.00 + 20.00 = 124.00;  50: 100.00 + 40 x 8.00 + 20.00 = 440.00
    response = calc(_client(client, sales_rep), graduated_price(), quantity=quantity)

    assert f'<strong class="amount">{amount}</strong>' in response.text


def test_the_calculator_for_other_models(client, sales_rep):
    c = _client(client, sales_rep)
    per_unit = PriceFactory(model="per_unit", unit_amount=Decimal("0.000600"))
    package = PriceFactory(model="package", unit_amount=Decimal("50.00"), package_size=10)
    percentage = PriceFactory(model="percentage", unit_amount=None, percentage=Decimal("15"))
    volume = PriceFactory(model="volume", unit_amount=None)
    PriceTier.objects.create(price=volume, up_to=100, unit_amount=Decimal("2.00"))
    PriceTier.objects.create(price=volume, up_to=None, unit_amount=Decimal("1.50"))
    yen = PriceFactory(
        model="per_unit", unit_amount=Decimal("1200"), price_book=PriceBookFactory(currency="JPY")
    )

    # 12345 x 0.0006 = 7.407 -> 7.41 (half up, once)
    assert "$7.41</strong>" in calc(c, per_unit, quantity="12345").text
    # 25 units = 3 started blocks of 10 x 50.00
    assert "$150.00</strong>" in calc(c, package, quantity="25").text
    # 15 % of 1,000.00
    assert "$150.00</strong>" in calc(c, percentage, quantity="1", base_amount="1000").text
    # 150 units reach the second tier: all at 1.50
    assert "$225.00</strong>" in calc(c, volume, quantity="150").text
    assert "¥3,600</strong>" in calc(c, yen, quantity="3").text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"quantity": "-1"}, "Ensure this value is greater than or equal to 0."),
        ({"quantity": "lots"}, "Enter a number."),
        ({}, "This field is required."),
    ],
)
def test_the_calculator_explains_bad_input(client, sales_rep, params, message):
    response = calc(_client(client, sales_rep), graduated_price(), **params)

    assert response.status_code == 200
    assert message in response.text
    assert "amount" not in response.text.split("calc-result", 1)[1].split("<ul", 1)[0]


def test_a_percentage_price_without_a_base_amount_says_what_is_missing(client, sales_rep):
    price = PriceFactory(model="percentage", unit_amount=None, percentage=Decimal("15"))

    response = calc(_client(client, sales_rep), price, quantity="1")

    assert "a percentage price needs the amount it applies to" in response.text


def test_without_htmx_the_calculator_is_a_whole_page(client, sales_rep):
    price = graduated_price(product=ProductFactory(name="Analytics Platform"))

    response = _client(client, sales_rep).get(
        reverse("catalog:price_calculate", args=[price.pk]), {"quantity": "60"}
    )

    assert "<html" in response.text and "Analytics Platform" in response.text
    assert '<strong class="amount">$490.00</strong>' in response.text


def test_an_unknown_price_is_404(client, sales_rep):
    response = _client(client, sales_rep).get(
        reverse("catalog:price_calculate", args=[999999]), {"quantity": 1}
    )

    assert response.status_code == 404


# --- price books ---------------------------------------------------------------------------------


def test_price_books_list_with_counts(client, finance_user):
    book = PriceBookFactory(name="List USD", is_default=True)
    PriceFactory(price_book=book)
    PriceFactory(price_book=book, active=False)
    PriceBookFactory(name="Partners EUR", currency="EUR", active=False)

    html = _client(client, finance_user).get(BOOKS).text

    rows = html[html.index("<tbody>") :].split("<tr>")[1:]
    assert [("Partners EUR" in r, "List USD" in r) for r in rows] == [
        (True, False),
        (False, True),
    ]  # by currency
    eur, usd = rows
    assert "Default for USD" in usd
    assert '<td class="num">2</td>\n      <td class="num">1</td>' in usd  # prices, active prices
    assert "Inactive" in eur and "Default" not in eur


def test_a_price_book_lists_its_prices_with_terms(client, finance_user, django_assert_num_queries):
    book = PriceBookFactory(name="List USD")
    graduated_price(product=ProductFactory(sku="ANA", name="Analytics"), price_book=book)
    PriceFactory(
        product=ProductFactory(sku="SEAT", name="Seats"), price_book=book, unit_amount=Decimal("25.00")
    )
    PriceFactory(product=ProductFactory(sku="OTHER", name="Elsewhere"))
    c = _client(client, finance_user)
    url = reverse("catalog:price_book", args=[book.pk])

    # session, user, roles, book, count, prices (product joined), tiers
    with django_assert_num_queries(7):
        html = c.get(url).text

    assert "2 prices" in html
    assert html.index("Analytics") < html.index("Seats")
    assert "over 10, up to 50" in html
    assert "$25.00 per unit" in html
    assert "Elsewhere" not in html


def test_the_unit_cost_shows_only_to_the_roles_that_see_costs(client, make_user):
    product = ProductFactory(sku="COSTLY", name="Costly", unit_cost=Decimal("12.34"))
    url = reverse("catalog:product", args=[product.pk])
    for role, shown in ((roles.FINANCE, True), (roles.SALES_MANAGER, True), (roles.ADMIN, True),
                        (roles.SALES_REP, False), (roles.CUSTOMER_SUCCESS, False)):
        client.force_login(make_user(role))
        page = client.get(url).content.decode()
        assert ("Unit cost" in page and "12.34" in page) is shown, role
        assert "COSTLY" in page
