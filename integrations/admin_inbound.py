"""Admin of the inbound part of integrations: sources (with their JSON mapping), the messages they sent
(with a retry action) and ERP exports (read only: created by the service, from the page or the API)."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages

from revops.kernel.errors import DomainError

from .models import ErpExport, InboundMessage, InboundSource
from .services import inbound


class InboundSourceForm(forms.ModelForm):
    class Meta:
        model = InboundSource
        fields = ["name", "kind", "secret", "enabled", "mapping"]
        widgets = {"mapping": forms.Textarea(attrs={"rows": 24, "cols": 100, "class": "mono"}),
                   "secret": forms.TextInput(attrs={"size": 60})}

    def clean_mapping(self):
        mapping = self.cleaned_data["mapping"]
        if not isinstance(mapping, dict):
            raise forms.ValidationError("a mapping is a JSON object: {\"revops field\": \"payload path\", ...}")
        for needed in ("external_id", "customer.external_id", "customer.name", "lines[].sku", "lines[].quantity"):
            if needed not in mapping:
                raise forms.ValidationError(f"the mapping needs {needed!r} (see integrations/mappings/*.json)")
        return mapping


@admin.register(InboundSource)
class InboundSourceAdmin(admin.ModelAdmin):
    form = InboundSourceForm
    list_display = ("name", "kind", "enabled", "created_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name",)


@admin.action(description="Retry the selected failed messages")
def retry_messages(modeladmin, request, queryset):
    done = failed = 0
    for message in queryset.filter(status=InboundMessage.Status.FAILED).order_by("id"):
        try:
            result = inbound.inbound_retry(message_id=message.pk, by=request.user)
        except DomainError as exc:
            modeladmin.message_user(request, f"{message.external_id}: {exc.message}", messages.ERROR)
            failed += 1
            continue
        if result.message.status == InboundMessage.Status.PROCESSED:
            done += 1
        else:
            failed += 1
            modeladmin.message_user(request, f"{message.external_id}: {result.message.error}", messages.WARNING)
    modeladmin.message_user(request, f"{done} processed, {failed} still failing.",
                            messages.SUCCESS if not failed else messages.WARNING)


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("external_id", "source", "status", "attempts", "short_error", "customer", "quote", "received_at")
    list_filter = ("status", "source")
    search_fields = ("external_id", "error")
    list_select_related = ("source", "customer", "quote")
    actions = [retry_messages]
    readonly_fields = ("source", "external_id", "status", "error", "attempts", "customer", "quote", "contract",
                       "received_at", "processed_at", "payload_pretty")
    exclude = ("payload",)

    @admin.display(description="error")
    def short_error(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        from django.utils.html import format_html

        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, sort_keys=True))

    def has_add_permission(self, request):
        return False  # messages come from sources only


@admin.register(ErpExport)
class ErpExportAdmin(admin.ModelAdmin):
    list_display = ("id", "period_start", "period_end", "format", "full", "journal_entries", "journal_lines",
                    "invoices", "created_by", "created_at")
    list_filter = ("format", "full")
    date_hierarchy = "created_at"
    readonly_fields = ("period_start", "period_end", "format", "full", "journal_entries", "journal_lines",
                       "invoices", "created_by", "created_at")

    def has_add_permission(self, request):
        return False  # created by the service (page or API), which records its items

    def has_change_permission(self, request, obj=None):
        return False
