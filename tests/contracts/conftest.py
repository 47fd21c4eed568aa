from datetime import date
from decimal import Decimal as D

import pytest

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from tests.factories import CustomerFactory


@pytest.fixture
def products(db):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    plan = cm.Product.objects.create(sku="PLAN", name="Plan", kind="recurring", recognition="ratable", ssp=D("20"))
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))
    setup = cm.Product.objects.create(sku="SETUP", name="Setup", kind="one_time", recognition="point_in_time",
                                      ssp=D("500"))
    cm.Price.objects.create(product=plan, price_book=book, model="per_unit", currency="USD", unit_amount=D("20.00"))
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="USD", unit_amount=D("10.00"))
    cm.Price.objects.create(product=setup, price_book=book, model="flat", currency="USD", flat_amount=D("500.00"),
                            billing_period="one_time")
    return {"plan": plan, "seats": seats, "setup": setup, "book": book}


@pytest.fixture
def make_contract(products, finance_user):
    def make(start=date(2027, 4, 11), term=12, lines=(("plan", "1", "20.00"),), frequency="month", **terms):
        customer = terms.pop("customer", None) or CustomerFactory(currency="USD")
        specs = [LineSpec(products[sku], D(qty), D(price)) for sku, qty, price in lines]
        return contract_create(customer=customer, start_date=start, term_months=term, lines=specs, by=finance_user,
                               billing_frequency=frequency, **terms)

    return make
