"""A small catalog for quote tests: USD book with a seat subscription, onboarding, a bundle and rules."""
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group

from catalog import models as cm
from quotes.models import ApprovalRule
from quotes.services.editing import quote_create
from tests.factories import CustomerFactory


@dataclass
class Catalog:
    book: cm.PriceBook
    seats: cm.Product
    onboarding: cm.Product
    support: cm.Product
    bundle: cm.Product
    analytics: cm.Product
    unpriced: cm.Product


@pytest.fixture
def catalog(db):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)

    def product(sku, kind="recurring", recognition="ratable", ssp="10", **kw):
        return cm.Product.objects.create(sku=sku, name=sku.title(), kind=kind, recognition=recognition,
                                         ssp=D(ssp) if ssp is not None else None, **kw)

    # Standalone selling prices at list, so the revenue preview (allocation by SSP) matches each line's
    # own amount; support's SSP varies with the deal (residual).
    seats = product("seats", ssp="50")
    onboarding = product("onboarding", kind="one_time", recognition="point_in_time", ssp="2500")
    support = product("support", ssp=None, ssp_residual=True)
    bundle = product("growth-bundle", ssp="0")
    analytics = product("analytics", ssp="20")
    unpriced = product("unpriced")
    for p, model, kw in [
        (seats, "per_unit", {"unit_amount": D("50.00")}),
        (onboarding, "flat", {"flat_amount": D("2500.00"), "billing_period": "one_time"}),
        (support, "percentage", {"percentage": D("15")}),
        (bundle, "flat", {"flat_amount": D("0.00")}),
        (analytics, "per_unit", {"unit_amount": D("20.00")}),
    ]:
        cm.Price.objects.create(product=p, price_book=book, model=model, currency="USD", **kw)
    b = cm.Bundle.objects.create(product=bundle)
    cm.BundleOption.objects.create(bundle=b, product=seats, required=True, default_quantity=5, min_quantity=5,
                                   max_quantity=100, position=1)
    cm.BundleOption.objects.create(bundle=b, product=onboarding, required=True, default_quantity=1,
                                   min_quantity=1, max_quantity=1, position=2)
    cm.BundleOption.objects.create(bundle=b, product=analytics, required=False, default_quantity=1,
                                   min_quantity=1, max_quantity=10, position=3)
    cm.ProductRule.objects.create(kind="requires", product=support, other_product=seats,
                                  message="Support needs a seat subscription")
    return Catalog(book, seats, onboarding, support, bundle, analytics, unpriced)


@pytest.fixture
def discount_rule(db):
    return ApprovalRule.objects.create(name="Discount over 20 %", condition="line_discount_above",
                                       threshold=D("20"), approver_group=Group.objects.get(name="sales_manager"),
                                       order=1)


@pytest.fixture
def customer(db):
    return CustomerFactory(currency="USD")


@pytest.fixture
def new_quote(catalog, customer, sales_rep):
    def make(owner=None, **kw):
        return quote_create(customer=customer, owner=owner or sales_rep, **kw)

    return make
