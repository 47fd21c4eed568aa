"""/api/v1/ catalog endpoints: the API.md fields, writes through the services, refusals that change
nothing, the price calculator, permissions per role, filters and query counts."""
from __future__ import annotations

import pytest

from catalog import services
from catalog.models import Bundle, BundleOption, DiscountSchedule, Meter, Price, PriceBook, PriceTier, Product
from revops.kernel.models import OutboxEvent
from tests.catalog.factories import (
    GRADUATED_TIERS,
    MeterFactory,
    PriceBookFactory,
    PriceFactory,
    ProductFactory,
    graduated_price,
    volume_api_tiers,
)

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
METERS = "/api/v1/meters/"
PRICE_BOOKS = "/api/v1/price-books/"
PRICES = "/api/v1/prices/"
BUNDLES = "/api/v1/bundles/"
RULES = "/api/v1/product-rules/"
SCHEDULES = "/api/v1/discount-schedules/"


def calculate_url(price) -> str:
    return f"{PRICES}{price.pk}/calculate/"


def _price_counts():
    return Price.objects.count(), PriceTier.objects.count(), OutboxEvent.objects.count()


def _assert_refused(response, field: str, *, code: str = "validation_error") -> dict:
    """400 with the API.md error body naming `field`."""
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert field in body["error"]["fields"], body
    assert isinstance(body["error"]["fields"][field], list) and body["error"]["fields"][field]
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture
def finance(finance_user, api_client_for):
    return api_client_for(finance_user)


@pytest.fixture
def rep(sales_rep, api_client_for):
    return api_client_for(sales_rep)


@pytest.fixture
def admin(admin_user_role, api_client_for):
    return api_client_for(admin_user_role)


@pytest.fixture
def book():
    return PriceBookFactory(name="US list", currency="USD")


def _new_price(product, book, **extra) -> dict:
    return {"product": product.pk, "price_book": book.pk, "model": "per_unit", "unit_amount": "12.50", **extra}


# --- products, meters, price books --------------------------------------------------------------------

class TestProducts:
    def test_list_has_the_contract_fields_with_the_meter_code(self, finance):
        meter = MeterFactory(code="api-calls")
        product = ProductFactory(sku="API", name="API calls", kind="usage", recognition="usage", meter=meter,
                                 ssp="0.0006", unit_cost="0.0001")

        response = finance.get(PRODUCTS)

        assert response.status_code == 200
        assert response.json() == {"count": 1, "next": None, "previous": None, "results": [{
            "id": product.pk, "sku": "API", "name": "API calls", "description": "", "family": "", "kind": "usage",
            "recognition": "usage", "currency": "USD", "ssp": "0.0006", "unit_cost": "0.0001",
            "meter": "api-calls", "active": True, "ssp_residual": False, "distinct": True,
        }]}

    def test_roles_outside_cost_roles_get_no_unit_cost(self, rep, api_client_for, success_user):
        product = ProductFactory(sku="API", name="API calls", unit_cost="4.25")

        for client in (rep, api_client_for(success_user)):
            listed = client.get(PRODUCTS).json()["results"][0]
            one = client.get(f"{PRODUCTS}{product.pk}/").json()
            assert "unit_cost" not in listed and "unit_cost" not in one
            assert listed["sku"] == one["sku"] == "API"  # the rest is there

    def test_filters_search_and_ordering(self, rep):
        meter = MeterFactory(code="storage-gb")
        ProductFactory(sku="B-SEATS", name="Seats")
        ProductFactory(sku="A-STORAGE", name="Storage", kind="usage", meter=meter)
        ProductFactory(sku="C-ONBOARD", name="Onboarding", kind="one_time")

        def skus(query: str) -> list[str]:
            return [p["sku"] for p in rep.get(PRODUCTS + query).json()["results"]]

        assert skus("?kind=usage") == ["A-STORAGE"]
        assert skus("?meter=storage-gb") == ["A-STORAGE"]
        assert skus("?search=seat") == ["B-SEATS"]
        assert skus("?q=onboard") == ["C-ONBOARD"]
        assert skus("?ordering=-sku") == ["C-ONBOARD", "B-SEATS", "A-STORAGE"]

    def test_admin_creates_a_product_through_the_service(self, admin):
        MeterFactory(code="api-calls")

        response = admin.post(PRODUCTS, {"sku": "API", "name": "API calls", "kind": "usage", "meter": "api-calls",
                                         "ssp": "0.0006"}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["sku"], body["recognition"], body["ssp"], body["unit_cost"], body["meter"]) == \
            ("API", "usage", "0.0006", "0.00", "api-calls")
        assert OutboxEvent.objects.get(type="product.created").aggregate_id == str(body["id"])

    def test_duplicate_sku_is_refused_and_nothing_is_saved(self, admin):
        ProductFactory(sku="PLAT")
        before = Product.objects.count(), OutboxEvent.objects.count()

        response = admin.post(PRODUCTS, {"sku": "PLAT", "name": "Again", "kind": "recurring"}, format="json")

        error = _assert_refused(response, "sku")
        assert error["fields"]["sku"] == ["another product already has SKU 'PLAT'"]
        assert (Product.objects.count(), OutboxEvent.objects.count()) == before

    def test_usage_product_without_meter(self, admin):
        response = admin.post(PRODUCTS, {"sku": "U", "name": "Usage", "kind": "usage"}, format="json")

        _assert_refused(response, "meter")
        assert Product.objects.count() == 0

    def test_patch_goes_through_the_service(self, admin):
        product = ProductFactory(name="Old")

        response = admin.patch(f"{PRODUCTS}{product.pk}/", {"name": "New", "active": False}, format="json")

        assert response.status_code == 200, response.content
        assert (response.json()["name"], response.json()["active"]) == ("New", False)
        assert OutboxEvent.objects.get(type="product.updated").payload["changed"] == ["active", "name"]

    def test_put_is_not_offered(self, admin):
        product = ProductFactory()

        response = admin.put(f"{PRODUCTS}{product.pk}/", {"name": "X"}, format="json")

        assert response.status_code == 405


class TestMetersAndPriceBooks:
    def test_meter_list_and_create(self, admin):
        response = admin.post(METERS, {"code": "storage-gb", "name": "Storage", "aggregation": "max",
                                       "field": "gb", "unit": "GB"}, format="json")

        assert response.status_code == 201, response.content
        assert admin.get(METERS).json()["results"] == [{
            "id": response.json()["id"], "code": "storage-gb", "name": "Storage", "aggregation": "max",
            "field": "gb", "unit": "GB",
        }]

    def test_meter_sum_without_field(self, admin):
        _assert_refused(admin.post(METERS, {"code": "x", "name": "X", "aggregation": "sum"}, format="json"), "field")
        assert Meter.objects.count() == 0

    def test_unknown_currency_on_a_price_book(self, admin):
        before = PriceBook.objects.count(), OutboxEvent.objects.count()

        response = admin.post(PRICE_BOOKS, {"name": "Moon list", "currency": "XXY"}, format="json")

        error = _assert_refused(response, "currency")
        assert "unknown currency code 'XXY'" in error["fields"]["currency"][0]
        assert (PriceBook.objects.count(), OutboxEvent.objects.count()) == before

    def test_new_default_book_replaces_the_old_default(self, admin):
        old = PriceBookFactory(name="2025", currency="EUR", is_default=True)

        response = admin.post(PRICE_BOOKS, {"name": "2026", "currency": "EUR", "is_default": True}, format="json")

        assert response.status_code == 201, response.content
        assert response.json() == {"id": response.json()["id"], "name": "2026", "currency": "EUR",
                                   "is_default": True, "active": True}
        old.refresh_from_db()
        assert old.is_default is False
        assert [b["name"] for b in admin.get(PRICE_BOOKS + "?currency=EUR&is_default=true").json()["results"]] == \
            ["2026"]


# --- prices --------------------------------------------------------------------------------------

class TestPriceWrites:
    def test_finance_creates_a_graduated_price_with_tiers(self, finance, book):
        product = ProductFactory()

        response = finance.post(PRICES, {"product": product.pk, "price_book": book.pk, "model": "graduated",
                                         "tiers": GRADUATED_TIERS}, format="json")

        assert response.status_code == 201, response.content
        price = Price.objects.get()
        assert response.json() == {
            "id": price.pk, "product": product.pk, "price_book": book.pk, "model": "graduated",
            "unit_amount": None, "flat_amount": None, "package_size": None, "percentage": None,
            "tiers": [
                {"up_to": 10, "unit_amount": "10.00", "flat_amount": "2.00"},
                {"up_to": 20, "unit_amount": "5.00", "flat_amount": "3.00"},
                {"up_to": None, "unit_amount": "5.00", "flat_amount": "3.00"},
            ],
            "billing_period": "month", "currency": "USD", "active": True,
        }
        assert OutboxEvent.objects.filter(type="price.created", aggregate_id=str(price.pk)).count() == 1

    def test_unit_prices_keep_six_places(self, finance, book):
        response = finance.post(PRICES, _new_price(ProductFactory(), book, unit_amount="0.000125"), format="json")

        assert response.status_code == 201, response.content
        assert response.json()["unit_amount"] == "0.000125"

    def test_jpy_flat_amount_has_no_places(self, finance):
        jpy = PriceBookFactory(currency="JPY")

        response = finance.post(PRICES, {"product": ProductFactory().pk, "price_book": jpy.pk, "model": "flat",
                                         "flat_amount": "1200"}, format="json")

        assert response.status_code == 201, response.content
        assert (response.json()["flat_amount"], response.json()["currency"]) == ("1200", "JPY")

    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({"unit_amount": "-5.00"}, "unit_amount"),  # negative price
            ({"unit_amount": "abc"}, "unit_amount"),  # non-numeric price
            ({"model": "graduated", "unit_amount": None,  # overlapping tiers
              "tiers": [{"up_to": 10, "unit_amount": "1.00"}, {"up_to": 10, "unit_amount": "0.50"},
                        {"up_to": None, "unit_amount": "0.25"}]}, "tiers[1].up_to"),
            ({"model": "graduated", "unit_amount": None,  # last tier not open-ended
              "tiers": [{"up_to": 10, "unit_amount": "1.00"}, {"up_to": 20, "unit_amount": "0.50"}]},
             "tiers[1].up_to"),
            ({"model": "graduated", "unit_amount": None,  # non-numeric bound
              "tiers": [{"up_to": 10}, {"up_to": "abc"}, {"up_to": None}]}, "tiers[1].up_to"),
            ({"model": "volume", "unit_amount": None,  # negative tier amount
              "tiers": [{"up_to": None, "unit_amount": "1.00", "flat_amount": "-2.00"}]}, "tiers[0].flat_amount"),
            ({"currency": "EUR"}, "currency"),  # not the book's currency
            ({"model": "flat", "unit_amount": None}, "flat_amount"),  # missing field for the model
            ({"model": "package"}, "package_size"),
            ({"flat_amount": "1.005", "model": "flat"}, "flat_amount"),  # 3 places in USD
        ],
    )
    def test_bad_input_is_refused_naming_the_field_and_nothing_is_saved(self, finance, book, payload, field):
        product = ProductFactory()
        before = _price_counts()

        response = finance.post(PRICES, _new_price(product, book, **payload), format="json")

        _assert_refused(response, field)
        assert _price_counts() == before

    def test_currency_mismatch_message(self, finance, book):
        response = finance.post(PRICES, _new_price(ProductFactory(), book, currency="EUR"), format="json")

        assert _assert_refused(response, "currency")["fields"] == {
            "currency": ["must be the price book's currency: US list is in USD, not EUR"]}

    def test_patch_replaces_tiers(self, finance):
        price = graduated_price()

        response = finance.patch(f"{PRICES}{price.pk}/", {"tiers": [
            {"up_to": 100, "unit_amount": "1.00"}, {"up_to": None, "unit_amount": "0.80"}]}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["tiers"] == [{"up_to": 100, "unit_amount": "1.00", "flat_amount": "0.00"},
                                            {"up_to": None, "unit_amount": "0.80", "flat_amount": "0.00"}]
        assert OutboxEvent.objects.get(type="price.updated").payload["changed"] == ["tiers"]

    def test_patch_with_bad_tiers_keeps_the_old_ones(self, finance):
        price = graduated_price()
        before = _price_counts()

        response = finance.patch(f"{PRICES}{price.pk}/", {"tiers": [{"up_to": 5}, {"up_to": 3}, {"up_to": None}]},
                                 format="json")

        _assert_refused(response, "tiers[1].up_to")
        assert _price_counts() == before
        assert [t.up_to for t in price.tiers.all()] == [10, 20, None]

    def test_patch_tier_without_bound(self, finance):
        price = graduated_price()

        _assert_refused(finance.patch(f"{PRICES}{price.pk}/", {"tiers": [{"unit_amount": "1"}]}, format="json"),
                        "tiers[0].up_to")


class TestPriceReads:
    def test_filters(self, rep):
        usd, eur = PriceBookFactory(currency="USD"), PriceBookFactory(currency="EUR")
        seats, storage = ProductFactory(), ProductFactory()
        a = PriceFactory(product=seats, price_book=usd)
        b = PriceFactory(product=seats, price_book=eur)
        c = PriceFactory(product=storage, price_book=usd, model="flat", unit_amount=None, flat_amount="9.00")

        def ids(query: str) -> list[int]:
            return sorted(p["id"] for p in rep.get(PRICES + query).json()["results"])

        assert ids(f"?product={seats.pk}") == sorted([a.pk, b.pk])
        assert ids(f"?price_book={usd.pk}") == sorted([a.pk, c.pk])
        assert ids("?model=flat") == [c.pk]
        assert ids("?currency=EUR") == [b.pk]
        assert ids(f"?search={storage.sku}") == [c.pk]

    def test_list_queries_do_not_grow_with_prices(self, rep, django_assert_num_queries):
        graduated_price()

        # token+user, roles, user perms, group perms, count, prices (with product and book), tiers
        with django_assert_num_queries(7):
            assert len(rep.get(PRICES).json()["results"]) == 1

        for _ in range(4):
            graduated_price()
        with django_assert_num_queries(7):
            response = rep.get(PRICES)
        assert len(response.json()["results"]) == 5
        assert all(len(p["tiers"]) == 3 for p in response.json()["results"])

    def test_bundle_and_schedule_lists_prefetch(self, rep, django_assert_num_queries):
        for _ in range(3):
            services.bundle_create(product=ProductFactory(), options=[{"product": ProductFactory()},
                                                                      {"product": ProductFactory()}])
            services.discount_schedule_create(name="S", kind="volume", tiers=[{"from": 1, "discount_percent": 1}])

        with django_assert_num_queries(7):  # auth 4, count, bundles (with product), options
            assert len(rep.get(BUNDLES).json()["results"]) == 3
        with django_assert_num_queries(7):  # auth 4, count, schedules, tiers
            assert len(rep.get(SCHEDULES).json()["results"]) == 3


class TestCalculate:
    def test_graduated_21_units(self, rep):
        price = graduated_price()

        response = rep.post(calculate_url(price), {"quantity": "21"}, format="json")

        assert response.status_code == 200, response.content
        assert response.json() == {"amount": "163.00", "currency": "USD", "breakdown": [
            {"tier": 1, "quantity": "10", "unit_amount": "10.00", "flat_amount": "2.00", "amount": "102.00"},
            {"tier": 2, "quantity": "10", "unit_amount": "5.00", "flat_amount": "3.00", "amount": "53.00"},
            {"tier": 3, "quantity": "1", "unit_amount": "5.00", "flat_amount": "3.00", "amount": "8.00"},
        ]}

    @pytest.mark.parametrize(("quantity", "amount"), [(0, "0.00"), (1, "12.00"), (10, "102.00"), (11, "110.00"),
                                                      (12, "115.00")])
    def test_graduated_figures(self, rep, quantity, amount):
        price = graduated_price()

        assert rep.post(calculate_url(price), {"quantity": quantity}, format="json").json()["amount"] == amount

    def test_volume_65000_calls(self, rep, book):
        price = services.price_create(product=ProductFactory(), price_book=book, model="volume",
                                      tiers=volume_api_tiers())

        response = rep.post(calculate_url(price), {"quantity": "65000"}, format="json")

        assert response.json() == {"amount": "49.00", "currency": "USD", "breakdown": [
            {"tier": 2, "quantity": "65000", "unit_amount": "0.0006", "flat_amount": "10.00", "amount": "49.00"},
        ]}

    def test_package_per_started_block(self, rep, book):
        price = PriceFactory(price_book=book, model="package", unit_amount="5.00", package_size=100)

        response = rep.post(calculate_url(price), {"quantity": "101"}, format="json")

        assert response.json() == {"amount": "10.00", "currency": "USD", "breakdown": [
            {"tier": None, "quantity": "2", "unit_amount": "5.00", "flat_amount": "0.00", "amount": "10.00"},
        ]}

    def test_percentage_with_base_amount(self, success_user, api_client_for, book):
        price = PriceFactory(price_book=book, model="percentage", unit_amount=None, percentage="15")

        # 15 % of 1,234.50 = 185.175 -> 185.18
        response = api_client_for(success_user).post(calculate_url(price), {"quantity": "1", "base_amount": "1234.50"},
                                                     format="json")

        assert response.status_code == 200, response.content
        assert response.json()["amount"] == "185.18"

    def test_percentage_without_base_amount(self, rep, book):
        price = PriceFactory(price_book=book, model="percentage", unit_amount=None, percentage="15")

        _assert_refused(rep.post(calculate_url(price), {"quantity": "1"}, format="json"), "base_amount")

    def test_jpy_and_kwd_places(self, rep):
        jpy = PriceFactory(price_book=PriceBookFactory(currency="JPY"), unit_amount="0.5")
        kwd = PriceFactory(price_book=PriceBookFactory(currency="KWD"), unit_amount="0.0125")

        # 3 x 0.5 JPY = 1.5 -> 2; 3 x 0.0125 KWD = 0.0375 -> 0.038
        assert rep.post(calculate_url(jpy), {"quantity": "3"}, format="json").json()["amount"] == "2"
        assert rep.post(calculate_url(kwd), {"quantity": "3"}, format="json").json()["amount"] == "0.038"

    @pytest.mark.parametrize("quantity", ["abc", "-1", None])
    def test_bad_quantity(self, rep, quantity):
        price = graduated_price()
        before = OutboxEvent.objects.count()

        _assert_refused(rep.post(calculate_url(price), {"quantity": quantity}, format="json"), "quantity")
        assert OutboxEvent.objects.count() == before


class TestPermissions:
    def test_sales_rep_reads_and_calculates_but_cannot_create_a_price(self, rep, book):
        price = graduated_price(book=book)
        before = _price_counts()

        assert rep.get(PRODUCTS).status_code == 200
        assert rep.get(PRICES).status_code == 200
        assert rep.get(f"{PRICES}{price.pk}/").status_code == 200
        assert rep.post(calculate_url(price), {"quantity": "1"}, format="json").status_code == 200
        response = rep.post(PRICES, _new_price(ProductFactory(), book), format="json")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert _price_counts() == before

    def test_finance_creates_a_price(self, finance, book):
        response = finance.post(PRICES, _new_price(ProductFactory(), book), format="json")

        assert response.status_code == 201, response.content
        assert response.json()["unit_amount"] == "12.50"

    def test_finance_cannot_create_a_product(self, finance):
        response = finance.post(PRODUCTS, {"sku": "X", "name": "X", "kind": "one_time"}, format="json")

        assert response.status_code == 403
        assert Product.objects.count() == 0

    def test_user_without_a_role_is_refused(self, make_user, api_client_for):
        client = api_client_for(make_user())
        price = graduated_price()

        assert client.get(PRODUCTS).status_code == 403
        assert client.get(PRICES).status_code == 403
        assert client.post(calculate_url(price), {"quantity": "1"}, format="json").status_code == 403

    def test_no_token_is_401(self, api_client_for):
        price = graduated_price()
        client = api_client_for(None)

        response = client.get(PRICES)

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert client.post(calculate_url(price), {"quantity": "1"}, format="json").status_code == 401


# --- bundles, rules, discount schedules --------------------------------------------------------------

class TestBundles:
    def test_create_with_nested_options(self, admin):
        parent, seats = ProductFactory(sku="GROWTH"), ProductFactory()

        response = admin.post(BUNDLES, {"product": parent.pk, "description": "Growth", "options": [
            {"product": seats.pk, "required": True, "default_quantity": "10", "min_quantity": "5",
             "max_quantity": "50"}]}, format="json")

        assert response.status_code == 201, response.content
        option_id = BundleOption.objects.get().pk
        assert response.json() == {"id": Bundle.objects.get().pk, "product": parent.pk, "product_sku": "GROWTH",
                                   "description": "Growth", "options": [
            {"id": option_id, "product": seats.pk, "required": True, "default_quantity": "10",
             "min_quantity": "5", "max_quantity": "50", "position": 0}]}
        assert [b["id"] for b in admin.get(f"{BUNDLES}?product={parent.pk}").json()["results"]] == \
            [response.json()["id"]]

    def test_default_above_max_is_refused(self, admin):
        parent, seats = ProductFactory(), ProductFactory()

        response = admin.post(BUNDLES, {"product": parent.pk, "options": [
            {"product": seats.pk, "default_quantity": "60", "max_quantity": "50"}]}, format="json")

        _assert_refused(response, "options[0].default_quantity")
        assert (Bundle.objects.count(), BundleOption.objects.count()) == (0, 0)


class TestProductRules:
    def test_create_and_delete(self, admin):
        a, b = ProductFactory(), ProductFactory()

        response = admin.post(RULES, {"kind": "requires", "product": a.pk, "other_product": b.pk,
                                      "message": "A needs B"}, format="json")
        assert response.status_code == 201, response.content
        assert response.json() == {"id": response.json()["id"], "kind": "requires", "product": a.pk,
                                   "other_product": b.pk, "message": "A needs B"}

        assert admin.delete(f"{RULES}{response.json()['id']}/").status_code == 204
        assert OutboxEvent.objects.filter(type="product_rule.deleted").count() == 1

    def test_rule_on_itself_and_duplicates(self, admin):
        a, b = ProductFactory(), ProductFactory()
        admin.post(RULES, {"kind": "excludes", "product": a.pk, "other_product": b.pk}, format="json")

        _assert_refused(admin.post(RULES, {"kind": "excludes", "product": a.pk, "other_product": a.pk},
                                   format="json"), "other_product")
        _assert_refused(admin.post(RULES, {"kind": "excludes", "product": a.pk, "other_product": b.pk},
                                   format="json"), "other_product")


class TestDiscountSchedules:
    def test_tiers_use_the_from_key(self, admin):
        response = admin.post(SCHEDULES, {"name": "Multi-year", "kind": "term", "tiers": [
            {"from": "12", "discount_percent": "5"}, {"from": "24", "discount_percent": "10.5"}]}, format="json")

        assert response.status_code == 201, response.content
        assert response.json() == {"id": DiscountSchedule.objects.get().pk, "name": "Multi-year", "kind": "term",
                                   "product": None, "active": True, "tiers": [
            {"from": "12", "discount_percent": "5"}, {"from": "24", "discount_percent": "10.5"}]}
        assert [s["name"] for s in admin.get(SCHEDULES + "?kind=term").json()["results"]] == ["Multi-year"]
        assert admin.get(SCHEDULES + "?kind=volume").json()["results"] == []

    def test_descending_from_and_percent_above_100(self, admin):
        response = admin.post(SCHEDULES, {"name": "Bad", "kind": "volume", "tiers": [
            {"from": "100", "discount_percent": "5"}, {"from": "50", "discount_percent": "101"}]}, format="json")

        error = _assert_refused(response, "tiers[1].from")
        assert "tiers[1].discount_percent" in error["fields"]
        assert DiscountSchedule.objects.count() == 0


def test_schema_documents_the_catalog(admin):
    response = admin.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/prices/{id}/calculate/" in schema["paths"]
    assert "from" in schema["components"]["schemas"]["DiscountTier"]["properties"]
    assert schema["components"]["schemas"]["Price"]["properties"]["unit_amount"]["type"] == "string"
