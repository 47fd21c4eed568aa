"""Template filters for money and quantities: `{% load money %}`.

    {{ invoice.total|money:invoice.currency }}   -> $1,234.50  (revops.kernel.money.format_money)
    {{ price.unit_amount|unit_price:price.currency }} -> $0.0006 (all stored places, none invented)
    {{ line.quantity|quantity }}                 -> 1,250.5

Templates never round by themselves: posted amounts go through `format_money` (the one rounding rule),
unit prices and quantities are shown with exactly the places they carry.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency, format_decimal
from django import template

from revops.kernel import money as kernel_money

register = template.Library()

EMPTY = "—"
LOCALE = "en_US"


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    return kernel_money.to_decimal(value)


@register.filter(name="money")
def money_filter(amount, currency: str) -> str:
    """A posted amount in its currency's minor unit, with the currency's symbol."""
    value = _decimal(amount)
    if value is None or not currency:
        return EMPTY
    return kernel_money.format_money(value, currency, LOCALE)


@register.filter
def unit_price(amount, currency: str) -> str:
    """A unit price (up to 6 places) with at least the currency's places and no trailing zeros beyond."""
    value = _decimal(amount)
    if value is None or not currency:
        return EMPTY
    return format_currency(value.normalize(), currency, locale=LOCALE, decimal_quantization=False)


@register.filter
def quantity(amount) -> str:
    """A quantity without the storage's trailing zeros: 10.000000 -> 10, 2.500000 -> 2.5."""
    value = _decimal(amount)
    if value is None:
        return EMPTY
    return format_decimal(value.normalize(), locale=LOCALE, decimal_quantization=False)
