"""Reads of the catalog shared by the API, the pages and other apps. Querysets come with what their
readers touch already joined or prefetched, so listing N prices costs the same queries as listing one."""
from __future__ import annotations

from django.db.models import QuerySet

from .models import Bundle, DiscountSchedule, Meter, Price, PriceBook, Product, ProductRule


def meter_list() -> QuerySet[Meter]:
    return Meter.objects.all()


def product_list() -> QuerySet[Product]:
    return Product.objects.select_related("meter")


def price_book_list() -> QuerySet[PriceBook]:
    return PriceBook.objects.all()


def price_list() -> QuerySet[Price]:
    """Prices with product, book and tiers loaded: ready for `pricing.calculate` without more queries."""
    return Price.objects.select_related("product", "price_book").prefetch_related("tiers")


def price_get(*, price_id: int) -> Price:
    return price_list().get(pk=price_id)


def price_for(*, product: Product | int, price_book: PriceBook | int,
              billing_period: str = Price.BillingPeriod.MONTH) -> Price | None:
    """The active price of a product in a book for a billing period, or None."""
    return price_list().filter(product=product, price_book=price_book, billing_period=billing_period,
                               active=True).first()


def default_price_book(*, currency: str) -> PriceBook | None:
    return PriceBook.objects.filter(currency=currency, is_default=True, active=True).first()


def bundle_list() -> QuerySet[Bundle]:
    return Bundle.objects.select_related("product").prefetch_related("options").order_by("id")


def product_rule_list() -> QuerySet[ProductRule]:
    return ProductRule.objects.all()


def discount_schedule_list() -> QuerySet[DiscountSchedule]:
    return DiscountSchedule.objects.prefetch_related("tiers")
