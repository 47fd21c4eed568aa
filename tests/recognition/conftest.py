from decimal import Decimal as D

import pytest

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from tests.factories import CustomerFactory


@pytest.fixture
def product(db):
    def make(sku, kind="recurring", recognition="ratable", ssp="10", family="Platform", **kw):
        return cm.Product.objects.create(sku=sku, name=sku.title(), kind=kind, recognition=recognition, family=family,
                                         ssp=D(ssp) if ssp is not None else None, **kw)

    return make


@pytest.fixture
def contract_of(finance_user):
    """contract_of(start, term, [(product, qty, unit_price, period?)]) -> active contract (events delivered)."""

    def make(start, term, lines, currency="USD", customer=None, **terms):
        customer = customer or CustomerFactory(currency=currency)
        specs = [LineSpec(p, D(q), D(u), *( [per] if per else [])) for p, q, u, *rest in lines
                 for per in [rest[0] if rest else None]]
        return contract_create(customer=customer, start_date=start, term_months=term, lines=specs, by=finance_user,
                               currency=currency, **terms)

    return make
