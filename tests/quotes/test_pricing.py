"""Quote pricing, pure: list from the catalog engine, discounts in order, totals. Figures by hand."""
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.pricing import PriceSpec, Tier
from quotes.services.pricing import LineInput, ScheduleSpec, price_quote
from revops.kernel import money
from revops.kernel.errors import ValidationFailed

PLATFORM, ONBOARDING, SUPPORT, ANALYTICS, API = 1, 2, 3, 4, 5
VOLUME = ScheduleSpec("Seat volume", "volume", PLATFORM, ((D(10), D(5)), (D(50), D(10))))
TERM = ScheduleSpec("Multi-year", "term", PLATFORM, ((D(12), D(5)), (D(24), D(10)), (D(36), D(15))))


def line(product_id, kind, spec, period, qty, pct="0", amt="0"):
    return LineInput(product_id, kind, spec, period, D(qty), D(pct), D(amt))


def usd(model, **kw):
    return PriceSpec(model=model, currency="USD", **kw)


def test_a_quote_with_schedules_manual_discount_percentage_and_yearly_lines():
    lines = [
        line(PLATFORM, "recurring", usd("per_unit", unit_amount=D("50.00")), "month", "20", pct="10"),
        line(ONBOARDING, "one_time", usd("flat", flat_amount=D("2500.00")), "one_time", "1"),
        line(SUPPORT, "recurring", usd("percentage", percentage=D("15")), "month", "1"),
        line(ANALYTICS, "recurring", usd("per_unit", unit_amount=D("1200.00")), "year", "1"),
    ]
    priced, totals = price_quote(lines=lines, currency="USD", term_months=24, schedules=[VOLUME, TERM])
    platform, onboarding, support, analytics = priced
    # 1,000.00 list; volume 5 % (20 seats), term 10 % (24 months), manual 10 %: 1000 × .95 × .90 × .90
    assert platform.list_period_amount == D("1000.00")
    assert platform.net_period_amount == D("769.50")
    assert (platform.mrr, platform.arr, platform.amount, platform.list_amount) == (
        D("769.50"), D("9234.00"), D("18468.00"), D("24000.00"))
    assert [s["step"] for s in platform.explanation] == ["list", "volume_schedule", "term_schedule", "line_discount"]
    assert platform.explanation[1]["detail"] == "Seat volume: 5%"
    assert platform.effective_discount_percent == D("23.0500")
    assert platform.manual_discount_percent == D("10.0000")
    assert platform.net_unit_price == D("38.475000")
    assert onboarding.amount == D("2500.00") and onboarding.mrr == D("0.00")
    # 15 % of the other recurring lines' monthly nets: (769.50 + 1200.00 / 12) × 15 % = 130.425 → 130.43
    assert (support.net_period_amount, support.amount) == (D("130.43"), D("3130.32"))
    assert (analytics.mrr, analytics.arr, analytics.amount) == (D("100.00"), D("1200.00"), D("2400.00"))
    assert totals.mrr == D("999.93")
    assert totals.arr == D("11999.16")
    assert totals.one_time == D("2500.00")
    assert totals.tcv == D("26498.32")
    assert totals.list_total == D("32030.32")
    assert totals.discount == D("5532.00")


def test_quote_level_discount_applies_after_line_discounts():
    lines = [line(PLATFORM, "recurring", usd("per_unit", unit_amount=D("100.00")), "month", "3", amt="50.00")]
    priced, totals = price_quote(lines=lines, currency="USD", term_months=12, quote_discount_percent=D("10"))
    # (300.00 − 50.00) × 0.90 = 225.00 a month
    assert priced[0].net_period_amount == D("225.00")
    assert totals.tcv == D("2700.00")
    assert [s["step"] for s in priced[0].explanation] == ["list", "line_amount_off", "quote_discount"]


def test_zero_decimal_currency_rounds_to_whole_yen():
    spec = PriceSpec(model="per_unit", currency="JPY", unit_amount=D("1234"))
    priced, totals = price_quote(lines=[line(PLATFORM, "recurring", spec, "month", "3", pct="7.5")],
                                 currency="JPY", term_months=12)
    assert priced[0].net_period_amount == D("3424")  # 3702 × 0.925 = 3424.35
    assert totals.tcv == D("41088")


def test_graduated_usage_lines_are_rate_cards_outside_the_totals():
    spec = usd("graduated", tiers=(Tier(1000, D("0.01")), Tier(None, D("0.005"))))
    priced, totals = price_quote(lines=[line(API, "usage", spec, "month", "1")], currency="USD", term_months=12)
    assert priced[0].usage and priced[0].amount == D("0.00")
    assert totals.tcv == D("0.00") and totals.mrr == D("0.00")


@pytest.mark.parametrize(("field", "kwargs"), [
    ("lines[0].quantity", {"qty": "0"}),
    ("lines[0].quantity", {"qty": "-2"}),
    ("lines[0].discount_percent", {"qty": "1", "pct": "100.01"}),
    ("lines[0].discount_amount", {"qty": "1", "amt": "500.00"}),  # more than the 100.00 price
])
def test_bad_lines_are_refused_naming_the_line_and_field(field, kwargs):
    bad = line(PLATFORM, "recurring", usd("per_unit", unit_amount=D("100.00")), "month", **kwargs)
    with pytest.raises(ValidationFailed) as err:
        price_quote(lines=[bad], currency="USD", term_months=12)
    assert field in err.value.fields


def test_a_price_in_another_currency_is_refused():
    eur = PriceSpec(model="per_unit", currency="EUR", unit_amount=D("10"))
    with pytest.raises(ValidationFailed) as err:
        price_quote(lines=[line(PLATFORM, "recurring", eur, "month", "1")], currency="USD", term_months=12)
    assert err.value.fields == {"lines[0].product": ["the price is in EUR, the quote in USD"]}


amounts = st.decimals(min_value=D("0"), max_value=D("100000"), places=4)
percents = st.decimals(min_value=D("0"), max_value=D("100"), places=2)
periods = st.sampled_from(["month", "quarter", "year", "one_time"])


@given(rows=st.lists(st.tuples(amounts, st.integers(1, 500), percents, periods), min_size=1, max_size=25),
       term=st.integers(1, 60), quote_pct=percents, currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_tcv_is_exactly_the_sum_of_line_amounts_and_every_amount_is_in_minor_units(rows, term, quote_pct, currency):
    lines = [line(i, "one_time" if period == "one_time" else "recurring",
                  PriceSpec(model="per_unit", currency=currency, unit_amount=unit), period, str(qty), pct=str(pct))
             for i, (unit, qty, pct, period) in enumerate(rows)]
    priced, totals = price_quote(lines=lines, currency=currency, term_months=term, quote_discount_percent=quote_pct)
    assert totals.tcv == sum((p.amount for p in priced), D(0))
    assert totals.discount == totals.list_total - totals.tcv
    assert totals.discount >= 0
    for p in priced:
        for value in (p.amount, p.mrr, p.arr, p.net_period_amount, p.list_amount):
            assert value == money.quantize(value, currency)
        assert p.net_period_amount <= p.list_period_amount
