"""The Customer 360 page (GET /customers/<id>/, Django test client) shows a next best offer and an upsell
flag when the data makes them (analytics.services.recommendations), and neither when it does not.

The book, on 2027-06-15 (the page reads the business day; the clock is set to it):
  Target and S1, S2, S3: all SMB · software, contracts 2027-01-01..2027-12-31.
  S1..S3 hold CORE (100.00 a month) and ADDON (200.00 a month); Target holds CORE and API (usage, priced
  graduated: the first 1,000 calls a month free, then 0.01 each).
Next best offer for Target: similar customers = the 3 others of its segment sharing CORE (at least
MIN_SIMILAR = 3, so no widening); 3 of 3 hold ADDON (confidence 1) vs 3 of the 4 customers holding any
product (base rate 0.75): lift 1 ÷ 0.75 = 1.33 > 1, with 3 ≥ MIN_SUPPORT = 2 holders; expected MRR = the
median of their ADDON MRR, 200.00.
Upsell flag: 900 API calls in the 30 days ending 2027-06-15 = 900 ÷ 1,000 included = 90.0 % ≥ 80 %.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse

from billing.models import UsageEvent
from catalog import models as cm
from contracts.models import Contract, ContractLine
from revops.kernel import roles
from tests.factories import CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db

TODAY = date(2027, 6, 15)
NOW = datetime(2027, 6, 15, 12, tzinfo=UTC)  # midday: the same calendar day in any business time zone ±11 h
START, END = date(2027, 1, 1), date(2027, 12, 31)

OFFER_REASON = ("3 of 3 similar customers (SMB · software, sharing any of API, CORE) have ADDON, vs 3 of 4 "
                "customers overall: lift 1.33; their median MRR of it is USD 200.00")
FLAG_REASON = ("api-calls: 900 calls in the last 30 days is 90.0 % of the 1,000 calls included in API; beyond it "
               "the rate is 0.01 USD per unit — offer a larger plan or commitment (flagged at 80 %).")


def _contract(customer, number: str, lines: list[tuple]) -> Contract:
    c = Contract.objects.create(number=number, customer=customer, currency="USD", status="active", start_date=START,
                                end_date=END)
    for item, (product, amount, period, price) in enumerate(lines, start=1):
        ContractLine.objects.create(contract=c, item=item, product=product, price=price, quantity=D(1),
                                    unit_price=D(amount), amount=D(amount), period=period, billing_frequency="month",
                                    start_date=START, end_date=END)
    return c


def _usage(customer, meter, calls: int) -> None:
    """`calls` API calls spread over 2027-06-01..06-14 (inside the 30 days ending on TODAY)."""
    UsageEvent.objects.bulk_create([
        UsageEvent(customer_id=customer.pk, meter_id=meter.pk, timestamp=datetime(2027, 6, 1 + k % 14, 9, tzinfo=UTC),
                   idempotency_key=f"call-{customer.pk}-{k}") for k in range(calls)])


@pytest.fixture
def book():
    core = cm.Product.objects.create(sku="CORE", name="Core seats", kind="recurring", recognition="ratable",
                                     ssp=D("100"))
    addon = cm.Product.objects.create(sku="ADDON", name="Analytics add-on", kind="recurring",
                                      recognition="ratable", ssp=D("200"))
    meter = cm.Meter.objects.create(code="api-calls", name="API calls", aggregation="count", unit="calls")
    api = cm.Product.objects.create(sku="API", name="API access", kind="usage", recognition="usage", meter=meter)
    price = cm.Price.objects.create(product=api, price_book=PriceBookFactory(), model="graduated", currency="USD",
                                    billing_period="month")
    cm.PriceTier.objects.create(price=price, up_to=1000, unit_amount=D("0"))
    cm.PriceTier.objects.create(price=price, up_to=None, unit_amount=D("0.01"))
    target = CustomerFactory(name="Target corp", size="smb", industry="software")
    _contract(target, "K-T", [(core, "100.00", "month", None), (api, "0", "usage", price)])
    similar = [CustomerFactory(name=f"S{n} corp", size="smb", industry="software") for n in (1, 2, 3)]
    for n, customer in enumerate(similar, start=1):
        _contract(customer, f"K-S{n}", [(core, "100.00", "month", None), (addon, "200.00", "month", None)])
    return {"target": target, "similar": similar, "addon": addon, "meter": meter}


def _page(client, user, customer) -> str:
    with time_machine.travel(NOW, tick=False):  # log in on that day too: a session from today would have expired
        client.force_login(user)
        response = client.get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    return response.text


def _section(html: str, section_id: str) -> str:
    start = html.index(f'id="{section_id}"')
    return html[start:html.index("</section>", start)]


def test_the_page_shows_the_next_best_offer_and_the_upsell_flag(client, finance_user, book):
    _usage(book["target"], book["meter"], 900)

    offers = _section(_page(client, finance_user, book["target"]), "next-best-offers")

    assert "Analytics add-on" in offers and "ADDON" in offers
    assert '<td class="num">1.33</td>' in offers and "$200.00" in offers
    assert OFFER_REASON in offers
    assert "<h3>Upsell flags</h3>" in offers and FLAG_REASON in offers


def test_the_owner_rep_sees_the_same_offer_and_flag_and_another_rep_does_not(client, make_user, book):
    _usage(book["target"], book["meter"], 900)
    owner = make_user(roles.SALES_REP)
    type(book["target"]).objects.filter(pk=book["target"].pk).update(owner=owner)

    offers = _section(_page(client, owner, book["target"]), "next-best-offers")
    assert OFFER_REASON in offers and FLAG_REASON in offers  # a rep's insights: the customers it owns

    others = _section(_page(client, make_user(roles.SALES_REP), book["target"]), "next-best-offers")
    assert OFFER_REASON not in others and FLAG_REASON not in others
    assert "shown to the customer's owner and to managers" in others


def test_no_offer_or_flag_when_the_data_makes_none(client, finance_user, book):
    # one similar customer holding ADDON (below MIN_SUPPORT = 2) and 790 calls (79.0 %, below 80 %)
    for customer in book["similar"][1:]:
        ContractLine.objects.filter(contract__customer=customer, product=book["addon"]).update(
            end_date=TODAY - timedelta(days=1))
    _usage(book["target"], book["meter"], 790)

    offers = _section(_page(client, finance_user, book["target"]), "next-best-offers")

    assert "No suggestion for this customer." in offers and "ADDON" not in offers
    assert "Upsell flags" not in offers and "api-calls" not in offers
