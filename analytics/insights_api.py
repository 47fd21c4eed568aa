"""/api/v1/ routes of the insights area (added to revops/api_urls.py), amounts as strings in the
reporting currency:

- `GET /api/v1/recommendations/?customer=<id>&limit=&as_of=` — next best offers (and upsell flags) for a
  customer; without `customer`, the top opportunities across customers.
- `GET /api/v1/pricing-insights/?from=&to=&by=band|product|segment|rep&segment_field=size|industry|region|
  acquisition_channel` — win rate and average discount by group, with discount leakage by month and the
  quotes left out of the amounts for want of an FX rate (`fx_missing`).
- `GET /api/v1/churn-risk/?customer=&as_of=&limit=` — one customer's score with its reasons, or the table.

Who sees what: sales managers, finance, customer success and admins see every customer; a sales rep
only the customers it owns (another customer answers 404) and no pricing insights (403); portal users
nothing (403). Definitions come from the services, next to the figures.
"""
from __future__ import annotations

from datetime import timedelta

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from revops.kernel import roles
from revops.kernel.api.params import query_date, query_int
from revops.kernel.dates import add_months
from revops.kernel.errors import PermissionDeniedError, ValidationFailed
from revops.kernel.permissions import IsAuthenticatedStaff

from .api import _strings
from .services import churn_risk, customer360, pricing_insights, recommendations
from .services.profitability import can_see_costs

SEE_ALL = customer360.INSIGHT_ROLES  # insights over every customer; a sales rep's over the customers it owns
PRICING_ROLES = SEE_ALL


def visible_customer_ids(user) -> list[int] | None:
    """None: every customer; else the ids a sales rep owns (the one rule, with the Customer 360's insights:
    customer360.insight_customer_ids)."""
    return customer360.insight_customer_ids(user)


def can_see_pricing(user) -> bool:
    return roles.has_role(user, *PRICING_ROLES)




def _customer(request) -> int | None:
    """The ?customer= id (400 when not a whole number)."""
    return query_int(request, "customer", None, 1, 2**63 - 1)


def _visible(request, customer_id: int | None) -> int | None:
    """404 for an unknown customer or one the caller may not see; checked after every parameter is valid."""
    if customer_id is None:
        return None
    visible = visible_customer_ids(request.user)
    if (visible is not None and customer_id not in visible) or not Customer.objects.filter(pk=customer_id).exists():
        raise Http404("no such customer")
    return customer_id


def _today():
    from django.utils import timezone

    return timezone.localdate()


AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATE, description="YYYY-MM-DD; default today")
CUSTOMER = OpenApiParameter("customer", OpenApiTypes.INT, description="a customer id")


class RecommendationsView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="recommendations", parameters=[
        CUSTOMER, AS_OF, OpenApiParameter("limit", OpenApiTypes.INT, description="1–50; default 5 (20 without customer)")],
        responses=OpenApiTypes.OBJECT,
        description="Next best offers for a customer (with upsell flags), or the top opportunities across customers.")
    def get(self, request):
        customer_id = _customer(request)
        day = query_date(request, "as_of", _today())
        limit = query_int(request, "limit", 5 if customer_id is not None else 20, 1, 50)
        currency = recommendations.reporting_currency()
        if _visible(request, customer_id) is not None:
            return Response(_strings({
                "customer": customer_id, "as_of": day.isoformat(), "currency": currency,
                "results": recommendations.recommend_for(customer_id=customer_id, limit=limit, day=day),
                "upsell": recommendations.upsell_flags(customer_id=customer_id, day=day),
                "definitions": recommendations.DEFINITIONS}))
        top = recommendations.top_opportunities(day=day, limit=limit,
                                                customer_ids=visible_customer_ids(request.user))
        return Response(_strings({"as_of": day.isoformat(), "currency": currency, "results": top,
                                  "definitions": recommendations.DEFINITIONS}))


def _choice(request, name: str, choices, default: str) -> str:
    """`?name=` one of `choices`; `default` when absent or empty; else a 400 naming the parameter."""
    value = request.query_params.get(name) or default
    if value not in choices:
        listed = ", ".join(choices)
        raise ValidationFailed(f"{name} must be one of {listed}", fields={name: [f"not one of {listed}"]})
    return value


class PricingInsightsView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="pricing_insights", parameters=[
        OpenApiParameter("from", OpenApiTypes.STR, description="YYYY-MM-DD or YYYY-MM; default 11 months ago"),
        OpenApiParameter("to", OpenApiTypes.STR, description="YYYY-MM-DD or YYYY-MM (a month: its last day); "
                                                             "default today"),
        OpenApiParameter("by", OpenApiTypes.STR, enum=list(pricing_insights.DIMENSIONS),
                         description="grouping; default band"),
        OpenApiParameter("segment_field", OpenApiTypes.STR, enum=list(pricing_insights.SEGMENT_FIELDS),
                         description="the customer field a segment is (with by=segment); default size")],
        responses=OpenApiTypes.OBJECT,
        description="Win rate and average discount of decided quotes by discount band, product, segment (size, "
                    "industry, region or acquisition channel) or rep, and discount leakage by month. Quotes "
                    "without an FX rate count in the win rates but not in the amounts (fx_missing). Not for "
                    "sales reps.")
    def get(self, request):
        if not can_see_pricing(request.user):
            raise PermissionDeniedError("pricing insights are for sales managers, finance, customer success and "
                                        "admins")
        today = _today()
        first = query_date(request, "from", add_months(today.replace(day=1), -11))
        last = query_date(request, "to", today)
        if len(request.query_params.get("to", "")) == 7:
            last = add_months(last, 1) - timedelta(days=1)
        if first > last:
            raise ValidationFailed("from must not be after to", fields={"from": ["after to"]})
        by = _choice(request, "by", pricing_insights.DIMENSIONS, "band")
        segment_field = _choice(request, "segment_field", pricing_insights.SEGMENT_FIELDS, "size")
        found = pricing_insights.summary(first=first, last=last, by=by, segment_field=segment_field)
        return Response(_strings({key: found[key] for key in (
            "from", "to", "by", "segment_field", "currency", "rows", "leakage", "fx_missing", "definitions")}))


class ChurnRiskView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="churn_risk", parameters=[
        CUSTOMER, AS_OF, OpenApiParameter("limit", OpenApiTypes.INT, description="1–500; default 50")],
        responses=OpenApiTypes.OBJECT,
        description="One customer's churn risk (score 0–100, level, reasons), or the customers at risk, highest "
                    "first.")
    def get(self, request):
        customer_id = _customer(request)
        day = query_date(request, "as_of", _today())
        limit = query_int(request, "limit", 50, 1, 500)
        if _visible(request, customer_id) is not None:
            return Response(_strings({**churn_risk.customer_risk(customer_id=customer_id, day=day,
                                                                 costs_visible=can_see_costs(request.user)),
                                      "definitions": churn_risk.DEFINITIONS}))
        rows = churn_risk.risk_table(day=day, limit=limit, customer_ids=visible_customer_ids(request.user),
                                     costs_visible=can_see_costs(request.user))
        return Response(_strings({"as_of": day.isoformat(), "results": rows, "definitions": churn_risk.DEFINITIONS}))


def urlpatterns() -> list:
    """Plain views: included by revops/api_urls.py."""
    from django.urls import path

    return [path("recommendations/", RecommendationsView.as_view(), name="recommendations"),
            path("pricing-insights/", PricingInsightsView.as_view(), name="pricing-insights"),
            path("churn-risk/", ChurnRiskView.as_view(), name="churn-risk")]
