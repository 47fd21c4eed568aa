from django.contrib import admin

from .models import (
    Amendment,
    Contract,
    ContractEvent,
    ContractLine,
    ContractQuote,
    ProrationCharge,
    RenewalAlert,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ContractLineInline(ReadOnlyInline):
    model = ContractLine
    fields = ("item", "version", "product", "quantity", "unit_price", "amount", "period", "start_date", "end_date",
              "amendment")
    readonly_fields = fields


class AmendmentInline(ReadOnlyInline):
    model = Amendment
    fields = ("number", "kind", "effective_date", "proration_total", "reason", "created_by", "created_at")
    readonly_fields = fields


class RenewalAlertInline(ReadOnlyInline):
    model = RenewalAlert
    fields = ("offset_days", "due_date", "sent_at", "arr_at_risk")
    readonly_fields = fields


class ContractEventInline(ReadOnlyInline):
    model = ContractEvent
    fields = ("at", "kind", "actor", "detail")
    readonly_fields = fields


@admin.register(Contract)
class ContractAdmin(admin.ModelAdmin):
    """Lines, amendments and status change through the contract services (pages, API); renewal
    settings can be edited here."""

    list_display = ("number", "customer", "status", "start_date", "end_date", "currency", "arr", "tcv",
                    "auto_renew", "owner")
    list_filter = ("status", "auto_renew", "currency", "billing_frequency")
    search_fields = ("number", "customer__name")
    date_hierarchy = "end_date"
    list_select_related = ("customer", "owner")
    inlines = [ContractLineInline, AmendmentInline, RenewalAlertInline, ContractEventInline]
    fields = ("number", "customer", "quote", "owner", "currency", "status", "start_date", "end_date",
              "billing_frequency", "payment_terms", "auto_renew", "renewal_term_months", "renewal_uplift_percent",
              "renewal_notice_days", "renewal_alert_offsets", "renewed_from", "renewal_quote", "terminated_on",
              "termination_reason", "tcv", "arr", "mrr")
    readonly_fields = ("number", "customer", "quote", "currency", "status", "start_date", "end_date",
                       "billing_frequency", "payment_terms", "renewed_from", "renewal_quote", "terminated_on",
                       "termination_reason", "tcv", "arr", "mrr")

    def has_add_permission(self, request):
        return False


@admin.register(ProrationCharge)
class ProrationChargeAdmin(admin.ModelAdmin):
    list_display = ("contract", "description", "period_start", "period_end", "amount", "currency", "billed")
    list_filter = ("billed", "currency")
    search_fields = ("contract__number", "description")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(RenewalAlert)
class RenewalAlertAdmin(admin.ModelAdmin):
    list_display = ("contract", "offset_days", "due_date", "sent_at", "arr_at_risk")
    list_filter = ("offset_days",)
    search_fields = ("contract__number", "contract__customer__name")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


admin.site.register(ContractQuote)
