"""Pricing evidence from quote outcomes: win rate and average discount by discount band, product,
segment and rep, and the discount given away (leakage) month by month.

Definitions (shown on the page and in the API):
- Decided quotes: status accepted, rejected (declined by the customer) or expired. Open quotes (draft,
  pending approval, approved, sent) and superseded versions are left out. Every decided quote counts in
  the quotes and win rates, also one without lines (list and net 0).
- Outcome day: accepted → accepted_at; rejected → declined_at; expired → valid_until (falling back to
  updated_at when a timestamp is missing), timestamps as dates in the site's time zone. `first`/`last`
  filter on it.
- Discount of a group of lines = Σ(list − net) ÷ Σ list × 100, list and net over the quote's term
  (QuoteLine.list_amount and amount), so a line's weight is its list value. A quote's discount is that of
  all its lines; by product, the discount of the quote's lines of that product. A quote without lines has
  no discount: it falls in the 0–5 % band, in no product row, and weighs nothing in an average discount
  (its list is 0); a group with no list value at all has no average discount (None, not 0).
- Bands: 0–5, 5–10, 10–20, 20–30, 30+ % (lower bound included: exactly 5 % is in 5–10).
- Win rate = accepted ÷ (accepted + rejected + expired) × 100.
- Segment = one field of the customer, chosen by `segment_field`: size (the default), industry, region or
  acquisition channel — the customer's value today, not at quote time. Rep = the quote's owner.
- Leakage of a month = Σ(list − net) over the lines of the quotes accepted that month: discount actually
  given away on won deals, in the reporting currency at the FX rate of the month's last day.
- A quote in another currency with no FX rate on or before its outcome month's last day still counts in
  the quotes, outcomes, win rates and bands (a discount % needs no rate), but is left out of every money
  figure (list, net, discount, average discount, leakage); each row's `fx_missing` counts such quotes and
  `fx_missing_summary` names the rates to enter.
Amounts are Decimal in the reporting currency, quantized once per figure.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

from django.db.models import Sum

from customers.models import Customer
from quotes.models import Quote, QuoteLine
from revops.kernel import money
from revops.kernel.dates import add_months
from revops.kernel.errors import field_error

from .recommendations import FxCache, reporting_currency

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DECIDED = (Quote.Status.ACCEPTED, Quote.Status.REJECTED, Quote.Status.EXPIRED)
BANDS = [("0-5", ZERO, Decimal(5)), ("5-10", Decimal(5), Decimal(10)), ("10-20", Decimal(10), Decimal(20)),
         ("20-30", Decimal(20), Decimal(30)), ("30+", Decimal(30), None)]
BAND_LABELS = {"0-5": "0–5 %", "5-10": "5–10 %", "10-20": "10–20 %", "20-30": "20–30 %", "30+": "30 % and more"}
DIMENSIONS = ("band", "product", "segment", "rep")
# segment_field -> label; the customer fields a segment can be cut by (size first: the default)
SEGMENT_FIELDS = {"size": "Size", "industry": "Industry", "region": "Region",
                  "acquisition_channel": "Acquisition channel"}
_SEGMENT_VALUE_LABELS = {"size": dict(Customer.Size.choices), "industry": {},  # industry is free text
                         "region": dict(Customer.Region.choices),
                         "acquisition_channel": dict(Customer.Channel.choices)}
_SEGMENT_BLANK = {"size": "No size", "industry": "No industry", "region": "No region",
                  "acquisition_channel": "No channel"}

DEFINITIONS = {
    "win_rate": "Win rate = accepted ÷ (accepted + rejected + expired) quotes, in %. Open and superseded quotes "
                "are left out; a decided quote without lines counts (it has no discount: band 0–5 %, no product).",
    "discount": "Discount = Σ(list − net) ÷ Σ list over the term, in % (weighted by list value, so a quote without "
                "lines weighs nothing; no average when a group has no list value). Bands 0–5, 5–10, 10–20, 20–30, "
                "30+ %, lower bound included.",
    "leakage": "Leakage = Σ(list − net) of the quotes accepted in the month, over their term, in the reporting "
               "currency (FX rate of the month's last day).",
    "segment": "Segment = the customer's size, industry, region or acquisition channel (as chosen; size by "
               "default), its value today; rep = the quote's owner.",
    "fx_missing": "A quote in another currency with no FX rate for its outcome month's last day (or before) counts "
                  "in the quotes and win rates but is left out of list, net, average discount and leakage (the "
                  "'left out' count of each row).",
}


def band_of(percent: Decimal) -> str:
    for key, low, high in BANDS:
        if percent >= low and (high is None or percent < high):
            return key
    return BANDS[0][0]  # a negative discount (net above list) counts as no discount


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part / whole * HUNDRED).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


class DecidedQuote(NamedTuple):
    status: str
    day: date  # the outcome day
    owner: str
    currency: str
    size: str
    industry: str
    region: str
    acquisition_channel: str


@dataclass
class _Decided:
    """The decided quotes of a window: per quote its outcome, owner and customer fields; per (quote, product)
    the list and net over the term, converted to the reporting currency (FX rate of the outcome month's end)
    — except for the quotes in `unconverted` (no rate: quote -> (currency, rate day)), whose amounts stay in
    their own currency so that their discount % (and band) is still known."""

    quotes: dict[int, DecidedQuote]
    lines: list[tuple[int, int, Decimal, Decimal]]
    skus: dict[int, str]
    unconverted: dict[int, tuple[str, date]]

    def per_quote(self) -> dict[int, list[Decimal]]:
        """[list, net] of every decided quote, [0, 0] for one without lines."""
        sums: dict[int, list[Decimal]] = {quote_id: [ZERO, ZERO] for quote_id in self.quotes}
        for quote_id, _product, lst, net in self.lines:
            sums[quote_id][0] += lst
            sums[quote_id][1] += net
        return sums


def _outcome_day():
    """accepted → accepted_at, rejected → declined_at, expired → valid_until; else (a missing stamp) updated_at."""
    from django.db.models import Case, DateField, F, When
    from django.db.models.functions import TruncDate

    return Case(When(status=Quote.Status.ACCEPTED, accepted_at__isnull=False, then=TruncDate("accepted_at")),
                When(status=Quote.Status.REJECTED, declined_at__isnull=False, then=TruncDate("declined_at")),
                When(status=Quote.Status.EXPIRED, then=F("valid_until")),
                default=TruncDate("updated_at"), output_field=DateField())


def _decided(first: date | None, last: date | None, customer_ids=None) -> _Decided:
    """Two grouped queries, whatever the number of quotes."""
    quotes = Quote.objects.filter(status__in=DECIDED).annotate(outcome=_outcome_day())
    if customer_ids is not None:
        quotes = quotes.filter(customer_id__in=list(customer_ids))
    if first is not None:
        quotes = quotes.filter(outcome__gte=first)
    if last is not None:
        quotes = quotes.filter(outcome__lte=last)
    currency, fx = reporting_currency(), FxCache()
    info, rate_of, unconverted = {}, {}, {}
    for pk, status, day, cur, owner, *segment in quotes.values_list(
            "pk", "status", "outcome", "currency", "owner__username", "customer__size", "customer__industry",
            "customer__region", "customer__acquisition_channel").order_by():
        info[pk] = DecidedQuote(status, day, owner, cur, *(value or "" for value in segment))
        if cur != currency:
            rate_day = _month_end(day)
            rate = fx.rate(cur, rate_day)
            if rate is None:
                # Left out of the money figures rather than counted as 0 (which understated list and
                # leakage silently) or refused (FxRateMissing): one missing month-end rate for a rare
                # currency should not blank the whole page, and the counts and bands need no rate. The
                # result says how many were left out and which rates to enter (fx_missing_summary).
                unconverted[pk] = (cur, rate_day)
            else:
                rate_of[pk] = rate
    lines, products = [], set()
    for quote_id, product_id, lst, net in (QuoteLine.objects.filter(quote__in=quotes.values("pk"))
                                           .values_list("quote_id", "product_id")
                                           .annotate(lst=Sum("list_amount"), net=Sum("amount")).order_by()):
        if quote_id not in info:
            continue
        rate = rate_of.get(quote_id)
        lst, net = lst or ZERO, net or ZERO
        if rate is not None:
            lst, net = lst * rate, net * rate
        lines.append((quote_id, product_id, lst, net))
        products.add(product_id)
    from catalog.models import Product

    skus = dict(Product.objects.filter(pk__in=products).values_list("pk", "sku"))
    return _Decided(info, sorted(lines, key=lambda r: (r[0], r[1])), skus, unconverted)


def _month_end(day: date) -> date:
    return add_months(day.replace(day=1), 1) - timedelta(days=1)


class _Acc:
    def __init__(self) -> None:
        self.quotes: dict[int, str] = {}
        self.unconverted: set[int] = set()
        self.list = ZERO
        self.net = ZERO

    def add(self, quote_id: int, outcome: str, list_amount: Decimal, net_amount: Decimal, converted: bool) -> None:
        self.quotes[quote_id] = outcome
        if converted:
            self.list += list_amount
            self.net += net_amount
        else:
            self.unconverted.add(quote_id)

    def as_dict(self, key: str, label: str, currency: str) -> dict:
        outcomes = list(self.quotes.values())
        won = outcomes.count(Quote.Status.ACCEPTED)
        return {"key": key, "label": label, "quotes": len(outcomes), "won": won,
                "rejected": outcomes.count(Quote.Status.REJECTED), "expired": outcomes.count(Quote.Status.EXPIRED),
                "win_rate": _pct(Decimal(won), Decimal(len(outcomes))),
                "avg_discount": _pct(self.list - self.net, self.list),  # None without list value
                "list_total": money.quantize(self.list, currency), "net_total": money.quantize(self.net, currency),
                "discount_total": money.quantize(self.list - self.net, currency),
                "fx_missing": len(self.unconverted)}


def decided_quotes(*, first: date | None = None, last: date | None = None, customer_ids=None) -> _Decided:
    """The window's decided quotes, loaded once for several of the views below (`decided=`)."""
    return _decided(first, last, customer_ids)


def check_choices(*, by: str = "band", segment_field: str = "size") -> None:
    """ValidationFailed naming the parameter when `by` or `segment_field` is not one we know."""
    if by not in DIMENSIONS:
        raise field_error("by", f"must be one of {', '.join(DIMENSIONS)}")
    if segment_field not in SEGMENT_FIELDS:
        raise field_error("segment_field", f"must be one of {', '.join(SEGMENT_FIELDS)}")


def segment_label(segment_field: str, value: str) -> str:
    """What the page shows for a segment value: the choice's label, the free text, or 'No …' when blank."""
    if not value:
        return _SEGMENT_BLANK[segment_field]
    return _SEGMENT_VALUE_LABELS[segment_field].get(value, value)


def win_rates(*, by: str = "band", segment_field: str = "size", first: date | None = None, last: date | None = None,
              customer_ids=None, decided: _Decided | None = None) -> list[dict]:
    """Per group of `by` (band, product, segment, rep; a segment is a value of `segment_field`): quotes, won,
    rejected, expired, win_rate (%), avg_discount (%, None without list value), list_total, net_total,
    discount_total (reporting currency) and fx_missing (quotes left out of the money figures). See the
    module docstring."""
    check_choices(by=by, segment_field=segment_field)
    currency = reporting_currency()
    decided = decided or _decided(first, last, customer_ids)
    groups: dict[str, _Acc] = defaultdict(_Acc)
    labels: dict[str, str] = {}
    if by == "product":
        for quote_id, product_id, lst, net in decided.lines:
            key = str(product_id)
            groups[key].add(quote_id, decided.quotes[quote_id].status, lst, net,
                            converted=quote_id not in decided.unconverted)
            labels[key] = decided.skus.get(product_id, key)
    else:
        for quote_id, (lst, net) in decided.per_quote().items():
            quote = decided.quotes[quote_id]
            if by == "band":  # a ratio: the same in any currency, so known without an FX rate
                key = band_of((lst - net) / lst * HUNDRED if lst else ZERO)
                labels[key] = BAND_LABELS[key]
            elif by == "segment":
                value = getattr(quote, segment_field)
                key = value or "none"
                labels[key] = segment_label(segment_field, value)
            else:
                key = labels[quote.owner] = quote.owner
            groups[key].add(quote_id, quote.status, lst, net, converted=quote_id not in decided.unconverted)
    if by == "band":  # every band, in order, even when empty
        return [(groups[key] if key in groups else _Acc()).as_dict(key, BAND_LABELS[key], currency)
                for key, _low, _high in BANDS]
    out = [acc.as_dict(key, labels[key], currency) for key, acc in groups.items()]
    return sorted(out, key=lambda d: (-d["quotes"], d["label"]))


def leakage_by_month(*, first: date, last: date, customer_ids=None, decided: _Decided | None = None) -> list[dict]:
    """Month by month in [first, last]: accepted quotes (all of them, also those without lines), list, net
    and leakage (list − net), with leakage as % of list; reporting currency, FX rate of each month's last day.
    fx_missing: the month's accepted quotes left out of the amounts for want of a rate."""
    currency = reporting_currency()
    decided = decided or _decided(first, last, customer_ids)
    months: dict[str, dict] = {}
    month = first.replace(day=1)
    while month <= last:
        months[month.isoformat()[:7]] = {"quotes": 0, "list": ZERO, "net": ZERO, "fx_missing": 0}
        month = add_months(month, 1)
    for quote_id, (lst, net) in decided.per_quote().items():
        quote = decided.quotes[quote_id]
        if quote.status != Quote.Status.ACCEPTED:
            continue
        m = months[quote.day.isoformat()[:7]]
        m["quotes"] += 1
        if quote_id in decided.unconverted:
            m["fx_missing"] += 1
            continue
        m["list"] += lst
        m["net"] += net
    out = []
    for key, m in months.items():
        lst, net = money.quantize(m["list"], currency), money.quantize(m["net"], currency)
        out.append({"month": key, "accepted_quotes": m["quotes"], "list_total": lst, "net_total": net,
                    "leakage": lst - net, "leakage_pct": _pct(lst - net, lst) if lst else Decimal("0.0"),
                    "currency": currency, "fx_missing": m["fx_missing"]})
    return out


def fx_missing_summary(decided: _Decided) -> dict:
    """The quotes left out of the money figures for want of an FX rate: how many, the rates that would
    bring them back ({currency, date, quotes}: a rate on or before that date is enough), and a sentence."""
    n = len(decided.unconverted)
    missing = sorted(Counter(decided.unconverted.values()).items())
    rates = [{"currency": cur, "date": day.isoformat(), "quotes": count} for (cur, day), count in missing]
    message = ""
    if n:
        wanted = "; ".join(f"{cur} on or before {day.isoformat()}" for (cur, day), _count in missing)
        message = (f"{n} quote{'s' if n != 1 else ''} left out of the amounts, average discounts and leakage: no FX "
                   f"rate to {reporting_currency()} for {wanted}. They still count in the quotes and win rates; "
                   "enter the rates to include their amounts.")
    return {"quotes": n, "rates": rates, "message": message}


def summary(*, first: date, last: date, customer_ids=None, by: str = "band", segment_field: str = "size") -> dict:
    """Everything the pricing page and API show for the window."""
    check_choices(by=by, segment_field=segment_field)
    decided = _decided(first, last, customer_ids)
    by_band = win_rates(by="band", decided=decided)
    return {"from": first.isoformat(), "to": last.isoformat(), "currency": reporting_currency(),
            "by": by, "segment_field": segment_field, "by_band": by_band,
            "rows": by_band if by == "band" else win_rates(by=by, segment_field=segment_field, decided=decided),
            "leakage": leakage_by_month(first=first, last=last, decided=decided),
            "fx_missing": fx_missing_summary(decided), "definitions": DEFINITIONS}
