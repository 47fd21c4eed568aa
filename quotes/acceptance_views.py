"""The customer's page behind the signed link a rep sends: read the quote, download its PDF, accept it
(full name, title; the client's IP is recorded) or decline it (with a reason). No login, no staff
navigation.

The link is the only credential, so the page never says more than the link allows: a tampered link is
a 400 that names no quote; an expired, re-sent or superseded one is a 410 that says so. Accepting is
idempotent (a second click shows the first acceptance), and every refusal changes nothing.
"""
from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from revops.kernel.errors import InvalidTransition, ValidationFailed

from . import page_queries
from .forms import AcceptForm, DeclineForm, apply_domain_errors
from .models import Quote
from .services import lifecycle


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it, and the
    # recorded IP is evidence of the acceptance.
    return request.META.get("REMOTE_ADDR") or None


def _private(response):
    """The token in the URL is a credential: keep the page out of caches, indexes and other sites' Referer
    headers. Not "no-referrer": the browser would then send `Origin: null` with the forms, and Django's
    CSRF check would refuse every acceptance."""
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "same-origin"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _company() -> dict:
    return settings.REVOPS_COMPANY


def _link_error(request, token: str, exc: lifecycle.AcceptanceLinkInvalid):
    problem, quote = page_queries.diagnose_link(token)
    if problem == page_queries.LinkProblem.INVALID:
        title, text, status = "This link is not valid", ("Check that you copied the whole link from the email, "
                                                         "or ask your sales contact to send it again."), 400
    elif problem == page_queries.LinkProblem.SUPERSEDED:
        title, text, status = "This quote was replaced", ("A newer version of this quote was prepared. Use the "
                                                          "link in the latest email from your sales contact."), 410
    else:
        title, text, status = "This link no longer works", exc.message[:1].upper() + exc.message[1:] + ".", 410
    contact = quote.owner if quote is not None and problem != page_queries.LinkProblem.INVALID else None
    return _private(render(request, "quotes/acceptance_error.html",
                           {"title": title, "text": text, "contact": contact, "company": _company()}, status=status))


def _expired(quote: Quote) -> bool:
    return quote.status == Quote.Status.EXPIRED or (
        quote.status == Quote.Status.SENT and quote.valid_until < timezone.localdate())


def _page(request, token: str, quote: Quote, *, accept_form=None, decline_form=None, error: str = "",
          status: int | None = None):
    lines = page_queries.ordered_lines(quote)
    expired = _expired(quote)
    context = {
        "company": _company(),
        "quote": quote,
        "rows": page_queries.line_rows(quote, lines),
        "expired": expired,
        "open": quote.status == Quote.Status.SENT and not expired,
        "accept_form": accept_form or AcceptForm(),
        "decline_form": decline_form or DeclineForm(),
        "decline_open": decline_form is not None,
        "error": error,
        "pdf_url": reverse("quote_acceptance_pdf", args=[token]),
        "accept_url": reverse("quote_acceptance_accept", args=[token]),
        "decline_url": reverse("quote_acceptance_decline", args=[token]),
        "has_usage": any(line.usage for line in lines),
        "discount_percent": page_queries.discount_percent(quote),
    }
    if status is None:
        status = 410 if expired else 200
    return _private(render(request, "quotes/acceptance.html", context, status=status))


@require_GET
def acceptance(request, token: str):
    try:
        quote = lifecycle.quote_from_token(token)
    except lifecycle.AcceptanceLinkInvalid as exc:
        return _link_error(request, token, exc)
    return _page(request, token, quote)


def _act(request, token: str, *, form, act, form_key: str):
    try:
        quote = lifecycle.quote_from_token(token)
    except lifecycle.AcceptanceLinkInvalid as exc:
        return _link_error(request, token, exc)
    if quote.status in (Quote.Status.ACCEPTED, Quote.Status.REJECTED):
        return _private(redirect("quote_acceptance", token=token))  # decided already: a second click is harmless
    if form.is_valid():
        try:
            act(form.cleaned_data)
        except lifecycle.AcceptanceLinkInvalid as exc:
            return _link_error(request, token, exc)
        except ValidationFailed as exc:
            apply_domain_errors(form, exc)
        except InvalidTransition as exc:
            quote.refresh_from_db()
            return _page(request, token, quote, error=exc.message[:1].upper() + exc.message[1:] + ".",
                         status=409)
        else:
            return _private(redirect("quote_acceptance", token=token))
    return _page(request, token, quote, **{form_key: form})


@require_POST
def accept(request, token: str):
    return _act(request, token, form=AcceptForm(request.POST), form_key="accept_form",
                act=lambda data: lifecycle.quote_accept(token=token, name=data["name"], title=data["title"],
                                                        ip=_client_ip(request)))


@require_POST
def decline(request, token: str):
    return _act(request, token, form=DeclineForm(request.POST), form_key="decline_form",
                act=lambda data: lifecycle.quote_decline(token=token, reason=data["reason"]))


@require_GET
def acceptance_pdf(request, token: str):
    try:
        quote = lifecycle.quote_from_token(token)
    except lifecycle.AcceptanceLinkInvalid as exc:
        return _link_error(request, token, exc)
    from .documents import quote_pdf_filename, render_quote_pdf

    response = HttpResponse(render_quote_pdf(quote), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{quote_pdf_filename(quote)}"'
    return _private(response)
