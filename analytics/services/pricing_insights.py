"""Pricing evidence from quote outcomes: win rate and average discount by discount band, product,
segment and rep, and the discount given away (leakage) month by month.

Definitions (shown on the page and in the API):
- Decided quotes: status accepted, rejected (declined by the customer) or expired. Open quotes (draft,
  pending approval, approved, sent) and superseded versions are left out.
- Outcome day: accepted → accepted_at; rejected → declined_at; expired → valid_until (falling back to
  updated_at when a timestamp is missing), timestamps as dates in the site's time zone. `first`/`last`
  filter on it.
- Discount of a group of lines = Σ(list − net) ÷ Σ list × 100, list and net over the quote's term
  (QuoteLine.list_amount and amount), so a line's weight is its list value. A quote's discount is that of
  all its lines; by product, the discount of the quote's lines of that product.
- Bands: 0–5, 5–10, 10–20, 20–30, 30+ % (lower bound included: exactly 5 % is in 5–10).
- Win rate = accepted ÷ (accepted + rejected + expired) × 100.
- Segment = the customer's size. Rep = the quote's owner.
- Leakage of a month = Σ(list − net) over the lines of the quotes accepted that month: discount actually
  given away on won deals, in the reporting currency at the FX rate of the month's last day.
Amounts are Decimal in the reporting currency, quantized once per figure.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

from customers.models import Customer
from quotes.models import Quote, QuoteLine
from revops.kernel import money
from revops.kernel.dates import add_months

from .recommendations import FxCache, reporting_currency

ZERO = Decimal(0)
HUNDRED = Decimal(100)
DECIDED = (Quote.Status.ACCEPTED, Quote.Status.REJECTED, Quote.Status.EXPIRED)
BANDS = [("0-5", ZERO, Decimal(5)), ("5-10", Decimal(5), Decimal(10)), ("10-20", Decimal(10), Decimal(20)),
         ("20-30", Decimal(20), Decimal(30)), ("30+", Decimal(30), None)]
BAND_LABELS = {"0-5": "0–5 %", "5-10": "5–10 %", "10-20": "10–20 %", "20-30": "20–30 %", "30+": "30 % and more"}
DIMENSIONS = ("band", "product", "segment", "rep")

DEFINITIONS = {
    "win_rate": "Win rate = accepted ÷ (accepted + rejected + expired) quotes, in %. Open and superseded quotes "
                "are left out.",
    "discount": "Discount = Σ(list − net) ÷ Σ list over the term, in % (weighted by list value). Bands 0–5, 5–10, "
                "10–20, 20–30, 30+ %, lower bound included.",
    "leakage": "Leakage = Σ(list − net) of the quotes accepted in the month, over their term, in the reporting "
               "currency (FX rate of the month's last day).",
    "segment": "Segment = the customer's size; rep = the quote's owner.",
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


@dataclass
class _Decided:
    """The decided quotes of a window: per quote (status, outcome day, owner, size); per (quote, product)
    the list and net over the term, converted to the reporting currency (FX rate of the outcome month's end)."""

    quotes: dict[int, tuple[str, date, str, str]]
    lines: list[tuple[int, int, Decimal, Decimal]]
    skus: dict[int, str]

    def per_quote(self) -> dict[int, list[Decimal]]:
        sums: dict[int, list[Decimal]] = {}
        for quote_id, _product, lst, net in self.lines:
            acc = sums.setdefault(quote_id, [ZERO, ZERO])
            acc[0] += lst
            acc[1] += net
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
    info, rate_of = {}, {}
    for pk, status, day, cur, owner, size in quotes.values_list("pk", "status", "outcome", "currency",
                                                                 "owner__username", "customer__size").order_by():
        info[pk] = (status, day, owner, size or "")
        if cur != currency:
            rate_of[pk] = fx.rate(cur, _month_end(day)) or ZERO  # no rate known: counted as zero
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
    return _Decided(info, sorted(lines, key=lambda r: (r[0], r[1])), skus)


def _month_end(day: date) -> date:
    return add_months(day.replace(day=1), 1) - timedelta(days=1)


class _Acc:
    def __init__(self) -> None:
        self.quotes: dict[int, str] = {}
        self.list = ZERO
        self.net = ZERO

    def add(self, quote_id: int, outcome: str, list_amount: Decimal, net_amount: Decimal) -> None:
        self.quotes[quote_id] = outcome
        self.list += list_amount
        self.net += net_amount

    def as_dict(self, key: str, label: str, currency: str) -> dict:
        outcomes = list(self.quotes.values())
        won = outcomes.count(Quote.Status.ACCEPTED)
        return {"key": key, "label": label, "quotes": len(outcomes), "won": won,
                "rejected": outcomes.count(Quote.Status.REJECTED), "expired": outcomes.count(Quote.Status.EXPIRED),
                "win_rate": _pct(Decimal(won), Decimal(len(outcomes))),
                "avg_discount": _pct(self.list - self.net, self.list) if self.list else Decimal("0.0"),
                "list_total": money.quantize(self.list, currency), "net_total": money.quantize(self.net, currency),
                "discount_total": money.quantize(self.list - self.net, currency)}


def decided_quotes(*, first: date | None = None, last: date | None = None, customer_ids=None) -> _Decided:
    """The window's decided quotes, loaded once for several of the views below (`decided=`)."""
    return _decided(first, last, customer_ids)


def win_rates(*, by: str = "band", first: date | None = None, last: date | None = None,
              customer_ids=None, decided: _Decided | None = None) -> list[dict]:
    """Per group of `by` (band, product, segment, rep): quotes, won, rejected, expired, win_rate (%),
    avg_discount (%), list_total, net_total, discount_total (reporting currency). See the docstring."""
    if by not in DIMENSIONS:
        from revops.kernel.errors import field_error

        raise field_error("by", f"must be one of {', '.join(DIMENSIONS)}")
    currency = reporting_currency()
    decided = decided or _decided(first, last, customer_ids)
    groups: dict[str, _Acc] = defaultdict(_Acc)
    labels: dict[str, str] = {}
    if by == "product":
        for quote_id, product_id, lst, net in decided.lines:
            key = str(product_id)
            groups[key].add(quote_id, decided.quotes[quote_id][0], lst, net)
            labels[key] = decided.skus.get(product_id, key)
    else:
        sizes = dict(Customer.Size.choices)
        for quote_id, (lst, net) in decided.per_quote().items():
            status, _day, owner, size = decided.quotes[quote_id]
            if by == "band":
                key = band_of((lst - net) / lst * HUNDRED if lst else ZERO)
                labels[key] = BAND_LABELS[key]
            elif by == "segment":
                key = size or "none"
                labels[key] = sizes.get(size, "No size")
            else:
                key = labels[owner] = owner
            groups[key].add(quote_id, status, lst, net)
    if by == "band":  # every band, in order, even when empty
        return [(groups[key] if key in groups else _Acc()).as_dict(key, BAND_LABELS[key], currency)
                for key, _low, _high in BANDS]
    out = [acc.as_dict(key, labels[key], currency) for key, acc in groups.items()]
    return sorted(out, key=lambda d: (-d["quotes"], d["label"]))


def leakage_by_month(*, first: date, last: date, customer_ids=None, decided: _Decided | None = None) -> list[dict]:
    """Month by month in [first, last]: accepted quotes, list, net and leakage (list − net), with leakage
    as % of list; reporting currency, FX rate of each month's last day."""
    currency = reporting_currency()
    decided = decided or _decided(first, last, customer_ids)
    months: dict[str, dict] = {}
    month = first.replace(day=1)
    while month <= last:
        months[month.isoformat()[:7]] = {"quotes": 0, "list": ZERO, "net": ZERO}
        month = add_months(month, 1)
    for quote_id, (lst, net) in decided.per_quote().items():
        status, day, _owner, _size = decided.quotes[quote_id]
        if status != Quote.Status.ACCEPTED:
            continue
        m = months[day.isoformat()[:7]]
        m["quotes"] += 1
        m["list"] += lst
        m["net"] += net
    out = []
    for key, m in months.items():
        lst, net = money.quantize(m["list"], currency), money.quantize(m["net"], currency)
        out.append({"month": key, "accepted_quotes": m["quotes"], "list_total": lst, "net_total": net,
                    "leakage": lst - net, "leakage_pct": _pct(lst - net, lst) if lst else Decimal("0.0"),
                    "currency": currency})
    return out


def summary(*, first: date, last: date, customer_ids=None) -> dict:
    """Everything the pricing page and API show for the window."""
    decided = _decided(first, last, customer_ids)
    return {"from": first.isoformat(), "to": last.isoformat(), "currency": reporting_currency(),
            "by_band": win_rates(by="band", decided=decided),
            "leakage": leakage_by_month(first=first, last=last, decided=decided),
            "definitions": DEFINITIONS}
