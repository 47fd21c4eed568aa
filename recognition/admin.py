"""Recognition in the admin: the chart of accounts and FX rates are edited here; periods, obligations,
schedules and the journal are shown read-only (they move only through the recognition services)."""
from django.contrib import admin

from billing.admin import ReadOnly, ReadOnlyInline

from . import models as m


@admin.register(m.Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "kind", "role", "family", "active")
    list_filter = ("kind", "role", "active")
    search_fields = ("code", "name")


@admin.register(m.FxRate)
class FxRateAdmin(admin.ModelAdmin):
    list_display = ("date", "currency", "rate")
    list_filter = ("currency",)
    date_hierarchy = "date"


@admin.register(m.AccountingPeriod)
class AccountingPeriodAdmin(ReadOnly):
    list_display = ("__str__", "status", "closed_at", "closed_by")
    list_filter = ("status",)


class ScheduleInline(ReadOnlyInline):
    model = m.ScheduleLine
    fields = ("period", "amount", "status", "entry")
    readonly_fields = fields


@admin.register(m.PerformanceObligation)
class PerformanceObligationAdmin(ReadOnly):
    list_display = ("contract", "product", "pattern", "allocated_price", "currency", "start_date", "end_date",
                    "status", "version")
    list_filter = ("pattern", "status", "currency")
    search_fields = ("contract__number", "product__sku")
    inlines = [ScheduleInline]


class JournalLineInline(ReadOnlyInline):
    model = m.JournalLine
    fields = ("account", "debit", "credit", "debit_reporting", "credit_reporting", "contract", "product")
    readonly_fields = fields


@admin.register(m.JournalEntry)
class JournalEntryAdmin(ReadOnly):
    list_display = ("date", "memo", "source", "currency", "period", "corrects_period")
    list_filter = ("source", "currency")
    search_fields = ("memo", "source_key")
    date_hierarchy = "date"
    inlines = [JournalLineInline]
