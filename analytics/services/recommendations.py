"""Next best offer and upsell flags, computed from the contracts (no model of their own).

**Holdings.** On day D a customer *holds* a product when one of its contracts (any status but draft)
has a line version of that product active on D (start ≤ D ≤ end). One-time products (services) are
left out: they are delivered once, not held. Holders = customers holding at least one product on D.

**Similar customers.** S(c) = the other customers of c's segment — same `size` and same `industry` —
that hold at least one product c holds (for a customer holding nothing yet: every holder of its
segment). When fewer than MIN_SIMILAR customers qualify, the segment widens to the same `size` alone
(the reason says so).

**Lift** of a product p that c does not hold:
    confidence = P(p | similar) = |{s ∈ S(c) : s holds p}| ÷ |S(c)|
    base rate  = P(p)           = |{holders of p}| ÷ |holders|          (all customers, day D)
    lift       = confidence ÷ base rate
A product is offered when at least MIN_SUPPORT similar customers hold it and its lift is above 1 (it
is more common among customers like c than among customers at large). Ranked by lift, then expected MRR.

**Expected MRR** = the median over the similar customers holding p of their MRR of p on D, in the
reporting currency (FX rate of D): for recurring lines the amount per period ÷ months in the period
(as analytics.services.mrr); for usage products the usage invoiced for periods starting in the 90 days
before D, ÷ 3.

**Upsell flags** (`upsell_flags`): for each usage line active on D priced with tiers (graduated or
volume) or by package, used = the meter's aggregate over the 30 days ending on D (tiers and packages are
monthly); limit = the upper bound of the tier that usage falls in (for a first tier at a zero rate: the
included quantity), or for a package price the units of the packages that usage starts — ⌈used ÷
package size⌉ × package size, as Customer 360 shows it (at an exact multiple, the usage itself: 100 %).
A flag is raised when used ≥ UPSELL_THRESHOLD (80 %) of that limit.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from django.db.models import Sum
from django.utils import timezone

from catalog.models import Product
from contracts.models import Contract, ContractLine
from contracts.services.periods import MONTHS
from customers.models import Customer
from revops.kernel import money

ZERO = Decimal(0)
MIN_SIMILAR = 3
MIN_SUPPORT = 2
UPSELL_THRESHOLD = Decimal(80)  # percent of a tier or plan limit
USAGE_WINDOW_DAYS = 90
USAGE_WINDOW_MONTHS = 3

DEFINITIONS = {
    "lift": "Lift = P(product | similar customers) ÷ P(product | all customers holding any product). Similar "
            "customers: same size and industry (widened to the same size when fewer than "
            f"{MIN_SIMILAR}), sharing at least one active product. Offered when at least {MIN_SUPPORT} "
            "similar customers hold it and the lift is above 1.",
    "expected_mrr": "Median MRR of the product among the similar customers that hold it, in the reporting "
                    "currency (usage products: usage invoiced over the last 90 days ÷ 3).",
    "upsell": f"Usage over the last 30 days at or above {UPSELL_THRESHOLD} % of the upper bound of the tier it "
              "falls in (the included quantity when the first tier is free), or of the units of the packages it "
              "has started (package prices).",
}


def reporting_currency() -> str:
    from recognition.services.journal import reporting_currency as rc

    return rc()


class FxCache:
    """FX rates to the reporting currency, one query per (currency, day); None when no rate is known."""

    def __init__(self) -> None:
        self._rates: dict[tuple[str, date], Decimal | None] = {}

    def rate(self, currency: str, day: date) -> Decimal | None:
        key = (currency, day)
        if key not in self._rates:
            from recognition.services.journal import FxRateMissing, fx_rate

            try:
                self._rates[key] = fx_rate(currency, day)
            except FxRateMissing:
                self._rates[key] = None
        return self._rates[key]

    def convert(self, amount: Decimal, currency: str, day: date) -> Decimal | None:
        rate = self.rate(currency, day)
        return None if rate is None else amount * rate


# --- the book of holdings ---------------------------------------------------------------------------

@dataclass
class Book:
    """Who holds what on `day`, with each holding's MRR (reporting currency, unrounded)."""

    day: date
    segments: dict[int, tuple[str, str]] = field(default_factory=dict)  # customer -> (size, industry)
    holdings: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    mrr: dict[tuple[int, int], Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    base_counts: dict[int, int] = field(default_factory=dict)  # product -> holders (all customers)
    base_total: int = 0  # customers holding any product (all customers)
    products: dict[int, Product] = field(default_factory=dict)
    excludes: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))  # catalog "excludes" rules
    _by_segment: dict | None = None
    _by_size: dict | None = None

    def index(self, widen: bool) -> dict[tuple, dict[int, set[int]]]:
        """(size, industry) or (size,) -> product -> holders among the loaded customers."""
        attr = "_by_size" if widen else "_by_segment"
        if getattr(self, attr) is None:
            idx: dict[tuple, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
            for customer_id, products in self.holdings.items():
                seg = self.segments.get(customer_id)
                if seg is None:
                    continue
                key = seg[:1] if widen else seg
                for p in products:
                    idx[key][p].add(customer_id)
            setattr(self, attr, idx)
        return getattr(self, attr)


def _holding_lines(day: date):
    return (ContractLine.objects.filter(start_date__lte=day, end_date__gte=day)
            .exclude(contract__status=Contract.Status.DRAFT).exclude(product__kind=Product.Kind.ONE_TIME))


def load_book(*, day: date, size: str | None = None) -> Book:
    """The holdings on `day` (of the customers of one `size` when given; base rates always over everyone)."""
    from billing.models import Invoice, InvoiceLine

    book = Book(day=day)
    fx = FxCache()
    customers = Customer.objects.all() if size is None else Customer.objects.filter(size=size)
    book.segments = {pk: (s, i) for pk, s, i in customers.values_list("pk", "size", "industry").order_by()}
    lines = _holding_lines(day)
    scoped = lines if size is None else lines.filter(contract__customer__size=size)
    for customer_id, product_id, amount, period, currency in scoped.values_list(
            "contract__customer_id", "product_id", "amount", "period", "contract__currency"):
        book.holdings[customer_id].add(product_id)
        if period in MONTHS and amount:
            converted = fx.convert(amount / MONTHS[period], currency, day)
            if converted is not None:
                book.mrr[(customer_id, product_id)] += converted
    usage = (InvoiceLine.objects.filter(kind=InvoiceLine.Kind.USAGE, invoice__status__in=Invoice.POSTED,
                                        period_start__gt=day - timedelta(days=USAGE_WINDOW_DAYS),
                                        period_start__lte=day, product__isnull=False))
    if size is not None:
        usage = usage.filter(invoice__customer__size=size)
    for customer_id, product_id, currency, total in (usage.values_list("invoice__customer_id", "product_id",
                                                                       "invoice__currency")
                                                     .annotate(t=Sum("amount"))):
        if product_id in book.holdings.get(customer_id, ()) and total:
            converted = fx.convert(total / USAGE_WINDOW_MONTHS, currency, day)
            if converted is not None:
                book.mrr[(customer_id, product_id)] += converted
    if size is None:
        counts: dict[int, int] = defaultdict(int)
        for products in book.holdings.values():
            for p in products:
                counts[p] += 1
        book.base_counts, book.base_total = dict(counts), len(book.holdings)
    else:
        from django.db.models import Count

        book.base_counts = dict(lines.values_list("product_id").annotate(n=Count("contract__customer_id",
                                                                                  distinct=True)))
        book.base_total = lines.values("contract__customer_id").distinct().count()
    wanted = set(book.base_counts)
    book.products = {p.pk: p for p in Product.objects.filter(pk__in=wanted, active=True)}
    from catalog.models import ProductRule

    for a, b in ProductRule.objects.filter(kind=ProductRule.Kind.EXCLUDES).values_list("product_id", "other_product_id"):
        book.excludes[a].add(b)
        book.excludes[b].add(a)
    return book


# --- ranking ----------------------------------------------------------------------------------------

def _similar(book: Book, customer_id: int, products: set[int], widen: bool) -> set[int]:
    seg = book.segments[customer_id]
    idx = book.index(widen).get(seg[:1] if widen else seg, {})
    if products:
        found: set[int] = set()
        for p in products:
            found |= idx.get(p, set())
    else:
        found = {c for holders in idx.values() for c in holders}
    found.discard(customer_id)
    return found


def _median(values: list[Decimal]) -> Decimal:
    return statistics.median(values) if values else ZERO


def _segment_label(seg: tuple[str, str], widen: bool) -> str:
    size = dict(Customer.Size.choices).get(seg[0], seg[0] or "no size")
    return size if widen else f"{size} · {seg[1] or 'no industry'}"


def recommend_in_book(book: Book, customer_id: int, *, limit: int = 5) -> list[dict]:
    """The ranked offers for one customer of a loaded book (see the module docstring)."""
    if customer_id not in book.segments or not book.base_total:
        return []
    products = book.holdings.get(customer_id, set())
    widen = False
    similar = _similar(book, customer_id, products, widen=False)
    if len(similar) < MIN_SIMILAR:
        widen = True
        similar = _similar(book, customer_id, products, widen=True)
    if not similar:
        return []
    idx = book.index(widen)[book.segments[customer_id][:1] if widen else book.segments[customer_id]]
    n, currency = len(similar), reporting_currency()
    codes = sorted(book.products[p].sku for p in products if p in book.products)
    shared = f"sharing any of {', '.join(codes)}" if codes else "it holds no product yet"
    offers = []
    for p, holders in idx.items():
        product = book.products.get(p)
        if p in products or product is None:
            continue
        having = holders & similar
        k = len(having)
        if k < MIN_SUPPORT or not book.base_counts.get(p):
            continue
        lift = Decimal(k * book.base_total) / Decimal(n * book.base_counts[p])
        if lift <= 1:
            continue
        lift = lift.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        expected = money.quantize(_median([book.mrr.get((s, p), ZERO) for s in having]), currency)
        reason = (f"{k} of {n} similar customers ({_segment_label(book.segments[customer_id], widen)}, "
                  f"{shared}) have {product.sku}, vs {book.base_counts[p]} of {book.base_total} customers "
                  f"overall: lift {lift}; their median MRR of it is {currency} {expected:,}")
        replaced = sorted(book.products[q].sku for q in book.excludes.get(p, set()) & products if q in book.products)
        if replaced:
            reason += f" (a switch: it replaces {', '.join(replaced)}, which it excludes)"
        offers.append({"product_id": p, "code": product.sku, "name": product.name, "lift": lift,
                       "expected_mrr": expected, "currency": currency, "reason": reason,
                       "similar_customers": n, "holders": k, "widened": widen})
    offers.sort(key=lambda o: (-o["lift"], -o["expected_mrr"], o["code"]))
    return offers[:limit]


def recommend_for(*, customer_id: int, limit: int = 5, day: date | None = None) -> list[dict]:
    """Products customers like this one hold and it lacks, ranked by lift, with the expected MRR.

    Each: product_id, code, name, lift (Decimal, 2 places), expected_mrr (Decimal, reporting currency),
    currency, reason (str), similar_customers, holders, widened. Empty for an unknown customer."""
    day = day or timezone.localdate()
    size = Customer.objects.filter(pk=customer_id).values_list("size", flat=True).first()
    if size is None:
        return []
    return recommend_in_book(load_book(day=day, size=size), customer_id, limit=limit)


def top_opportunities(*, day: date | None = None, limit: int = 20, customer_ids=None,
                      per_customer: int = 1) -> list[dict]:
    """The best offers across customers (optionally only `customer_ids`), by expected MRR then lift:
    each an offer of `recommend_for` plus customer_id and customer_name. Customers with the same segment
    and the same holdings get the same offers, so each such group is ranked once."""
    day = day or timezone.localdate()
    if customer_ids is not None and not customer_ids:
        return []
    book = load_book(day=day)
    wanted = set(book.segments) if customer_ids is None else set(customer_ids) & set(book.segments)
    cache: dict[tuple, list[dict]] = {}
    found = []
    for customer_id in wanted:
        key = (book.segments[customer_id], frozenset(book.holdings.get(customer_id, ())))
        if key not in cache:
            cache[key] = recommend_in_book(book, customer_id, limit=per_customer)
        for offer in cache[key]:
            found.append({"customer_id": customer_id, **offer})
    found.sort(key=lambda o: (-o["expected_mrr"], -o["lift"], o["customer_id"], o["code"]))
    found = found[:limit]
    names = dict(Customer.objects.filter(pk__in={o["customer_id"] for o in found}).values_list("pk", "name"))
    for o in found:
        o["customer_name"] = names.get(o["customer_id"], "")
    return found


# --- upsell flags -----------------------------------------------------------------------------------

def _tier_limit(tiers: list, used: Decimal) -> tuple[int, int, object] | None:
    """(tier number, its upper bound, the tier) of the bounded tier `used` falls in; None past them all."""
    for number, tier in enumerate(tiers, start=1):
        if tier.up_to is not None and used <= tier.up_to:
            return number, tier.up_to, tier
    return None


def _package_limit(package_size: int, used: Decimal) -> tuple[int, int]:
    """(packages `used` has started, their units): the limit before another package is billed."""
    packages = int((used / package_size).to_integral_value(rounding=ROUND_CEILING))
    return packages, packages * package_size


def upsell_flags(*, customer_id: int, day: date | None = None) -> list[dict]:
    """Usage near a tier, plan or package limit: each flag meter, used, limit, pct (Decimal, 1 place),
    product_id, code, reason.

    See the module docstring: used over the 30 days ending on `day`; flagged at ≥ 80 % of the bound of the
    tier the usage falls in, or of the units of the packages it has started."""
    from billing.services.usage import usage_total
    from catalog.models import Price

    day = day or timezone.localdate()
    lines = (_holding_lines(day).filter(contract__customer_id=customer_id, product__kind=Product.Kind.USAGE,
                                        price__model__in=[Price.Model.GRADUATED, Price.Model.VOLUME,
                                                          Price.Model.PACKAGE],
                                        product__meter__isnull=False)
             .select_related("product__meter", "price").prefetch_related("price__tiers")
             .order_by("product__meter__code", "id"))
    flags, seen = [], set()
    for line in lines:
        meter, price = line.product.meter, line.price
        if meter.pk in seen:
            continue
        seen.add(meter.pk)
        used = usage_total(customer_id, meter, day - timedelta(days=29), day)
        if not used:
            continue
        unit = meter.unit or meter.code
        if price.model == Price.Model.PACKAGE:
            if not price.package_size:
                continue
            packages, units = _package_limit(price.package_size, used)
            limit = Decimal(units)
            what = (f"the {units:,} {unit} of the {packages} package{'s' if packages != 1 else ''} started on "
                    f"{line.product.sku}")
            each = (f" at {price.unit_amount.normalize():f} {price.currency} each"
                    if price.unit_amount is not None else "")
            after = f" (packages of {price.package_size:,} {unit}{each}; one more unit starts another)"
        else:
            tiers = sorted(price.tiers.all(), key=lambda t: (t.up_to is None, t.up_to or 0))
            tier_found = _tier_limit(tiers, used)
            if tier_found is None:
                continue
            number, up_to, tier = tier_found
            limit = Decimal(up_to)
            nxt = tiers[number] if number < len(tiers) else None
            if number == 1 and tier.unit_amount == 0 and not tier.flat_amount:
                what = f"the {up_to:,} {unit} included in {line.product.sku}"
            else:
                what = f"the top of tier {number} ({up_to:,} {unit}) of {line.product.sku}"
            after = (f"; beyond it the rate is {nxt.unit_amount.normalize():f} {price.currency} per unit"
                     if nxt is not None else "")
        pct = (used / limit * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        if pct < UPSELL_THRESHOLD:
            continue
        flags.append({"meter": meter.code, "used": used, "limit": limit, "pct": pct, "product_id": line.product_id,
                      "code": line.product.sku,
                      "reason": f"{meter.code}: {used.normalize():,f} {unit} in the last 30 days is {pct} % of {what}{after} — "
                                f"offer a larger plan or commitment (flagged at {UPSELL_THRESHOLD} %)."})
    return flags
