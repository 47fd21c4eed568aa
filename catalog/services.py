"""Writes for the catalog: meters, products, price books, prices with tiers, bundles, product rules and
discount schedules.

Every service validates the whole input first and raises `ValidationFailed` whose `fields` name each
bad value (`"tiers[1].up_to"`), so nothing is written on error; then it writes the record (and its
tiers or options) and records an outbox event in one transaction. Prices are validated by
`catalog.pricing.price_errors`, the same rules the engine relies on.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from revops.kernel import money
from revops.kernel.errors import ValidationFailed, field_error
from revops.kernel.events import record_event

from . import pricing
from .models import (
    Bundle,
    BundleOption,
    DiscountSchedule,
    DiscountTier,
    Meter,
    Price,
    PriceBook,
    PriceTier,
    Product,
    ProductRule,
)

Errors = dict[str, list[str]]

# Amount columns hold 19 digits, 3 of them places (unit prices 22 and 6): 15 whole digits fit both.
MAX_WHOLE = Decimal(10) ** 15
PERCENT_PLACES = 4
QUANTITY_PLACES = 6
MAX_TIERS = 100

DEFAULT_RECOGNITION = {
    Product.Kind.RECURRING: Product.Recognition.RATABLE,
    Product.Kind.ONE_TIME: Product.Recognition.POINT_IN_TIME,
    Product.Kind.USAGE: Product.Recognition.USAGE,
}


# --- shared validation helpers ------------------------------------------------------------------------

def _add(errors: Errors, name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def _raise_if(errors: Errors, what: str) -> None:
    if errors:
        name, messages = next(iter(errors.items()))
        raise ValidationFailed(f"invalid {what}: {name} {messages[0]}", fields=errors)


def _unknown(given: Mapping[str, Any], allowed: Sequence[str], what: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ValidationFailed(f"unknown {what} fields: {', '.join(unknown)}",
                               fields={name: ["unknown field"] for name in unknown})


def decimal_value(value: Any, name: str, errors: Errors, *, places: int, places_note: str = "",
                  allow_negative: bool = False) -> Decimal | None:
    """`value` as a Decimal with at most `places` places, or None after adding the field's error.

    Floats are refused by `money.to_decimal` (a TypeError: a programming error, not bad input).
    """
    if value is None:
        return None
    try:
        number = money.to_decimal(value)
    except ValidationFailed:
        _add(errors, name, 'must be a decimal number, e.g. "12.50"')
        return None
    if number < 0 and not allow_negative:
        _add(errors, name, "must not be negative")
        return None
    if abs(number) >= MAX_WHOLE:
        _add(errors, name, "is too large")
        return None
    if number != number.quantize(Decimal(1).scaleb(-places)):
        _add(errors, name, f"must have at most {places} decimal places{places_note}")
        return None
    return number


def amount_value(value: Any, name: str, errors: Errors, currency: str | None) -> Decimal | None:
    """A posted amount: at most the currency's minor-unit places, stored quantized to them."""
    places = money.minor_units(currency) if currency else 3
    number = decimal_value(value, name, errors, places=places, places_note=f" for {currency}" if currency else "")
    return money.quantize(number, currency) if number is not None and currency else number


def _whole_number(value: Any, name: str, errors: Errors) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        _add(errors, name, "must be a whole number")
        return None
    return value


def _valid_currency(code: Any, errors: Errors, name: str = "currency") -> str | None:
    try:
        return money.validate_currency(code)
    except money.UnknownCurrency as exc:
        _add(errors, name, exc.message)
        return None


def _choice(value: Any, choices, name: str, errors: Errors) -> None:
    if value not in choices.values:
        _add(errors, name, f"must be one of {', '.join(choices.values)}")


def _text(value: Any, name: str, errors: Errors, *, max_length: int, required: bool = True) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        _add(errors, name, "must be text")
        return ""
    if required and not text:
        _add(errors, name, "is required")
    elif len(text) > max_length:
        _add(errors, name, f"must be at most {max_length} characters")
    return text


def _money_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --- meters -----------------------------------------------------------------------------------------

METER_FIELDS = ("code", "name", "aggregation", "field", "unit")


def _check_meter(meter: Meter) -> None:
    errors: Errors = {}
    meter.code = _text(meter.code, "code", errors, max_length=60)
    if meter.code and slugify(meter.code) != meter.code:
        _add(errors, "code", "use lowercase letters, digits and hyphens, e.g. api-calls")
    meter.name = _text(meter.name, "name", errors, max_length=120)
    _choice(meter.aggregation, Meter.Aggregation, "aggregation", errors)
    meter.field = _text(meter.field, "field", errors, max_length=60, required=False)
    meter.unit = _text(meter.unit, "unit", errors, max_length=30, required=False)
    if meter.aggregation != Meter.Aggregation.COUNT and not meter.field:
        _add(errors, "field", f"is required: a {meter.aggregation} meter aggregates an event property")
    if meter.code and Meter.objects.filter(code=meter.code).exclude(pk=meter.pk).exists():
        _add(errors, "code", f"a meter with code {meter.code!r} already exists")
    _raise_if(errors, "meter")


def _meter_payload(meter: Meter) -> dict:
    return {"id": meter.pk, "code": meter.code, "aggregation": meter.aggregation, "field": meter.field}


def meter_create(*, code: str, name: str, aggregation: str = Meter.Aggregation.COUNT, field: str = "",
                 unit: str = "") -> Meter:
    """Create a meter and record `meter.created`. The code is unique; non-count meters name a field."""
    meter = Meter(code=code, name=name, aggregation=aggregation, field=field, unit=unit)
    _check_meter(meter)
    try:
        with transaction.atomic():
            meter.save()
            record_event("meter.created", meter, _meter_payload(meter))
    except IntegrityError as exc:  # a concurrent create took the code
        raise field_error("code", f"a meter with code {code!r} already exists") from exc
    return meter


def meter_update(*, meter_id: int, **changes) -> Meter:
    """Change a meter's fields and record `meter.updated` with the changed field names."""
    _unknown(changes, METER_FIELDS, "meter")
    with transaction.atomic():
        meter = Meter.objects.select_for_update().get(pk=meter_id)
        changed = [name for name, value in changes.items() if getattr(meter, name) != value]
        if not changed:
            return meter
        for name in changed:
            setattr(meter, name, changes[name])
        _check_meter(meter)
        meter.save()
        record_event("meter.updated", meter, {**_meter_payload(meter), "changed": sorted(changed)})
    return meter


# --- products ---------------------------------------------------------------------------------------

PRODUCT_FIELDS = ("sku", "name", "description", "family", "kind", "recognition", "currency", "ssp", "unit_cost",
                  "meter", "active", "ssp_residual", "distinct")


def _check_product(product: Product) -> None:
    errors: Errors = {}
    product.sku = _text(product.sku, "sku", errors, max_length=60)
    product.name = _text(product.name, "name", errors, max_length=200)
    product.family = _text(product.family, "family", errors, max_length=60, required=False)
    product.description = product.description or ""
    _choice(product.kind, Product.Kind, "kind", errors)
    _choice(product.recognition, Product.Recognition, "recognition", errors)
    _valid_currency(product.currency, errors)
    if product.ssp is not None:
        product.ssp = decimal_value(product.ssp, "ssp", errors, places=money.UNIT_PRICE_PLACES)
    if product.unit_cost is None:
        _add(errors, "unit_cost", "is required (0 when the product costs nothing to deliver)")
    else:
        product.unit_cost = decimal_value(product.unit_cost, "unit_cost", errors, places=money.UNIT_PRICE_PLACES)
    if product.kind == Product.Kind.USAGE and product.meter_id is None:
        _add(errors, "meter", "a usage product needs a meter: it says how its usage events add up")
    if product.sku and Product.objects.filter(sku=product.sku).exclude(pk=product.pk).exists():
        _add(errors, "sku", f"another product already has SKU {product.sku!r}")
    _raise_if(errors, "product")


def _product_payload(product: Product) -> dict:
    return {
        "id": product.pk, "sku": product.sku, "name": product.name, "kind": product.kind,
        "recognition": product.recognition, "currency": product.currency, "ssp": _money_str(product.ssp),
        "meter": product.meter.code if product.meter_id else None, "active": product.active,
    }


def product_create(*, sku: str, name: str, kind: str, recognition: str | None = None, meter: Meter | None = None,
                   description: str = "", family: str = "", currency: str = "USD", ssp: Decimal | None = None,
                   unit_cost: Decimal | str = Decimal(0), active: bool = True, ssp_residual: bool = False,
                   distinct: bool = True) -> Product:
    """Create a product and record `product.created`.

    The SKU is unique; a usage product needs a meter. `recognition` defaults from the kind (recurring:
    ratable, one-time: point in time, usage: as used).
    """
    if recognition is None:
        recognition = DEFAULT_RECOGNITION.get(kind, "")
    product = Product(sku=sku, name=name, kind=kind, recognition=recognition, meter=meter, description=description,
                      family=family, currency=currency, ssp=ssp, unit_cost=unit_cost, active=active,
                      ssp_residual=ssp_residual, distinct=distinct)
    _check_product(product)
    try:
        with transaction.atomic():
            product.save()
            record_event("product.created", product, _product_payload(product))
    except IntegrityError as exc:  # a concurrent create took the SKU
        raise field_error("sku", f"another product already has SKU {product.sku!r}") from exc
    return product


def product_update(*, product_id: int, **changes) -> Product:
    """Change a product's fields (same rules as create) and record `product.updated`."""
    _unknown(changes, PRODUCT_FIELDS, "product")
    try:
        with transaction.atomic():
            product = Product.objects.select_for_update().get(pk=product_id)
            changed = [name for name, value in changes.items() if getattr(product, name) != value]
            if not changed:
                return product
            for name in changed:
                setattr(product, name, changes[name])
            _check_product(product)
            product.save()
            record_event("product.updated", product, {**_product_payload(product), "changed": sorted(changed)})
    except IntegrityError as exc:
        raise field_error("sku", f"another product already has SKU {changes.get('sku')!r}") from exc
    return product


# --- price books ------------------------------------------------------------------------------------

PRICE_BOOK_FIELDS = ("name", "currency", "is_default", "active")


def _check_price_book(book: PriceBook) -> None:
    errors: Errors = {}
    book.name = _text(book.name, "name", errors, max_length=120)
    _valid_currency(book.currency, errors)
    if book.is_default and not book.active:
        _add(errors, "is_default", "an inactive price book cannot be the default")
    if book.name and PriceBook.objects.filter(name=book.name).exclude(pk=book.pk).exists():
        _add(errors, "name", f"a price book named {book.name!r} already exists")
    if book.pk is not None and "currency" not in errors:
        stored = PriceBook.objects.filter(pk=book.pk).values_list("currency", flat=True).first()
        if stored != book.currency and book.prices.exists():
            _add(errors, "currency", "cannot change the currency of a price book that has prices; create a new book")
    _raise_if(errors, "price book")


def _take_default(book: PriceBook) -> int | None:
    """Unset the currency's current default (locked), so `book` can become the default. Returns its id."""
    replaced = None
    for other in PriceBook.objects.select_for_update().filter(currency=book.currency, is_default=True) \
            .exclude(pk=book.pk):
        other.is_default = False
        other.save(update_fields=["is_default"])  # a save, not update(): the audit trail sees it
        replaced = other.pk
    return replaced


def _price_book_payload(book: PriceBook) -> dict:
    return {"id": book.pk, "name": book.name, "currency": book.currency, "is_default": book.is_default,
            "active": book.active}


def price_book_create(*, name: str, currency: str, is_default: bool = False, active: bool = True) -> PriceBook:
    """Create a price book and record `price_book.created`.

    The currency must be a known ISO 4217 code. There is one default book per currency: a new default
    takes over from the old one in the same transaction.
    """
    book = PriceBook(name=name, currency=currency, is_default=is_default, active=active)
    _check_price_book(book)
    try:
        with transaction.atomic():
            replaced = _take_default(book) if book.is_default else None
            book.save()
            record_event("price_book.created", book, {**_price_book_payload(book), "replaced_default": replaced})
    except IntegrityError as exc:
        raise ValidationFailed("another price book was saved at the same time; try again",
                               fields={"name": ["conflicts with a concurrent change"]}) from exc
    return book


def price_book_update(*, price_book_id: int, **changes) -> PriceBook:
    """Rename, (de)activate or make a book the default for its currency; record `price_book.updated`."""
    _unknown(changes, PRICE_BOOK_FIELDS, "price book")
    with transaction.atomic():
        book = PriceBook.objects.select_for_update().get(pk=price_book_id)
        changed = [name for name, value in changes.items() if getattr(book, name) != value]
        if not changed:
            return book
        for name in changed:
            setattr(book, name, changes[name])
        _check_price_book(book)
        replaced = _take_default(book) if book.is_default else None
        book.save()
        record_event("price_book.updated", book,
                     {**_price_book_payload(book), "changed": sorted(changed), "replaced_default": replaced})
    return book


# --- prices -----------------------------------------------------------------------------------------

PRICE_FIELDS = ("model", "currency", "unit_amount", "flat_amount", "package_size", "percentage", "billing_period",
                "active")
PRICE_UPDATE_FIELDS = (*PRICE_FIELDS, "product", "price_book", "tiers")
TIER_KEYS = ("up_to", "unit_amount", "flat_amount")


def parse_tiers(raw: Any, currency: str | None, errors: Errors) -> list[pricing.Tier]:
    """Tier dicts -> pricing.Tier, in the order given. Bad values get an error and a neutral stand-in
    (so the engine's checks still run on the rest, and never repeat an error already reported)."""
    if raw is None:
        return []
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        _add(errors, "tiers", "must be a list of tiers")
        return []
    if len(raw) > MAX_TIERS:
        _add(errors, "tiers", f"at most {MAX_TIERS} tiers")
        return []
    tiers = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            _add(errors, f"tiers[{i}]", 'must be an object {"up_to", "unit_amount", "flat_amount"}')
            continue
        for key in sorted(set(item) - set(TIER_KEYS)):
            _add(errors, f"tiers[{i}].{key}", "unknown field")
        if "up_to" not in item:
            _add(errors, f"tiers[{i}].up_to", "is required (null for the open-ended last tier)")
        up_to = _whole_number(item.get("up_to"), f"tiers[{i}].up_to", errors)
        unit = decimal_value(item.get("unit_amount", 0), f"tiers[{i}].unit_amount", errors,
                             places=money.UNIT_PRICE_PLACES)
        flat = amount_value(item.get("flat_amount", 0), f"tiers[{i}].flat_amount", errors, currency)
        if item.get("unit_amount", 0) is None:
            _add(errors, f"tiers[{i}].unit_amount", "must not be null (0 for a free tier)")
        if item.get("flat_amount", 0) is None:
            _add(errors, f"tiers[{i}].flat_amount", "must not be null (0 for no flat fee)")
        tiers.append(pricing.Tier(up_to=up_to, unit_amount=unit if unit is not None else pricing.ZERO,
                                  flat_amount=flat if flat is not None else pricing.ZERO))
    return tiers


def price_check(*, product: Product, price_book: PriceBook, values: Mapping[str, Any], tiers: Any,
                exclude_pk: int | None = None) -> tuple[dict[str, Any], list[pricing.Tier]]:
    """Validate a whole price definition; return its normalized field values and tiers, or raise
    ValidationFailed naming every bad field. `values` holds PRICE_FIELDS (currency may be None: the
    book's). Used by the services and by the admin's forms, so every way in applies the same rules."""
    errors: Errors = {}
    currency = values.get("currency") or price_book.currency
    if _valid_currency(currency, errors) is not None and currency != price_book.currency:
        _add(errors, "currency", f"must be the price book's currency: {price_book.name} is in "
                                 f"{price_book.currency}, not {currency}")
    places_currency = price_book.currency if "currency" in errors else currency
    model = values.get("model")
    _choice(model, Price.Model, "model", errors)
    billing_period = values.get("billing_period") or Price.BillingPeriod.MONTH
    _choice(billing_period, Price.BillingPeriod, "billing_period", errors)
    unit_amount = decimal_value(values.get("unit_amount"), "unit_amount", errors, places=money.UNIT_PRICE_PLACES)
    flat_amount = amount_value(values.get("flat_amount"), "flat_amount", errors, places_currency)
    package_size = _whole_number(values.get("package_size"), "package_size", errors)
    percentage = decimal_value(values.get("percentage"), "percentage", errors, places=PERCENT_PLACES)
    parsed_tiers = parse_tiers(tiers, places_currency, errors)
    if "model" not in errors:
        spec = pricing.PriceSpec(model=model, currency=places_currency, unit_amount=unit_amount,
                                 flat_amount=flat_amount, package_size=package_size, percentage=percentage,
                                 tiers=tuple(parsed_tiers))
        for name, messages in pricing.price_errors(spec).items():
            if name not in errors:  # a value that failed to parse was replaced; don't report it twice
                errors[name] = messages
    if not errors and Price.objects.filter(product=product, price_book=price_book,
                                           billing_period=billing_period).exclude(pk=exclude_pk).exists():
        _add(errors, "billing_period",
             f"{product.sku} already has a {billing_period} price in {price_book.name}; change that one instead")
    _raise_if(errors, "price")
    cleaned = {
        "model": model, "currency": currency, "billing_period": billing_period, "unit_amount": unit_amount,
        "flat_amount": flat_amount, "package_size": package_size, "percentage": percentage,
        "active": values.get("active", True),
    }
    return cleaned, parsed_tiers if model in pricing.TIERED else []


def _write_tiers(price: Price, tiers: Sequence[pricing.Tier]) -> None:
    # Row by row (not bulk): PriceTier is on the audit trail.
    for old in price.tiers.all():
        old.delete()
    for tier in tiers:
        PriceTier.objects.create(price=price, up_to=tier.up_to, unit_amount=tier.unit_amount,
                                 flat_amount=tier.flat_amount)


def _tier_payload(tiers: Sequence[pricing.Tier]) -> list[dict]:
    return [{"up_to": t.up_to, "unit_amount": str(t.unit_amount), "flat_amount": str(t.flat_amount)} for t in tiers]


def _price_payload(price: Price, tiers: Sequence[pricing.Tier]) -> dict:
    return {
        "id": price.pk, "product": price.product_id, "price_book": price.price_book_id, "model": price.model,
        "currency": price.currency, "billing_period": price.billing_period,
        "unit_amount": _money_str(price.unit_amount), "flat_amount": _money_str(price.flat_amount),
        "package_size": price.package_size, "percentage": _money_str(price.percentage),
        "active": price.active, "tiers": _tier_payload(tiers),
    }


def price_create(*, product: Product, price_book: PriceBook, model: str,
                 billing_period: str = Price.BillingPeriod.MONTH, currency: str | None = None,
                 unit_amount: Decimal | str | None = None, flat_amount: Decimal | str | None = None,
                 package_size: int | None = None, percentage: Decimal | str | None = None,
                 tiers: Sequence[Mapping[str, Any]] | None = None, active: bool = True) -> Price:
    """Create a price with its tiers (`[{"up_to", "unit_amount", "flat_amount"}]`, ascending, the last
    open-ended) and record `price.created`, all in one transaction.

    The currency is the price book's (given or not); amounts carry at most the currency's places (unit
    prices 6). Every error is reported at once, named like `tiers[1].up_to`, and nothing is saved.
    """
    values = {"model": model, "currency": currency, "billing_period": billing_period, "unit_amount": unit_amount,
              "flat_amount": flat_amount, "package_size": package_size, "percentage": percentage, "active": active}
    cleaned, parsed_tiers = price_check(product=product, price_book=price_book, values=values, tiers=tiers)
    try:
        with transaction.atomic():
            price = Price.objects.create(product=product, price_book=price_book, **cleaned)
            _write_tiers(price, parsed_tiers)
            record_event("price.created", price, _price_payload(price, parsed_tiers))
    except IntegrityError as exc:  # a concurrent create of the same product/book/period
        raise field_error("billing_period", f"{product.sku} already has a {cleaned['billing_period']} price in "
                                            f"{price_book.name}") from exc
    return price


def price_update(*, price_id: int, **changes) -> Price:
    """Change a price; `tiers`, when given, replaces all its tiers. The product, book and currency are
    fixed (create another price instead). Records `price.updated` with the changed field names.

    The result is validated as a whole (e.g. switching to `per_unit` needs a `unit_amount`; switching
    away from tiers drops them); nothing is saved on error.
    """
    _unknown(changes, PRICE_UPDATE_FIELDS, "price")
    with transaction.atomic():
        price = Price.objects.select_for_update().select_related("product", "price_book").get(pk=price_id)
        errors: Errors = {}
        for name in ("product", "price_book"):
            if name in changes and getattr(changes[name], "pk", changes[name]) != getattr(price, f"{name}_id"):
                _add(errors, name, "cannot be changed: create a new price instead")
        if changes.get("currency") not in (None, price.currency):
            _add(errors, "currency", f"cannot be changed: the price is in {price.currency}, its book's currency")
        _raise_if(errors, "price")
        old_tiers = [pricing.Tier(t.up_to, t.unit_amount, t.flat_amount) for t in price.tiers.all()]
        values = {name: changes.get(name, getattr(price, name)) for name in PRICE_FIELDS}
        raw_tiers = changes["tiers"] if "tiers" in changes else _tier_payload(old_tiers)
        if values["model"] not in pricing.TIERED and "tiers" not in changes:
            raw_tiers = []  # leaving tiered pricing drops the old tiers
        cleaned, new_tiers = price_check(product=price.product, price_book=price.price_book, values=values,
                                         tiers=raw_tiers, exclude_pk=price.pk)
        tiers_changed = new_tiers != old_tiers
        changed = sorted([name for name, value in cleaned.items() if getattr(price, name) != value]
                         + (["tiers"] if tiers_changed else []))
        if not changed:
            return price
        for name, value in cleaned.items():
            setattr(price, name, value)
        price.save()
        if tiers_changed:
            _write_tiers(price, new_tiers)
        record_event("price.updated", price, {**_price_payload(price, new_tiers), "changed": changed})
    return price


# --- bundles ----------------------------------------------------------------------------------------

OPTION_KEYS = ("product", "required", "default_quantity", "min_quantity", "max_quantity", "position")


def bundle_option_check(*, bundle_product: Product | None, options: Any) -> list[dict[str, Any]]:
    """Validate option dicts (`product`, `required`, `default_quantity`, `min_quantity`, `max_quantity`,
    `position`); return them normalized or raise naming `options[i].<field>`.

    min <= default <= max; a required option must be in the bundle, so its minimum is above 0 (and
    defaults to 1); each product appears once, and never the bundle's own product.
    """
    errors: Errors = {}
    if isinstance(options, str | bytes) or not isinstance(options, Sequence):
        raise field_error("options", "must be a list of options")
    cleaned, seen = [], {}
    for i, item in enumerate(options):
        name = f"options[{i}]"
        if not isinstance(item, Mapping):
            _add(errors, name, "must be an object with a product")
            continue
        for key in sorted(set(item) - set(OPTION_KEYS)):
            _add(errors, f"{name}.{key}", "unknown field")
        product = item.get("product")
        if not isinstance(product, Product):
            _add(errors, f"{name}.product", "is required")
        elif bundle_product is not None and product.pk == bundle_product.pk:
            _add(errors, f"{name}.product", "a bundle cannot contain itself")
        elif product.pk in seen:
            _add(errors, f"{name}.product", f"{product.sku} is already options[{seen[product.pk]}]")
        else:
            seen[product.pk] = i
        required = bool(item.get("required", False))
        default = decimal_value(item.get("default_quantity", 1), f"{name}.default_quantity", errors,
                                places=QUANTITY_PLACES)
        minimum = decimal_value(item.get("min_quantity", 1 if required else 0), f"{name}.min_quantity", errors,
                                places=QUANTITY_PLACES)
        maximum = decimal_value(item.get("max_quantity"), f"{name}.max_quantity", errors, places=QUANTITY_PLACES)
        if default is None and f"{name}.default_quantity" not in errors:
            _add(errors, f"{name}.default_quantity", "is required")
        if minimum is None and f"{name}.min_quantity" not in errors:
            _add(errors, f"{name}.min_quantity", "is required (0 when the option may be left out)")
        if required and minimum is not None and minimum <= 0:
            _add(errors, f"{name}.min_quantity", "a required option needs a minimum quantity above 0")
        if default is not None and minimum is not None and default < minimum:
            _add(errors, f"{name}.default_quantity", f"must be at least the minimum quantity ({minimum})")
        if default is not None and maximum is not None and default > maximum:
            _add(errors, f"{name}.default_quantity", f"must be at most the maximum quantity ({maximum})")
        position = item.get("position", i)
        if _whole_number(position, f"{name}.position", errors) is not None and not 0 <= position <= 32767:
            _add(errors, f"{name}.position", "must be between 0 and 32767")
        cleaned.append({"product": product, "required": required, "default_quantity": default,
                        "min_quantity": minimum, "max_quantity": maximum, "position": position})
    _raise_if(errors, "bundle")
    return cleaned


def _write_options(bundle: Bundle, options: Sequence[dict[str, Any]]) -> None:
    """Upsert by product (keeps option ids stable for quotes), delete the options no longer listed."""
    existing = {o.product_id: o for o in bundle.options.all()}
    keep = {o["product"].pk for o in options}
    for product_id, option in existing.items():
        if product_id not in keep:
            option.delete()
    for values in options:
        option = existing.get(values["product"].pk) or BundleOption(bundle=bundle)
        for name, value in values.items():
            setattr(option, name, value)
        option.save()


def _bundle_payload(bundle: Bundle, options: Sequence[dict[str, Any]]) -> dict:
    return {"id": bundle.pk, "product": bundle.product_id,
            "options": [{"product": o["product"].pk, "required": o["required"],
                         "default_quantity": str(o["default_quantity"])} for o in options]}


def bundle_create(*, product: Product, description: str = "",
                  options: Sequence[Mapping[str, Any]] = ()) -> Bundle:
    """Make `product` a bundle of `options` (see `bundle_option_check`) and record `bundle.created`."""
    if Bundle.objects.filter(product=product).exists():
        raise field_error("product", f"{product.sku} is already a bundle; change that bundle instead")
    cleaned = bundle_option_check(bundle_product=product, options=options)
    try:
        with transaction.atomic():
            bundle = Bundle.objects.create(product=product, description=description or "")
            _write_options(bundle, cleaned)
            record_event("bundle.created", bundle, _bundle_payload(bundle, cleaned))
    except IntegrityError as exc:
        raise field_error("product", f"{product.sku} is already a bundle") from exc
    return bundle


def bundle_update(*, bundle_id: int, description: str | None = None,
                  options: Sequence[Mapping[str, Any]] | None = None, product: Product | None = None) -> Bundle:
    """Change the description and/or replace the options (matched by product); record `bundle.updated`."""
    if description is None and options is None and product is None:
        return Bundle.objects.get(pk=bundle_id)
    with transaction.atomic():
        bundle = Bundle.objects.select_for_update().select_related("product").get(pk=bundle_id)
        if product is not None and product.pk != bundle.product_id:
            raise field_error("product", "cannot be changed: create a new bundle instead")
        cleaned = bundle_option_check(bundle_product=bundle.product, options=options) if options is not None \
            else None
        if description is not None:
            bundle.description = description
            bundle.save(update_fields=["description"])
        if cleaned is not None:
            _write_options(bundle, cleaned)
        current = cleaned if cleaned is not None else [
            {"product": o.product, "required": o.required, "default_quantity": o.default_quantity}
            for o in bundle.options.select_related("product")
        ]
        record_event("bundle.updated", bundle, _bundle_payload(bundle, current))
    return bundle


# --- product rules ----------------------------------------------------------------------------------

def _check_rule(rule: ProductRule) -> None:
    errors: Errors = {}
    _choice(rule.kind, ProductRule.Kind, "kind", errors)
    rule.message = _text(rule.message, "message", errors, max_length=300, required=False)
    if rule.product_id is not None and rule.product_id == rule.other_product_id:
        _add(errors, "other_product", "a product cannot require or exclude itself")
    if not errors:
        same = ProductRule.objects.filter(product_id=rule.product_id, other_product_id=rule.other_product_id) \
            .exclude(pk=rule.pk)
        for other in same:
            if other.kind == rule.kind:
                _add(errors, "other_product", f"this product already {rule.kind} that product")
            else:
                _add(errors, "kind", f"contradicts an existing rule: the product already {other.kind} that product")
    _raise_if(errors, "product rule")


def _rule_payload(rule: ProductRule) -> dict:
    return {"id": rule.pk, "kind": rule.kind, "product": rule.product_id, "other_product": rule.other_product_id}


def product_rule_create(*, kind: str, product: Product, other_product: Product, message: str = "") -> ProductRule:
    """A `requires`/`excludes` rule between two different products; no duplicate or contradicting rule.
    Records `product_rule.created`."""
    rule = ProductRule(kind=kind, product=product, other_product=other_product, message=message)
    _check_rule(rule)
    try:
        with transaction.atomic():
            rule.save()
            record_event("product_rule.created", rule.product, _rule_payload(rule))
    except IntegrityError as exc:
        raise field_error("other_product", "this rule already exists") from exc
    return rule


def product_rule_update(*, rule_id: int, **changes) -> ProductRule:
    """Change a rule (same checks as create); records `product_rule.updated` on the product."""
    _unknown(changes, ("kind", "product", "other_product", "message"), "product rule")
    with transaction.atomic():
        rule = ProductRule.objects.select_for_update().get(pk=rule_id)
        for name, value in changes.items():
            setattr(rule, name, value)
        _check_rule(rule)
        rule.save()
        record_event("product_rule.updated", rule.product, _rule_payload(rule))
    return rule


def product_rule_delete(*, rule_id: int) -> None:
    """Remove a rule; records `product_rule.deleted` on its product."""
    with transaction.atomic():
        rule = ProductRule.objects.select_for_update().select_related("product").get(pk=rule_id)
        payload = _rule_payload(rule)
        product = rule.product
        rule.delete()
        record_event("product_rule.deleted", product, payload)


# --- discount schedules -----------------------------------------------------------------------------

SCHEDULE_FIELDS = ("name", "kind", "product", "active", "tiers")


def discount_tier_check(*, kind: str, tiers: Any) -> list[tuple[Decimal, Decimal]]:
    """Tier dicts `{"from", "discount_percent"}` (`from_value` also accepted) -> (from, percent) pairs.

    At least one tier; `from` >= 0 and strictly ascending (whole months for a term schedule); percent
    0-100 with at most 4 places. Raises naming `tiers[i].from` / `tiers[i].discount_percent`.
    """
    errors: Errors = {}
    if isinstance(tiers, str | bytes) or not isinstance(tiers, Sequence):
        raise field_error("tiers", "must be a list of tiers")
    if not tiers:
        raise field_error("tiers", "at least one tier is required")
    cleaned: list[tuple[Decimal, Decimal]] = []
    previous: Decimal | None = None
    for i, item in enumerate(tiers):
        if not isinstance(item, Mapping):
            _add(errors, f"tiers[{i}]", 'must be an object {"from", "discount_percent"}')
            continue
        raw_from = item.get("from", item.get("from_value"))
        start = decimal_value(raw_from, f"tiers[{i}].from", errors, places=QUANTITY_PLACES)
        percent = decimal_value(item.get("discount_percent"), f"tiers[{i}].discount_percent", errors,
                                places=PERCENT_PLACES)
        if raw_from is None:
            _add(errors, f"tiers[{i}].from", "is required")
        if item.get("discount_percent") is None:
            _add(errors, f"tiers[{i}].discount_percent", "is required")
        if percent is not None and percent > 100:
            _add(errors, f"tiers[{i}].discount_percent", "must be between 0 and 100")
        if start is not None:
            if kind == DiscountSchedule.Kind.TERM and start != start.to_integral_value():
                _add(errors, f"tiers[{i}].from", "a term schedule counts whole months")
            if previous is not None and start <= previous:
                _add(errors, f"tiers[{i}].from",
                     f"must be greater than the previous tier's from ({previous}): tiers must ascend")
            previous = start if previous is None or start > previous else previous
        if start is not None and percent is not None:
            cleaned.append((start, percent))
    _raise_if(errors, "discount schedule")
    return cleaned


def _check_schedule(schedule: DiscountSchedule) -> None:
    errors: Errors = {}
    schedule.name = _text(schedule.name, "name", errors, max_length=120)
    _choice(schedule.kind, DiscountSchedule.Kind, "kind", errors)
    _raise_if(errors, "discount schedule")


def _write_discount_tiers(schedule: DiscountSchedule, tiers: Sequence[tuple[Decimal, Decimal]]) -> None:
    for old in schedule.tiers.all():
        old.delete()  # one by one: DiscountTier is on the audit trail
    for start, percent in tiers:
        DiscountTier.objects.create(schedule=schedule, from_value=start, discount_percent=percent)


def _schedule_payload(schedule: DiscountSchedule, tiers: Sequence[tuple[Decimal, Decimal]]) -> dict:
    return {"id": schedule.pk, "name": schedule.name, "kind": schedule.kind, "product": schedule.product_id,
            "active": schedule.active,
            "tiers": [{"from": str(start), "discount_percent": str(percent)} for start, percent in tiers]}


def discount_schedule_create(*, name: str, kind: str, tiers: Sequence[Mapping[str, Any]],
                             product: Product | None = None, active: bool = True) -> DiscountSchedule:
    """A volume (by quantity) or term (by months) schedule with its tiers; records
    `discount_schedule.created`. Nothing is saved on error."""
    schedule = DiscountSchedule(name=name, kind=kind, product=product, active=active)
    _check_schedule(schedule)
    cleaned = discount_tier_check(kind=kind, tiers=tiers)
    with transaction.atomic():
        schedule.save()
        _write_discount_tiers(schedule, cleaned)
        record_event("discount_schedule.created", schedule, _schedule_payload(schedule, cleaned))
    return schedule


def discount_schedule_update(*, schedule_id: int, **changes) -> DiscountSchedule:
    """Change a schedule; `tiers`, when given, replaces them all. Records `discount_schedule.updated`."""
    _unknown(changes, SCHEDULE_FIELDS, "discount schedule")
    with transaction.atomic():
        schedule = DiscountSchedule.objects.select_for_update().get(pk=schedule_id)
        for name in ("name", "kind", "product", "active"):
            if name in changes:
                setattr(schedule, name, changes[name])
        _check_schedule(schedule)
        raw = changes["tiers"] if "tiers" in changes else \
            [{"from": t.from_value, "discount_percent": t.discount_percent} for t in schedule.tiers.all()]
        cleaned = discount_tier_check(kind=schedule.kind, tiers=raw)  # a kind change re-checks the tiers
        schedule.save()
        if "tiers" in changes:
            _write_discount_tiers(schedule, cleaned)
        record_event("discount_schedule.updated", schedule,
                     {**_schedule_payload(schedule, cleaned), "changed": sorted(changes)})
    return schedule
