"""Win rate and average discount by band, rep, product and segment on a known set of quotes, and the
discount leakage by month — every figure computed by hand."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.services.pricing_insights import (
    band_of,
    decided_quotes,
    fx_missing_summary,
    leakage_by_month,
    win_rates,
)
from catalog import models as cm
from quotes.models import Quote, QuoteLine
from recognition.models import FxRate
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
JAN, FEB_END = date(2027, 1, 1), date(2027, 2, 28)


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=UTC)


@pytest.fixture
def quotes(make_user):
    rep_a, rep_b = make_user("sales_rep", username="rep_a"), make_user("sales_rep", username="rep_b")
    smb = CustomerFactory(size="smb")  # software, North America, inbound (the factory's defaults)
    ent = CustomerFactory(size="enterprise", industry="retail", region="emea", acquisition_channel="partner")
    eur_customer = CustomerFactory(size="enterprise", currency="EUR", industry="", region="emea",
                                   acquisition_channel="")
    usd = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    eur = cm.PriceBook.objects.create(name="EUR", currency="EUR", is_default=True)
    p1 = cm.Product.objects.create(sku="P1", name="Seats", kind="recurring", recognition="ratable")
    p2 = cm.Product.objects.create(sku="P2", name="Analytics", kind="recurring", recognition="ratable")
    prices = {(p, b.currency): cm.Price.objects.create(product=p, price_book=b, model="per_unit", currency=b.currency,
                                                       unit_amount=D(1)) for p in (p1, p2) for b in (usd, eur)}
    FxRate.objects.create(date=date(2027, 1, 1), currency="EUR", rate=D("1.10"))
    n = {"i": 0}

    def quote(status, owner, customer, lines, **dates):
        n["i"] += 1
        q = Quote.objects.create(number=f"Q-T-{n['i']}", customer=customer, owner=owner, currency=customer.currency,
                                 price_book=usd if customer.currency == "USD" else eur, status=status,
                                 start_date=date(2027, 1, 1), valid_until=dates.pop("valid_until", date(2027, 6, 30)),
                                 **dates)
        for product, lst, net in lines:
            QuoteLine.objects.create(quote=q, product=product, price=prices[(product, customer.currency)],
                                     quantity=D(1), billing_period="month", list_amount=D(lst), amount=D(net))
        return q

    quote("accepted", rep_a, smb, [(p1, "1000", "1000")], accepted_at=_at("2027-01-10"))            # 0 %
    quote("rejected", rep_a, smb, [(p1, "1000", "960")], declined_at=_at("2027-01-20"))             # 4 %
    quote("accepted", rep_b, ent, [(p1, "2000", "1900")], accepted_at=_at("2027-02-05"))            # 5 %
    quote("expired", rep_b, ent, [(p1, "1000", "850")], valid_until=date(2027, 2, 15))              # 15 %
    quote("accepted", rep_a, smb, [(p1, "600", "400"), (p2, "400", "350")],
          accepted_at=_at("2027-02-20"))                                                            # 25 %
    quote("rejected", rep_b, ent, [(p1, "500", "300")], declined_at=_at("2027-02-25"))              # 40 %
    quote("accepted", rep_b, eur_customer, [(p1, "1000", "900")], accepted_at=_at("2027-02-10"))    # 10 %, EUR
    quote("sent", rep_a, smb, [(p1, "1000", "500")])                                                # open: out
    quote("superseded", rep_a, smb, [(p1, "1000", "500")])                                          # out
    quote("accepted", rep_a, smb, [(p1, "1000", "800")], accepted_at=_at("2026-12-15"))             # December
    return {"quote": quote, "rep_a": rep_a, "rep_b": rep_b, "smb": smb, "eur_customer": eur_customer, "p1": p1}


def _table(rows, *keys):
    return [tuple(r[k] for k in keys) for r in rows]


def test_bands_have_their_lower_bound():
    assert [band_of(D(x)) for x in ("0", "4.99", "5", "9.9999", "10", "20", "29.99", "30", "100", "-3")] == [
        "0-5", "0-5", "5-10", "5-10", "10-20", "20-30", "20-30", "30+", "30+", "0-5"]


def test_win_rate_and_discount_by_band(quotes):
    rows = win_rates(by="band", first=JAN, last=FEB_END)
    # 10–20 %: the expired 15 % quote (1,000 → 850) and the EUR one at 10 %, converted at 1.10 (1,100 → 990):
    # discount (150 + 110) ÷ (1,000 + 1,100) = 12.38 %.
    assert _table(rows, "key", "quotes", "won", "rejected", "expired", "win_rate", "avg_discount") == [
        ("0-5", 2, 1, 1, 0, D("50.0"), D("2.0")),
        ("5-10", 1, 1, 0, 0, D("100.0"), D("5.0")),
        ("10-20", 2, 1, 0, 1, D("50.0"), D("12.4")),
        ("20-30", 1, 1, 0, 0, D("100.0"), D("25.0")),
        ("30+", 1, 0, 1, 0, D("0.0"), D("40.0")),
    ]
    assert _table(rows, "list_total", "discount_total")[2] == (D("2100.00"), D("260.00"))


def test_win_rate_by_rep_product_and_segment(quotes):
    by_rep = win_rates(by="rep", first=JAN, last=FEB_END)
    # rep_a: 0 %, 4 %, 25 % → 2 won of 3, (0 + 40 + 250) ÷ 3,000 = 9.67 %;
    # rep_b: 5 %, 15 %, 40 %, EUR 10 % → 2 of 4, (100 + 150 + 200 + 110) ÷ 4,600 = 12.17 %.
    assert sorted(_table(by_rep, "label", "quotes", "won", "win_rate", "avg_discount")) == [
        ("rep_a", 3, 2, D("66.7"), D("9.7")), ("rep_b", 4, 2, D("50.0"), D("12.2"))]
    by_product = win_rates(by="product", first=JAN, last=FEB_END)
    # P1 on all 7 decided quotes, 4 won; list 7,200, net 6,400 → 11.1 %. P2 only on the 25 % quote: 50/400.
    assert _table(by_product, "label", "quotes", "won", "win_rate", "avg_discount") == [
        ("P1", 7, 4, D("57.1"), D("11.1")), ("P2", 1, 1, D("100.0"), D("12.5"))]
    by_segment = win_rates(by="segment", first=JAN, last=FEB_END)
    assert _table(by_segment, "label", "quotes", "won", "win_rate") == [("Enterprise", 4, 2, D("50.0")),
                                                                       ("SMB", 3, 2, D("66.7"))]


@pytest.mark.parametrize(("field", "expected"), [
    # software = smb (0 %, 4 %, 25 %: 2 won of 3, 290 of 3,000 = 9.7 %); retail = ent (5 %, 15 %, 40 %: 1 of
    # 3, 450 of 3,500 = 12.9 %); the EUR customer has no industry nor channel (1,100 → 990: 10.0 %).
    ("industry", [("retail", 3, 1, D("33.3"), D("12.9")), ("software", 3, 2, D("66.7"), D("9.7")),
                  ("No industry", 1, 1, D("100.0"), D("10.0"))]),
    # EMEA = ent + the EUR customer: 2 won of 4, (450 + 110) ÷ (3,500 + 1,100) = 12.2 %.
    ("region", [("EMEA", 4, 2, D("50.0"), D("12.2")), ("North America", 3, 2, D("66.7"), D("9.7"))]),
    ("acquisition_channel", [("Inbound", 3, 2, D("66.7"), D("9.7")), ("Partner", 3, 1, D("33.3"), D("12.9")),
                             ("No channel", 1, 1, D("100.0"), D("10.0"))]),
])
def test_segment_by_another_customer_field(quotes, field, expected):
    rows = win_rates(by="segment", segment_field=field, first=JAN, last=FEB_END)
    assert _table(rows, "label", "quotes", "won", "win_rate", "avg_discount") == expected


def test_an_unknown_segment_field_is_refused(quotes):
    from revops.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        win_rates(by="segment", segment_field="colour")
    assert list(refused.value.fields) == ["segment_field"]


def test_decided_quotes_without_lines_count_in_win_rates_but_not_in_discounts(quotes):
    media = CustomerFactory(size="smb", industry="media")
    quotes["quote"]("accepted", quotes["rep_a"], media, [], accepted_at=_at("2027-01-15"))
    quotes["quote"]("expired", quotes["rep_a"], media, [], valid_until=date(2027, 1, 31))
    bands = win_rates(by="band", first=JAN, last=FEB_END)
    # 0–5 %: the 0 % and 4 % quotes plus the two empty ones (no discount): 2 won of 4; the average stays
    # 40 ÷ 2,000 = 2.0 % because an empty quote has no list value to weigh.
    assert _table(bands, "key", "quotes", "won", "rejected", "expired", "win_rate", "avg_discount",
                  "list_total")[0] == ("0-5", 4, 2, 1, 1, D("50.0"), D("2.0"), D("2000.00"))
    media_row = [r for r in win_rates(by="segment", segment_field="industry", first=JAN, last=FEB_END)
                 if r["label"] == "media"]
    assert _table(media_row, "quotes", "won", "win_rate", "avg_discount", "list_total") == [
        (2, 1, D("50.0"), None, D("0.00"))]  # no list at all: no average discount, not 0 %
    by_rep = {r["label"]: r for r in win_rates(by="rep", first=JAN, last=FEB_END)}
    assert (by_rep["rep_a"]["quotes"], by_rep["rep_a"]["won"], by_rep["rep_a"]["win_rate"],
            by_rep["rep_a"]["avg_discount"]) == (5, 3, D("60.0"), D("9.7"))
    assert [r["quotes"] for r in win_rates(by="product", first=JAN, last=FEB_END)] == [7, 1]  # no product
    january = leakage_by_month(first=JAN, last=FEB_END)[0]
    assert (january["accepted_quotes"], january["list_total"], january["leakage"]) == (2, D("1000.00"), D("0.00"))


def test_a_quote_without_fx_rate_counts_in_win_rates_but_not_in_amounts(quotes):
    # EUR has a rate from 2027-01-01 only: a quote accepted in December 2026 has none for 2026-12-31.
    quotes["quote"]("accepted", quotes["rep_b"], quotes["eur_customer"], [(quotes["p1"], "1000", "700")],
                    accepted_at=_at("2026-12-20"))
    dec = date(2026, 12, 1)
    decided = decided_quotes(first=dec, last=FEB_END)
    top = win_rates(by="band", decided=decided)[-1]
    # 30+ %: the USD 40 % quote (500 → 300, rejected) and the EUR 30 % one (won, amounts unknown in USD).
    assert (top["quotes"], top["won"], top["win_rate"], top["avg_discount"], top["list_total"],
            top["discount_total"], top["fx_missing"]) == (2, 1, D("50.0"), D("40.0"), D("500.00"), D("200.00"), 1)
    december = leakage_by_month(first=dec, last=FEB_END, decided=decided)[0]
    assert _table([december], "accepted_quotes", "list_total", "leakage", "fx_missing") == [
        (2, D("1000.00"), D("200.00"), 1)]  # only the USD quote's 1,000 → 800
    missing = fx_missing_summary(decided)
    assert (missing["quotes"], missing["rates"]) == (1, [{"currency": "EUR", "date": "2026-12-31", "quotes": 1}])
    assert missing["message"].startswith("1 quote left out of the amounts, average discounts and leakage: no FX "
                                         "rate to USD for EUR on or before 2026-12-31.")
    assert fx_missing_summary(decided_quotes(first=JAN, last=FEB_END)) == {"quotes": 0, "rates": [], "message": ""}


def test_leakage_by_month(quotes):
    months = leakage_by_month(first=date(2026, 12, 1), last=FEB_END)
    # December: 1,000 → 800. January: the 0 % quote. February: 100 + 250 + EUR 100 × 1.10 = 460 of 4,100.
    assert _table(months, "month", "accepted_quotes", "list_total", "net_total", "leakage", "leakage_pct") == [
        ("2026-12", 1, D("1000.00"), D("800.00"), D("200.00"), D("20.0")),
        ("2027-01", 1, D("1000.00"), D("1000.00"), D("0.00"), D("0.0")),
        ("2027-02", 3, D("4100.00"), D("3640.00"), D("460.00"), D("11.2")),
    ]


def test_an_unknown_dimension_is_refused(quotes):
    from revops.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        win_rates(by="colour")


outcomes = st.lists(st.tuples(st.sampled_from(["accepted", "rejected", "expired", "sent"]),
                              st.integers(1, 5000), st.integers(0, 100), st.integers(0, 58)), min_size=1, max_size=8)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deals=outcomes)
def test_every_decided_quote_is_in_exactly_one_band_and_leakage_adds_up(make_user, deals):
    owner = make_user("sales_rep")
    customer = CustomerFactory(size="smb")
    book = cm.PriceBook.objects.get_or_create(name="USD", currency="USD", defaults={"is_default": True})[0]
    product = cm.Product.objects.get_or_create(sku="PX", defaults={"name": "X", "kind": "recurring",
                                                                   "recognition": "ratable"})[0]
    price = cm.Price.objects.get_or_create(product=product, price_book=book, billing_period="month",
                                           defaults={"model": "per_unit", "currency": "USD", "unit_amount": D(1)})[0]
    expected_leak, decided, won = D(0), 0, 0
    for i, (status, list_amount, pct, day) in enumerate(deals):
        when = date(2027, 1, 1) + timedelta(days=day)
        q = Quote.objects.create(number=f"Q-H-{owner.pk}-{i}", customer=customer, owner=owner, currency="USD",
                                 price_book=book, status=status, start_date=when, valid_until=when,
                                 accepted_at=_at(when.isoformat()) if status == "accepted" else None,
                                 declined_at=_at(when.isoformat()) if status == "rejected" else None)
        net = (D(list_amount) * (100 - pct) / 100).quantize(D("0.01"))
        QuoteLine.objects.create(quote=q, product=product, price=price, quantity=D(1), billing_period="month",
                                 list_amount=D(list_amount), amount=net)
        if status != "sent":
            decided += 1
        if status == "accepted":
            won += 1
            expected_leak += D(list_amount) - net
    rows = win_rates(by="band", first=JAN, last=FEB_END, customer_ids=[customer.pk])
    assert sum(r["quotes"] for r in rows) == decided
    assert sum(r["won"] for r in rows) == won
    assert all(r["won"] + r["rejected"] + r["expired"] == r["quotes"] for r in rows)
    months = leakage_by_month(first=JAN, last=FEB_END, customer_ids=[customer.pk])
    assert sum(m["leakage"] for m in months) == expected_leak
