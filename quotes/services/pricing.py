"""Pricing a quote: list price from the catalog engine, then discounts, then totals.

Pure functions over small dataclasses (no queries), so a 200-line quote prices in milliseconds and
the same code prices a preview, a saved quote and a benchmark.

Per line, for one billing period of its price:
  list      = catalog.pricing.calculate(price, quantity)          (percentage prices: see below)
  net       = list × (1 − volume%) × (1 − term%) × (1 − line%) − line amount off, then × (1 − quote%)
            computed exactly and quantized once (half-up, currency minor unit). Discounts compound in
            that order; each step is kept in the line's explanation. Term schedules apply to
            recurring lines only (a longer commitment discounts the subscription, not services).
Over the term:
  recurring lines: amount = net × (term months ÷ months in the price's period); MRR = net ÷ months in
  the period; ARR = net × (12 ÷ months in the period) — annualised per line, so a 1,000.00/year line
  counts 1,000.00 ARR and 83.33 MRR.
  one-time lines: amount = net, once.
  usage lines are rate cards billed in arrears: no amount on the quote, shown with their rates.
Totals: TCV = Σ amount (exactly), one-time = Σ one-time amounts, MRR = Σ line MRR, ARR = Σ line ARR,
list total = Σ list over the term, discount = list total − TCV.
A percentage price applies to the net amounts of the other non-percentage lines of the same kind:
recurring percentage lines to the others' monthly amounts scaled to their own period, one-time ones to
the one-time lines.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from catalog import pricing as engine
from revops.kernel import money
from revops.kernel.errors import ValidationFailed

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
MONTHS_IN_PERIOD = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    kind: str  # "volume" | "term"
    product_id: int | None  # None: every product
    tiers: tuple[tuple[Decimal, Decimal], ...]  # (from_value, discount_percent)


@dataclass(frozen=True)
class LineInput:
    product_id: int
    product_kind: str  # recurring | one_time | usage
    price: engine.PriceSpec
    billing_period: str  # month | quarter | year | one_time
    quantity: Decimal
    discount_percent: Decimal = ZERO
    discount_amount: Decimal = ZERO


@dataclass
class LinePricing:
    recurring: bool
    usage: bool
    list_period_amount: Decimal
    net_period_amount: Decimal
    list_unit_price: Decimal
    net_unit_price: Decimal
    effective_discount_percent: Decimal
    manual_discount_percent: Decimal
    mrr: Decimal
    arr: Decimal
    amount: Decimal
    list_amount: Decimal
    explanation: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class QuoteTotals:
    one_time: Decimal
    mrr: Decimal
    arr: Decimal
    tcv: Decimal
    list_total: Decimal
    discount: Decimal

    @property
    def discount_percent(self) -> Decimal:
        if self.list_total <= 0:
            return ZERO
        return (self.discount / self.list_total * HUNDRED).quantize(Decimal("0.0001"))


def _percent(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _schedule_for(schedules: Sequence[ScheduleSpec], kind: str, product_id: int) -> ScheduleSpec | None:
    """A product's own schedule of that kind wins over a catalogue-wide one."""
    own = [s for s in schedules if s.kind == kind and s.product_id == product_id]
    if own:
        return own[0]
    general = [s for s in schedules if s.kind == kind and s.product_id is None]
    return general[0] if general else None


def _validate(line: LineInput, index: int, currency: str) -> None:
    errors: dict[str, list[str]] = {}
    if line.quantity <= 0:
        errors[f"lines[{index}].quantity"] = ["must be greater than 0"]
    if not (ZERO <= line.discount_percent <= HUNDRED):
        errors[f"lines[{index}].discount_percent"] = ["must be between 0 and 100"]
    if line.discount_amount < 0:
        errors[f"lines[{index}].discount_amount"] = ["must not be negative"]
    if line.price.currency != currency:
        errors[f"lines[{index}].product"] = [f"the price is in {line.price.currency}, the quote in {currency}"]
    if errors:
        first = next(iter(errors))
        raise ValidationFailed(f"{first} {errors[first][0]}", fields=errors)


def price_quote(
    *,
    lines: Sequence[LineInput],
    currency: str,
    term_months: int,
    quote_discount_percent: Decimal = ZERO,
    schedules: Sequence[ScheduleSpec] = (),
) -> tuple[list[LinePricing], QuoteTotals]:
    """Price every line and total the quote. Raises ValidationFailed naming `lines[i].<field>`."""
    if term_months < 1:
        raise ValidationFailed("the term must be at least one month", fields={"term_months": ["must be at least 1"]})
    if not (ZERO <= quote_discount_percent <= HUNDRED):
        raise ValidationFailed("the quote discount must be between 0 and 100 %",
                               fields={"quote_discount_percent": ["must be between 0 and 100"]})
    for i, line in enumerate(lines):
        _validate(line, i, currency)

    results: list[LinePricing | None] = [None] * len(lines)
    # Non-percentage lines first: percentage lines price off their nets.
    order = sorted(range(len(lines)), key=lambda i: lines[i].price.model == engine.PERCENTAGE)
    for i in order:
        results[i] = _price_line(lines[i], i, lines, results, currency, term_months, quote_discount_percent,
                                 schedules)
    priced = [r for r in results if r is not None]
    return priced, _totals(priced, currency)


def _percentage_base(line: LineInput, lines, results, currency) -> Decimal:
    base = ZERO
    recurring = line.billing_period in MONTHS_IN_PERIOD
    for other, result in zip(lines, results, strict=True):
        if other is line or result is None or other.price.model == engine.PERCENTAGE or result.usage:
            continue
        if recurring and result.recurring:
            base += result.net_period_amount / MONTHS_IN_PERIOD[other.billing_period]
        elif not recurring and not result.recurring:
            base += result.net_period_amount
    return base * MONTHS_IN_PERIOD[line.billing_period] if recurring else base


def _price_line(line, index, lines, results, currency, term_months, quote_pct, schedules) -> LinePricing:
    usage = line.product_kind == "usage"
    recurring = not usage and line.billing_period in MONTHS_IN_PERIOD
    steps: list[dict] = []
    base_amount = _percentage_base(line, lines, results, currency) if line.price.model == engine.PERCENTAGE else None
    if usage:
        list_exact = ZERO
        steps.append({"step": "usage", "detail": "billed in arrears on metered usage at the price's rates",
                      "amount": "0"})
    else:
        result = engine.calculate(line.price, line.quantity, base_amount=base_amount)
        list_exact = result.amount
        detail = f"{line.price.model} price for {line.quantity.normalize():f}"
        if base_amount is not None:
            detail += f" on a base of {money.quantize(base_amount, currency)}"
        steps.append({"step": "list", "detail": detail, "amount": str(list_exact)})

    running = list_exact
    for kind, value in (("volume", line.quantity), ("term", Decimal(term_months))):
        if kind == "term" and not recurring:
            continue  # a longer commitment discounts the subscription, not one-time services or usage
        schedule = _schedule_for(schedules, kind, line.product_id)
        if schedule is None:
            continue
        pct = engine.schedule_discount_percent(schedule.tiers, value)
        if pct > 0:
            running = running * (ONE - pct / HUNDRED)
            steps.append({"step": f"{kind}_schedule", "detail": f"{schedule.name}: {_percent(pct)}",
                          "amount": str(money.quantize(running, currency))})
    after_schedules = running
    if line.discount_percent > 0:
        running = running * (ONE - line.discount_percent / HUNDRED)
        steps.append({"step": "line_discount", "detail": f"manual {_percent(line.discount_percent)}",
                      "amount": str(money.quantize(running, currency))})
    if line.discount_amount > 0:
        if line.discount_amount > running:
            raise ValidationFailed(
                f"lines[{index}].discount_amount is larger than the line's price",
                fields={f"lines[{index}].discount_amount": [
                    f"must not exceed the discounted price {money.quantize(running, currency)}"]})
        running = running - line.discount_amount
        steps.append({"step": "line_amount_off", "detail": f"manual {money.quantize(line.discount_amount, currency)} off",
                      "amount": str(money.quantize(running, currency))})
    if quote_pct > 0:
        running = running * (ONE - quote_pct / HUNDRED)
        steps.append({"step": "quote_discount", "detail": f"quote-level {_percent(quote_pct)}",
                      "amount": str(money.quantize(running, currency))})

    list_period = money.quantize(list_exact, currency)
    net_period = money.quantize(running, currency)
    effective = ZERO if list_period <= 0 else ((ONE - net_period / list_period) * HUNDRED).quantize(Decimal("0.0001"))
    manual = ZERO if after_schedules <= 0 else ((ONE - running / after_schedules) * HUNDRED).quantize(Decimal("0.0001"))
    if recurring:
        months = MONTHS_IN_PERIOD[line.billing_period]
        periods = Decimal(term_months) / months
        amount = money.quantize(net_period * periods, currency)
        list_amount = money.quantize(list_period * periods, currency)
        mrr = money.quantize(net_period / months, currency)
        arr = money.quantize(net_period * 12 / months, currency)
    elif usage:
        amount = list_amount = mrr = arr = money.zero(currency)
    else:
        amount, list_amount, mrr, arr = net_period, list_period, money.zero(currency), money.zero(currency)
    return LinePricing(
        recurring=recurring, usage=usage, list_period_amount=list_period, net_period_amount=net_period,
        list_unit_price=money.quantize_unit_price(list_period / line.quantity),
        net_unit_price=money.quantize_unit_price(net_period / line.quantity),
        effective_discount_percent=effective, manual_discount_percent=manual,
        mrr=mrr, arr=arr, amount=amount, list_amount=list_amount, explanation=steps,
    )


def _totals(priced: Sequence[LinePricing], currency: str) -> QuoteTotals:
    zero = money.zero(currency)
    tcv = sum((p.amount for p in priced), zero)
    list_total = sum((p.list_amount for p in priced), zero)
    return QuoteTotals(
        one_time=sum((p.amount for p in priced if not p.recurring and not p.usage), zero),
        mrr=sum((p.mrr for p in priced), zero),
        arr=sum((p.arr for p in priced), zero),
        tcv=tcv,
        list_total=list_total,
        discount=list_total - tcv,
    )
