"""The demo catalog for `manage.py seed_demo`: a SaaS price list that uses every pricing model, in four
price books (USD, EUR, GBP, JPY), with a bundle, product rules and discount schedules. Everything goes
through catalog.services, so each row is validated and records its outbox event and audit entries.

| product | kind | pricing model |
|---|---|---|
| PLAT-STARTER / PLAT-PRO / PLAT-ENT platform editions | recurring, per seat | per_unit, month and year |
| ADDON-ANALYTICS advanced analytics | recurring | flat, month and year |
| SUPPORT-ENT enterprise support | recurring | percentage (15 % of the other lines) |
| SVC-ONBOARDING implementation & onboarding | one-time, point in time | flat |
| SVC-TRAINING admin training, per day | one-time, point in time | per_unit |
| USAGE-API API calls (meter api-calls) | usage | graduated |
| USAGE-STORAGE storage GB (meter storage-gb) | usage | volume |
| USAGE-SMS SMS messages (meter sms-messages) | usage | package of 1,000 |
| BUNDLE-GROWTH Growth bundle | recurring | flat 0: priced by its options |

Leaves in ctx.shared:
- "price_books": {currency: PriceBook} (USD, EUR, JPY are their currency's default; GBP is not);
- "products": {sku: Product}; "meters": {code: Meter};
- "editions": [sku] of the platform editions, cheapest first;
- "growth_bundle": the Growth Bundle.
"""
from __future__ import annotations

from decimal import Decimal

from revops.kernel import money

from .models import DiscountSchedule, Meter, Price, Product, ProductRule
from .services import (
    bundle_create,
    discount_schedule_create,
    meter_create,
    price_book_create,
    price_create,
    product_create,
    product_rule_create,
)

D = Decimal
MONTH, YEAR, ONE_TIME = Price.BillingPeriod.MONTH, Price.BillingPeriod.YEAR, Price.BillingPeriod.ONE_TIME
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
PRICE_BOOKS = [  # (name, currency, is_default)
    ("Global list", "USD", True),
    ("Eurozone list", "EUR", True),
    ("UK list", "GBP", False),
    ("Japan list", "JPY", True),
]
# Usage unit prices are converted from USD at these rates; headline list prices are set by hand below.
FX = {"USD": D("1"), "EUR": D("0.92"), "GBP": D("0.79"), "JPY": D("150")}

METERS = [  # code, name, aggregation, field, unit
    ("api-calls", "API calls", Meter.Aggregation.COUNT, "", "API calls"),
    ("storage-gb", "Storage used", Meter.Aggregation.MAX, "gb", "GB"),
    ("sms-messages", "SMS messages sent", Meter.Aggregation.COUNT, "", "messages"),
]

REC, ONCE, USE = Product.Kind.RECURRING, Product.Kind.ONE_TIME, Product.Kind.USAGE
PRODUCTS = [  # sku, name, family, kind, meter, ssp (USD, per unit, per month if recurring), unit cost, description
    ("PLAT-STARTER", "Platform — Starter edition", "Platform", REC, None, "29", "4",
     "Per seat per month. Core revenue workflows for small teams."),
    ("PLAT-PRO", "Platform — Professional edition", "Platform", REC, None, "59", "6",
     "Per seat per month. Adds approvals, multi-currency and integrations."),
    ("PLAT-ENT", "Platform — Enterprise edition", "Platform", REC, None, "99", "9",
     "Per seat per month. Adds SSO, audit exports and sandboxes."),
    ("ADDON-ANALYTICS", "Advanced analytics add-on", "Add-ons", REC, None, "400", "60",
     "Dashboards and cohort reports, per account per month."),
    ("SUPPORT-ENT", "Enterprise support", "Add-ons", REC, None, None, "0",
     "24/7 support with a named engineer: 15 % of the other recurring lines."),
    ("SVC-ONBOARDING", "Implementation & onboarding", "Services", ONCE, None, "5000", "2000",
     "Fixed-fee implementation project, recognised when delivered."),
    ("SVC-TRAINING", "Admin training (per day)", "Services", ONCE, None, "1500", "500",
     "On-site or remote training, per trainer day."),
    ("USAGE-API", "API calls", "Usage", USE, "api-calls", "0.0005", "0.0001",
     "Graduated: the first 100,000 calls a month are included."),
    ("USAGE-STORAGE", "Storage (GB)", "Usage", USE, "storage-gb", "0.20", "0.03",
     "Volume: the whole month's peak GB at the rate of the tier it reaches."),
    ("USAGE-SMS", "SMS messages", "Usage", USE, "sms-messages", "0.009", "0.0045",
     "Sold in packages of 1,000 messages, per started package."),
    ("BUNDLE-GROWTH", "Growth bundle", "Bundles", REC, None, "0", "0",
     "Professional seats, onboarding and optional analytics; priced by its options."),
]

# Hand-set list prices per currency (USD, EUR, GBP, JPY).
SEAT_MONTH = {"PLAT-STARTER": ("29", "27", "23", "4400"), "PLAT-PRO": ("59", "55", "47", "8900"),
              "PLAT-ENT": ("99", "92", "79", "14900")}
ANALYTICS_MONTH = ("400", "370", "320", "60000")
ONBOARDING = ("5000", "4600", "3950", "750000")
TRAINING_DAY = ("1500", "1400", "1200", "225000")
SMS_PACKAGE = ("9", "8.30", "7.10", "1350")
SUPPORT_PERCENT = D("15")
YEAR_MONTHS_CHARGED = 10  # yearly prices: two months free
API_TIERS_USD = [(100_000, "0"), (1_000_000, "0.0008"), (10_000_000, "0.0005"), (None, "0.0003")]
STORAGE_TIERS_USD = [(100, "0.25"), (1_000, "0.20"), (10_000, "0.15"), (None, "0.10")]


def _local(values: tuple[str, ...], currency: str) -> Decimal:
    return money.quantize(values[CURRENCIES.index(currency)], currency)


def _unit(usd: str, currency: str) -> Decimal:
    return money.quantize_unit_price(D(usd) * FX[currency])


def _tiers(tiers_usd, currency: str) -> list[dict]:
    return [{"up_to": up_to, "unit_amount": _unit(unit, currency), "flat_amount": 0} for up_to, unit in tiers_usd]


def _prices_in(book, p: dict[str, Product]) -> int:
    c = book.currency
    created = []

    def price(sku: str, model: str, period: str = MONTH, **values) -> None:
        created.append(price_create(product=p[sku], price_book=book, model=model, billing_period=period, **values))

    for sku, monthly in SEAT_MONTH.items():
        price(sku, Price.Model.PER_UNIT, MONTH, unit_amount=_local(monthly, c))
        price(sku, Price.Model.PER_UNIT, YEAR, unit_amount=_local(monthly, c) * YEAR_MONTHS_CHARGED)
    price("ADDON-ANALYTICS", Price.Model.FLAT, MONTH, flat_amount=_local(ANALYTICS_MONTH, c))
    price("ADDON-ANALYTICS", Price.Model.FLAT, YEAR, flat_amount=_local(ANALYTICS_MONTH, c) * YEAR_MONTHS_CHARGED)
    price("SUPPORT-ENT", Price.Model.PERCENTAGE, MONTH, percentage=SUPPORT_PERCENT)
    price("SUPPORT-ENT", Price.Model.PERCENTAGE, YEAR, percentage=SUPPORT_PERCENT)
    price("SVC-ONBOARDING", Price.Model.FLAT, ONE_TIME, flat_amount=_local(ONBOARDING, c))
    price("SVC-TRAINING", Price.Model.PER_UNIT, ONE_TIME, unit_amount=_local(TRAINING_DAY, c))
    price("USAGE-API", Price.Model.GRADUATED, MONTH, tiers=_tiers(API_TIERS_USD, c))
    price("USAGE-STORAGE", Price.Model.VOLUME, MONTH, tiers=_tiers(STORAGE_TIERS_USD, c))
    price("USAGE-SMS", Price.Model.PACKAGE, MONTH, unit_amount=_local(SMS_PACKAGE, c), package_size=1000)
    price("BUNDLE-GROWTH", Price.Model.FLAT, MONTH, flat_amount=money.zero(c))
    price("BUNDLE-GROWTH", Price.Model.FLAT, YEAR, flat_amount=money.zero(c))
    return len(created)


def seed(ctx) -> None:
    meters = {code: meter_create(code=code, name=name, aggregation=agg, field=field, unit=unit)
              for code, name, agg, field, unit in METERS}
    products: dict[str, Product] = {}
    for sku, name, family, kind, meter, ssp, cost, description in PRODUCTS:
        products[sku] = product_create(
            sku=sku, name=name, family=family, kind=kind, meter=meters.get(meter), description=description,
            currency="USD", ssp=D(ssp) if ssp is not None else None, unit_cost=D(cost),
            ssp_residual=ssp is None,  # support's standalone price varies with the deal: residual approach
        )
    books = {currency: price_book_create(name=name, currency=currency, is_default=default)
             for name, currency, default in PRICE_BOOKS}
    prices = sum(_prices_in(book, products) for book in books.values())

    growth = bundle_create(
        product=products["BUNDLE-GROWTH"],
        description="Professional seats with onboarding included; analytics optional.",
        options=[
            {"product": products["PLAT-PRO"], "required": True, "default_quantity": 10, "min_quantity": 5,
             "max_quantity": 50},
            {"product": products["SVC-ONBOARDING"], "required": True, "default_quantity": 1, "min_quantity": 1,
             "max_quantity": 1},
            {"product": products["ADDON-ANALYTICS"], "required": False, "default_quantity": 1,
             "min_quantity": 0, "max_quantity": 1},
        ],
    )

    editions = ["PLAT-STARTER", "PLAT-PRO", "PLAT-ENT"]
    product_rule_create(kind=ProductRule.Kind.REQUIRES, product=products["SUPPORT-ENT"],
                        other_product=products["PLAT-ENT"],
                        message="Enterprise support is sold with the Enterprise edition of the platform.")
    for i, first in enumerate(editions):
        for second in editions[i + 1:]:
            product_rule_create(kind=ProductRule.Kind.EXCLUDES, product=products[first],
                                other_product=products[second],
                                message="A quote has one platform edition: choose one of them.")

    discount_schedule_create(name="Seat volume — Professional", kind=DiscountSchedule.Kind.VOLUME,
                             product=products["PLAT-PRO"],
                             tiers=[{"from": 50, "discount_percent": 5}, {"from": 100, "discount_percent": 10},
                                    {"from": 250, "discount_percent": 15}])
    discount_schedule_create(name="Seat volume — Enterprise", kind=DiscountSchedule.Kind.VOLUME,
                             product=products["PLAT-ENT"],
                             tiers=[{"from": 100, "discount_percent": 5}, {"from": 500, "discount_percent": 10},
                                    {"from": 1000, "discount_percent": 15}])
    discount_schedule_create(name="Multi-year term", kind=DiscountSchedule.Kind.TERM,
                             tiers=[{"from": 12, "discount_percent": 5}, {"from": 24, "discount_percent": 10},
                                    {"from": 36, "discount_percent": 15}])

    ctx.shared.update(price_books=books, products=products, meters=meters, editions=editions,
                      growth_bundle=growth)
    ctx.log(f"  catalog: {len(products)} products, {len(books)} price books, {prices} prices, "
            f"1 bundle, 4 rules, 3 discount schedules")
