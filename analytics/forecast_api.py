"""Forecasts over HTTP, amounts as strings in the reporting currency:
`GET /api/v1/forecast/?as_of=&months=` (revenue by month), `GET /api/v1/forecast/cash/?as_of=&weeks=`
(collections by ISO week) and `GET /api/v1/forecast/backtest/?as_of=` (the forecast of a year earlier
next to actual revenue). Each takes `segment=field:value` (repeatable; as on /api/v1/kpis/, e.g.
size:enterprise or owner:alice): only that segment's customers. See analytics.services.forecast for the method."""
from __future__ import annotations

from datetime import date

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from revops.kernel.api.params import query_int
from revops.kernel.errors import ValidationFailed
from revops.kernel.permissions import IsAuthenticatedStaff

from .api import SEGMENT_PARAM_FIELDS, _segment_param, _strings
from .services import forecast

AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATE, description="YYYY-MM-DD; default today")
SEGMENT = OpenApiParameter("segment", OpenApiTypes.STR, many=True,
                           description="field:value, only that segment's customers, e.g. size:enterprise or "
                                       f"owner:alice (fields: {', '.join(SEGMENT_PARAM_FIELDS)})")


def _as_of(request) -> date:
    from django.utils import timezone

    raw = request.query_params.get("as_of")
    if not raw:
        return timezone.localdate()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("as_of must be a date (YYYY-MM-DD)", fields={"as_of": ["not a date"]}) from None


class RevenueForecastView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="forecast_revenue", parameters=[
        AS_OF, OpenApiParameter("months", OpenApiTypes.INT, description="1–36; default 12"), SEGMENT],
        responses=OpenApiTypes.OBJECT)
    def get(self, request):
        months = query_int(request, "months", 12, 1, 36)
        segment = _segment_param(request) or None
        return Response(_strings(forecast.revenue_forecast(_as_of(request), months=months, segment=segment)))


class CashForecastView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="forecast_cash", parameters=[
        AS_OF, OpenApiParameter("weeks", OpenApiTypes.INT, description="1–52; default 13"), SEGMENT],
        responses=OpenApiTypes.OBJECT)
    def get(self, request):
        weeks = query_int(request, "weeks", 13, 1, 52)
        segment = _segment_param(request) or None
        return Response(_strings(forecast.cash_forecast(_as_of(request), weeks=weeks, segment=segment)))


class BacktestView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="forecast_backtest", parameters=[AS_OF, SEGMENT], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        segment = _segment_param(request) or None
        return Response(_strings(forecast.backtest(_as_of(request), segment=segment)))


def urlpatterns():
    """Plain views: included by revops/api_urls.py."""
    from django.urls import path

    return [path("forecast/", RevenueForecastView.as_view(), name="forecast"),
            path("forecast/cash/", CashForecastView.as_view(), name="forecast-cash"),
            path("forecast/backtest/", BacktestView.as_view(), name="forecast-backtest")]
