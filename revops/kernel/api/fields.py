"""Serializer fields for money (API.md: JSON strings, beside a `currency`, in the currency's places)."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from .. import money


class CurrencyField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        try:
            return money.validate_currency(code)
        except money.UnknownCurrency as exc:
            raise serializers.ValidationError(exc.message) from None


class DecimalStringField(serializers.Field):
    """A non-negative (unless allowed) decimal given as a string or number; floats from JSON are taken
    through their text so 0.1 stays 0.1. Non-numeric input is a clear field error."""

    default_error_messages = {
        "invalid": "must be a decimal number, e.g. \"12.50\"",
        "negative": "must not be negative",
        "positive": "must be greater than 0",
        "places": "must have at most {places} decimal places",
    }

    def __init__(self, *, places: int = 6, allow_negative: bool = False, positive: bool = False, **kwargs):
        self.places = places
        self.allow_negative = allow_negative
        self.positive = positive
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float | Decimal):
            self.fail("invalid")
        try:
            value = Decimal(str(data).strip())
        except InvalidOperation:
            self.fail("invalid")
        if not value.is_finite():
            self.fail("invalid")
        if self.positive and value <= 0:
            self.fail("positive")
        if not self.allow_negative and value < 0:
            self.fail("negative")
        if value.as_tuple().exponent < -self.places and value != value.quantize(Decimal(1).scaleb(-self.places)):
            self.fail("places", places=self.places)
        return value

    def to_representation(self, value) -> str:
        return format(Decimal(value).normalize(), "f") if value is not None else None


def _currency_of(instance, currency_source: str) -> str:
    obj = instance
    for part in currency_source.split("."):
        obj = getattr(obj, part)
    return obj


class MoneyField(DecimalStringField):
    """A posted amount: written with exactly the currency's minor-unit places ("12.00", "1200", "1.250").

    `currency_source` names the attribute holding the currency on the same object (dotted for related).
    """

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source
        super().__init__(places=kwargs.pop("places", 3), **kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        return (value, _currency_of(instance, self.currency_source)) if value is not None else None

    def to_representation(self, pair) -> str | None:
        if pair is None:
            return None
        value, currency = pair
        return str(money.quantize(value, currency))


class UnitPriceField(DecimalStringField):
    """A unit price: up to 6 places, shown with at least the currency's places ("10.00", "0.0006")."""

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source
        super().__init__(places=6, **kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        return (value, _currency_of(instance, self.currency_source)) if value is not None else None

    def to_representation(self, pair) -> str | None:
        if pair is None:
            return None
        value, currency = pair
        return format_unit_price(value, currency)


def format_unit_price(value: Decimal, currency: str) -> str:
    value = Decimal(value)
    minimum = money.minor_units(currency)
    places = max(minimum, -value.normalize().as_tuple().exponent)
    return str(value.quantize(Decimal(1).scaleb(-min(places, money.UNIT_PRICE_PLACES))))


class DecimalStringFieldExtension(OpenApiSerializerFieldExtension):
    """Money, unit prices and quantities are decimal strings in the OpenAPI schema (API.md)."""

    target_class = DecimalStringField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "format": "decimal", "example": "12.50"}
