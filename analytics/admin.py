from django import forms
from django.contrib import admin

from billing.admin import ReadOnly

from . import models as m
from .services.alerts import rule_problems


@admin.register(m.MrrMovement)
class MrrMovementAdmin(ReadOnly):
    list_display = ("date", "customer", "kind", "amount", "currency", "mrr_after", "amount_reporting")
    list_filter = ("kind", "currency")
    search_fields = ("customer__name",)
    date_hierarchy = "date"


@admin.register(m.KpiTarget)
class KpiTargetAdmin(admin.ModelAdmin):
    list_display = ("kpi", "period_start", "period_end", "segment_field", "segment_value", "value")


class AlertRuleForm(forms.ModelForm):
    class Meta:
        model = m.AlertRule
        fields = ["name", "kpi", "condition", "threshold", "trailing_days", "active", "meter", "customer", "target",
                  "notify_group", "notify_in_app", "notify_email", "notify_webhook"]

    def clean(self):
        data = super().clean()
        problems = rule_problems(kpi=data.get("kpi"), condition=data.get("condition"),
                                 threshold=data.get("threshold"), meter=data.get("meter"),
                                 customer=data.get("customer"), target=data.get("target"))
        for field, messages in problems.items():
            self.add_error(field, messages)
        return data


@admin.register(m.AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    form = AlertRuleForm
    list_display = ("name", "kpi", "condition", "threshold", "trailing_days", "meter", "customer", "target",
                    "notify_group", "notify_in_app", "notify_email", "notify_webhook", "active")
    list_filter = ("kpi", "condition", "active", "notify_in_app", "notify_email", "notify_webhook")
    search_fields = ("name",)
    raw_id_fields = ("customer", "target")
    list_select_related = ("meter", "customer", "target")
    fieldsets = (
        (None, {"fields": ("name", "kpi", "condition", "threshold", "trailing_days", "active")}),
        ("Subject (per-subject kinds)", {"fields": ("meter", "customer", "target"),
                                         "description": "customer_usage needs a meter (customer optional); "
                                                        "target_shortfall needs a target."}),
        ("Channels", {"fields": ("notify_group", "notify_in_app", "notify_email", "notify_webhook")}),
    )


@admin.register(m.Alert)
class AlertAdmin(ReadOnly):
    list_display = ("rule", "subject_key", "customer", "triggered_at", "value", "cleared_at")
    list_filter = ("rule__kpi", ("cleared_at", admin.EmptyFieldListFilter))
    search_fields = ("rule__name", "subject_key", "customer__name", "message")
    list_select_related = ("rule", "customer")
from . import admin_profitability  # noqa: E402,F401 - registers the profitability inputs
