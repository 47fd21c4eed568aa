"""The customer portal's pages: a signed-in customer contact sees their own invoices, payments, usage and
quotes — nothing else. Every read goes through portal.selectors (scoped to the contact's customer);
another customer's record, or one the customer may not see yet (a draft invoice), is the portal's 404
page. Staff have their own pages and get a 403 here; anonymous visitors go to the login page.
"""
from __future__ import annotations

from collections import defaultdict
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from quotes.services.lifecycle import acceptance_url
from revops.kernel import money

from . import selectors

PAGE_SIZE = 25
NAV = [("overview", "Overview", "portal:home"), ("invoices", "Invoices", "portal:invoices"),
       ("payments", "Payments", "portal:payments"), ("usage", "Usage", "portal:usage"),
       ("quotes", "Quotes", "portal:quotes")]


def portal_required(view):
    """Sign-in first (else the login page), then a portal contact (else 403: staff use their own pages)."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not selectors.is_portal_user(request.user):
            raise PermissionDenied("The customer portal is for customers' contacts. "
                                   "Your own pages are on the home page.")
        return view(request, *args, **kwargs)

    return require_GET(wrapper)


def _render(request, template: str, context: dict, *, section: str, status: int = 200):
    base = {
        "customer": selectors.portal_customer(request.user),
        "contact": selectors.portal_contact(request.user),
        "company": settings.REVOPS_COMPANY,
        "nav": NAV,
        "section": section,
        "today": selectors.business_today(),
    }
    response = render(request, template, {**base, **context}, status=status)
    response["Cache-Control"] = "private, no-store"  # a customer's financial records
    return response


def _not_found(request, section: str):
    return _render(request, "portal/not_found.html", {}, section=section, status=404)


@portal_required
def home(request):
    return _render(request, "portal/overview.html", {"overview": selectors.portal_overview(request.user)},
                   section="overview")


@portal_required
def invoices(request):
    status = request.GET.get("status") or "all"
    if status not in ("all", "open", "paid"):
        status = "all"
    queryset = selectors.invoice_filter(selectors.portal_invoices(request.user), status)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(request, "portal/invoices.html", {"page": page, "status": status}, section="invoices")


@portal_required
def invoice_detail(request, pk: int):
    invoice = selectors.portal_invoice(request.user, pk)
    if invoice is None:
        return _not_found(request, "invoices")
    return _render(request, "portal/invoice_detail.html",
                   {"invoice": invoice, "lines": list(invoice.lines.all()),
                    "allocations": list(invoice.allocations.all())}, section="invoices")


@portal_required
def invoice_pdf(request, pk: int):
    invoice = selectors.portal_invoice(request.user, pk)
    if invoice is None:
        return _not_found(request, "invoices")
    from .documents import invoice_pdf_response  # WeasyPrint loads on the first download, not at startup

    return invoice_pdf_response(invoice)


@portal_required
def payments(request):
    page = Paginator(selectors.portal_payments(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    return _render(request, "portal/payments.html", {"page": page}, section="payments")


@portal_required
def usage(request):
    rows = selectors.portal_usage(request.user)
    by_currency: dict[str, list] = defaultdict(list)
    for row in rows:
        by_currency[row.currency].append(row.estimated_amount)
    totals = [selectors.Amount(money.quantize(sum(amounts), currency), currency)
              for currency, amounts in sorted(by_currency.items())]
    return _render(request, "portal/usage.html", {"rows": rows, "totals": totals}, section="usage")


@portal_required
def quotes(request):
    today = selectors.business_today()
    page = Paginator(selectors.portal_quotes(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    items = [{"quote": q, "acceptance_url": acceptance_url(q) if selectors.quote_is_open(q, today) else None}
             for q in page]
    return _render(request, "portal/quotes.html", {"page": page, "items": items}, section="quotes")


@portal_required
def quote_pdf(request, pk: int):
    quote = selectors.portal_quote(request.user, pk)
    if quote is None:
        return _not_found(request, "quotes")
    from .documents import quote_pdf_response

    return quote_pdf_response(quote)
