"""Reads for the catalog pages. Each returns what a page shows in a fixed number of queries: prices come
with their price book and tiers, so `pricing.PriceSpec.of(price)` and the tier tables cost nothing more.
(Reads shared with the API belong in `catalog.selectors`.)"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from . import pricing
from .models import BundleOption, Price, PriceBook, Product, ProductRule


def _prices() -> QuerySet[Price]:
    # PriceTier's default ordering puts the open-ended tier last on every database.
    return Price.objects.select_related("price_book", "product").prefetch_related("tiers")


def products() -> QuerySet[Product]:
    # Meta.ordering is not applied to GROUP BY queries: order explicitly, so pages are stable.
    return Product.objects.select_related("meter").annotate(price_count=Count("prices")).order_by("sku", "id")


def product_families() -> list[str]:
    return list(
        Product.objects.exclude(family="").order_by("family").values_list("family", flat=True).distinct()
    )


def product_prices(product: Product) -> list[Price]:
    return list(
        _prices()
        .filter(product=product)
        .order_by("price_book__currency", "price_book__name", "billing_period")
    )


def bundle_options(product: Product) -> list[BundleOption]:
    return list(BundleOption.objects.filter(bundle__product=product).select_related("product"))


def product_rules(product: Product) -> list[ProductRule]:
    """Rules naming the product on either side."""
    return list(
        ProductRule.objects.filter(Q(product=product) | Q(other_product=product))
        .select_related("product", "other_product")
        .order_by("kind", "product__sku", "other_product__sku")
    )


def price_books() -> QuerySet[PriceBook]:
    return PriceBook.objects.annotate(
        price_count=Count("prices"), active_price_count=Count("prices", filter=Q(prices__active=True))
    ).order_by("currency", "name", "id")


def price_book_prices(book: PriceBook) -> QuerySet[Price]:
    return _prices().filter(price_book=book).order_by("product__sku", "billing_period")


def price_for_calculator(pk: int) -> Price:
    return _prices().get(pk=pk)


@dataclass(frozen=True)
class TierRow:
    number: int
    over: int  # the tier prices units above this bound ...
    up_to: int | None  # ... up to and including this one (None: no upper bound)
    unit_amount: Decimal
    flat_amount: Decimal


@dataclass(frozen=True)
class PriceRow:
    """A price with its tiers laid out for a table (tier i covers (up_to[i-1], up_to[i]])."""

    price: Price
    tiers: list[TierRow]


def price_rows(prices) -> list[PriceRow]:
    rows = []
    for price in prices:
        tiers, lower = [], 0
        if price.model in pricing.TIERED:
            for number, tier in enumerate(price.tiers.all(), start=1):
                tiers.append(TierRow(number, lower, tier.up_to, tier.unit_amount, tier.flat_amount))
                lower = tier.up_to if tier.up_to is not None else lower
        rows.append(PriceRow(price, tiers))
    return rows
