"""Catalog test data: the shared factories plus the worked-example prices used across the tests."""
from __future__ import annotations

from decimal import Decimal

import factory

from catalog import models as cm
from catalog import services
from catalog.pricing import PriceSpec, Tier
from tests.factories import MeterFactory, PriceBookFactory, PriceFactory, ProductFactory

__all__ = [
    "MeterFactory", "PriceBookFactory", "PriceFactory", "ProductFactory", "PriceTierFactory",
    "GRADUATED_TIERS", "graduated_spec", "graduated_price", "volume_api_tiers",
]

D = Decimal

# The worked graduated example: 1-10 at 10.00 + 2.00, 11-20 at 5.00 + 3.00, 21+ at 5.00 + 3.00.
GRADUATED_TIERS = [
    {"up_to": 10, "unit_amount": "10.00", "flat_amount": "2.00"},
    {"up_to": 20, "unit_amount": "5.00", "flat_amount": "3.00"},
    {"up_to": None, "unit_amount": "5.00", "flat_amount": "3.00"},
]

# The worked volume example: the whole quantity at the rate of the tier reached, plus its flat fee.
VOLUME_API_TIERS = [
    {"up_to": 10_000, "unit_amount": "0.0010", "flat_amount": "0.00"},
    {"up_to": 100_000, "unit_amount": "0.0006", "flat_amount": "10.00"},
    {"up_to": None, "unit_amount": "0.0004", "flat_amount": "25.00"},
]


def volume_api_tiers() -> list[dict]:
    return [dict(t) for t in VOLUME_API_TIERS]


def _tiers(rows: list[dict]) -> tuple[Tier, ...]:
    return tuple(Tier(r["up_to"], D(r["unit_amount"]), D(r["flat_amount"])) for r in rows)


def graduated_spec(currency: str = "USD") -> PriceSpec:
    return PriceSpec(model="graduated", currency=currency, tiers=_tiers(GRADUATED_TIERS))


def volume_spec(currency: str = "USD") -> PriceSpec:
    return PriceSpec(model="volume", currency=currency, tiers=_tiers(VOLUME_API_TIERS))


class PriceTierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.PriceTier

    price = factory.SubFactory(PriceFactory, model=cm.Price.Model.GRADUATED, unit_amount=None)
    up_to = None
    unit_amount = D("1.00")
    flat_amount = D("0.00")


def graduated_price(*, book: cm.PriceBook | None = None, product: cm.Product | None = None) -> cm.Price:
    """The worked graduated example saved through the service (so its tiers are validated)."""
    return services.price_create(
        product=product or ProductFactory(), price_book=book or PriceBookFactory(),
        model=cm.Price.Model.GRADUATED, tiers=[dict(t) for t in GRADUATED_TIERS],
    )
