"""The quote as a PDF: WeasyPrint over templates/quotes/quote_pdf.html.

`quote_pdf_context` builds every figure as a finished string in Python (money through
`revops.kernel.money.format_money`, in the currency's own minor units: JPY none, KWD three), so the
template only prints and never rounds.

Customer text (names, addresses, notes) flows into the HTML. Django's autoescaping turns it into
text, and the URL fetcher refuses every URL except `data:` URIs and files under the project's
`static/` folder, so even markup that slipped through could reach neither the network nor the file
system. Rendering costs a few hundred milliseconds: call it off the request path (a task) and store
the bytes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import to_locale
from weasyprint.urls import URLFetcher

from catalog.models import Price
from revops.kernel.dates import term_end
from revops.kernel.pdf import DocumentFormatter as _Formatter
from revops.kernel.pdf import html_to_pdf

from .models import Quote, QuoteLine

logger = logging.getLogger(__name__)

TEMPLATE = "quotes/quote_pdf.html"
PERIOD_LABELS = dict(Price.BillingPeriod.choices)
PERIOD_UNITS = {"month": "month", "quarter": "quarter", "year": "year"}
DRAFT_STATUSES = (Quote.Status.DRAFT, Quote.Status.PENDING_APPROVAL)


# --- the context: every figure a finished string ----------------------------------------------------

@dataclass(frozen=True)
class PdfLine:
    name: str
    sku: str
    bundle: bool  # a bundle's parent line
    option: bool  # an option of the bundle above
    usage: bool
    quantity: str
    period: str  # "price per month", "one-time", ...
    list_unit_price: str
    net_unit_price: str
    discount_percent: str  # "" when no discount
    discount_amount: str  # over the term, "" when no discount
    amount: str
    details: list[str] = field(default_factory=list)  # usage rates, percentage basis


def _percent(value: Decimal) -> str:
    shown = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP).normalize()
    return f"{shown:f}%"


def _rates(price: Price, unit: str, fmt: _Formatter) -> list[str]:
    """The price of a usage line in words: it has no amount on the quote, only rates."""
    unit = f" ({unit})" if unit else ""
    if price.model == Price.Model.PER_UNIT:
        return [f"{fmt.unit_price(price.unit_amount)} per unit{unit}"]
    if price.model == Price.Model.PACKAGE:
        return [f"{fmt.unit_price(price.unit_amount)} per started block of {fmt.number(price.package_size)} units{unit}"]
    if price.model == Price.Model.FLAT:
        return [f"{fmt.money(price.flat_amount)} per period"]
    if price.model == Price.Model.PERCENTAGE:
        return [f"{_percent(price.percentage)} of usage"]
    tiers = sorted(price.tiers.all(), key=lambda t: (t.up_to is None, t.up_to or 0))
    rows = [f"Graduated rates per unit{unit}:" if price.model == Price.Model.GRADUATED
            else f"Volume rates per unit{unit}, all units at the tier reached:"]
    lower = 0
    for tier in tiers:
        span = (f"{fmt.number(lower + 1)}–{fmt.number(tier.up_to)}" if tier.up_to is not None
                else f"above {fmt.number(lower)}")
        text = f"{span}: {fmt.unit_price(tier.unit_amount)}"
        if tier.flat_amount:
            text += f" + {fmt.money(tier.flat_amount)}"
        rows.append(text)
        lower = tier.up_to or lower
    return rows


def _period_text(line: QuoteLine, period: str) -> str:
    if line.usage:
        return "usage, billed in arrears"
    if period in PERIOD_UNITS:
        return f"price per {PERIOD_UNITS[period]}"
    return PERIOD_LABELS.get(period, period).lower()


def _pdf_line(line: QuoteLine, fmt: _Formatter, *, option: bool) -> PdfLine:
    price = line.price
    period = line.billing_period or price.billing_period
    recurring_unit = PERIOD_UNITS.get(period)
    details: list[str] = []
    if line.usage:
        meter = line.product.meter
        details = _rates(price, meter.unit if meter else "", fmt)
    elif price.model == Price.Model.PERCENTAGE:
        kind = "recurring" if recurring_unit else "one-time"
        details = [f"{_percent(price.percentage)} of the other {kind} lines"]
    discount = line.list_amount - line.amount
    has_discount = not line.usage and (line.effective_discount_percent > 0 or discount > 0)
    return PdfLine(
        name=line.product.name, sku=line.product.sku, bundle=hasattr(line.product, "bundle"), option=option,
        usage=line.usage, quantity=fmt.number(line.quantity), period=_period_text(line, period),
        list_unit_price="" if line.usage else fmt.unit_price(line.list_unit_price),
        net_unit_price="" if line.usage else fmt.unit_price(line.net_unit_price),
        discount_percent=_percent(line.effective_discount_percent) if has_discount else "",
        discount_amount=fmt.money(discount) if has_discount and discount > 0 else "",
        amount="" if line.usage else fmt.money(line.amount),
        details=details,
    )


def _grouped(lines: list[QuoteLine]) -> list[tuple[QuoteLine, bool]]:
    """Top-level lines in order, each bundle followed by its options: [(line, is_option)]."""
    children: dict[int, list[QuoteLine]] = {}
    for line in lines:
        if line.parent_line_id:
            children.setdefault(line.parent_line_id, []).append(line)
    ordered: list[tuple[QuoteLine, bool]] = []
    for line in lines:
        if line.parent_line_id is None:
            ordered.append((line, False))
            ordered.extend((child, True) for child in children.get(line.pk, []))
    return ordered


def _issued_on(quote: Quote) -> date:
    return timezone.localdate(quote.sent_at or quote.created_at, ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE))


def quote_pdf_context(quote: Quote, *, locale: str | None = None) -> dict:
    """Everything the template prints, as strings (three queries: customer, lines, price tiers)."""
    fmt = _Formatter(quote.currency, locale or to_locale(settings.LANGUAGE_CODE))
    lines = list(quote.lines.select_related("product__meter", "product__bundle", "price")
                 .prefetch_related("price__tiers").order_by("position", "id"))
    customer = quote.customer
    company = settings.REVOPS_COMPANY
    end = term_end(quote.start_date, quote.term_months)
    return {
        "title": f"Quote {quote.number} · version {quote.version}",
        "number": quote.number,
        "version": quote.version,
        "draft": quote.status in DRAFT_STATUSES,
        "status": quote.get_status_display(),
        "company": {"name": company["name"], "address": company["address"], "email": company["email"]},
        "customer": {"name": customer.name, "address": customer.address, "tax_id": customer.tax_id,
                     "billing_email": customer.billing_email, "country": customer.country},
        "dates": {
            "issued": fmt.date(_issued_on(quote)),
            "start": fmt.date(quote.start_date),
            "end": fmt.date(end),
            "valid_until": fmt.date(quote.valid_until),
        },
        "term": f"{quote.term_months} month{'s' if quote.term_months != 1 else ''}",
        "payment_terms": quote.get_payment_terms_display(),
        "billing_frequency": quote.get_billing_frequency_display(),
        "lines": [_pdf_line(line, fmt, option=option) for line, option in _grouped(lines)],
        "totals": {
            "list_total": fmt.money(quote.list_total),
            "discount_total": fmt.money(quote.discount_total),
            "one_time": fmt.money(quote.one_time_total),
            "mrr": fmt.money(quote.mrr),
            "arr": fmt.money(quote.arr),
            "tcv": fmt.money(quote.tcv),
        },
        "quote_discount": _percent(quote.quote_discount_percent) if quote.quote_discount_percent else "",
        "has_usage": any(line.usage for line in lines),
        "notes": quote.notes,
        "currency": quote.currency,
    }


def render_quote_html(quote: Quote, *, locale: str | None = None) -> str:
    return render_to_string(TEMPLATE, quote_pdf_context(quote, locale=locale))


def render_quote_pdf(quote: Quote, *, url_fetcher: URLFetcher | None = None, locale: str | None = None) -> bytes:
    """The quote as PDF bytes. Pass a `StaticOnlyURLFetcher` to see what the document asked for."""
    return html_to_pdf(render_quote_html(quote, locale=locale), url_fetcher=url_fetcher)


def quote_pdf_filename(quote: Quote) -> str:
    return f"{quote.number}-v{quote.version}.pdf"
