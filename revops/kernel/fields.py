"""Model fields shared by every app, so money columns are declared one way."""
from django.core.exceptions import ValidationError
from django.db import models

from . import money

AMOUNT_DIGITS = 19
AMOUNT_PLACES = 3  # enough for every currency's minor unit (KWD 3); values are quantized per currency
UNIT_PRICE_PLACES = money.UNIT_PRICE_PLACES


def validate_currency_code(value: str) -> None:
    try:
        money.validate_currency(value)
    except money.UnknownCurrency as exc:
        raise ValidationError(exc.message, code="unknown_currency") from None


class CurrencyField(models.CharField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        kwargs.setdefault("validators", [validate_currency_code])
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("validators", None)
        return name, path, args, kwargs


def AmountField(**kwargs) -> models.DecimalField:  # noqa: N802 - reads like a field class
    """A posted money amount, quantized to its row's currency by the service that writes it."""
    kwargs.setdefault("max_digits", AMOUNT_DIGITS)
    kwargs.setdefault("decimal_places", AMOUNT_PLACES)
    return models.DecimalField(**kwargs)


def UnitPriceField(**kwargs) -> models.DecimalField:  # noqa: N802
    """A unit price with up to 6 places (per API call, per GB)."""
    kwargs.setdefault("max_digits", AMOUNT_DIGITS + 3)
    kwargs.setdefault("decimal_places", UNIT_PRICE_PLACES)
    return models.DecimalField(**kwargs)


def QuantityField(**kwargs) -> models.DecimalField:  # noqa: N802
    """Quantities may be fractional (GB, hours); 6 places."""
    kwargs.setdefault("max_digits", 20)
    kwargs.setdefault("decimal_places", 6)
    return models.DecimalField(**kwargs)
