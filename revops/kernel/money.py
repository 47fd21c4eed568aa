"""Money in one place: currency precision, the one rounding rule, exact splitting, formatting.

Rules (see README "Money"):
- amounts are `Decimal`, never float; a float handed in is refused, not converted;
- posted amounts are quantized to the currency's minor unit (babel: JPY 0, USD 2, KWD 3) with
  ROUND_HALF_UP, the rule revops uses everywhere (0.125 -> 0.13);
- splits use largest-remainder allocation so the parts always sum exactly to the whole.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

from .errors import ValidationFailed

ROUNDING = ROUND_HALF_UP
UNIT_PRICE_PLACES = 6  # unit prices may carry up to 6 places (API.md)


class UnknownCurrency(ValidationFailed):
    code = "unknown_currency"


# ISO 4217 codes that are not money anyone invoices in: precious metals, test and "no currency" codes,
# bond-market units and fund codes.
_NOT_TRADEABLE = frozenset({"XAU", "XAG", "XPT", "XPD", "XTS", "XXX", "XDR", "XBA", "XBB", "XBC", "XBD", "XSU",
                            "XUA", "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})


@lru_cache(maxsize=1)
def _known_currencies() -> frozenset[str]:
    return frozenset(list_currencies()) - _NOT_TRADEABLE


def validate_currency(code: str) -> str:
    """Return the ISO 4217 code if babel knows it, else raise UnknownCurrency naming it."""
    if not isinstance(code, str) or code.upper() != code or code not in _known_currencies():
        raise UnknownCurrency(
            f"unknown currency code {code!r}: use an ISO 4217 code such as USD, EUR or JPY",
            fields={"currency": [f"unknown currency code {code!r}"]},
        )
    return code


@lru_cache(maxsize=512)
def minor_units(currency: str) -> int:
    """Places after the decimal point for the currency (JPY 0, USD 2, KWD 3)."""
    return get_currency_precision(validate_currency(currency))


@lru_cache(maxsize=512)
def _exponent(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def to_decimal(value: object) -> Decimal:
    """Decimal from a Decimal, int or numeric string. Floats are refused: they are not exact."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (bool, float)):
        raise TypeError(f"money must not be built from {type(value).__name__} ({value!r}); pass a str or Decimal")
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValidationFailed(f"{value!r} is not a number") from None
    else:
        raise TypeError(f"cannot make money from {type(value).__name__}")
    if not result.is_finite():
        raise ValidationFailed(f"{value!r} is not a finite number")
    return result


def quantize(amount: Decimal | int | str, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up. The only rounding rule for posted amounts."""
    return to_decimal(amount).quantize(_exponent(currency), rounding=ROUNDING)


def quantize_unit_price(amount: Decimal | int | str) -> Decimal:
    """Unit prices keep up to 6 places (0.0006 per API call)."""
    return to_decimal(amount).quantize(Decimal(1).scaleb(-UNIT_PRICE_PLACES), rounding=ROUNDING)


def allocate(total: Decimal | int | str, weights: Sequence[Decimal | int | str], currency: str) -> list[Decimal]:
    """Split `total` in proportion to `weights`, by largest remainder, in the currency's minor unit.

    The parts always sum exactly to quantize(total). Ties in the remainder go to the earlier weight,
    so the result is deterministic. Weights must be >= 0 with a positive sum; a negative total is
    split like its absolute value and the signs restored.
    """
    total_q = quantize(total, currency)
    ws = [to_decimal(w) for w in weights]
    if not ws:
        raise ValidationFailed("cannot allocate over no weights")
    if any(w < 0 for w in ws):
        raise ValidationFailed("allocation weights must not be negative")
    weight_sum = sum(ws, Decimal(0))
    if weight_sum == 0:
        raise ValidationFailed("allocation weights must not all be zero")
    sign = -1 if total_q < 0 else 1
    unit = _exponent(currency)
    units_total = int((abs(total_q) / unit).to_integral_value())
    # Integers throughout (minor units × integer weights): the remainders are compared exactly, so a true
    # tie between repeating fractions (1/3 of 5,493 and 1/3 of 624) goes to the earlier weight as promised.
    ints = _integer_weights(ws)
    whole = sum(ints)
    floors, remainders = [], []
    for w in ints:
        q, r = divmod(units_total * w, whole)
        floors.append(q)
        remainders.append(r)
    left = units_total - sum(floors)
    for i in sorted(range(len(ints)), key=lambda i: (-remainders[i], i))[:left]:
        floors[i] += 1
    return [sign * Decimal(n) * unit for n in floors]


def _integer_weights(ws: list[Decimal]) -> list[int]:
    """The weights scaled by one power of ten to integers, exactly (from their digits, no context rounding)."""
    parts = [w.as_tuple() for w in ws]
    low = min(p.exponent for p in parts)
    return [int("".join(map(str, p.digits)) or "0") * 10 ** (p.exponent - low) for p in parts]


def format_money(amount: Decimal | int | str, currency: str, locale: str = "en_US") -> str:
    """Amount with its currency symbol and the currency's own places, in the reader's locale."""
    q = quantize(amount, currency)
    return format_currency(q, currency, locale=locale, currency_digits=True)


def zero(currency: str) -> Decimal:
    return quantize(0, currency)
