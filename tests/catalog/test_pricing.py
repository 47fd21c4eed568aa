"""The pricing engine on worked examples whose figures are computed by hand in the comments."""
from __future__ import annotations

from decimal import Decimal

import pytest

from catalog import pricing
from catalog.pricing import BreakdownRow, PriceSpec, Tier, calculate
from revops.kernel.errors import ValidationFailed
from tests.catalog.factories import graduated_price, graduated_spec, volume_spec

D = Decimal


class TestGraduated:
    """Tiers 1-10 at 10.00 + flat 2.00, 11-20 at 5.00 + flat 3.00, 21+ at 5.00 + flat 3.00."""

    @pytest.mark.parametrize(
        ("quantity", "expected"),
        [
            (1, "12.00"),    # 1 x 10.00 + 2.00
            (10, "102.00"),  # 10 x 10.00 + 2.00
            (11, "110.00"),  # 102.00 + (1 x 5.00 + 3.00)
            (12, "115.00"),  # 102.00 + (2 x 5.00 + 3.00)
            (21, "163.00"),  # 102.00 + (10 x 5.00 + 3.00) + (1 x 5.00 + 3.00)
        ],
    )
    def test_amounts(self, quantity, expected):
        result = calculate(graduated_spec(), quantity)

        assert result.amount == D(expected)
        assert str(result.amount) == expected
        assert result.currency == "USD"

    def test_zero_quantity_costs_nothing_not_even_the_first_flat_fee(self):
        # Documented convention: a tier's flat fee is charged only when a unit falls in the tier.
        result = calculate(graduated_spec(), 0)

        assert str(result.amount) == "0.00"
        assert result.breakdown == ()

    def test_breakdown_of_21_units_lists_each_tier_reached(self):
        result = calculate(graduated_spec(), 21)

        assert result.breakdown == (
            BreakdownRow(tier=1, quantity=D(10), unit_amount=D("10.00"), flat_amount=D("2.00"), amount=D("102.00")),
            BreakdownRow(tier=2, quantity=D(10), unit_amount=D("5.00"), flat_amount=D("3.00"), amount=D("53.00")),
            BreakdownRow(tier=3, quantity=D(1), unit_amount=D("5.00"), flat_amount=D("3.00"), amount=D("8.00")),
        )

    def test_fractional_quantity_in_the_first_tier(self):
        # 2.5 GB x 10.00 + 2.00 = 27.00
        assert str(calculate(graduated_spec(), D("2.5")).amount) == "27.00"

    @pytest.mark.django_db
    def test_a_saved_price_gives_the_same_figures_as_its_spec(self):
        price = graduated_price()

        assert str(calculate(price, 21).amount) == "163.00"
        assert str(calculate(price, 11).amount) == "110.00"


class TestVolume:
    """1-10,000 at 0.0010; 10,001-100,000 at 0.0006 + flat 10.00; above at 0.0004 + flat 25.00."""

    def test_65000_calls_at_the_rate_of_the_tier_reached_plus_its_flat_fee(self):
        # 65,000 x 0.0006 = 39.00, + 10.00 = 49.00
        result = calculate(volume_spec(), 65_000)

        assert str(result.amount) == "49.00"
        assert result.breakdown == (
            BreakdownRow(tier=2, quantity=D(65_000), unit_amount=D("0.0006"), flat_amount=D("10.00"),
                         amount=D("49.00")),
        )

    @pytest.mark.parametrize(
        ("quantity", "expected"),
        [
            (10_000, "10.00"),    # 10,000 x 0.0010
            (10_001, "16.00"),    # 10,001 x 0.0006 = 6.0006, + 10.00 = 16.0006 -> 16.00
            (100_000, "70.00"),   # 100,000 x 0.0006 + 10.00
            (250_000, "125.00"),  # 250,000 x 0.0004 + 25.00
            (0, "0.00"),
        ],
    )
    def test_each_tier(self, quantity, expected):
        assert str(calculate(volume_spec(), quantity).amount) == expected


class TestSimpleModels:
    def test_per_unit(self):
        # 7 x 12.50 = 87.50
        spec = PriceSpec(model="per_unit", currency="USD", unit_amount=D("12.50"))

        result = calculate(spec, 7)

        assert str(result.amount) == "87.50"
        assert result.breakdown == (
            BreakdownRow(tier=None, quantity=D(7), unit_amount=D("12.50"), flat_amount=D(0), amount=D("87.50")),
        )

    def test_per_unit_with_a_six_place_unit_price_rounds_once_half_up(self):
        # 12,345 x 0.000125 = 1.543125 -> 1.54
        spec = PriceSpec(model="per_unit", currency="USD", unit_amount=D("0.000125"))

        assert str(calculate(spec, 12_345).amount) == "1.54"

    @pytest.mark.parametrize(("quantity", "expected"), [(1, "99.00"), (3, "99.00"), (0, "0.00")])
    def test_flat_charges_once_for_any_positive_quantity(self, quantity, expected):
        spec = PriceSpec(model="flat", currency="USD", flat_amount=D("99.00"))

        assert str(calculate(spec, quantity).amount) == expected

    @pytest.mark.parametrize(
        ("quantity", "packages", "expected"),
        [
            (101, 2, "10.00"),  # 101 units in blocks of 100: 2 started blocks x 5.00
            (100, 1, "5.00"),
            (1, 1, "5.00"),
            (0, 0, "0.00"),
        ],
    )
    def test_package_charges_per_started_block(self, quantity, packages, expected):
        spec = PriceSpec(model="package", currency="USD", unit_amount=D("5.00"), package_size=100)

        result = calculate(spec, quantity)

        assert str(result.amount) == expected
        assert result.breakdown[0].quantity == D(packages)

    def test_percentage_of_a_base_amount(self):
        # 15 % of 1,234.50 = 185.175 -> 185.18
        spec = PriceSpec(model="percentage", currency="USD", percentage=D("15"))

        assert str(calculate(spec, 1, base_amount=D("1234.50")).amount) == "185.18"

    def test_percentage_rounds_half_up_not_half_even(self):
        # 10 % of 1.25 = 0.125 -> 0.13 (half-even would give 0.12)
        spec = PriceSpec(model="percentage", currency="USD", percentage=D("10"))

        assert str(calculate(spec, 1, base_amount=D("1.25")).amount) == "0.13"

    def test_percentage_needs_its_base_amount(self):
        spec = PriceSpec(model="percentage", currency="USD", percentage=D("10"))

        with pytest.raises(ValidationFailed) as exc:
            calculate(spec, 1)

        assert exc.value.fields == {"base_amount": ["required for percentage prices"]}

    def test_negative_quantity_is_refused(self):
        spec = PriceSpec(model="per_unit", currency="USD", unit_amount=D("1.00"))

        with pytest.raises(ValidationFailed) as exc:
            calculate(spec, -1)

        assert exc.value.fields == {"quantity": ["must not be negative"]}

    def test_float_quantity_is_refused(self):
        spec = PriceSpec(model="per_unit", currency="USD", unit_amount=D("1.00"))

        with pytest.raises(TypeError):
            calculate(spec, 0.1)


class TestCurrencyPlaces:
    def test_jpy_has_no_minor_unit(self):
        # 3 x 0.5 JPY = 1.5 -> 2 JPY (half-up, 0 places)
        spec = PriceSpec(model="per_unit", currency="JPY", unit_amount=D("0.5"))

        result = calculate(spec, 3)

        assert str(result.amount) == "2"
        assert result.amount.as_tuple().exponent == 0

    def test_jpy_graduated(self):
        # 1-1,000 at 1.2 JPY, then 0.8 JPY: 1,500 -> 1,200 + 400 = 1,600 JPY; 1,001 -> 1,200 + 0.8 = 1,200.8 -> 1,201
        spec = PriceSpec(model="graduated", currency="JPY",
                         tiers=(Tier(1000, D("1.2")), Tier(None, D("0.8"))))

        assert str(calculate(spec, 1500).amount) == "1600"
        assert str(calculate(spec, 1001).amount) == "1201"

    def test_kwd_has_three_places(self):
        # 3 x 0.0125 KWD = 0.0375 -> 0.038
        spec = PriceSpec(model="per_unit", currency="KWD", unit_amount=D("0.0125"))

        assert str(calculate(spec, 3).amount) == "0.038"

    def test_kwd_rounds_half_up_at_the_third_place(self):
        # 1.2345 -> 1.235 (half-even would give 1.234)
        spec = PriceSpec(model="per_unit", currency="KWD", unit_amount=D("1.2345"))

        assert str(calculate(spec, 1).amount) == "1.235"


class TestBreakdownAddsUp:
    def test_rows_split_the_rounded_total_by_largest_remainder(self):
        # Two rows of exactly 0.005: the total 0.010 rounds to 0.01; rounding each row would give 0.02.
        spec = PriceSpec(model="graduated", currency="USD",
                         tiers=(Tier(1, D("0.005")), Tier(None, D("0.005"))))

        result = calculate(spec, 2)

        assert str(result.amount) == "0.01"
        assert [str(r.amount) for r in result.breakdown] == ["0.01", "0.00"]


class TestValidation:
    def test_tiers_must_ascend_without_overlap(self):
        errors = pricing.tier_errors([Tier(10), Tier(5), Tier(None)])

        assert list(errors) == ["tiers[1].up_to"]
        assert "must be greater than the previous tier's bound (10)" in errors["tiers[1].up_to"][0]

    def test_last_tier_must_be_open(self):
        errors = pricing.tier_errors([Tier(10), Tier(20)])

        assert list(errors) == ["tiers[1].up_to"]
        assert "the last tier must be open-ended" in errors["tiers[1].up_to"][0]

    def test_only_the_last_tier_may_be_open(self):
        errors = pricing.tier_errors([Tier(None), Tier(None)])

        assert errors["tiers[0].up_to"] == ["only the last tier may be open-ended (up_to null)"]

    def test_negative_tier_amounts(self):
        errors = pricing.tier_errors([Tier(None, D("-1"), D("-2"))])

        assert errors == {"tiers[0].unit_amount": ["must not be negative"],
                          "tiers[0].flat_amount": ["must not be negative"]}

    @pytest.mark.parametrize(
        ("spec", "field"),
        [
            (PriceSpec(model="per_unit", currency="USD"), "unit_amount"),
            (PriceSpec(model="flat", currency="USD"), "flat_amount"),
            (PriceSpec(model="package", currency="USD", unit_amount=D("1")), "package_size"),
            (PriceSpec(model="percentage", currency="USD"), "percentage"),
            (PriceSpec(model="percentage", currency="USD", percentage=D("100.01")), "percentage"),
            (PriceSpec(model="graduated", currency="USD"), "tiers"),
            (PriceSpec(model="per_unit", currency="XXY", unit_amount=D("1")), "currency"),
            (PriceSpec(model="per_unit", currency="USD", unit_amount=D("-0.01")), "unit_amount"),
        ],
    )
    def test_price_errors_name_the_field(self, spec, field):
        assert field in pricing.price_errors(spec)

    def test_a_complete_price_has_no_errors(self):
        assert pricing.price_errors(graduated_spec()) == {}
