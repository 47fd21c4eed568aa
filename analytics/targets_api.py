"""/api/v1/targets/, /api/v1/alert-rules/ and /api/v1/alerts/: KPI targets with their progress, and KPI
alert rules (company KPIs and the per-subject kinds customer_usage, renewal_at_risk, target_shortfall, each
with the conditions it allows and its channels; see analytics.services.alerts) with the alerts they opened
(filter ?open=&customer=&rule=). Every staff role reads (analytics.view_*); finance, sales
managers and admins write (analytics.add_* / change_*, from the role map). Amounts are strings in the
reporting currency. Included by revops/api_urls.py through `urlpatterns()`."""
from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.response import Response

from catalog.models import Meter
from customers.models import Customer
from revops.kernel.api.fields import DecimalStringField
from revops.kernel.errors import ValidationFailed
from revops.kernel.permissions import RolePermission
from revops.kernel.roles import is_staff_member

from .api import _strings
from .models import Alert, AlertRule, KpiTarget
from .services.alerts import rule_problems
from .services.targets import target_progress

AS_OF = OpenApiParameter("as_of", OpenApiTypes.DATE, description="Progress on this day (default today).")
OPEN = OpenApiParameter("open", OpenApiTypes.BOOL, description="true: only open alerts; false: only cleared.")
ALERT_FILTERS = [OPEN, OpenApiParameter("customer", OpenApiTypes.INT, description="Alerts about this customer."),
                 OpenApiParameter("rule", OpenApiTypes.INT, description="Alerts of this rule.")]


class KpiTargetSerializer(serializers.ModelSerializer):
    value = DecimalStringField(places=2, help_text="Target in the reporting currency (a count for customers).")
    segment_value = serializers.CharField(max_length=100, required=False, allow_blank=True,
                                          help_text="The segment's value, e.g. enterprise; for segment_field owner "
                                                    "the username of an active team member (a staff user).")
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = KpiTarget
        fields = ["id", "kpi", "period_start", "period_end", "segment_field", "segment_value", "value",
                  "created_by", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        start = attrs.get("period_start", getattr(self.instance, "period_start", None))
        end = attrs.get("period_end", getattr(self.instance, "period_end", None))
        if start and end and end < start:
            raise serializers.ValidationError({"period_end": ["must be on or after period_start"]})
        field = attrs.get("segment_field", getattr(self.instance, "segment_field", ""))
        value = attrs.get("segment_value", getattr(self.instance, "segment_value", ""))
        if bool(field) != bool(value):
            raise serializers.ValidationError({"segment_value": ["give segment_field and segment_value together"]})
        if field == KpiTarget.SegmentField.OWNER:
            owner = get_user_model().objects.filter(username=value).first()
            if owner is None:
                raise serializers.ValidationError({"segment_value": [f"no user {value!r}"]})
            if not owner.is_active or not is_staff_member(owner):
                raise serializers.ValidationError(
                    {"segment_value": [f"{value!r} is not an active team member (an active user with a staff role)"]})
        return attrs


class AlertRuleSerializer(serializers.ModelSerializer):
    threshold = DecimalStringField(places=2, help_text="Amount (reporting currency), count, or percent (the % "
                                                       "conditions, target_shortfall); renewal_at_risk: minimum ARR.")
    trailing_days = serializers.IntegerField(min_value=1, max_value=366, required=False)
    notify_group = serializers.SlugRelatedField(slug_field="name", queryset=Group.objects.all(),
                                                help_text="Role (group) name, e.g. finance.")
    meter = serializers.PrimaryKeyRelatedField(queryset=Meter.objects.all(), required=False, allow_null=True,
                                               help_text="customer_usage: the meter watched (required).")
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all(), required=False, allow_null=True,
                                                  help_text="customer_usage / renewal_at_risk: only this customer.")
    target = serializers.PrimaryKeyRelatedField(queryset=KpiTarget.objects.all(), required=False, allow_null=True,
                                                help_text="target_shortfall: the target watched (required).")

    class Meta:
        model = AlertRule
        fields = ["id", "name", "kpi", "condition", "threshold", "trailing_days", "active", "notify_group",
                  "meter", "customer", "target", "notify_in_app", "notify_email", "notify_webhook"]

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        if isinstance(attrs.get("notify_group"), Group):
            attrs["notify_group"] = attrs["notify_group"].name
        return attrs

    def validate(self, attrs):
        def get(name, default=None):
            return attrs[name] if name in attrs else getattr(self.instance, name, default)

        errors = rule_problems(kpi=get("kpi"), condition=get("condition"), threshold=get("threshold"),
                               meter=get("meter"), customer=get("customer"), target=get("target"))
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def to_representation(self, instance):
        out = {f: getattr(instance, f) for f in ("id", "name", "kpi", "condition", "trailing_days", "active",
                                                  "notify_group", "notify_in_app", "notify_email", "notify_webhook")}
        out["threshold"] = str(instance.threshold)
        out.update(meter=instance.meter_id, customer=instance.customer_id, target=instance.target_id)
        return out


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    kpi = serializers.CharField(source="rule.kpi", read_only=True)
    value = serializers.DecimalField(max_digits=19, decimal_places=2, read_only=True)
    open = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = ["id", "rule", "rule_name", "kpi", "subject_key", "customer", "triggered_at", "value", "message",
                  "cleared_at", "open"]

    def get_open(self, alert) -> bool:
        return alert.cleared_at is None


def _as_of(request) -> date:
    raw = request.query_params.get("as_of")
    if not raw:
        return timezone.localdate()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("as_of must be a date (YYYY-MM-DD)", fields={"as_of": ["not a date"]}) from None


@extend_schema_view(
    list=extend_schema(summary="List KPI targets"),
    create=extend_schema(summary="Set a KPI target"),
    retrieve=extend_schema(summary="A KPI target with its progress and the pace still needed",
                           parameters=[AS_OF], responses=OpenApiTypes.OBJECT),
)
class KpiTargetViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                       mixins.UpdateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    queryset = KpiTarget.objects.all()
    serializer_class = KpiTargetSerializer
    permission_classes = [RolePermission]

    def perform_create(self, serializer):
        serializer.save(created_by=self.request.user)

    def retrieve(self, request, *args, **kwargs):
        target = self.get_object()
        return Response({**self.get_serializer(target).data,
                         "progress": _strings(target_progress(target, _as_of(request)))})


@extend_schema_view(list=extend_schema(summary="List KPI alert rules"),
                    create=extend_schema(summary="Add a KPI alert rule"))
class AlertRuleViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin,
                       mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = AlertRule.objects.all()
    serializer_class = AlertRuleSerializer
    permission_classes = [RolePermission]


@extend_schema_view(list=extend_schema(summary="List KPI alerts", parameters=ALERT_FILTERS))
class AlertViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Alert.objects.select_related("rule")
    serializer_class = AlertSerializer
    permission_classes = [RolePermission]

    def get_queryset(self):
        rows = super().get_queryset()
        flag = (self.request.query_params.get("open") or "").lower()
        if flag in ("true", "1", "yes"):
            rows = rows.filter(cleared_at__isnull=True)
        elif flag in ("false", "0", "no"):
            rows = rows.filter(cleared_at__isnull=False)
        elif flag:
            raise ValidationFailed("open must be true or false", fields={"open": ["not a boolean"]})
        for name in ("customer", "rule"):
            raw = self.request.query_params.get(name)
            if raw:
                if not raw.isdigit():
                    raise ValidationFailed(f"{name} must be an id", fields={name: ["not an id"]})
                rows = rows.filter(**{f"{name}_id": int(raw)})
        return rows


def urlpatterns():
    from rest_framework.routers import SimpleRouter

    router = SimpleRouter()
    router.register("targets", KpiTargetViewSet, basename="kpi-target")
    router.register("alert-rules", AlertRuleViewSet, basename="alert-rule")
    router.register("alerts", AlertViewSet, basename="kpi-alert")
    return router.urls
