"""Integrations: webhook endpoints and their deliveries (out), inbound sources and the messages they sent
(in), and ERP exports with what each one included."""
from django.conf import settings
from django.db import models

from customers.models import Customer
from revops.kernel.models import OutboxEvent


class WebhookEndpoint(models.Model):
    """A receiver of revops events. `event_types` holds patterns ("invoice.issued", "contract.*")."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        FAILING = "failing", "Failing (last delivery gave up)"

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text='Event type patterns, e.g. ["invoice.issued", "contract.*"].')
    secret = models.CharField(max_length=100, help_text="Shared secret for the Revops-Signature HMAC.")
    enabled = models.BooleanField(default=True)
    allow_private_network = models.BooleanField(
        default=False, help_text="Admins only: allow a URL that resolves to a private or link-local address.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    failing_since = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    """One event to one endpoint. At-least-once; ordered per object (`ordering_key`)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="webhook_deliveries")
    ordering_key = models.CharField(max_length=170, help_text="aggregate_type:aggregate_id of the event.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["endpoint", "ordering_key", "status", "id"], name="webhook_delivery_order_idx")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery, kept for the endpoint's log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    manual = models.BooleanField(default=False, help_text="A replay asked for by a user.")

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error[:30]}"


class InboundSource(models.Model):
    """A system that pushes deals or orders to /api/v1/inbound/<name>/, signed with `secret`; `mapping` says
    where each revops field is found in its payload."""

    class Kind(models.TextChoices):
        DEAL = "deal", "CRM closed-won deal (draft quote)"
        ORDER = "order", "Paid e-commerce order (accepted quote and contract)"

    name = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    secret = models.CharField(max_length=100)
    mapping = models.JSONField(default=dict)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InboundMessage(models.Model):
    """A payload received from a source, kept whatever happened to it (the inbox)."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed (see error; retry after fixing)"

    source = models.ForeignKey(InboundSource, on_delete=models.PROTECT, related_name="messages")
    external_id = models.CharField(max_length=150, help_text="The source's own id of the deal or order.")
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=1)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    quote = models.ForeignKey("quotes.Quote", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    contract = models.ForeignKey("contracts.Contract", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source", "external_id"], name="inbound_message_once")]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.external_id} {self.status}"


class ErpExport(models.Model):
    """One export of a period's journal and invoices. `full` re-sends everything; otherwise only what no
    earlier export of the period included (ErpExportItem)."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSON = "json", "JSON"

    period_start = models.DateField()
    period_end = models.DateField()
    format = models.CharField(max_length=4, choices=Format.choices)
    full = models.BooleanField(default=False)
    journal_entries = models.PositiveIntegerField(default=0)
    journal_lines = models.PositiveIntegerField(default=0)
    invoices = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.period_start}..{self.period_end} {self.format}{' full' if self.full else ''}"


class ErpExportItem(models.Model):
    """A journal entry or invoice that an export included."""

    export = models.ForeignKey(ErpExport, on_delete=models.CASCADE, related_name="items")
    journal_entry = models.ForeignKey("recognition.JournalEntry", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    invoice = models.ForeignKey("billing.Invoice", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.CheckConstraint(
            condition=models.Q(journal_entry__isnull=False, invoice__isnull=True)
            | models.Q(journal_entry__isnull=True, invoice__isnull=False), name="erp_item_one_document")]
        indexes = [models.Index(fields=["journal_entry"], name="erp_item_entry_idx"),
                   models.Index(fields=["invoice"], name="erp_item_invoice_idx")]

    def __str__(self) -> str:
        return f"{self.export_id}: entry {self.journal_entry_id}" if self.journal_entry_id else \
            f"{self.export_id}: invoice {self.invoice_id}"
