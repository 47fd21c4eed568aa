"""Building a quote: create, add/change/remove lines (bundles expand into their options), reprice.

Every change reprices the whole quote (bounded queries: lines, prices with tiers, schedules) and, when
the quote was pending approval or approved, sends it back to draft: an approval covers the quote as
it was approved, not as it is now.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from catalog import pricing as engine
from catalog.models import DiscountSchedule, DiscountTier, Price, PriceBook, Product
from customers.models import Customer
from revops.kernel import roles
from revops.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed, field_error
from revops.kernel.events import record_event
from revops.kernel.numbering import format_number, next_number

from ..models import ApprovalStep, Quote, QuoteEvent, QuoteLine
from . import pricing

DEFAULT_VALIDITY_DAYS = 30
EDITABLE_FIELDS = ("start_date", "term_months", "billing_frequency", "payment_terms", "valid_until",
                   "quote_discount_percent", "notes")


# --- who may change a quote ---------------------------------------------------------------------

def can_edit(quote: Quote, user) -> bool:
    """The owner may change its quote; sales managers and admins may change any."""
    return quote.owner_id == getattr(user, "pk", None) or roles.has_role(user, roles.SALES_MANAGER, roles.ADMIN)


def _check_can_edit(quote: Quote, by) -> None:
    if not can_edit(quote, by):
        raise PermissionDeniedError(f"{quote} belongs to {quote.owner}; only its owner or a sales manager may "
                                    "change it")
    if not quote.is_editable:
        raise InvalidTransition(f"{quote} is {quote.get_status_display().lower()}: revise it to make changes")


def _locked(quote_id: int) -> Quote:
    try:
        return Quote.objects.select_for_update().get(pk=quote_id)
    except Quote.DoesNotExist:
        raise ValidationFailed(f"quote {quote_id} does not exist", fields={"quote": ["not found"]}) from None


def log(quote: Quote, kind: str, by=None, detail: str = "") -> None:
    QuoteEvent.objects.create(quote=quote, kind=kind, actor=by if getattr(by, "pk", None) else None, detail=detail)


def _back_to_draft_if_approved(quote: Quote, by, reason: str) -> None:
    if quote.status not in (Quote.Status.PENDING_APPROVAL, Quote.Status.APPROVED):
        return
    ApprovalStep.objects.filter(quote=quote, status=ApprovalStep.Status.PENDING).update(
        status=ApprovalStep.Status.CANCELLED)
    quote.status = Quote.Status.DRAFT
    quote.save(update_fields=["status", "updated_at"])
    log(quote, "returned_to_draft", by, reason)
    record_event("quote.returned_to_draft", quote, {"quote": quote.pk, "reason": reason})


# --- pricing inputs from the database -------------------------------------------------------------

def load_schedules() -> list[pricing.ScheduleSpec]:
    schedules = DiscountSchedule.objects.filter(active=True).prefetch_related(
        Prefetch("tiers", queryset=DiscountTier.objects.order_by("from_value"))).order_by("name", "id")
    return [pricing.ScheduleSpec(s.name, s.kind, s.product_id, tuple((t.from_value, t.discount_percent)
                                                                      for t in s.tiers.all()))
            for s in schedules]


def _line_input(line: QuoteLine) -> pricing.LineInput:
    return pricing.LineInput(
        product_id=line.product_id, product_kind=line.product.kind, price=engine.PriceSpec.of(line.price),
        billing_period=line.price.billing_period, quantity=line.quantity,
        discount_percent=line.discount_percent, discount_amount=line.discount_amount,
    )


def quote_lines(quote: Quote) -> list[QuoteLine]:
    return list(quote.lines.select_related("product", "price").prefetch_related("price__tiers")
                .order_by("position", "id"))


LINE_PRICING_FIELDS = ("recurring", "usage", "billing_period", "list_period_amount", "net_period_amount",
                       "list_unit_price", "net_unit_price", "effective_discount_percent", "manual_discount_percent",
                       "mrr", "amount", "list_amount", "explanation")


def _write_line_pricing(lines: list[QuoteLine]) -> None:
    """Write the derived pricing columns of every line: one UPDATE statement run for each row
    (executemany, pipelined by psycopg 3). `bulk_update` builds a CASE WHEN per row and column and, on
    SQLite, one statement per 66 rows: ~300 ms and a query count growing with the lines at 200 lines
    (bench/bench_quotes.py), against a few ms here."""
    if not lines:
        return
    connection = transaction.get_connection()  # the connection itself, not the per-attribute proxy
    fields = [QuoteLine._meta.get_field(name) for name in LINE_PRICING_FIELDS]
    qn = connection.ops.quote_name
    sql = (f"UPDATE {qn(QuoteLine._meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in fields)} "
           f"WHERE {qn(QuoteLine._meta.pk.column)} = %s")
    rows = [[f.get_db_prep_save(getattr(line, f.attname), connection) for f in fields] + [line.pk]
            for line in lines]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def quote_reprice(*, quote: Quote, lines: list[QuoteLine] | None = None,
                  schedules: list[pricing.ScheduleSpec] | None = None) -> Quote:
    """Recompute every line and the totals from the catalog and write them. Caller holds the lock."""
    lines = quote_lines(quote) if lines is None else lines
    priced, totals = pricing.price_quote(
        lines=[_line_input(line) for line in lines], currency=quote.currency, term_months=quote.term_months,
        quote_discount_percent=quote.quote_discount_percent,
        schedules=load_schedules() if schedules is None else schedules,
    )
    for line, p in zip(lines, priced, strict=True):
        line.recurring, line.usage, line.billing_period = p.recurring, p.usage, line.price.billing_period
        line.list_period_amount, line.net_period_amount = p.list_period_amount, p.net_period_amount
        line.list_unit_price, line.net_unit_price = p.list_unit_price, p.net_unit_price
        line.effective_discount_percent, line.mrr = p.effective_discount_percent, p.mrr
        line.amount, line.list_amount, line.explanation = p.amount, p.list_amount, p.explanation
        line.manual_discount_percent = p.manual_discount_percent
    _write_line_pricing(lines)
    quote.one_time_total, quote.mrr, quote.arr = totals.one_time, totals.mrr, totals.arr
    quote.tcv, quote.list_total, quote.discount_total = totals.tcv, totals.list_total, totals.discount
    quote.save(update_fields=["one_time_total", "mrr", "arr", "tcv", "list_total", "discount_total", "updated_at"])
    return quote


# --- create ---------------------------------------------------------------------------------------

def default_price_book(currency: str) -> PriceBook | None:
    return PriceBook.objects.filter(currency=currency, active=True).order_by("-is_default", "name").first()


def quote_create(*, customer: Customer, owner, start_date: date | None = None, term_months: int = 12,
                 billing_frequency: str = Quote.BillingFrequency.MONTH,
                 payment_terms: str = Quote.PaymentTerms.NET_30, valid_until: date | None = None,
                 currency: str | None = None, price_book: PriceBook | None = None,
                 quote_discount_percent: Decimal = Decimal(0), notes: str = "") -> Quote:
    """Open a draft quote for `customer` in its currency's default price book (or the one given)."""
    today = timezone.localdate()
    currency = currency or (price_book.currency if price_book else customer.currency)
    if price_book is None:
        price_book = default_price_book(currency)
        if price_book is None:
            raise field_error("currency", f"there is no active price book in {currency}; quote in another "
                                          "currency or ask an admin to add one")
    if price_book.currency != currency:
        raise field_error("price_book", f"{price_book} is in {price_book.currency}, not {currency}")
    if not price_book.active:
        raise field_error("price_book", f"{price_book} is not active")
    if term_months is None or int(term_months) < 1:
        raise field_error("term_months", "the term must be at least one month")
    if not (Decimal(0) <= Decimal(quote_discount_percent) <= Decimal(100)):
        raise field_error("quote_discount_percent", "must be between 0 and 100")
    valid_until = valid_until or today + timedelta(days=DEFAULT_VALIDITY_DAYS)
    if valid_until < today:
        raise field_error("valid_until", "must not be in the past")
    with transaction.atomic():
        number = format_number("Q", today.year, next_number(f"Q-{today.year}"))
        quote = Quote.objects.create(
            number=number, version=1, customer=customer, owner=owner, currency=currency, price_book=price_book,
            start_date=start_date or today, term_months=int(term_months), billing_frequency=billing_frequency,
            payment_terms=payment_terms, valid_until=valid_until,
            quote_discount_percent=Decimal(quote_discount_percent), notes=notes,
        )
        log(quote, "created", owner)
        record_event("quote.created", quote, {"quote": quote.pk, "number": number, "customer": customer.pk,
                                              "owner": owner.pk, "currency": currency})
    return quote


def quote_update(*, quote_id: int, by, **changes) -> Quote:
    """Change the quote's terms (term, dates, billing, payment terms, quote discount) and reprice."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"these quote fields cannot be changed here: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        quote = _locked(quote_id)
        _check_can_edit(quote, by)
        changed = [k for k, v in changes.items() if getattr(quote, k) != v]
        if not changed:
            return quote
        for k in changed:
            setattr(quote, k, changes[k])
        if quote.term_months is None or quote.term_months < 1:
            raise field_error("term_months", "the term must be at least one month")
        if not (Decimal(0) <= Decimal(quote.quote_discount_percent) <= Decimal(100)):
            raise field_error("quote_discount_percent", "must be between 0 and 100")
        if quote.valid_until < timezone.localdate():
            raise field_error("valid_until", "must not be in the past")
        quote.save()
        quote_reprice(quote=quote)
        _back_to_draft_if_approved(quote, by, f"changed {', '.join(changed)}")
        log(quote, "updated", by, ", ".join(changed))
    return quote


# --- lines ----------------------------------------------------------------------------------------

def _price_for(quote: Quote, product: Product, billing_period: str | None) -> Price:
    prices = [p for p in product.prices.all() if p.price_book_id == quote.price_book_id and p.active]
    if not prices:
        raise field_error("product", f"{product.sku} has no active price in the {quote.price_book.name} price "
                                     f"book ({quote.currency})")
    wanted = billing_period or (quote.billing_frequency if product.kind == Product.Kind.RECURRING else None)
    for p in prices:
        if p.billing_period == wanted:
            return p
    if billing_period:
        raise field_error("billing_period", f"{product.sku} has no {billing_period} price in "
                                            f"{quote.price_book.name}")
    order = {"month": 0, "quarter": 1, "year": 2, "one_time": 3}
    return sorted(prices, key=lambda p: order.get(p.billing_period, 9))[0]


def _quantity(value, field: str = "quantity") -> Decimal:
    try:
        q = Decimal(str(value))
    except Exception:
        raise field_error(field, "must be a number") from None
    if not q.is_finite() or q <= 0:
        raise field_error(field, "must be greater than 0")
    return q


def _discounts(discount_percent, discount_amount) -> tuple[Decimal, Decimal]:
    try:
        pct = Decimal(str(discount_percent or 0))
        amt = Decimal(str(discount_amount or 0))
    except Exception:
        raise field_error("discount_percent", "must be a number") from None
    if not (Decimal(0) <= pct <= Decimal(100)):
        raise field_error("discount_percent", "must be between 0 and 100")
    if amt < 0:
        raise field_error("discount_amount", "must not be negative")
    return pct, amt


def _product(product_id: int) -> Product:
    product = (Product.objects.filter(pk=product_id).select_related("bundle")
               .prefetch_related("prices__tiers", "bundle__options__product__prices__tiers").first())
    if product is None or not product.active:
        raise field_error("product", f"product {product_id} does not exist or is not sold any more")
    return product


def _next_position(quote: Quote) -> int:
    last = quote.lines.order_by("-position").values_list("position", flat=True).first()
    return (last or 0) + 10


def quote_line_add(*, quote_id: int, product_id: int, quantity, by, discount_percent=0, discount_amount=0,
                   billing_period: str | None = None, options: dict[int, Decimal] | None = None,
                   reprice: bool = True) -> list[QuoteLine]:
    """Add a product. A bundle adds its parent line, its required options at their default quantity and
    any optional ones chosen in `options` ({product_id: quantity}) within their min/max.

    `reprice=False` is for callers adding many lines in one transaction that reprice once at the end
    (quote_reprice); the quote's totals are stale until they do."""
    qty = _quantity(quantity)
    pct, amt = _discounts(discount_percent, discount_amount)
    with transaction.atomic():
        quote = _locked(quote_id)
        _check_can_edit(quote, by)
        product = _product(product_id)
        position = _next_position(quote)
        parent = QuoteLine.objects.create(
            quote=quote, product=product, price=_price_for(quote, product, billing_period), quantity=qty,
            discount_percent=pct, discount_amount=amt, position=position,
            billing_period="",
        )
        added = [parent]
        bundle = getattr(product, "bundle", None)
        chosen = {int(k): v for k, v in (options or {}).items()}
        if bundle is not None:
            known = {o.product_id for o in bundle.options.all()}
            stray = set(chosen) - known
            if stray:
                raise field_error("options", f"products {sorted(stray)} are not options of {product.sku}")
            for i, option in enumerate(bundle.options.all(), start=1):
                if not option.required and option.product_id not in chosen:
                    continue
                opt_qty = _quantity(chosen.get(option.product_id, option.default_quantity), "options")
                _check_option_quantity(option, opt_qty, "options")
                added.append(QuoteLine.objects.create(
                    quote=quote, product=option.product, price=_price_for(quote, option.product, None),
                    quantity=opt_qty, parent_line=parent, position=position + i, billing_period="",
                ))
        if reprice:
            quote_reprice(quote=quote)
        _back_to_draft_if_approved(quote, by, f"added {product.sku}")
        log(quote, "line_added", by, f"{product.sku} × {qty.normalize():f}")
    return added


def _check_option_quantity(option, qty: Decimal, field: str = "quantity") -> None:
    if qty < option.min_quantity or (option.max_quantity is not None and qty > option.max_quantity):
        upper = f"{option.max_quantity.normalize():f}" if option.max_quantity is not None else "no limit"
        raise field_error(field, f"{option.product.sku} in this bundle takes between "
                                      f"{option.min_quantity.normalize():f} and {upper}")


def quote_line_update(*, line_id: int, by, quantity=None, discount_percent=None, discount_amount=None) -> QuoteLine:
    with transaction.atomic():
        line = QuoteLine.objects.select_related("quote", "product", "parent_line__product__bundle").get(pk=line_id)
        quote = _locked(line.quote_id)
        _check_can_edit(quote, by)
        if quantity is not None:
            line.quantity = _quantity(quantity)
            if line.parent_line_id and hasattr(line.parent_line.product, "bundle"):
                option = line.parent_line.product.bundle.options.filter(product_id=line.product_id).first()
                if option is not None:
                    _check_option_quantity(option, line.quantity)
        if discount_percent is not None or discount_amount is not None:
            pct, amt = _discounts(
                line.discount_percent if discount_percent is None else discount_percent,
                line.discount_amount if discount_amount is None else discount_amount)
            line.discount_percent, line.discount_amount = pct, amt
        line.save(update_fields=["quantity", "discount_percent", "discount_amount"])
        quote_reprice(quote=quote)
        _back_to_draft_if_approved(quote, by, f"changed {line.product.sku}")
        log(quote, "line_changed", by, f"{line.product.sku}: quantity {line.quantity.normalize():f}, "
                                       f"discount {line.discount_percent.normalize():f}%")
    line.refresh_from_db()
    return line


def quote_line_remove(*, line_id: int, by) -> None:
    """Remove a line (a bundle's parent takes its options with it; a required option cannot go alone)."""
    with transaction.atomic():
        line = QuoteLine.objects.select_related("product", "parent_line__product").get(pk=line_id)
        quote = _locked(line.quote_id)
        _check_can_edit(quote, by)
        if line.parent_line_id:
            bundle = getattr(line.parent_line.product, "bundle", None)
            option = bundle.options.filter(product_id=line.product_id).first() if bundle else None
            if option is not None and option.required:
                raise field_error("line", f"{line.product.sku} is required by {line.parent_line.product.sku}; "
                                          "remove the bundle instead")
        sku = line.product.sku
        line.delete()
        quote_reprice(quote=quote)
        _back_to_draft_if_approved(quote, by, f"removed {sku}")
        log(quote, "line_removed", by, sku)


# --- product rules ----------------------------------------------------------------------------------

def rule_violations(quote: Quote) -> list[str]:
    """Messages for every requires/excludes rule the quote's products break (one query)."""
    from catalog.models import ProductRule

    product_ids = set(quote.lines.values_list("product_id", flat=True))
    messages = []
    rules = ProductRule.objects.filter(product_id__in=product_ids).select_related("product", "other_product")
    for rule in rules:
        if rule.kind == ProductRule.Kind.REQUIRES and rule.other_product_id not in product_ids:
            messages.append(rule.message or f"{rule.product.name} requires {rule.other_product.name}")
        elif rule.kind == ProductRule.Kind.EXCLUDES and rule.other_product_id in product_ids:
            messages.append(rule.message or f"{rule.product.name} cannot be sold with {rule.other_product.name}")
    return messages
