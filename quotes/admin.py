from django.contrib import admin

from .models import ApprovalRule, ApprovalStep, Quote, QuoteEvent, QuoteLine


class QuoteLineInline(admin.TabularInline):
    model = QuoteLine
    extra = 0
    fields = ("position", "product", "parent_line", "quantity", "discount_percent", "discount_amount",
              "list_unit_price", "net_unit_price", "mrr", "amount")
    readonly_fields = fields
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False  # lines change through the quote builder, which reprices and re-routes approvals


class ApprovalStepInline(admin.TabularInline):
    model = ApprovalStep
    extra = 0
    fields = ("submission", "order", "approver_group", "reason", "status", "decided_by", "decided_at", "comment")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class QuoteEventInline(admin.TabularInline):
    model = QuoteEvent
    extra = 0
    fields = ("at", "kind", "actor", "detail")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    """Read-mostly: every state change goes through the quote services (pages and API)."""

    list_display = ("number", "version", "customer", "owner", "status", "currency", "tcv", "mrr", "valid_until",
                    "created_at")
    list_filter = ("status", "currency", "billing_frequency", "payment_terms", "owner")
    search_fields = ("number", "customer__name")
    date_hierarchy = "created_at"
    list_select_related = ("customer", "owner")
    inlines = [QuoteLineInline, ApprovalStepInline, QuoteEventInline]
    readonly_fields = [f.name for f in Quote._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(admin.ModelAdmin):
    """Approval rules are data: condition, threshold, approver group, order in the chain."""

    list_display = ("order", "name", "condition", "threshold", "product", "approver_group", "active")
    list_display_links = ("name",)
    list_editable = ("order", "active")
    list_filter = ("condition", "approver_group", "active")
    search_fields = ("name",)
