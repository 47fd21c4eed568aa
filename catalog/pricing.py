"""The pricing engine: one pure function, `calculate(price, quantity)`, used by quotes, billing and
previews alike. No database access: callers pass a `PriceSpec` (or a `Price` whose tiers are
prefetched), so pricing a 200-line quote costs no query per line.

Conventions (README "Pricing models"):
- flat: `flat_amount` once for any quantity > 0;
- per_unit: `unit_amount × quantity`;
- graduated: each tier prices the units that fall in it at its own rate, plus its flat fee when at
  least one unit falls in it; tier i covers (up_to[i-1], up_to[i]];
- volume: the whole quantity at the rate of the tier it reaches, plus that tier's flat fee;
- package: `unit_amount` per started block of `package_size` units;
- percentage: `percentage` % of a base amount (the other lines it applies to);
- zero quantity costs nothing in every model: a tier's flat fee is not charged at zero usage
  (bill a base fee as its own flat price instead);
- the amount is the exact sum quantized once (half-up, currency minor unit); the breakdown rows are
  split from it by largest remainder, so they always add up to the amount.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

from revops.kernel import money
from revops.kernel.errors import ValidationFailed

ZERO = Decimal(0)
HUNDRED = Decimal(100)

FLAT, PER_UNIT, GRADUATED, VOLUME, PACKAGE, PERCENTAGE = (
    "flat", "per_unit", "graduated", "volume", "package", "percentage"
)
MODELS = (FLAT, PER_UNIT, GRADUATED, VOLUME, PACKAGE, PERCENTAGE)
TIERED = (GRADUATED, VOLUME)


@dataclass(frozen=True)
class Tier:
    up_to: int | None
    unit_amount: Decimal = ZERO
    flat_amount: Decimal = ZERO


@dataclass(frozen=True)
class PriceSpec:
    model: str
    currency: str
    unit_amount: Decimal | None = None
    flat_amount: Decimal | None = None
    package_size: int | None = None
    percentage: Decimal | None = None
    tiers: tuple[Tier, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, price) -> PriceSpec:
        """From a catalog `Price` (prefetch `tiers` to keep this query-free)."""
        tiers = tuple(Tier(t.up_to, t.unit_amount, t.flat_amount) for t in price.tiers.all()) \
            if price.model in TIERED else ()
        return cls(
            model=price.model, currency=price.currency, unit_amount=price.unit_amount,
            flat_amount=price.flat_amount, package_size=price.package_size, percentage=price.percentage,
            tiers=_sorted_tiers(tiers),
        )


def _sorted_tiers(tiers: Sequence[Tier]) -> tuple[Tier, ...]:
    return tuple(sorted(tiers, key=lambda t: (t.up_to is None, t.up_to or 0)))


@dataclass(frozen=True)
class BreakdownRow:
    tier: int | None  # 1-based tier number, None for untiered models
    quantity: Decimal
    unit_amount: Decimal
    flat_amount: Decimal
    amount: Decimal


@dataclass(frozen=True)
class PriceResult:
    amount: Decimal
    currency: str
    breakdown: tuple[BreakdownRow, ...]


# --- validation -------------------------------------------------------------------------------

def tier_errors(tiers: Sequence[Tier]) -> dict[str, list[str]]:
    """Field errors for a tier list as given (order matters): ascending bounds, last one open."""
    errors: dict[str, list[str]] = {}
    if not tiers:
        return {"tiers": ["at least one tier is required"]}
    previous = 0
    for i, tier in enumerate(tiers):
        last = i == len(tiers) - 1
        if tier.up_to is None and not last:
            errors.setdefault(f"tiers[{i}].up_to", []).append("only the last tier may be open-ended (up_to null)")
        elif tier.up_to is not None and last:
            errors.setdefault(f"tiers[{i}].up_to", []).append(
                "the last tier must be open-ended (up_to null) so every quantity has a price")
        if tier.up_to is not None:
            if tier.up_to <= previous:
                errors.setdefault(f"tiers[{i}].up_to", []).append(
                    f"must be greater than the previous tier's bound ({previous}): tiers must ascend "
                    "without overlapping")
            else:
                previous = tier.up_to
        if tier.unit_amount is None or tier.unit_amount < 0:
            errors.setdefault(f"tiers[{i}].unit_amount", []).append("must not be negative")
        if tier.flat_amount is None or tier.flat_amount < 0:
            errors.setdefault(f"tiers[{i}].flat_amount", []).append("must not be negative")
    return errors


def price_errors(spec: PriceSpec) -> dict[str, list[str]]:
    """Field errors for a price definition; empty when the price can be calculated for any quantity."""
    errors: dict[str, list[str]] = {}

    def need(name: str, value, what: str = "is required for this pricing model") -> None:
        if value is None:
            errors.setdefault(name, []).append(what)

    if spec.model not in MODELS:
        return {"model": [f"must be one of {', '.join(MODELS)}"]}
    try:
        money.validate_currency(spec.currency)
    except money.UnknownCurrency as exc:
        errors["currency"] = [exc.message]
    for name in ("unit_amount", "flat_amount"):
        value = getattr(spec, name)
        if value is not None and value < 0:
            errors.setdefault(name, []).append("must not be negative")
    if spec.model == FLAT:
        need("flat_amount", spec.flat_amount)
    elif spec.model == PER_UNIT:
        need("unit_amount", spec.unit_amount)
    elif spec.model == PACKAGE:
        need("unit_amount", spec.unit_amount, "is required: the price of one package")
        if spec.package_size is None or spec.package_size < 1:
            errors.setdefault("package_size", []).append("must be a whole number of at least 1")
    elif spec.model == PERCENTAGE:
        need("percentage", spec.percentage)
        if spec.percentage is not None and not (ZERO <= spec.percentage <= HUNDRED):
            errors.setdefault("percentage", []).append("must be between 0 and 100")
    if spec.model in TIERED:
        errors.update(tier_errors(spec.tiers))
    elif spec.tiers:
        errors["tiers"] = [f"tiers are only used by graduated and volume prices, not {spec.model}"]
    return errors


def validate_price(spec: PriceSpec) -> None:
    errors = price_errors(spec)
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"invalid price: {first} {errors[first][0]}", fields=errors)


# --- calculation ------------------------------------------------------------------------------

def _quantity(value) -> Decimal:
    q = value if isinstance(value, Decimal) else money.to_decimal(value)
    if q < 0:
        raise ValidationFailed("quantity must not be negative", fields={"quantity": ["must not be negative"]})
    return q


def calculate(price, quantity, *, base_amount: Decimal | None = None) -> PriceResult:
    """Amount and per-tier breakdown for `quantity` units of `price` (a PriceSpec or a catalog Price).

    `base_amount` is the amount a percentage price applies to.
    """
    spec = price if isinstance(price, PriceSpec) else PriceSpec.of(price)
    q = _quantity(quantity)
    rows = _exact_rows(spec, q, base_amount)
    exact_total = sum((r.amount for r in rows), ZERO)
    total = money.quantize(exact_total, spec.currency)
    if rows and exact_total > 0:
        parts = money.allocate(total, [r.amount for r in rows], spec.currency)
        rows = [BreakdownRow(r.tier, r.quantity, r.unit_amount, r.flat_amount, part) for r, part in zip(rows, parts, strict=False)]
    else:
        rows = [BreakdownRow(r.tier, r.quantity, r.unit_amount, r.flat_amount, money.zero(spec.currency))
                for r in rows]
    return PriceResult(amount=total, currency=spec.currency, breakdown=tuple(rows))


def _exact_rows(spec: PriceSpec, q: Decimal, base_amount: Decimal | None) -> list[BreakdownRow]:
    if spec.model == FLAT:
        flat = spec.flat_amount if q > 0 else ZERO
        return [BreakdownRow(None, q, ZERO, spec.flat_amount, flat)]
    if spec.model == PER_UNIT:
        return [BreakdownRow(None, q, spec.unit_amount, ZERO, spec.unit_amount * q)]
    if spec.model == PACKAGE:
        packages = (q / spec.package_size).to_integral_value(rounding=ROUND_CEILING)
        return [BreakdownRow(None, packages, spec.unit_amount, ZERO, spec.unit_amount * packages)]
    if spec.model == PERCENTAGE:
        if base_amount is None:
            raise ValidationFailed("a percentage price needs the amount it applies to",
                                   fields={"base_amount": ["required for percentage prices"]})
        base = base_amount if q > 0 else ZERO
        return [BreakdownRow(None, q, ZERO, ZERO, base * spec.percentage / HUNDRED)]
    if spec.model == GRADUATED:
        return _graduated(spec.tiers, q)
    if spec.model == VOLUME:
        return _volume(spec.tiers, q)
    raise ValidationFailed(f"unknown pricing model {spec.model!r}", fields={"model": ["unknown"]})


def _graduated(tiers: Sequence[Tier], q: Decimal) -> list[BreakdownRow]:
    rows = []
    lower = ZERO
    for number, tier in enumerate(tiers, start=1):
        upper = Decimal(tier.up_to) if tier.up_to is not None else None
        units = (min(q, upper) if upper is not None else q) - lower
        if units <= 0:
            break
        rows.append(BreakdownRow(number, units, tier.unit_amount, tier.flat_amount,
                                 tier.unit_amount * units + tier.flat_amount))
        if upper is None or q <= upper:
            break
        lower = upper
    return rows


def _volume(tiers: Sequence[Tier], q: Decimal) -> list[BreakdownRow]:
    if q == 0:
        return []
    for number, tier in enumerate(tiers, start=1):
        if tier.up_to is None or q <= tier.up_to:
            return [BreakdownRow(number, q, tier.unit_amount, tier.flat_amount,
                                 tier.unit_amount * q + tier.flat_amount)]
    raise ValidationFailed("quantity is above the last tier", fields={"quantity": ["above the last tier"]})


# --- discount schedules ---------------------------------------------------------------------------

def schedule_discount_percent(tiers: Sequence[tuple[Decimal, Decimal]], value: Decimal) -> Decimal:
    """Discount % of a schedule for `value` (quantity or months): the tier with the greatest
    `from` not above the value; 0 below the first tier. `tiers` are (from_value, discount_percent)."""
    best = ZERO
    best_from = None
    for from_value, percent in tiers:
        if from_value <= value and (best_from is None or from_value > best_from):
            best, best_from = percent, from_value
    return best
