"""Catalog admin: every model has its pages; saves apply the services' rules (tiers cannot overlap in
the admin either) and record the same events."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from catalog import services
from catalog.models import (
    Bundle,
    BundleOption,
    DiscountSchedule,
    DiscountTier,
    Meter,
    Price,
    PriceBook,
    PriceTier,
    Product,
    ProductRule,
)
from revops.kernel.models import OutboxEvent
from tests.catalog.factories import PriceBookFactory, ProductFactory, graduated_price

pytestmark = pytest.mark.django_db

MODELS = [Meter, Product, PriceBook, Price, Bundle, ProductRule, DiscountSchedule]


@pytest.fixture
def client(admin_user_role) -> Client:
    client = Client()
    client.force_login(admin_user_role)
    return client


def _management(prefix: str, total: int, initial: int = 0) -> dict:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def _price_form(product, book, tiers: list[tuple[str, str, str]], **fields) -> dict:
    data = {"product": product.pk, "price_book": book.pk, "model": "graduated", "currency": book.currency,
            "unit_amount": "", "flat_amount": "", "package_size": "", "percentage": "", "billing_period": "month",
            "active": "on", **_management("tiers", len(tiers)), **fields}
    for i, (up_to, unit, flat) in enumerate(tiers):
        data.update({f"tiers-{i}-up_to": up_to, f"tiers-{i}-unit_amount": unit, f"tiers-{i}-flat_amount": flat})
    return data


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_add_pages(client, model):
    graduated_price()
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}"

    assert client.get(reverse(f"{name}_changelist")).status_code == 200
    assert client.get(reverse(f"{name}_add")).status_code == 200


def test_price_change_page_and_product_page_with_its_prices(client):
    price = graduated_price()

    response = client.get(reverse("admin:catalog_product_change", args=[price.product_id]))

    assert response.status_code == 200
    assert reverse("admin:catalog_price_change", args=[price.pk]) in response.content.decode()
    assert client.get(reverse("admin:catalog_price_change", args=[price.pk])).status_code == 200


class TestPriceAdmin:
    def test_descending_tiers_are_refused(self, client):
        product, book = ProductFactory(), PriceBookFactory()

        response = client.post(reverse("admin:catalog_price_add"), _price_form(
            product, book, [("20", "10", "2"), ("10", "5", "3"), ("", "5", "3")]))

        assert response.status_code == 200
        assert "must be greater than the previous tier" in response.content.decode()
        assert (Price.objects.count(), PriceTier.objects.count(), OutboxEvent.objects.count()) == (0, 0, 0)

    def test_overlapping_tiers_are_refused(self, client):
        product, book = ProductFactory(), PriceBookFactory()

        response = client.post(reverse("admin:catalog_price_add"), _price_form(
            product, book, [("10", "10", "2"), ("10", "5", "3"), ("", "5", "3")]))

        assert response.status_code == 200
        assert "Please correct the duplicate data for up_to" in response.content.decode()
        assert (Price.objects.count(), PriceTier.objects.count(), OutboxEvent.objects.count()) == (0, 0, 0)

    def test_editing_a_price_into_overlapping_tiers_keeps_the_old_ones(self, client):
        price = graduated_price()
        tiers = list(price.tiers.all())
        data = _price_form(price.product, price.price_book, [("10", "10", "2"), ("5", "5", "3"), ("", "5", "3")],
                           **_management("tiers", 3, initial=3))
        for i, tier in enumerate(tiers):
            data.update({f"tiers-{i}-id": tier.pk, f"tiers-{i}-price": price.pk})

        response = client.post(reverse("admin:catalog_price_change", args=[price.pk]), data)

        assert response.status_code == 200
        assert "must be greater than the previous tier" in response.content.decode()
        assert [t.up_to for t in price.tiers.all()] == [10, 20, None]
        assert not OutboxEvent.objects.filter(type="price.updated").exists()

    def test_last_tier_must_be_open(self, client):
        product, book = ProductFactory(), PriceBookFactory()

        response = client.post(reverse("admin:catalog_price_add"), _price_form(
            product, book, [("10", "10", "2"), ("20", "5", "3")]))

        assert response.status_code == 200
        assert "the last tier must be open-ended" in response.content.decode()
        assert Price.objects.count() == 0

    def test_currency_must_be_the_books(self, client):
        product, book = ProductFactory(), PriceBookFactory(currency="USD")

        response = client.post(reverse("admin:catalog_price_add"), _price_form(
            product, book, [("", "1", "0")], currency="EUR"))

        assert response.status_code == 200
        assert "must be the price book" in response.content.decode()
        assert Price.objects.count() == 0

    def test_valid_price_is_saved_with_its_tiers_and_event(self, client):
        product, book = ProductFactory(), PriceBookFactory()

        response = client.post(reverse("admin:catalog_price_add"), _price_form(
            product, book, [("10", "10", "2"), ("20", "5", "3"), ("", "5", "3")]))

        assert response.status_code == 302, response.content.decode()[:2000]
        price = Price.objects.get()
        assert [(t.up_to, t.unit_amount, t.flat_amount) for t in price.tiers.all()] == [
            (10, Decimal(10), Decimal(2)), (20, Decimal(5), Decimal(3)), (None, Decimal(5), Decimal(3))]
        assert OutboxEvent.objects.filter(type="price.created", aggregate_id=str(price.pk)).count() == 1


class TestSimpleRecordsSaveThroughServices:
    def test_product_created_records_event(self, client):
        response = client.post(reverse("admin:catalog_product_add"), {
            "sku": "ADM-1", "name": "From admin", "description": "", "family": "", "kind": "one_time",
            "recognition": "point_in_time", "currency": "USD", "ssp": "10", "unit_cost": "0", "meter": "",
            "active": "on", **_management("prices", 0)})

        assert response.status_code == 302, response.content.decode()[:2000]
        assert OutboxEvent.objects.get(type="product.created").payload["sku"] == "ADM-1"

    def test_usage_product_needs_a_meter(self, client):
        response = client.post(reverse("admin:catalog_product_add"), {
            "sku": "ADM-2", "name": "Usage", "kind": "usage", "recognition": "usage", "currency": "USD",
            "unit_cost": "0", "active": "on", **_management("prices", 0)})

        assert response.status_code == 200
        assert "a usage product needs a meter" in response.content.decode()
        assert Product.objects.count() == 0

    def test_a_new_default_book_takes_over(self, client):
        old = services.price_book_create(name="Old", currency="USD", is_default=True)

        response = client.post(reverse("admin:catalog_pricebook_add"),
                               {"name": "New", "currency": "USD", "is_default": "on", "active": "on"})

        assert response.status_code == 302, response.content.decode()[:2000]
        old.refresh_from_db()
        assert old.is_default is False
        assert PriceBook.objects.get(name="New").is_default is True


class TestInlineRules:
    def test_required_bundle_option_needs_a_minimum(self, client):
        parent, child = ProductFactory(), ProductFactory()

        response = client.post(reverse("admin:catalog_bundle_add"), {
            "product": parent.pk, "description": "", **_management("options", 1),
            "options-0-product": child.pk, "options-0-required": "on", "options-0-default_quantity": "1",
            "options-0-min_quantity": "0", "options-0-max_quantity": "", "options-0-position": "0"})

        assert response.status_code == 200
        assert "a required option needs a minimum quantity above 0" in response.content.decode()
        assert (Bundle.objects.count(), BundleOption.objects.count()) == (0, 0)

    def test_discount_tiers_must_ascend(self, client):
        response = client.post(reverse("admin:catalog_discountschedule_add"), {
            "name": "Seats", "kind": "volume", "product": "", "active": "on", **_management("tiers", 2),
            "tiers-0-from_value": "100", "tiers-0-discount_percent": "5",
            "tiers-1-from_value": "50", "tiers-1-discount_percent": "10"})

        assert response.status_code == 200
        assert "tiers must ascend" in response.content.decode()
        assert (DiscountSchedule.objects.count(), DiscountTier.objects.count()) == (0, 0)
