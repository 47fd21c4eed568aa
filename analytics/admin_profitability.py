"""Admin of the profitability inputs (service costs, support volumes, acquisition spend)."""
from django.contrib import admin

from .models import AcquisitionSpend, ServiceCost, SupportVolume


@admin.register(ServiceCost)
class ServiceCostAdmin(admin.ModelAdmin):
    list_display = ("period", "category", "amount", "currency", "driver", "customer", "segment_field", "segment_value")
    list_filter = ("category", "driver", "currency", "segment_field")
    search_fields = ("customer__name", "note", "segment_value")
    date_hierarchy = "period"
    autocomplete_fields = ("customer",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        obj.period = obj.period.replace(day=1)
        super().save_model(request, obj, form, change)


@admin.register(SupportVolume)
class SupportVolumeAdmin(admin.ModelAdmin):
    list_display = ("period", "customer", "tickets")
    search_fields = ("customer__name",)
    date_hierarchy = "period"
    autocomplete_fields = ("customer",)

    def save_model(self, request, obj, form, change):
        obj.period = obj.period.replace(day=1)
        super().save_model(request, obj, form, change)


@admin.register(AcquisitionSpend)
class AcquisitionSpendAdmin(admin.ModelAdmin):
    list_display = ("period", "channel", "category", "amount", "currency", "segment_field", "segment_value")
    list_filter = ("channel", "category", "currency")
    search_fields = ("note", "segment_value")
    date_hierarchy = "period"
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        obj.period = obj.period.replace(day=1)
        super().save_model(request, obj, form, change)
