"""Admin of the webhooks part of integrations: endpoints (secret generated on add and shown once, URL
checked by the SSRF guard, private network only for the admin role), deliveries with their attempts,
and a replay action. Writes go through the services in integrations/services/webhooks.py."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from revops.kernel import roles
from revops.kernel.errors import DomainError

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import webhooks as service
from .services.event_types import KNOWN_EVENT_TYPES, event_types_clean
from .services.urlguard import url_check


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "enabled", "allow_private_network"]
        help_texts = {"event_types": 'A JSON list, e.g. ["invoice.issued", "contract.*"]. Known types: '
                                     + ", ".join(KNOWN_EVENT_TYPES)}

    def clean_event_types(self):
        try:
            return event_types_clean(self.cleaned_data.get("event_types"))
        except DomainError as exc:
            raise forms.ValidationError(exc.fields.get("event_types") or [exc.message]) from None

    def clean(self):
        cleaned = super().clean()
        url = cleaned.get("url")
        if url and not self.has_error("url"):
            try:
                url_check(url, allow_private_network=bool(cleaned.get("allow_private_network")))
            except DomainError as exc:
                self.add_error("url", exc.message)
        return cleaned


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = ("delivery_link", "event", "ordering_key", "status", "attempts", "next_attempt_at", "delivered_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-id",)
    show_change_link = True

    @admin.display(description="delivery")
    def delivery_link(self, obj):
        return format_html('<a href="{}">#{}</a>', reverse("admin:integrations_webhookdelivery_change", args=[obj.pk]),
                           obj.pk)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("event")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "description", "enabled", "status", "failing_since", "created_at")
    list_filter = ("enabled", "status")
    search_fields = ("url", "description")
    readonly_fields = ("secret_display", "status", "failing_since", "created_by", "created_at")
    inlines = [WebhookDeliveryInline]
    actions = ["send_test_event"]

    @admin.display(description="secret")
    def secret_display(self, obj):
        return service.secret_masked(obj.secret) if obj and obj.secret else "generated when the endpoint is saved"

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not roles.has_role(request.user, roles.ADMIN):
            fields.append("allow_private_network")
        return fields

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.Meta.fields if name in form.cleaned_data}
        try:
            if change:
                saved = service.webhook_endpoint_update(
                    endpoint_id=obj.pk, by=request.user, **{k: v for k, v in data.items() if k in form.changed_data})
            else:
                saved = service.webhook_endpoint_create(by=request.user, **data)
                self.message_user(request, f"The endpoint's secret (shown only now): {saved.secret}", messages.WARNING)
        except DomainError as exc:  # the form checked the same rules; this is a race with another change
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk, obj.secret = saved.pk, saved.secret
        obj.refresh_from_db()

    @admin.action(description="Send a webhook.test event")
    def send_test_event(self, request, queryset):
        for endpoint in queryset:
            service.webhook_test_send(endpoint_id=endpoint.pk, by=request.user)
        self.message_user(request, f"Test events queued for {queryset.count()} endpoint(s).")


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("attempted_at", "status_code", "latency_ms", "succeeded", "manual", "error", "response_excerpt")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "endpoint", "event", "ordering_key", "status", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("status", "endpoint")
    search_fields = ("ordering_key", "event__type")
    list_select_related = ("endpoint", "event")
    readonly_fields = ("endpoint", "event", "ordering_key", "status", "attempts", "next_attempt_at", "delivered_at",
                       "created_at")
    inlines = [WebhookAttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Replay: send again now (logged as a manual attempt)")
    def replay(self, request, queryset):
        ok = failed = 0
        for delivery in queryset.order_by("pk"):
            attempt = service.webhook_delivery_replay(delivery_id=delivery.pk, by=request.user)
            ok, failed = (ok + 1, failed) if attempt.succeeded else (ok, failed + 1)
        self.message_user(request, f"Replayed: {ok} succeeded, {failed} failed.",
                          messages.SUCCESS if not failed else messages.WARNING)
