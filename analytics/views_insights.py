"""Expansion and pricing insights pages: /analytics/insights/ with three tabs — recommendations (the
best next offers across customers, with expected MRR), pricing (win rate and discount by band, product,
segment — size, industry, region or acquisition channel — or rep; leakage by month; quotes left out of the
amounts for want of an FX rate) and churn risk (the customers at risk with the reasons) — and the
suggestions fragment the quote builder loads (/analytics/insights/suggestions/?quote=<id>).

Roles: sales managers, finance, customer success and admins see everything; a sales rep sees
recommendations and churn risk for the customers it owns only, and not the pricing tab (403: discount
evidence across reps is for the people who set approval thresholds); portal users never (403).
"""
from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.utils import timezone

from revops.kernel.dates import add_months
from revops.kernel.views import staff_required

from .insights_api import can_see_pricing, visible_customer_ids
from .services import churn_risk, pricing_insights, recommendations
from .services.profitability import can_see_costs

TABS = [("recommendations", "Recommendations"), ("pricing", "Pricing"), ("churn", "Churn risk")]
BY_LABELS = {"band": "Discount band", "product": "Product", "segment": "Segment", "rep": "Rep"}


def _month(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(f"{raw}-01") if raw else default
    except ValueError:
        return default


@staff_required
def insights(request):
    today = timezone.localdate()
    tab = request.GET.get("tab") or "recommendations"
    if tab not in dict(TABS):
        tab = "recommendations"
    pricing_allowed = can_see_pricing(request.user)
    if tab == "pricing" and not pricing_allowed:
        raise PermissionDenied("Pricing insights are for sales managers, finance, customer success and admins.")
    visible = visible_customer_ids(request.user)
    context = {"tab": tab, "tabs": [(k, v) for k, v in TABS if k != "pricing" or pricing_allowed],
               "currency": recommendations.reporting_currency(), "today": today, "own_only": visible is not None}
    if tab == "recommendations":
        context.update(offers=recommendations.top_opportunities(day=today, limit=25, customer_ids=visible),
                       definitions=recommendations.DEFINITIONS)
    elif tab == "pricing":
        first = _month(request.GET.get("from"), add_months(today.replace(day=1), -11))
        last_month = _month(request.GET.get("to"), today.replace(day=1))
        last = min(add_months(last_month, 1) - timedelta(days=1), max(today, first))
        if first > last:
            first = last.replace(day=1)
        by = request.GET.get("by") if request.GET.get("by") in pricing_insights.DIMENSIONS else "band"
        segment_field = request.GET.get("segment_field")
        if segment_field not in pricing_insights.SEGMENT_FIELDS:
            segment_field = "size"  # a page falls back to the default, as for `by`; the API answers 400
        found = pricing_insights.summary(first=first, last=last, by=by, segment_field=segment_field)
        bands, leakage = found["by_band"], found["leakage"]
        by_labels = {**BY_LABELS, "segment": f"Segment ({pricing_insights.SEGMENT_FIELDS[segment_field].lower()})"}
        context.update(
            first=first, last=last, by=by, by_labels=by_labels, by_label=by_labels[by], bands=bands, leakage=leakage,
            segment_field=segment_field, segment_fields=pricing_insights.SEGMENT_FIELDS,
            rows=found["rows"], fx_missing=found["fx_missing"], definitions=pricing_insights.DEFINITIONS,
            chart={"labels": [b["label"] for b in bands],
                   "win_rate": [str(b["win_rate"]) if b["win_rate"] is not None else None for b in bands],
                   "quotes": [b["quotes"] for b in bands]},
            leakage_chart={"labels": [m["month"] for m in leakage], "leakage": [str(m["leakage"]) for m in leakage]},
        )
    else:
        context.update(risks=churn_risk.risk_table(day=today, limit=100, customer_ids=visible,
                                                   costs_visible=can_see_costs(request.user)),
                       definitions=churn_risk.DEFINITIONS)
    return render(request, "analytics/insights.html", context)


@staff_required
def suggestions(request):
    """The quote builder's suggestions box: offers for the quote's customer, minus what the quote already
    has. Empty (200) when the caller may not see that customer, so the builder never shows an error."""
    from quotes.models import Quote

    try:
        quote = Quote.objects.select_related("customer").get(pk=int(request.GET.get("quote", "")))
    except (ValueError, Quote.DoesNotExist):
        return render(request, "analytics/insights_suggestions.html", {"offers": [], "flags": []})
    visible = visible_customer_ids(request.user)
    if visible is not None and quote.customer_id not in visible:
        return render(request, "analytics/insights_suggestions.html", {"offers": [], "flags": []})
    on_quote = set(quote.lines.values_list("product_id", flat=True))
    offers = [o for o in recommendations.recommend_for(customer_id=quote.customer_id, limit=8)
              if o["product_id"] not in on_quote][:3]
    flags = recommendations.upsell_flags(customer_id=quote.customer_id)
    return render(request, "analytics/insights_suggestions.html", {
        "offers": offers, "flags": flags, "quote": quote, "currency": recommendations.reporting_currency(),
        "definitions": recommendations.DEFINITIONS})
