"""KPIs over HTTP: `GET /api/v1/kpis/` (current values with their definitions) and
`GET /api/v1/kpis/<name>/?from=&to=` (a monthly series: mrr, arr, movements). Filters by segment:
?size=&region=&industry=&acquisition_channel=. Amounts are strings in the reporting currency.
The snapshot also carries the finance KPIs (analytics.services.finance_kpis), company-wide: not segmented."""
from __future__ import annotations

from datetime import date, timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from revops.kernel.errors import ValidationFailed
from revops.kernel.permissions import IsAuthenticatedStaff

from .services import finance_kpis, kpis

SEGMENT_FIELDS = ("size", "region", "industry", "acquisition_channel")
SERIES = ("mrr", "arr", "movements", "cohorts")


def _segment(request) -> dict:
    return {f: request.query_params[f] for f in SEGMENT_FIELDS if request.query_params.get(f)}


def _date(request, name: str, default: date) -> date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw if len(raw) > 7 else f"{raw}-01")
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD or YYYY-MM)", fields={name: ["not a date"]}) from None


def _strings(value):
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


SEGMENT_PARAMS = [OpenApiParameter(f, OpenApiTypes.STR, description="segment filter") for f in SEGMENT_FIELDS]


class KpiSnapshotView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="kpis_snapshot", parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE),
                                                              *SEGMENT_PARAMS], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from django.utils import timezone

        day = _date(request, "as_of", timezone.localdate())
        values = {**kpis.snapshot(day, segment=_segment(request)), **finance_kpis.snapshot(day)}
        return Response({"values": _strings(values),
                         "definitions": {**kpis.DEFINITIONS, **finance_kpis.FINANCE_DEFINITIONS}})


class KpiSeriesView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(operation_id="kpis_series", parameters=[
                       OpenApiParameter("from", OpenApiTypes.STR, description="YYYY-MM"),
                               OpenApiParameter("to", OpenApiTypes.STR, description="YYYY-MM"), *SEGMENT_PARAMS],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request, name: str):
        from django.utils import timezone

        from revops.kernel.dates import add_months

        if name not in SERIES:
            raise ValidationFailed(f"unknown KPI series {name!r}; one of {', '.join(SERIES)}",
                                   fields={"name": ["unknown KPI"]})
        today = timezone.localdate()
        first = _date(request, "from", add_months(today.replace(day=1), -11))
        last = _date(request, "to", today)
        if len(request.query_params.get("to", "")) == 7:  # a month: its last day
            last = add_months(last, 1) - timedelta(days=1)
        if first > last:
            raise ValidationFailed("from must not be after to", fields={"from": ["after to"]})
        if name == "cohorts":
            return Response({"name": name, "definition": kpis.DEFINITIONS["cohorts"],
                             "series": _strings(kpis.cohorts(first, last))})
        rows = kpis.mrr_series(first, last, segment=_segment(request))
        if name == "arr":
            rows = [{"month": r["month"], "arr": r["end"] * 12} for r in rows]
        elif name == "mrr":
            rows = [{"month": r["month"], "mrr": r["end"]} for r in rows]
        return Response({"name": name, "definition": kpis.DEFINITIONS[name], "series": _strings(rows)})


def urlpatterns():
    """Plain views, not viewsets: included by revops/api_urls.py."""
    from django.urls import path

    return [path("kpis/", KpiSnapshotView.as_view(), name="kpis"),
            path("kpis/<str:name>/", KpiSeriesView.as_view(), name="kpi-series")]
