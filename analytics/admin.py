from django.contrib import admin

from billing.admin import ReadOnly

from . import models as m


@admin.register(m.MrrMovement)
class MrrMovementAdmin(ReadOnly):
    list_display = ("date", "customer", "kind", "amount", "currency", "mrr_after", "amount_reporting")
    list_filter = ("kind", "currency")
    search_fields = ("customer__name",)
    date_hierarchy = "date"


@admin.register(m.KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    list_display = ("kpi", "period_start", "period_end", "segment_field", "segment_value", "value")


@admin.register(m.AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "kpi", "condition", "threshold", "notify_group", "active")


@admin.register(m.Alert)
class AlertAdmin(ReadOnly):
    list_display = ("rule", "triggered_at", "value", "cleared_at")
from . import admin_profitability  # noqa: E402,F401 - registers the profitability inputs
