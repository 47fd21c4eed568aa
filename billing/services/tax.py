"""Tax per invoice line, quantized per line (half-up), then summed: the rule stored on each invoice as
`per_line_half_up`.

Exclusive rates: tax = round(net × rate). Inclusive rates (prices contain the tax): the line's gross is
split as net = round(gross ÷ (1 + rate)), tax = gross − net, so net + tax is exactly the gross
(Zuora's default). Exempt customers pay no tax. The rate is found by the customer's country and
region, falling back to the country-wide rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from revops.kernel import money

from ..models import TaxRate

HUNDRED = Decimal(100)
RULE = "per_line_half_up"


@dataclass(frozen=True)
class LineTax:
    net: Decimal
    tax: Decimal
    percent: Decimal
    rate: TaxRate | None


def rate_for(customer, rates: list[TaxRate] | None = None) -> TaxRate | None:
    """The active rate for the customer's place, or None (exempt, or no rate configured)."""
    if customer.tax_exempt or not customer.country:
        return None
    candidates = rates if rates is not None else list(TaxRate.objects.filter(active=True, country=customer.country))
    region = customer.tax_region or ""
    exact = [r for r in candidates if r.country == customer.country and r.region and r.region == region]
    if exact:
        return exact[0]
    country_wide = [r for r in candidates if r.country == customer.country and not r.region]
    return country_wide[0] if country_wide else None


def line_tax(amount: Decimal, rate: TaxRate | None, currency: str) -> LineTax:
    """Split one line's amount into net and tax (amount is net for exclusive rates, gross for inclusive)."""
    amount = money.quantize(amount, currency)
    if rate is None or rate.percent == 0:
        return LineTax(amount, money.zero(currency), Decimal(0), rate)
    r = rate.percent / HUNDRED
    if rate.inclusive:
        net = money.quantize(amount / (1 + r), currency)
        return LineTax(net, amount - net, rate.percent, rate)
    return LineTax(amount, money.quantize(amount * r, currency), rate.percent, rate)
