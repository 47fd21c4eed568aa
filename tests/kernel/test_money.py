"""Money: minor units, the one rounding rule, largest-remainder allocation, formatting."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revops.kernel import money
from revops.kernel.errors import ValidationFailed

D = Decimal
CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "CLP", "GBP"]


@pytest.mark.parametrize(("currency", "places"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("CLP", 0),
                                                  ("KWD", 3), ("BHD", 3), ("TND", 3), ("OMR", 3)])
def test_minor_units_come_from_babel(currency, places):
    assert money.minor_units(currency) == places


@pytest.mark.parametrize("code", ["XYZ", "usd", "US", "", "DOLLARS", "XXX", "XAU", "XTS"])
def test_unknown_currency_is_refused_with_the_field_named(code):
    with pytest.raises(money.UnknownCurrency) as err:
        money.quantize("1", code)
    assert "currency" in err.value.fields
    assert "unknown currency code" in err.value.message


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("0.125", "USD", "0.13"),     # half-up, where Python's default half-even gives 0.12
    ("0.135", "USD", "0.14"),
    ("-0.125", "USD", "-0.13"),   # half away from zero for negatives
    ("2.5", "JPY", "3"),
    ("1199.5", "JPY", "1200"),
    ("1.2345", "KWD", "1.235"),
    ("10", "USD", "10.00"),
])
def test_quantize_rounds_half_up_to_the_minor_unit(amount, currency, expected):
    result = money.quantize(amount, currency)
    assert result == D(expected)
    assert str(result) == expected


def test_floats_are_refused_not_converted():
    with pytest.raises(TypeError):
        money.quantize(0.1, "USD")
    with pytest.raises(TypeError):
        money.to_decimal(1.5)


def test_non_numbers_are_a_validation_error():
    with pytest.raises(ValidationFailed):
        money.to_decimal("abc")
    with pytest.raises(ValidationFailed):
        money.to_decimal("NaN")


def test_allocate_worked_examples():
    assert money.allocate("100.00", [1, 1, 1], "USD") == [D("33.34"), D("33.33"), D("33.33")]
    assert money.allocate("1000", [1, 2], "JPY") == [D("333"), D("667")]
    assert money.allocate("-100.00", [1, 1, 1], "USD") == [D("-33.34"), D("-33.33"), D("-33.33")]
    assert money.allocate("0.05", [1, 1, 1, 1, 1, 1], "USD") == [D("0.01")] * 5 + [D("0.00")]
    assert money.allocate("1.000", [0, 1], "KWD") == [D("0.000"), D("1.000")]


def test_allocate_refuses_bad_weights():
    with pytest.raises(ValidationFailed):
        money.allocate("10", [], "USD")
    with pytest.raises(ValidationFailed):
        money.allocate("10", [0, 0], "USD")
    with pytest.raises(ValidationFailed):
        money.allocate("10", [1, -1], "USD")


amounts = st.decimals(min_value=D("-1000000"), max_value=D("1000000"), places=4, allow_nan=False,
                      allow_infinity=False)
weights = st.lists(st.decimals(min_value=D("0"), max_value=D("100000"), places=3, allow_nan=False,
                               allow_infinity=False), min_size=1, max_size=30).filter(lambda ws: sum(ws) > 0)


@given(total=amounts, ws=weights, currency=st.sampled_from(CURRENCIES))
def test_allocation_always_sums_exactly_to_the_total(total, ws, currency):
    parts = money.allocate(total, ws, currency)
    assert sum(parts, D(0)) == money.quantize(total, currency)
    assert len(parts) == len(ws)


@given(total=amounts, ws=weights, currency=st.sampled_from(CURRENCIES))
def test_each_part_is_within_one_minor_unit_of_its_exact_share(total, ws, currency):
    q = money.quantize(total, currency)
    unit = D(1).scaleb(-money.minor_units(currency))
    parts = money.allocate(total, ws, currency)
    weight_sum = sum(ws, D(0))
    for part, w in zip(parts, ws, strict=True):
        assert abs(part - q * w / weight_sum) < unit
        assert part == money.quantize(part, currency)  # already in minor units


@given(amount=amounts, currency=st.sampled_from(CURRENCIES))
def test_quantize_is_idempotent_and_has_the_currency_places(amount, currency):
    once = money.quantize(amount, currency)
    assert money.quantize(once, currency) == once
    assert -once.as_tuple().exponent == money.minor_units(currency)
    assert abs(once - amount) <= D(1).scaleb(-money.minor_units(currency)) / 2


@pytest.mark.parametrize(("amount", "currency", "locale", "expected"), [
    ("1234.5", "USD", "en_US", "$1,234.50"),
    ("1234.5", "EUR", "de_DE", "1.234,50\xa0€"),
    ("1200", "JPY", "ja_JP", "￥1,200"),
    ("1.25", "KWD", "en_US", "KWD1.250"),
])
def test_format_money_uses_the_currency_places_and_the_locale(amount, currency, locale, expected):
    assert money.format_money(D(amount), currency, locale) == expected


def test_a_true_tie_of_repeating_remainders_goes_to_the_earlier_weight():
    # 1,000,000.00 over 16 : 1,000 : 9: 1,560,975.6097…, 97,560,975.6097… and 878,048.7804… cents. The two
    # .6097… remainders are equal; with 2 cents left the 9 (.78…) gets one, then the earlier 16 — not the
    # 1,000, whose remainder a 28-digit decimal would have rounded a hair higher.
    assert money.allocate(Decimal("1000000"), [16, 1000, 9], "USD") == [
        Decimal("15609.76"), Decimal("975609.75"), Decimal("8780.49")]
