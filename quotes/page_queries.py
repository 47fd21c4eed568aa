"""Reads for the quote pages: the list, the builder, the approvals inbox and the customer's page.

Who sees what is `quotes.selectors.quotes_visible_to` (managers, finance and admins every quote; reps
and customer success their own; anyone else none), so the pages and the API agree and another rep's
quote is a 404, never a 403 that confirms it exists. Each read loads what its template touches, so a
page costs the same handful of queries for 2 lines or 200.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery

from catalog.models import BundleOption, Price, Product
from customers.models import Customer
from revops.kernel import money

from . import selectors
from .models import ApprovalStep, Quote, QuoteEvent, QuoteLine
from .revenue import RevenueMonth, project_revenue
from .services import lifecycle

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
PERIOD_LABELS = dict(Price.BillingPeriod.choices)
SCOPE_MINE = "mine"
SCOPE_ALL = "all"
sees_every_quote = selectors.sees_every_quote


# --- the list -------------------------------------------------------------------------------------

def default_scope(user) -> str:
    """Those who see every quote open the list on all of them; everyone else only has their own."""
    return SCOPE_ALL if selectors.sees_every_quote(user) else SCOPE_MINE


def quote_rows(*, user, scope: str) -> QuerySet[Quote]:
    """The list's rows: visible quotes with customer and owner joined (the lines are not needed)."""
    quotes = selectors.quotes_visible_to(user=user).prefetch_related(None).select_related("customer", "owner")
    if scope == SCOPE_MINE:
        quotes = quotes.filter(owner_id=user.pk)
    return quotes.order_by("-created_at", "-id")


def owner_choices(*, user) -> list:
    """People who own a quote the user can see (for the owner filter)."""
    owner_ids = selectors.quotes_visible_to(user=user).prefetch_related(None).values("owner_id")
    return list(get_user_model().objects.filter(pk__in=owner_ids).order_by("first_name", "last_name", "username"))


def customers_for_new_quote() -> QuerySet[Customer]:
    return Customer.objects.order_by("name", "id")


def customer_choices(*, user) -> QuerySet[Customer]:
    """Customers with a quote the user can see (for the customer filter)."""
    customer_ids = selectors.quotes_visible_to(user=user).prefetch_related(None).values("customer_id")
    return Customer.objects.filter(pk__in=customer_ids).order_by("name", "id")


# --- the builder ----------------------------------------------------------------------------------

def quote_for_page(*, user, quote_id: int) -> Quote:
    """One visible quote with what the header needs; Quote.DoesNotExist outside the user's scope."""
    return (selectors.quotes_visible_to(user=user).prefetch_related(None)
            .select_related("customer", "owner", "price_book", "previous_version").get(pk=quote_id))


def ordered_lines(quote: Quote) -> list[QuoteLine]:
    """The quote's lines in pricing order (position, id): the order `lines[i]` in service errors uses."""
    return list(quote.lines.select_related("product").order_by("position", "id"))


@dataclass
class LineRow:
    """A line as the builder shows it: under its bundle, with the values and errors of a refused edit."""

    line: QuoteLine
    index: int  # position in `ordered_lines` (service errors say `lines[index]`)
    is_option: bool = False
    option: BundleOption | None = None  # its bundle option, for min/max and "required"
    errors: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # what the user typed, shown back on an error
    has_options: bool = False

    @property
    def period_label(self) -> str:
        return PERIOD_LABELS.get(self.line.billing_period, self.line.billing_period)

    @property
    def removable(self) -> bool:
        return not (self.option is not None and self.option.required)

    def value(self, name: str) -> str:
        return self.values[name] if name in self.values else plain(getattr(self.line, name))

    @property
    def quantity_value(self) -> str:
        return self.value("quantity")

    @property
    def discount_percent_value(self) -> str:
        return self.value("discount_percent")

    @property
    def discount_amount_value(self) -> str:
        return self.value("discount_amount")

    @property
    def min_quantity(self) -> str:
        return plain(self.option.min_quantity) if self.option is not None else ""

    @property
    def max_quantity(self) -> str:
        return plain(self.option.max_quantity) if self.option is not None and self.option.max_quantity else ""

    @property
    def why(self) -> list[WhyStep]:
        return why(self.line)


def line_rows(quote: Quote, lines: list[QuoteLine]) -> list[LineRow]:
    """Top-level lines in order, each bundle followed by its options (one query for the options)."""
    index = {line.pk: i for i, line in enumerate(lines)}
    parents = {line.pk: line for line in lines}
    bundle_products = {parents[line.parent_line_id].product_id for line in lines
                       if line.parent_line_id in parents}
    options = {(o.bundle.product_id, o.product_id): o for o in
               BundleOption.objects.filter(bundle__product_id__in=bundle_products).select_related("bundle")} \
        if bundle_products else {}
    children: dict[int, list[QuoteLine]] = {}
    for line in lines:
        if line.parent_line_id:
            children.setdefault(line.parent_line_id, []).append(line)
    rows = []
    for line in lines:
        if line.parent_line_id is not None:
            continue
        rows.append(LineRow(line, index[line.pk], has_options=line.pk in children))
        for child in children.get(line.pk, []):
            rows.append(LineRow(child, index[child.pk], is_option=True,
                                option=options.get((line.product_id, child.product_id))))
    return rows


def plain(value) -> str:
    """A Decimal for an <input type=number>: 10.000000 -> "10", 2.500000 -> "2.5" (a typed string as is)."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return "" if value is None else str(value)


STEP_LABELS = {
    "list": "List price",
    "usage": "Usage",
    "volume_schedule": "Volume discount",
    "term_schedule": "Term discount",
    "line_discount": "Manual discount",
    "line_amount_off": "Amount off",
    "quote_discount": "Quote discount",
}


@dataclass(frozen=True)
class WhyStep:
    label: str
    detail: str
    amount: str


def why(line: QuoteLine) -> list[WhyStep]:
    """The line's pricing steps (from its stored explanation) for people."""
    return [WhyStep(STEP_LABELS.get(step.get("step", ""), str(step.get("step", "")).replace("_", " ").capitalize()),
                    step.get("detail", ""), step.get("amount", "0"))
            for step in line.explanation or []]


@dataclass(frozen=True)
class OptionRow:
    """A bundle option in the add form, with what was typed (or its default quantity)."""

    option: BundleOption
    value: str
    included: bool

    @classmethod
    def of(cls, option: BundleOption, data) -> OptionRow:
        pid = option.product_id
        typed = data.get(f"option_{pid}")
        return cls(option, plain(option.default_quantity) if typed is None else str(typed),
                   option.required or bool(data.get(f"include_{pid}")))

    @property
    def min(self) -> str:
        return plain(self.option.min_quantity)

    @property
    def max(self) -> str:
        return plain(self.option.max_quantity) if self.option.max_quantity is not None else ""


def addable_products(quote: Quote) -> list[Product]:
    """Active products with an active price in the quote's price book (what quote_line_add accepts)."""
    priced = Price.objects.filter(price_book_id=quote.price_book_id, active=True).values("product_id")
    return list(Product.objects.filter(active=True, pk__in=priced).select_related("bundle")
                .order_by("name", "sku"))


def bundle_options(*, quote: Quote, product_id: int) -> tuple[Product | None, list[BundleOption]]:
    """A bundle product of the quote's book and its options (empty for a plain product)."""
    product = next((p for p in addable_products(quote) if p.pk == product_id), None)
    if product is None or not hasattr(product, "bundle"):
        return product, []
    return product, list(product.bundle.options.select_related("product").order_by("position", "id"))


def approval_steps(quote: Quote) -> list[ApprovalStep]:
    return list(quote.approval_steps.select_related("approver_group", "decided_by").order_by("submission", "order"))


def history(quote: Quote) -> list[QuoteEvent]:
    return list(quote.history.select_related("actor").order_by("at", "id"))


def revenue(quote: Quote, lines: list[QuoteLine]) -> list[RevenueMonth]:
    return project_revenue(quote, lines=lines)


@dataclass(frozen=True)
class RevenueYear:
    year: int
    months: list[Decimal | None]  # January … December; None outside the term
    total: Decimal


def revenue_grid(months: list[RevenueMonth], currency: str) -> list[RevenueYear]:
    """The projection as calendar years × 12 months (compact for a 36-month term)."""
    years: dict[int, list[Decimal | None]] = {}
    for m in months:
        years.setdefault(m.month.year, [None] * 12)[m.month.month - 1] = m.amount
    zero = money.zero(currency)
    return [RevenueYear(year, cells, sum((c for c in cells if c is not None), zero))
            for year, cells in sorted(years.items())]


def next_version(quote: Quote) -> Quote | None:
    if quote.status != Quote.Status.SUPERSEDED:
        return None
    return Quote.objects.filter(previous_version_id=quote.pk).first()


def discount_percent(quote: Quote) -> Decimal:
    """The quote's total discount against list, in % (two places)."""
    if quote.list_total <= 0:
        return Decimal(0)
    return (quote.discount_total / quote.list_total * 100).quantize(Decimal("0.01"))


def waiting_step(steps: list[ApprovalStep]) -> ApprovalStep | None:
    """The step the quote waits for: the first pending one (as `lifecycle.current_step`, from loaded rows)."""
    pending = [s for s in steps if s.status == ApprovalStep.Status.PENDING]
    return min(pending, key=lambda s: (s.submission, s.order)) if pending else None


# --- the approvals inbox --------------------------------------------------------------------------

def approvals_waiting_for(*, user) -> list[Quote]:
    """Quotes pending approval whose current step waits for one of the user's groups (all for a
    superuser), oldest submission first, each with `waiting_step` set. The user's own quotes are
    included: the page shows them greyed, since nobody approves their own quote."""
    current = (ApprovalStep.objects.filter(quote=OuterRef("pk"), status=ApprovalStep.Status.PENDING)
               .order_by("submission", "order"))
    quotes = (Quote.objects.filter(status=Quote.Status.PENDING_APPROVAL)
              .annotate(current_step_id=Subquery(current.values("pk")[:1]),
                        current_group_id=Subquery(current.values("approver_group_id")[:1]))
              .select_related("customer", "owner"))
    if not user.is_superuser:
        quotes = quotes.filter(current_group_id__in=user.groups.values("pk"))
    quotes = list(quotes.order_by("submitted_at", "id"))
    steps = ApprovalStep.objects.select_related("approver_group").in_bulk([q.current_step_id for q in quotes])
    for quote in quotes:
        quote.waiting_step = steps.get(quote.current_step_id)
    return quotes


# --- the customer's page --------------------------------------------------------------------------

class LinkProblem:
    """Why a customer link does not open a quote, for the error page."""

    INVALID = "invalid"  # never a link of ours (tampered, truncated): 400
    GONE = "gone"  # ours once, but expired or replaced by a newer one: 410
    SUPERSEDED = "superseded"  # the quote was revised: 410


def diagnose_link(token: str) -> tuple[str, Quote | None]:
    """After `quote_from_token` refused a link: was it ever ours, and is its quote superseded?"""
    from django.core import signing

    try:
        data = signing.TimestampSigner(salt=lifecycle.ACCEPTANCE_SALT).unsign_object(token)
    except signing.BadSignature:
        return LinkProblem.INVALID, None
    quote = Quote.objects.filter(pk=data.get("q")).select_related("owner").first() if isinstance(data, dict) \
        else None
    if quote is not None and quote.status == Quote.Status.SUPERSEDED:
        return LinkProblem.SUPERSEDED, quote
    return LinkProblem.GONE, quote
