"""Billing in the admin: tax rates and finance approval rules are edited here; invoices, payments and
bill runs are shown read-only (they change only through the billing services: issued invoices are
frozen, corrections are credit notes)."""
from django.contrib import admin

from . import models as m


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class InvoiceLineInline(ReadOnlyInline):
    model = m.InvoiceLine
    fields = ("position", "kind", "description", "quantity", "unit_price", "amount", "tax_percent", "tax_amount",
              "period_start", "period_end", "charge_key", "charge_seq")
    readonly_fields = fields


class InvoiceEventInline(ReadOnlyInline):
    model = m.InvoiceEvent
    fields = ("at", "kind", "actor", "detail")
    readonly_fields = fields


@admin.register(m.Invoice)
class InvoiceAdmin(ReadOnly):
    list_display = ("__str__", "customer", "status", "currency", "total", "amount_due", "issue_date", "due_date",
                    "pdf_status")
    list_filter = ("status", "currency", "pdf_status")
    search_fields = ("number", "customer__name")
    date_hierarchy = "issue_date"
    list_select_related = ("customer",)
    inlines = [InvoiceLineInline, InvoiceEventInline]


@admin.register(m.Payment)
class PaymentAdmin(ReadOnly):
    list_display = ("received_at", "customer", "amount", "currency", "amount_allocated", "source", "reference")
    list_filter = ("source", "currency")
    search_fields = ("reference", "customer__name", "provider_event_id")


@admin.register(m.CreditNote)
class CreditNoteAdmin(ReadOnly):
    list_display = ("number", "invoice", "customer", "total", "currency", "refund", "issued_at")
    search_fields = ("number", "invoice__number")


@admin.register(m.BillRun)
class BillRunAdmin(ReadOnly):
    list_display = ("pk", "as_of", "dry_run", "status", "contracts_total", "invoices_created", "created_at")
    list_filter = ("status", "dry_run")


@admin.register(m.TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "region", "percent", "inclusive", "active")
    list_filter = ("country", "inclusive", "active")


@admin.register(m.FinanceApprovalRule)
class FinanceApprovalRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "condition", "threshold", "active")
    list_filter = ("condition", "active")


@admin.register(m.DunningNotice)
class DunningNoticeAdmin(ReadOnly):
    list_display = ("invoice", "days_after_due", "sent_at", "amount_due")
