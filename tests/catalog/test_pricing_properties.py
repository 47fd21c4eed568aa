"""Invariants of the pricing engine, checked with hypothesis over generated prices and quantities."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.pricing import PriceSpec, Tier, calculate
from revops.kernel import money

CURRENCIES = ["USD", "EUR", "JPY", "KWD", "BHD", "CLP"]

unit_amounts = st.decimals(min_value=0, max_value=1000, places=6, allow_nan=False, allow_infinity=False)
flat_amounts = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
quantities = st.one_of(
    st.integers(min_value=0, max_value=1_000_000).map(Decimal),
    st.decimals(min_value=0, max_value=100_000, places=6, allow_nan=False, allow_infinity=False),
)


@st.composite
def tier_lists(draw) -> tuple[Tier, ...]:
    bounds = sorted(draw(st.sets(st.integers(min_value=1, max_value=200_000), min_size=0, max_size=5)))
    tiers = [Tier(b, draw(unit_amounts), draw(flat_amounts)) for b in bounds]
    tiers.append(Tier(None, draw(unit_amounts), draw(flat_amounts)))
    return tuple(tiers)


@st.composite
def price_specs(draw) -> PriceSpec:
    currency = draw(st.sampled_from(CURRENCIES))
    model = draw(st.sampled_from(["flat", "per_unit", "graduated", "volume", "package"]))
    if model == "flat":
        return PriceSpec(model=model, currency=currency, flat_amount=draw(flat_amounts))
    if model == "per_unit":
        return PriceSpec(model=model, currency=currency, unit_amount=draw(unit_amounts))
    if model == "package":
        return PriceSpec(model=model, currency=currency, unit_amount=draw(unit_amounts),
                         package_size=draw(st.integers(min_value=1, max_value=10_000)))
    return PriceSpec(model=model, currency=currency, tiers=draw(tier_lists()))


@settings(max_examples=300, deadline=None)
@given(tiers=tier_lists(), currency=st.sampled_from(CURRENCIES), a=quantities, b=quantities)
def test_graduated_is_monotonic_non_decreasing_in_quantity(tiers, currency, a, b):
    spec = PriceSpec(model="graduated", currency=currency, tiers=tiers)
    low, high = sorted([a, b])

    assert calculate(spec, low).amount <= calculate(spec, high).amount


@settings(max_examples=300, deadline=None)
@given(unit=unit_amounts, flat=flat_amounts, currency=st.sampled_from(CURRENCIES), q=quantities)
def test_volume_and_graduated_agree_with_a_single_open_tier(unit, flat, currency, q):
    tiers = (Tier(None, unit, flat),)
    graduated = calculate(PriceSpec(model="graduated", currency=currency, tiers=tiers), q)
    volume = calculate(PriceSpec(model="volume", currency=currency, tiers=tiers), q)

    assert graduated.amount == volume.amount
    expected = money.quantize(unit * q + flat, currency) if q > 0 else money.zero(currency)
    assert graduated.amount == expected


@settings(max_examples=500, deadline=None)
@given(spec=price_specs(), q=quantities)
def test_breakdown_amounts_always_sum_exactly_to_the_amount(spec, q):
    result = calculate(spec, q)

    assert sum((row.amount for row in result.breakdown), Decimal(0)) == result.amount


@settings(max_examples=500, deadline=None)
@given(spec=price_specs(), q=quantities)
def test_amount_and_rows_carry_exactly_the_currency_minor_unit_places(spec, q):
    result = calculate(spec, q)
    places = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3, "BHD": 3, "CLP": 0}[spec.currency]

    assert result.amount.as_tuple().exponent == -places
    assert all(row.amount.as_tuple().exponent == -places for row in result.breakdown)


@settings(max_examples=300, deadline=None)
@given(unit=unit_amounts, currency=st.sampled_from(CURRENCIES), q=quantities)
def test_per_unit_is_the_unit_price_times_the_quantity_rounded_once(unit, currency, q):
    spec = PriceSpec(model="per_unit", currency=currency, unit_amount=unit)

    assert calculate(spec, q).amount == money.quantize(unit * q, currency)


@settings(max_examples=300, deadline=None)
@given(cents=st.integers(min_value=0, max_value=1_000_000), a=st.integers(min_value=0, max_value=10_000),
       b=st.integers(min_value=0, max_value=10_000))
def test_per_unit_is_linear_for_whole_quantities_of_a_price_in_minor_units(cents, a, b):
    spec = PriceSpec(model="per_unit", currency="USD", unit_amount=Decimal(cents) / 100)

    assert calculate(spec, a + b).amount == calculate(spec, a).amount + calculate(spec, b).amount


@settings(max_examples=300, deadline=None)
@given(unit=unit_amounts, currency=st.sampled_from(CURRENCIES), a=quantities, b=quantities)
def test_per_unit_splitting_a_quantity_changes_the_amount_by_at_most_one_minor_unit(unit, currency, a, b):
    spec = PriceSpec(model="per_unit", currency=currency, unit_amount=unit)
    minor = Decimal(1).scaleb(-money.minor_units(currency))

    gap = calculate(spec, a + b).amount - calculate(spec, a).amount - calculate(spec, b).amount

    assert abs(gap) <= minor
