"""KPIs over HTTP: `GET /api/v1/kpis/` (current values with their definitions) and
`GET /api/v1/kpis/<name>/` (every KPI of analytics.services.kpi_series by its name: its current value, its
definition and its points per calendar period, `?from=&to=&interval=day|week|month|quarter&segment=field:value
&currency=XXX&format=csv`). Legacy segment filters ?size=&region=&industry=&acquisition_channel= still work,
and mrr, arr and movements keep their monthly `series`. Amounts are strings in the reporting currency; with
`currency`, restricted to the records in that currency and also given in it (`value_in_currency`).
The snapshot also carries the finance KPIs (analytics.services.finance_kpis), company-wide: not segmented."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from revops.kernel.api.params import query_date
from revops.kernel.errors import ValidationFailed
from revops.kernel.permissions import IsAuthenticatedStaff

from .services import finance_kpis, kpi_series, kpis

SEGMENT_FIELDS = ("size", "region", "industry", "acquisition_channel")
# `segment=field:value` also takes owner:<username> (the team member owning the customers).
SEGMENT_PARAM_FIELDS = (*SEGMENT_FIELDS, "owner")
SERIES = ("mrr", "arr", "movements", "cohorts")
LEGACY_SERIES = ("mrr", "arr", "movements")  # their monthly `series` (shape kept for existing clients)


def _segment(request) -> dict:
    return {f: request.query_params[f] for f in SEGMENT_FIELDS if request.query_params.get(f)}


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

    @extend_schema(operation_id="kpis_snapshot", parameters=[
        OpenApiParameter("as_of", OpenApiTypes.DATE),
        OpenApiParameter("segment", OpenApiTypes.STR, many=True,
                         description="field:value, e.g. size:enterprise or owner:alice (the customer owner's username)"),
        *SEGMENT_PARAMS], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        from django.utils import timezone

        day = query_date(request, "as_of", timezone.localdate())
        values = {**kpis.snapshot(day, segment=_segment_param(request)), **finance_kpis.snapshot(day)}
        return Response({"values": _strings(values),
                         "definitions": {**kpis.DEFINITIONS, **finance_kpis.FINANCE_DEFINITIONS}})


class KpiCsvRenderer(BaseRenderer):
    """`?format=csv` or `Accept: text/csv` on a KPI series: one row per period (errors stay JSON)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        rows = data.get("points") if isinstance(data, dict) and "points" in data else (data or {}).get("series", [])
        meta = {"kpi": data.get("name", ""), "currency": data.get("currency", "")}
        if data.get("in_currency"):
            meta["in_currency"] = data["in_currency"]
        columns: list[str] = list(meta)
        for row in rows:
            columns += [k for k in row if k not in columns]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**meta, **{k: "|".join(map(str, v)) if isinstance(v, list) else ("" if v is None else v)
                                        for k, v in row.items()}})
        return out.getvalue().encode(self.charset)


def _segment_param(request) -> dict:
    """`segment=field:value` (repeatable) merged with the legacy `?size=&region=...` filters; 400 when malformed.
    `owner:<username>`: the customers owned by that user (who must exist)."""
    from django.contrib.auth import get_user_model

    from customers.models import Customer

    out = _segment(request)
    for raw in request.query_params.getlist("segment"):
        field, sep, value = raw.partition(":")
        field, value = field.strip(), value.strip()
        if not sep or not value or field not in SEGMENT_PARAM_FIELDS:
            raise ValidationFailed(f"segment must be field:value with field one of {', '.join(SEGMENT_PARAM_FIELDS)}",
                                   fields={"segment": [f"bad segment {raw!r}"]})
        if field == "owner":
            if not get_user_model().objects.filter(username=value).exists():
                raise ValidationFailed(f"no user {value!r}", fields={"segment": [f"unknown owner {value!r}"]})
        else:
            choices = Customer._meta.get_field(field).choices
            if choices and value not in {c[0] for c in choices}:
                raise ValidationFailed(f"{value!r} is not a {field}; one of {', '.join(c[0] for c in choices)}",
                                       fields={"segment": [f"unknown {field} {value!r}"]})
        if out.get(field, value) != value:
            raise ValidationFailed(f"two different values for {field}", fields={"segment": [f"{field} given twice"]})
        out[field] = value
    return out


def _currency_param(request) -> str | None:
    raw = (request.query_params.get("currency") or "").strip().upper()
    if not raw:
        return None
    if not re.fullmatch(r"[A-Z]{3}", raw):
        raise ValidationFailed("currency must be an ISO 4217 code, e.g. EUR", fields={"currency": ["not a currency"]})
    return raw


KPI_NAMES = (*kpi_series.KPIS, "cohorts")
SERIES_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.STR, description="YYYY-MM-DD or YYYY-MM (default: 11 months before to)"),
    OpenApiParameter("to", OpenApiTypes.STR, description="YYYY-MM-DD or YYYY-MM (a month: its last day; "
                                                         "default today)"),
    OpenApiParameter("interval", OpenApiTypes.STR, enum=list(kpi_series.INTERVALS),
                     description="Calendar periods of the points (default month)."),
    OpenApiParameter("segment", OpenApiTypes.STR, many=True,
                     description="field:value, e.g. size:enterprise or owner:alice (fields: "
                     + ", ".join(SEGMENT_PARAM_FIELDS) + "; owner: the customer owner's username)"),
    OpenApiParameter("currency", OpenApiTypes.STR, description="ISO 4217: only the records in that currency; "
                     "points also carry value_in_currency (amount KPIs)."),
    OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="csv: one row per period."),
    *SEGMENT_PARAMS,
]


class KpiSeriesView(APIView):
    """`GET /api/v1/kpis/<name>/`: the KPI's current value, its definition and its points per period.
    The legacy names (mrr, arr, movements, cohorts) also keep their monthly `series` as before."""

    permission_classes = [IsAuthenticatedStaff]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, KpiCsvRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors keep the one JSON shape even when CSV was asked for.
        if response.status_code >= 400 and getattr(request, "accepted_renderer", None).__class__ is KpiCsvRenderer:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code < 400 and isinstance(response.accepted_renderer, KpiCsvRenderer):
            data = response.data
            response["Content-Disposition"] = (f'attachment; filename="kpi-{data.get("name")}-{data.get("from")}-'
                                               f'{data.get("to")}.csv"')
        return response

    @extend_schema(operation_id="kpis_series", parameters=SERIES_PARAMS, responses=OpenApiTypes.OBJECT)
    def get(self, request, name: str):
        from django.utils import timezone

        from revops.kernel.dates import add_months

        if name not in KPI_NAMES:
            raise ValidationFailed(f"unknown KPI {name!r}; one of {', '.join(KPI_NAMES)}",
                                   fields={"name": ["unknown KPI"]})
        today = timezone.localdate()
        last = query_date(request, "to", today)
        if len(request.query_params.get("to", "")) == 7:  # a month: its last day
            last = add_months(last, 1) - timedelta(days=1)
        first = query_date(request, "from", add_months(last.replace(day=1), -11))
        if first > last:
            raise ValidationFailed("from must not be after to", fields={"from": ["after to"]})
        interval = request.query_params.get("interval") or "month"
        if interval not in kpi_series.INTERVALS:
            raise ValidationFailed(f"interval must be one of {', '.join(kpi_series.INTERVALS)}",
                                   fields={"interval": [f"unknown interval {interval!r}"]})
        segment = _segment_param(request)
        currency = _currency_param(request)
        if name == "cohorts":
            return Response({"name": name, "definition": kpis.DEFINITIONS["cohorts"], "from": first.isoformat(),
                             "to": last.isoformat(), "series": _strings(kpis.cohorts(first, last))})
        if kpi_series.count_periods(first, last, interval) > kpi_series.MAX_POINTS:
            raise ValidationFailed(f"at most {kpi_series.MAX_POINTS} points: widen the interval or shorten the range",
                                   fields={"interval": ["too many points"]})
        body = kpi_series.kpi_series(name, first, last, interval=interval, segment=segment, currency=currency)
        body = {**body, "from": first.isoformat(), "to": last.isoformat(), "as_of": last.isoformat(),
                "interval": interval, "segment": segment}
        if currency:
            body["in_currency"] = currency
            body["value_in_currency"] = body["current"].get("value_in_currency")
        if name in LEGACY_SERIES:
            rows = kpis.mrr_series(first, last, segment=segment, currency=currency)
            if name == "arr":
                rows = [{"month": r["month"], "arr": r["end"] * 12} for r in rows]
            elif name == "mrr":
                rows = [{"month": r["month"], "mrr": r["end"]} for r in rows]
            body["series"] = rows
        return Response(_strings(body))


def urlpatterns():
    """Plain views, not viewsets: included by revops/api_urls.py."""
    from django.urls import path

    return [path("kpis/", KpiSnapshotView.as_view(), name="kpis"),
            path("kpis/<str:name>/", KpiSeriesView.as_view(), name="kpi-series")]
