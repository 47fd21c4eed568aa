"""Catalog write services: every rule refuses with the field named and leaves nothing behind; every
write records its outbox event in the same transaction."""
from __future__ import annotations

from decimal import Decimal

import pytest

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
from revops.kernel.errors import ValidationFailed
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.catalog.factories import (
    GRADUATED_TIERS,
    MeterFactory,
    PriceBookFactory,
    ProductFactory,
    graduated_price,
)

pytestmark = pytest.mark.django_db
D = Decimal


def _price_counts():
    return Price.objects.count(), PriceTier.objects.count(), OutboxEvent.objects.count()


def _tiers():
    return [dict(t) for t in GRADUATED_TIERS]


class TestProducts:
    def test_create_records_product_created(self):
        product = services.product_create(sku="PLAT-1", name="Platform", kind="recurring", ssp=D("49.00"))

        assert product.pk is not None
        assert product.recognition == "ratable"  # default from the kind
        event = OutboxEvent.objects.get(type="product.created")
        assert event.aggregate_id == str(product.pk)
        assert event.payload["sku"] == "PLAT-1"
        assert event.payload["ssp"] == "49.00"

    def test_duplicate_sku_is_refused_naming_sku(self):
        ProductFactory(sku="DUP-1")
        before = Product.objects.count(), OutboxEvent.objects.count()

        with pytest.raises(ValidationFailed) as exc:
            services.product_create(sku="DUP-1", name="Again", kind="one_time")

        assert list(exc.value.fields) == ["sku"]
        assert "already has SKU 'DUP-1'" in exc.value.fields["sku"][0]
        assert (Product.objects.count(), OutboxEvent.objects.count()) == before

    def test_usage_product_needs_a_meter(self):
        with pytest.raises(ValidationFailed) as exc:
            services.product_create(sku="API", name="API calls", kind="usage")

        assert list(exc.value.fields) == ["meter"]
        assert Product.objects.count() == 0

    def test_usage_product_with_meter(self):
        meter = MeterFactory(code="api-calls")

        product = services.product_create(sku="API", name="API calls", kind="usage", meter=meter)

        assert product.recognition == "usage"
        assert OutboxEvent.objects.get(type="product.created").payload["meter"] == "api-calls"

    def test_update_to_a_taken_sku_is_refused_and_nothing_changes(self):
        ProductFactory(sku="A-1")
        other = ProductFactory(sku="B-1", name="Bee")

        with pytest.raises(ValidationFailed) as exc:
            services.product_update(product_id=other.pk, sku="A-1", name="Renamed")

        assert list(exc.value.fields) == ["sku"]
        other.refresh_from_db()
        assert (other.sku, other.name) == ("B-1", "Bee")
        assert not OutboxEvent.objects.filter(type="product.updated").exists()

    def test_update_records_changed_fields(self):
        product = ProductFactory(name="Old")

        services.product_update(product_id=product.pk, name="New", ssp=D("100.00"))

        event = OutboxEvent.objects.get(type="product.updated")
        assert event.payload["changed"] == ["name"]  # ssp was already 100.00
        product.refresh_from_db()
        assert product.name == "New"

    def test_switching_to_usage_without_a_meter_is_refused(self):
        product = ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.product_update(product_id=product.pk, kind="usage")

        assert list(exc.value.fields) == ["meter"]
        product.refresh_from_db()
        assert product.kind == "recurring"

    def test_negative_ssp_and_unknown_currency_are_reported_together(self):
        with pytest.raises(ValidationFailed) as exc:
            services.product_create(sku="X", name="X", kind="one_time", ssp="-1", currency="XXY")

        assert set(exc.value.fields) == {"ssp", "currency"}


class TestMeters:
    def test_sum_meter_needs_a_field(self):
        with pytest.raises(ValidationFailed) as exc:
            services.meter_create(code="storage-gb", name="Storage", aggregation="sum")

        assert list(exc.value.fields) == ["field"]
        assert Meter.objects.count() == 0

    def test_duplicate_code(self):
        MeterFactory(code="api-calls")

        with pytest.raises(ValidationFailed) as exc:
            services.meter_create(code="api-calls", name="Again")

        assert list(exc.value.fields) == ["code"]

    def test_create_records_event(self):
        meter = services.meter_create(code="gb-peak", name="Peak GB", aggregation="max", field="gb", unit="GB")

        assert OutboxEvent.objects.get(type="meter.created").aggregate_id == str(meter.pk)


class TestPriceBooks:
    def test_unknown_currency_is_a_clear_error(self):
        with pytest.raises(ValidationFailed) as exc:
            services.price_book_create(name="Moon", currency="XXY")

        assert exc.value.fields == {"currency": ["unknown currency code 'XXY': use an ISO 4217 code such as USD, "
                                                 "EUR or JPY"]}
        assert PriceBook.objects.count() == 0

    def test_a_new_default_takes_over_from_the_old_one_in_the_same_currency(self):
        old = services.price_book_create(name="List 2025", currency="USD", is_default=True)
        eur = services.price_book_create(name="EU", currency="EUR", is_default=True)

        new = services.price_book_create(name="List 2026", currency="USD", is_default=True)

        old.refresh_from_db()
        eur.refresh_from_db()
        assert (old.is_default, new.is_default, eur.is_default) == (False, True, True)
        event = OutboxEvent.objects.filter(type="price_book.created").last()
        assert event.payload["replaced_default"] == old.pk
        # The hand-over is on the audit trail (a save, not a bulk update).
        assert AuditEntry.objects.filter(object_id=str(old.pk), action="update",
                                         content_type__model="pricebook").exists()

    def test_update_makes_a_book_the_default(self):
        old = services.price_book_create(name="A", currency="GBP", is_default=True)
        other = services.price_book_create(name="B", currency="GBP")

        services.price_book_update(price_book_id=other.pk, is_default=True)

        assert list(PriceBook.objects.filter(currency="GBP", is_default=True)) == [other]
        old.refresh_from_db()
        assert old.is_default is False

    def test_currency_of_a_book_with_prices_cannot_change(self):
        price = graduated_price()

        with pytest.raises(ValidationFailed) as exc:
            services.price_book_update(price_book_id=price.price_book_id, currency="EUR")

        assert list(exc.value.fields) == ["currency"]


class TestPriceCreate:
    def test_graduated_price_with_tiers_and_event(self):
        book = PriceBookFactory(currency="USD")
        product = ProductFactory()

        price = services.price_create(product=product, price_book=book, model="graduated", tiers=_tiers())

        assert price.currency == "USD"  # the book's
        assert [(t.up_to, t.unit_amount, t.flat_amount) for t in price.tiers.all()] == [
            (10, D("10.000000"), D("2.000")), (20, D("5.000000"), D("3.000")), (None, D("5.000000"), D("3.000")),
        ]
        event = OutboxEvent.objects.get(type="price.created")
        assert event.aggregate_type == "catalog.price"
        assert event.aggregate_id == str(price.pk)
        assert event.payload["model"] == "graduated"
        assert event.payload["tiers"] == [
            {"up_to": 10, "unit_amount": "10.00", "flat_amount": "2.00"},
            {"up_to": 20, "unit_amount": "5.00", "flat_amount": "3.00"},
            {"up_to": None, "unit_amount": "5.00", "flat_amount": "3.00"},
        ]

    @pytest.mark.parametrize(
        ("tiers", "field"),
        [
            ([{"up_to": 10}, {"up_to": 5}, {"up_to": None}], "tiers[1].up_to"),  # descending
            ([{"up_to": 10}, {"up_to": 10}, {"up_to": None}], "tiers[1].up_to"),  # overlapping
            ([{"up_to": 10}, {"up_to": 20}], "tiers[1].up_to"),  # last one not open
            ([{"up_to": None}, {"up_to": 20}], "tiers[0].up_to"),  # open one not last
            ([{"up_to": None, "unit_amount": "-1"}], "tiers[0].unit_amount"),
            ([{"up_to": None, "flat_amount": "abc"}], "tiers[0].flat_amount"),
            ([{"unit_amount": "1"}], "tiers[0].up_to"),  # missing bound
            ([{"up_to": None, "flat_amount": "1.005"}], "tiers[0].flat_amount"),  # 3 places in USD
            ([], "tiers"),
        ],
    )
    def test_bad_tiers_are_refused_naming_the_tier_and_nothing_is_saved(self, tiers, field):
        book, product = PriceBookFactory(), ProductFactory()
        before = _price_counts()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=product, price_book=book, model="volume", tiers=tiers)

        assert field in exc.value.fields
        assert _price_counts() == before

    def test_several_errors_are_reported_at_once(self):
        book, product = PriceBookFactory(), ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=product, price_book=book, model="graduated", tiers=[
                {"up_to": 10, "unit_amount": "-1"}, {"up_to": 5}, {"up_to": 20}])

        assert set(exc.value.fields) == {"tiers[0].unit_amount", "tiers[1].up_to", "tiers[2].up_to"}

    def test_currency_must_be_the_books(self):
        book, product = PriceBookFactory(name="US list", currency="USD"), ProductFactory()
        before = _price_counts()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=product, price_book=book, model="per_unit", unit_amount="10",
                                  currency="EUR")

        assert exc.value.fields == {"currency": ["must be the price book's currency: US list is in USD, not EUR"]}
        assert _price_counts() == before

    @pytest.mark.parametrize(
        ("model", "values", "field"),
        [
            ("per_unit", {}, "unit_amount"),
            ("flat", {}, "flat_amount"),
            ("package", {"unit_amount": "5.00"}, "package_size"),
            ("percentage", {}, "percentage"),
            ("per_unit", {"unit_amount": "-0.01"}, "unit_amount"),
            ("per_unit", {"unit_amount": "0.0000001"}, "unit_amount"),  # 7 places
            ("flat", {"flat_amount": "10.001"}, "flat_amount"),
            ("per_unit", {"unit_amount": "1", "tiers": [{"up_to": None}]}, "tiers"),
            ("bogus", {}, "model"),
            ("per_unit", {"unit_amount": "1", "billing_period": "week"}, "billing_period"),
        ],
    )
    def test_fields_the_model_needs(self, model, values, field):
        book, product = PriceBookFactory(), ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=product, price_book=book, model=model, **values)

        assert field in exc.value.fields
        assert Price.objects.count() == 0

    def test_jpy_amounts_have_no_minor_unit(self):
        book, product = PriceBookFactory(currency="JPY"), ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=product, price_book=book, model="flat", flat_amount="1200.50")

        assert exc.value.fields == {"flat_amount": ["must have at most 0 decimal places for JPY"]}
        price = services.price_create(product=product, price_book=book, model="flat", flat_amount="1200")
        assert price.flat_amount == D("1200")

    def test_one_price_per_product_book_and_period(self):
        price = graduated_price()

        with pytest.raises(ValidationFailed) as exc:
            services.price_create(product=price.product, price_book=price.price_book, model="per_unit",
                                  unit_amount="1")

        assert list(exc.value.fields) == ["billing_period"]
        assert Price.objects.count() == 1

    def test_float_money_is_refused(self):
        book, product = PriceBookFactory(), ProductFactory()

        with pytest.raises(TypeError):
            services.price_create(product=product, price_book=book, model="per_unit", unit_amount=0.1)
        assert Price.objects.count() == 0


class TestPriceUpdate:
    def test_replacing_tiers(self):
        price = graduated_price()

        services.price_update(price_id=price.pk, tiers=[{"up_to": 100, "unit_amount": "1.00"},
                                                        {"up_to": None, "unit_amount": "0.50"}])

        assert [(t.up_to, t.unit_amount) for t in price.tiers.all()] == [(100, D("1")), (None, D("0.5"))]
        event = OutboxEvent.objects.get(type="price.updated")
        assert event.payload["changed"] == ["tiers"]

    def test_bad_tiers_leave_the_old_ones(self):
        price = graduated_price()
        before = _price_counts()

        with pytest.raises(ValidationFailed) as exc:
            services.price_update(price_id=price.pk, tiers=[{"up_to": 10}, {"up_to": 5}, {"up_to": None}])

        assert list(exc.value.fields) == ["tiers[1].up_to"]
        assert _price_counts() == before
        assert [t.up_to for t in price.tiers.all()] == [10, 20, None]

    def test_switching_to_per_unit_drops_the_tiers(self):
        price = graduated_price()

        services.price_update(price_id=price.pk, model="per_unit", unit_amount="3.50")

        price.refresh_from_db()
        assert (price.model, price.unit_amount) == ("per_unit", D("3.5"))
        assert price.tiers.count() == 0
        assert OutboxEvent.objects.get(type="price.updated").payload["changed"] == ["model", "tiers", "unit_amount"]

    def test_switching_to_per_unit_without_unit_amount_is_refused(self):
        price = graduated_price()

        with pytest.raises(ValidationFailed) as exc:
            services.price_update(price_id=price.pk, model="per_unit")

        assert list(exc.value.fields) == ["unit_amount"]
        price.refresh_from_db()
        assert price.model == "graduated"
        assert price.tiers.count() == 3

    def test_product_book_and_currency_are_fixed(self):
        price = graduated_price()

        with pytest.raises(ValidationFailed) as exc:
            services.price_update(price_id=price.pk, product=ProductFactory(), currency="EUR")

        assert set(exc.value.fields) == {"product", "currency"}

    def test_no_change_records_no_event(self):
        price = graduated_price()

        services.price_update(price_id=price.pk, tiers=_tiers())

        assert not OutboxEvent.objects.filter(type="price.updated").exists()


class TestBundles:
    def test_create_with_options(self):
        parent, seats, onboarding = ProductFactory(), ProductFactory(), ProductFactory()

        bundle = services.bundle_create(product=parent, description="Growth", options=[
            {"product": seats, "required": True, "default_quantity": 10, "min_quantity": 5, "max_quantity": 50},
            {"product": onboarding},
        ])

        options = list(bundle.options.order_by("position"))
        assert [(o.product, o.required, o.min_quantity, o.default_quantity, o.max_quantity, o.position)
                for o in options] == [
            (seats, True, D(5), D(10), D(50), 0),
            (onboarding, False, D(0), D(1), None, 1),
        ]
        assert OutboxEvent.objects.get(type="bundle.created").aggregate_id == str(bundle.pk)

    @pytest.mark.parametrize(
        ("option", "field"),
        [
            ({"default_quantity": 1, "min_quantity": 2}, "options[0].default_quantity"),
            ({"default_quantity": 5, "max_quantity": 4}, "options[0].default_quantity"),
            ({"required": True, "min_quantity": 0}, "options[0].min_quantity"),
            ({"min_quantity": "-1"}, "options[0].min_quantity"),
        ],
    )
    def test_option_quantities(self, option, field):
        parent, child = ProductFactory(), ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.bundle_create(product=parent, options=[{"product": child, **option}])

        assert field in exc.value.fields
        assert (Bundle.objects.count(), BundleOption.objects.count()) == (0, 0)

    def test_no_self_and_no_duplicate_option(self):
        parent, child = ProductFactory(), ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.bundle_create(product=parent, options=[{"product": parent}, {"product": child},
                                                            {"product": child}])

        assert set(exc.value.fields) == {"options[0].product", "options[2].product"}

    def test_a_product_is_one_bundle(self):
        parent = ProductFactory()
        services.bundle_create(product=parent)

        with pytest.raises(ValidationFailed) as exc:
            services.bundle_create(product=parent)

        assert list(exc.value.fields) == ["product"]

    def test_update_keeps_option_ids_matched_by_product(self):
        parent, a, b, c = ProductFactory(), ProductFactory(), ProductFactory(), ProductFactory()
        bundle = services.bundle_create(product=parent, options=[{"product": a}, {"product": b}])
        kept = bundle.options.get(product=a).pk

        services.bundle_update(bundle_id=bundle.pk, options=[{"product": a, "default_quantity": 3},
                                                             {"product": c}])

        options = {o.product_id: o for o in bundle.options.all()}
        assert set(options) == {a.pk, c.pk}
        assert options[a.pk].pk == kept
        assert options[a.pk].default_quantity == D(3)


class TestProductRules:
    def test_create(self):
        a, b = ProductFactory(), ProductFactory()

        rule = services.product_rule_create(kind="requires", product=a, other_product=b, message="needs B")

        assert rule.pk is not None
        assert OutboxEvent.objects.get(type="product_rule.created").payload["other_product"] == b.pk

    def test_not_self(self):
        a = ProductFactory()

        with pytest.raises(ValidationFailed) as exc:
            services.product_rule_create(kind="excludes", product=a, other_product=a)

        assert list(exc.value.fields) == ["other_product"]
        assert ProductRule.objects.count() == 0

    def test_no_duplicate_and_no_contradiction(self):
        a, b = ProductFactory(), ProductFactory()
        services.product_rule_create(kind="requires", product=a, other_product=b)

        with pytest.raises(ValidationFailed) as duplicate:
            services.product_rule_create(kind="requires", product=a, other_product=b)
        with pytest.raises(ValidationFailed) as contradiction:
            services.product_rule_create(kind="excludes", product=a, other_product=b)

        assert list(duplicate.value.fields) == ["other_product"]
        assert list(contradiction.value.fields) == ["kind"]
        assert ProductRule.objects.count() == 1

    def test_delete_records_event(self):
        a, b = ProductFactory(), ProductFactory()
        rule = services.product_rule_create(kind="requires", product=a, other_product=b)

        services.product_rule_delete(rule_id=rule.pk)

        assert ProductRule.objects.count() == 0
        assert OutboxEvent.objects.get(type="product_rule.deleted").aggregate_id == str(a.pk)


class TestDiscountSchedules:
    def test_create_with_tiers(self):
        schedule = services.discount_schedule_create(
            name="Seats", kind="volume", tiers=[{"from": 50, "discount_percent": "5"},
                                                {"from": 100, "discount_percent": "12.5"}])

        assert [(t.from_value, t.discount_percent) for t in schedule.tiers.all()] == [(D(50), D("5")),
                                                                                     (D(100), D("12.5"))]
        assert OutboxEvent.objects.get(type="discount_schedule.created").payload["tiers"] == [
            {"from": "50", "discount_percent": "5"}, {"from": "100", "discount_percent": "12.5"}]

    @pytest.mark.parametrize(
        ("kind", "tiers", "field"),
        [
            ("volume", [{"from": 100, "discount_percent": 5}, {"from": 50, "discount_percent": 10}], "tiers[1].from"),
            ("volume", [{"from": 10, "discount_percent": 5}, {"from": 10, "discount_percent": 10}], "tiers[1].from"),
            ("volume", [{"from": 10, "discount_percent": "100.5"}], "tiers[0].discount_percent"),
            ("volume", [{"from": 10, "discount_percent": "-1"}], "tiers[0].discount_percent"),
            ("term", [{"from": "12.5", "discount_percent": 5}], "tiers[0].from"),
            ("volume", [], "tiers"),
        ],
    )
    def test_bad_tiers(self, kind, tiers, field):
        with pytest.raises(ValidationFailed) as exc:
            services.discount_schedule_create(name="S", kind=kind, tiers=tiers)

        assert field in exc.value.fields
        assert (DiscountSchedule.objects.count(), DiscountTier.objects.count()) == (0, 0)

    def test_update_replaces_tiers(self):
        schedule = services.discount_schedule_create(name="Term", kind="term",
                                                     tiers=[{"from": 12, "discount_percent": 5}])

        services.discount_schedule_update(schedule_id=schedule.pk, tiers=[{"from": 24, "discount_percent": 10},
                                                                           {"from": 36, "discount_percent": 15}])

        assert [(t.from_value, t.discount_percent) for t in schedule.tiers.all()] == [(D(24), D(10)), (D(36), D(15))]
