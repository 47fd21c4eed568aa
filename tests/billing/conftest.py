"""Billing fixtures: a seat subscription and an API-calls usage product with graduated rates."""
from datetime import date
from decimal import Decimal as D

import pytest

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from tests.factories import CustomerFactory


@pytest.fixture
def catalog(db):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    meter = cm.Meter.objects.create(code="api-calls", name="API calls", aggregation="count", unit="calls")
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable",
                                      ssp=D("10"))
    api = cm.Product.objects.create(sku="API", name="API calls", kind="usage", recognition="usage", meter=meter)
    setup = cm.Product.objects.create(sku="SETUP", name="Setup", kind="one_time", recognition="point_in_time",
                                      ssp=D("500"))
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="USD", unit_amount=D("10"))
    api_price = cm.Price.objects.create(product=api, price_book=book, model="graduated", currency="USD")
    cm.PriceTier.objects.create(price=api_price, up_to=1000, unit_amount=D("0.01"))
    cm.PriceTier.objects.create(price=api_price, up_to=None, unit_amount=D("0.005"))
    return {"seats": seats, "api": api, "setup": setup, "meter": meter, "api_price": api_price, "book": book}


@pytest.fixture
def subscription(catalog, finance_user):
    """subscription(start=..., seats=10, usage=False, ...) -> an active contract."""

    def make(*, start=date(2027, 1, 15), term=12, seats="10", usage=False, setup=None, customer=None,
             currency="USD", **terms):
        customer = customer or CustomerFactory(currency=currency, country="US")
        lines = [LineSpec(catalog["seats"], D(seats), D("10.00"))]
        if usage:
            lines.append(LineSpec(catalog["api"], D(1), D(0), period="usage"))
        if setup:
            lines.append(LineSpec(catalog["setup"], D(1), D(setup)))
        contract = contract_create(customer=customer, start_date=start, term_months=term, lines=lines,
                                   by=finance_user, currency=currency, **terms)
        if usage:
            contract.lines.filter(product=catalog["api"]).update(price=catalog["api_price"])
        return contract

    return make
