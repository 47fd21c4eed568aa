from django.contrib import admin, messages

from .events import redeliver
from .models import AuditEntry, EventDelivery, IdempotencyRecord, OutboxEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Kernel records are written by the platform only; the admin shows them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EventDeliveryInline(admin.TabularInline):
    model = EventDelivery
    extra = 0
    fields = ("subscriber", "status", "attempts", "last_error", "next_attempt_at", "delivered_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "type", "aggregate_type", "aggregate_id", "occurred_at", "actor")
    list_filter = ("type", "aggregate_type")
    search_fields = ("type", "aggregate_id")
    date_hierarchy = "occurred_at"
    inlines = [EventDeliveryInline]


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "subscriber", "status", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("status", "subscriber")
    search_fields = ("subscriber", "last_error")
    actions = ["redeliver_selected"]

    @admin.action(description="Deliver again (subscribers are idempotent)")
    def redeliver_selected(self, request, queryset):
        n = redeliver(list(queryset.values_list("pk", flat=True)))
        from .tasks import deliver_events

        deliver_events.delay()
        self.message_user(request, f"{n} deliveries queued again.", messages.SUCCESS)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser  # needed for the action; fields stay read-only below

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("at", "action", "content_type", "object_repr", "actor")
    list_filter = ("action", "content_type")
    search_fields = ("object_repr", "object_id")
    date_hierarchy = "at"
    readonly_fields = ("at", "action", "content_type", "object_id", "object_repr", "actor", "changes")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "user", "method", "path", "status_code", "created_at")
    search_fields = ("key", "path")
