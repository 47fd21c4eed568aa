"""/api/v1/ routes of the profitability area (added to revops/api_urls.py through `urlpatterns()`):

  GET  /profitability/?by=customer|segment&segment_field=&from=&to=&limit=   ranked rows or segments + whale curve
  GET  /profitability/whale-curve/?from=&to=                                 the whale curve alone
  GET  /profitability/trends/?from=&to=&segment_field=&segment_value=        month by month
  GET  /acquisition/?by=acquisition_channel|size|region|industry|plan&from=&to=   CAC, payback, CLV, CLV:CAC
  /acquisition-spend/ (list, create, delete; POST /acquisition-spend/upload/ a CSV, all or nothing)
  /service-costs/ (list, create, delete), /support-volumes/ (list, create = set the month's figure, delete)
  GET  /data-health/

Costs and margins are for finance, sales managers and admins (sales reps and customer success get 403,
portal users too); entering costs and spend is for finance and admins. Amounts are strings in the
reporting currency unless the object carries its own `currency`."""
from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from revops.kernel.actor import set_actor
from revops.kernel.api.fields import MoneyField
from revops.kernel.errors import field_error
from revops.kernel.roles import is_staff_member

from .api import _strings
from .models import AcquisitionSpend, ServiceCost, SupportVolume
from .services import acquisition as acq
from .services import cost_allocation, data_health
from .services import profitability as prof


class CostsPermission(BasePermission):
    """Reads: finance, sales managers, admins. Writes: finance and admins. Portal users: never."""

    message = "Costs and margins are for finance, sales managers and admins."

    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        user = request.user
        if not (user and user.is_authenticated and is_staff_member(user)):
            return False
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return prof.can_see_costs(user)
        return prof.can_enter_costs(user)


class StaffPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        return bool(request.user and request.user.is_authenticated and is_staff_member(request.user))


# --- query parameters -----------------------------------------------------------------------------------

FROM = OpenApiParameter("from", OpenApiTypes.STR, description="First day, YYYY-MM-DD or YYYY-MM (default: the "
                                                              "first day of the month 11 months ago).")
TO = OpenApiParameter("to", OpenApiTypes.STR, description="Last day, YYYY-MM-DD or YYYY-MM (its last day; "
                                                          "default today).")


def parse_day(raw: str, name: str, *, end: bool = False) -> date:
    raw = (raw or "").strip()
    try:
        if len(raw) == 7:
            day = date.fromisoformat(f"{raw}-01")
            if end:
                from revops.kernel.dates import add_months

                day = add_months(day, 1) - timedelta(days=1)
            return day
        return date.fromisoformat(raw)
    except ValueError:
        raise field_error(name, "a date, YYYY-MM-DD or YYYY-MM") from None


def window(params) -> tuple[date, date]:
    """[from, to] from query parameters (or a form), the trailing 12 months by default."""
    from revops.kernel.dates import add_months

    today = timezone.localdate()
    first = parse_day(params["from"], "from") if params.get("from") else add_months(today.replace(day=1), -11)
    last = parse_day(params["to"], "to", end=True) if params.get("to") else today
    if first > last:
        raise field_error("from", "must not be after to")
    if (last - first).days > 366 * 3:
        raise field_error("to", "a window of at most 3 years")
    return first, last


def _limit(params) -> int | None:
    raw = params.get("limit")
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise field_error("limit", "a positive whole number")
    return int(raw)


# --- reports --------------------------------------------------------------------------------------------

class ProfitabilityView(APIView):
    permission_classes = [CostsPermission]

    @extend_schema(
        operation_id="profitability_report", summary="Profitability by customer or segment, with the whale curve",
        parameters=[OpenApiParameter("by", OpenApiTypes.STR, enum=["customer", "segment"],
                                     description="customer (default): the ranked table; segment: one row per value "
                                                 "of segment_field."),
                    OpenApiParameter("segment_field", OpenApiTypes.STR, enum=list(prof.SEGMENTS),
                                     description="With by=segment (default industry)."),
                    FROM, TO, OpenApiParameter("limit", OpenApiTypes.INT, description="At most this many rows "
                                                                                      "(customers; the totals and "
                                                                                      "curve cover all).")],
        responses=OpenApiTypes.OBJECT)
    def get(self, request):
        params = request.query_params
        first, last = window(params)
        by = params.get("by") or "customer"
        if by not in ("customer", "segment"):
            raise field_error("by", "customer or segment")
        report = prof.report(first=first, last=last)
        body = {"from": report["from"], "to": report["to"], "currency": report["currency"], "by": by,
                "totals": report["totals"], "unallocated": report["unallocated"],
                "whale_curve": report["whale_curve"],
                "definitions": prof.DEFINITIONS}
        if by == "segment":
            field = params.get("segment_field") or "industry"
            body["segment_field"] = field
            body["rows"] = prof.segment_rows(report["result"], field, report["rows"])
        else:
            limit = _limit(params)
            body["rows"] = report["rows"][:limit] if limit else report["rows"]
        return Response(_strings(body))


class WhaleCurveView(APIView):
    permission_classes = [CostsPermission]

    @extend_schema(operation_id="profitability_whale_curve", summary="The whale curve and its peak",
                   parameters=[FROM, TO], responses=OpenApiTypes.OBJECT)
    def get(self, request):
        first, last = window(request.query_params)
        report = prof.report(first=first, last=last)
        return Response(_strings({"from": report["from"], "to": report["to"], "currency": report["currency"],
                                  "definition": prof.DEFINITIONS["whale_curve"], **report["whale_curve"]}))


class TrendsView(APIView):
    permission_classes = [CostsPermission]

    @extend_schema(operation_id="profitability_trends", summary="Profitability month by month",
                   parameters=[FROM, TO, OpenApiParameter("segment_field", OpenApiTypes.STR,
                                                          enum=[f for f in prof.SEGMENTS if f != "plan"]),
                               OpenApiParameter("segment_value", OpenApiTypes.STR)],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        first, last = window(request.query_params)
        field = request.query_params.get("segment_field") or ""
        value = request.query_params.get("segment_value") or ""
        if field and (field not in prof.SEGMENTS or field == "plan"):
            raise field_error("segment_field", "industry, size, region or acquisition_channel")
        if bool(field) != bool(value):
            raise field_error("segment_value", "segment_field and segment_value go together")
        months = prof.trends(first=first, last=last, segment_field=field, segment_value=value)
        return Response(_strings({"from": first.isoformat(), "to": last.isoformat(),
                                  "currency": prof.reporting_currency(), "segment_field": field,
                                  "segment_value": value, "months": months}))


class AcquisitionView(APIView):
    permission_classes = [CostsPermission]

    @extend_schema(operation_id="acquisition_report",
                   summary="CAC, payback, CLV and CLV:CAC per channel, segment or plan",
                   parameters=[FROM, TO, OpenApiParameter(
                       "by", OpenApiTypes.STR, enum=list(acq.GROUPINGS),
                       description="Group by (default acquisition_channel). plan: the product of each customer's "
                                   "main recurring contract line at the end of the window; spend is split over "
                                   "plans by the channel's new customers. Anything else: 400, field by.")],
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        first, last = window(request.query_params)
        report = acq.acquisition_report(first=first, last=last,
                                        by=request.query_params.get("by") or "acquisition_channel")
        return Response(_strings(report))


class DataHealthView(APIView):
    permission_classes = [StaffPermission]

    @extend_schema(operation_id="data_health", summary="Data health checks with counts and links to fix",
                   responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(_strings(data_health.summary(today=timezone.localdate())))


# --- entering costs and spend ---------------------------------------------------------------------------

def _month_filters(qs, params):
    for name, lookup in (("from", "period__gte"), ("to", "period__lte")):
        if params.get(name):
            qs = qs.filter(**{lookup: parse_day(params[name], name, end=name == "to")})
    return qs


PERIOD_FILTERS = [OpenApiParameter("from", OpenApiTypes.STR, description="Periods from this month (YYYY-MM)."),
                  OpenApiParameter("to", OpenApiTypes.STR, description="Periods up to this month (YYYY-MM).")]


class MonthlyEntrySerializer(serializers.ModelSerializer):
    """An entry for a month: `period` accepted as YYYY-MM or YYYY-MM-DD, returned as the month's first day."""

    def to_representation(self, instance):
        out = super().to_representation(instance)
        out["period"] = instance.period.isoformat()
        return out


def _by_customer(qs, params):
    """`?customer=<id>`: only that customer's entries (400 when it is not an id)."""
    if not params.get("customer"):
        return qs
    if not params["customer"].isdigit():
        raise field_error("customer", "an id")
    return qs.filter(customer_id=int(params["customer"]))


class MonthlyEntryViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                          mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """List, enter, read and delete cost inputs (finance and admin write; see CostsPermission)."""

    permission_classes = [CostsPermission]
    filter_backends: list = []


class AcquisitionSpendSerializer(MonthlyEntrySerializer):
    amount = MoneyField(help_text="In `currency`, at most its minor-unit places.")
    period = serializers.CharField(help_text="The month, YYYY-MM or YYYY-MM-DD (stored as its first day).")
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = AcquisitionSpend
        fields = ["id", "channel", "period", "category", "amount", "currency", "segment_field", "segment_value",
                  "note", "created_by", "created_at"]
        read_only_fields = ["created_at"]



@extend_schema_view(
    list=extend_schema(summary="List acquisition spend",
                       parameters=[OpenApiParameter("channel", OpenApiTypes.STR), *PERIOD_FILTERS]),
    create=extend_schema(summary="Enter acquisition spend for a channel and month"),
    retrieve=extend_schema(summary="One acquisition spend entry"),
    destroy=extend_schema(summary="Delete an acquisition spend entry"),
)
class AcquisitionSpendViewSet(MonthlyEntryViewSet):
    queryset = AcquisitionSpend.objects.all()
    serializer_class = AcquisitionSpendSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        channel = self.request.query_params.get("channel")
        if channel:
            qs = qs.filter(channel=channel)
        return _month_filters(qs, self.request.query_params)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        spend = acq.acquisition_spend_create(by=request.user, **{k: v for k, v in serializer.validated_data.items()})
        return Response(self.get_serializer(spend).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        acq.acquisition_spend_delete(spend_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SpendUploadView(APIView):
    permission_classes = [CostsPermission]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        operation_id="acquisition_spend_upload", summary="Upload acquisition spend as CSV (all or nothing)",
        description=f"multipart `file` (or JSON/form `csv` text) with the header {', '.join(acq.CSV_COLUMNS)} "
                    "(the last three optional). Any invalid row refuses the whole file: 400 with "
                    "fields `rows[<n>].<column>` (n = data row, 1 = the first after the header); nothing is written.",
        request=inline_serializer("SpendUpload", {"file": serializers.FileField(required=False),
                                                  "csv": serializers.CharField(required=False)}),
        responses={201: inline_serializer("SpendUploaded", {"created": serializers.IntegerField(),
                                                            "ids": serializers.ListField(child=serializers.IntegerField())})})
    def post(self, request):
        upload = request.FILES.get("file")
        if upload is not None:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise field_error("file", "a UTF-8 CSV file") from None
        else:
            text = request.data.get("csv") if hasattr(request.data, "get") else None
            if not isinstance(text, str) or not text.strip():
                raise field_error("file", "send a CSV file (multipart 'file') or its text ('csv')")
        created = acq.acquisition_spend_import(text=text, by=request.user)
        return Response({"created": len(created), "ids": [s.pk for s in created]}, status=status.HTTP_201_CREATED)


class ServiceCostSerializer(MonthlyEntrySerializer):
    amount = MoneyField(help_text="In `currency`, at most its minor-unit places.")
    period = serializers.CharField(help_text="The month, YYYY-MM or YYYY-MM-DD (stored as its first day).")
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), required=False, allow_null=True,
                                                  help_text="Direct costs: the customer (driver 'direct').")
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ServiceCost
        fields = ["id", "period", "category", "amount", "currency", "driver", "customer", "segment_field",
                  "segment_value", "note", "created_by", "created_at"]
        read_only_fields = ["created_at"]



@extend_schema_view(
    list=extend_schema(summary="List service costs (cost to serve)",
                       parameters=[OpenApiParameter("customer", OpenApiTypes.INT),
                                   OpenApiParameter("driver", OpenApiTypes.STR), *PERIOD_FILTERS]),
    create=extend_schema(summary="Enter a service cost: direct (customer) or shared (driver, optional segment)"),
    retrieve=extend_schema(summary="One service cost"),
    destroy=extend_schema(summary="Delete a service cost"),
)
class ServiceCostViewSet(MonthlyEntryViewSet):
    queryset = ServiceCost.objects.all()
    serializer_class = ServiceCostSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        qs = _by_customer(qs, params)
        if params.get("driver"):
            qs = qs.filter(driver=params["driver"])
        return _month_filters(qs, params)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        customer = data.pop("customer", None)
        cost = cost_allocation.service_cost_create(
            period=parse_day(data.pop("period"), "period"), customer_id=customer.pk if customer else None,
            by=request.user, **data)
        return Response(self.get_serializer(cost).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        cost_allocation.service_cost_delete(cost_id=self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SupportVolumeSerializer(MonthlyEntrySerializer):
    period = serializers.CharField(help_text="The month, YYYY-MM or YYYY-MM-DD (stored as its first day).")
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    tickets = serializers.IntegerField(min_value=0)

    class Meta:
        model = SupportVolume
        fields = ["id", "customer", "period", "tickets"]
        validators: list = []  # a second figure for the same month replaces the first (support_volume_set)



@extend_schema_view(
    list=extend_schema(summary="List support volumes (tickets per customer and month)",
                       parameters=[OpenApiParameter("customer", OpenApiTypes.INT), *PERIOD_FILTERS]),
    create=extend_schema(summary="Set a customer's tickets for a month (replaces an earlier figure)"),
    retrieve=extend_schema(summary="One support volume"),
    destroy=extend_schema(summary="Delete a support volume"),
)
class SupportVolumeViewSet(MonthlyEntryViewSet):
    queryset = SupportVolume.objects.all()
    serializer_class = SupportVolumeSerializer

    def get_queryset(self):
        qs = super().get_queryset()
        params = self.request.query_params
        qs = _by_customer(qs, params)
        return _month_filters(qs, params)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row = cost_allocation.support_volume_set(customer_id=data["customer"].pk,
                                                 period=parse_day(data["period"], "period"), tickets=data["tickets"])
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)


def urlpatterns() -> list:
    from django.urls import path
    from rest_framework.routers import SimpleRouter

    router = SimpleRouter()
    router.register("acquisition-spend", AcquisitionSpendViewSet, basename="acquisition-spend")
    router.register("service-costs", ServiceCostViewSet, basename="service-cost")
    router.register("support-volumes", SupportVolumeViewSet, basename="support-volume")
    return [path("profitability/", ProfitabilityView.as_view(), name="profitability"),
            path("profitability/whale-curve/", WhaleCurveView.as_view(), name="profitability-whale-curve"),
            path("profitability/trends/", TrendsView.as_view(), name="profitability-trends"),
            path("acquisition/", AcquisitionView.as_view(), name="acquisition"),
            path("acquisition-spend/upload/", SpendUploadView.as_view(), name="acquisition-spend-upload"),
            path("data-health/", DataHealthView.as_view(), name="data-health"),
            *router.urls]

