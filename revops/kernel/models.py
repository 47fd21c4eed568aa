"""Kernel records: the transactional outbox, the audit trail and idempotency keys."""
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it describes."""

    type = models.CharField(max_length=100, db_index=True)  # e.g. "customer.created"
    aggregate_type = models.CharField(max_length=100)  # e.g. "customers.customer"
    aggregate_id = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["aggregate_type", "aggregate_id", "id"], name="outbox_aggregate_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.aggregate_type}:{self.aggregate_id}"


class EventDelivery(models.Model):
    """Delivery of one event to one in-process subscriber. At-least-once; subscribers are idempotent."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead (gave up)"

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.CharField(max_length=150)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event_id", "subscriber"]
        constraints = [models.UniqueConstraint(fields=["event", "subscriber"], name="delivery_once_per_subscriber")]
        indexes = [models.Index(fields=["subscriber", "status", "event"], name="delivery_queue_idx")]
        verbose_name_plural = "event deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscriber}: {self.status}"


class AuditEntry(models.Model):
    """Who changed which financial record, when, and what the fields were before and after."""

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = models.JSONField(default=dict)  # {"field": [before, after]}
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "at"], name="audit_object_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, replayed for retries (24 h)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # null while the first is running
    response_body = models.BinaryField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class NumberSeries(models.Model):
    """A gapless counter (quotes, invoices): the row is locked while a number is taken, so two
    transactions never get the same number and an aborted one gives its number back."""

    name = models.CharField(max_length=60, unique=True)  # e.g. "INV-2026", "Q-2026"
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "number series"

    def __str__(self) -> str:
        return f"{self.name}: {self.last}"


class Notification(models.Model):
    """An in-app notice for one user (renewal alerts, approvals waiting, mentions)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60)
    message = models.CharField(max_length=500)
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # What it is about, so the same notice is never sent twice to the same user.
    dedupe_key = models.CharField(max_length=200)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "dedupe_key"], name="notification_once_per_user")]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.user}: {self.message}"
