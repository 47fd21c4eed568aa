"""Billing: usage events, invoices and their lines, tax rates, bill runs, payments, credit notes,
finance approval rules and dunning. Issued invoices are frozen; corrections are credit notes."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Meter, Product
from contracts.models import Contract
from customers.models import Customer
from revops.kernel.fields import AmountField, CurrencyField, QuantityField, UnitPriceField


class InvoiceFrozen(Exception):
    """An attempt to change an issued invoice (a programming error: use a credit note)."""


# --- usage --------------------------------------------------------------------------------------------

class UsageKey(models.Model):
    """The deduplication record of an ingested event: one row per (customer, idempotency key).

    Kept apart from the events because the events table is partitioned by month on PostgreSQL, and a
    partitioned table's unique constraints must include the partition key (the timestamp)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False)
    idempotency_key = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "idempotency_key"], name="usage_key_once")]

    def __str__(self) -> str:
        return f"{self.customer_id}:{self.idempotency_key}"


class UsageEvent(models.Model):
    """A metered event. On PostgreSQL the table is partitioned by month of `timestamp`
    (migration 0002; `manage.py usage_partitions` keeps partitions ahead and detaches old ones)."""

    customer = models.ForeignKey(Customer, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
                                 db_index=False)
    meter = models.ForeignKey(Meter, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False,
                              db_index=False)
    timestamp = models.DateTimeField()
    value = models.DecimalField(max_digits=24, decimal_places=6, default=1)  # the meter's field, read at ingest
    dimension = models.CharField(max_length=200, blank=True)  # unique_count meters: the value counted once
    properties = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["customer", "meter", "timestamp"], name="usage_customer_meter_ts")]

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.timestamp}: {self.value}"


# --- tax ------------------------------------------------------------------------------------------------

class TaxRate(models.Model):
    """A tax rate by country (and optionally region). `inclusive` prices already contain the tax."""

    name = models.CharField(max_length=80)
    country = models.CharField(max_length=2)
    region = models.CharField(max_length=40, blank=True)
    percent = models.DecimalField(max_digits=7, decimal_places=4)
    inclusive = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "region", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(percent__gte=0) & Q(percent__lte=100), name="tax_percent_range"),
            models.UniqueConstraint(fields=["country", "region"], condition=Q(active=True),
                                    name="one_active_tax_rate_per_place"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.percent}%{' incl.' if self.inclusive else ''})"


# --- bill runs -------------------------------------------------------------------------------------------

class BillRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DONE_WITH_ERRORS = "done_with_errors", "Done with errors"

    as_of = models.DateField()
    dry_run = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    contracts_total = models.PositiveIntegerField(default=0)
    contracts_billed = models.PositiveIntegerField(default=0)
    invoices_created = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    preview = models.JSONField(default=list, blank=True)  # dry runs: what would be invoiced
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Bill run {self.pk} as of {self.as_of}{' (dry)' if self.dry_run else ''}"


class BillRunChunk(models.Model):
    """One slice of a bill run, processed by one task. Done once: a redelivered task finds it done."""

    bill_run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    contract_ids = models.JSONField(default=list)
    done = models.BooleanField(default=False)
    invoices_created = models.PositiveIntegerField(default=0)
    lines_created = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["bill_run_id", "index"]
        constraints = [models.UniqueConstraint(fields=["bill_run", "index"], name="bill_run_chunk_once")]

    def __str__(self) -> str:
        return f"run {self.bill_run_id} chunk {self.index}"


class BillRunError(models.Model):
    bill_run = models.ForeignKey(BillRun, on_delete=models.CASCADE, related_name="errors")
    contract = models.ForeignKey(Contract, null=True, on_delete=models.SET_NULL, related_name="+")
    customer = models.ForeignKey(Customer, null=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # A chunk redelivered after its worker died re-bills the same contracts: one error row per
        # contract and run, holding the latest message.
        constraints = [models.UniqueConstraint(fields=["bill_run", "contract"], condition=models.Q(contract__isnull=False),
                                               name="bill_run_error_once_per_contract")]

    def __str__(self) -> str:
        return self.message[:80]


# --- invoices --------------------------------------------------------------------------------------------

class Invoice(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        ISSUED = "issued", "Issued"
        PARTIALLY_PAID = "partially_paid", "Partially paid"
        PAID = "paid", "Paid"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    class PdfStatus(models.TextChoices):
        NONE = "none", "Not rendered"
        PENDING = "pending", "Rendering"
        RENDERED = "rendered", "Rendered"
        FAILED = "failed", "Failed (retrying)"

    UNISSUED = (Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED)
    OPEN = (Status.ISSUED, Status.PARTIALLY_PAID)  # money owed
    POSTED = (Status.ISSUED, Status.PARTIALLY_PAID, Status.PAID, Status.UNCOLLECTIBLE)

    number = models.CharField(max_length=30, null=True, blank=True, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices")
    bill_run = models.ForeignKey(BillRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="invoices")
    currency = CurrencyField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True, db_index=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    payment_terms = models.CharField(max_length=16, default="net_30")
    prices_include_tax = models.BooleanField(default=False)
    tax_rule = models.CharField(max_length=40, default="per_line_half_up",
                                help_text="How tax was rounded: per line, half-up, then summed.")
    subtotal = AmountField(default=0)
    tax = AmountField(default=0)
    total = AmountField(default=0)
    amount_paid = AmountField(default=0)
    amount_credited = AmountField(default=0)
    amount_due = AmountField(default=0)
    customer_snapshot = models.JSONField(default=dict, blank=True)  # name, address, tax id at issue
    approval_reasons = models.JSONField(default=list, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    pdf = models.FileField(upload_to="invoices/%Y/%m/", blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    pdf_status = models.CharField(max_length=10, choices=PdfStatus.choices, default=PdfStatus.NONE)
    pdf_error = models.TextField(blank=True)
    memo = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "status"], name="invoice_customer_status_idx"),
                   models.Index(fields=["status", "due_date"], name="invoice_status_due_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(number__isnull=True) | ~Q(status__in=["draft", "pending_approval",
                                                                                      "approved"]),
                                   name="invoice_number_only_when_issued"),
            models.CheckConstraint(condition=Q(total=models.F("subtotal") + models.F("tax")),
                                   name="invoice_total_is_subtotal_plus_tax"),
        ]
        permissions = [("approve_invoice", "Can approve invoices"), ("issue_invoice", "Can issue invoices")]

    def __str__(self) -> str:
        return self.number or f"Draft invoice {self.pk}"

    # Issued invoices are immutable: once loaded frozen, these fields refuse to change on save(). Payment
    # status, PDF and dunning fields still move. (A guard, not a side effect: it only refuses.)
    FROZEN_FIELDS = ("number", "customer_id", "contract_id", "currency", "issue_date", "due_date", "period_start",
                     "period_end", "subtotal", "tax", "total", "customer_snapshot", "prices_include_tax", "tax_rule")

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_loaded", None)
        if loaded and loaded.get("status") not in self.UNISSUED:
            changed = [f for f in self.FROZEN_FIELDS if f in loaded and loaded[f] != getattr(self, f)]
            if changed:
                raise InvoiceFrozen(f"{self} is issued; {', '.join(changed)} cannot change (issue a credit note)")
        super().save(*args, **kwargs)
        self._loaded = {f.attname: getattr(self, f.attname) for f in self._meta.concrete_fields}

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = dict(zip(field_names, values, strict=True))
        return instance

    @property
    def is_frozen(self) -> bool:
        return self.status not in self.UNISSUED


class InvoiceLine(models.Model):
    class Kind(models.TextChoices):
        RECURRING = "recurring", "Subscription"
        ONE_TIME = "one_time", "One-time"
        USAGE = "usage", "Usage"
        ADJUSTMENT = "adjustment", "Adjustment (amendment or late usage)"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    description = models.CharField(max_length=300)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contract_line = models.ForeignKey("contracts.ContractLine", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="invoice_lines")
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    quantity = QuantityField(default=1)
    unit_price = UnitPriceField(default=0)
    amount = AmountField()  # net of tax, always; with tax-inclusive prices net = gross − tax (see tax.py)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    tax_rate = models.ForeignKey(TaxRate, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    tax_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    tax_amount = AmountField(default=0)
    # Idempotency of billing: what this line charges (contract line version × period × kind) and its
    # sequence for that charge (0 the first charge, 1.. adjustments). Unique together, so two bill runs
    # racing on the same contract cannot both write the first charge.
    charge_key = models.CharField(max_length=120, blank=True)
    charge_seq = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["invoice_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["charge_key", "charge_seq"], condition=~Q(charge_key=""),
                                    name="invoice_line_charge_once"),
        ]
        indexes = [models.Index(fields=["charge_key"], name="invoice_line_charge_idx")]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount}"

    def save(self, *args, **kwargs):
        _refuse_if_frozen(self.invoice_id)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse_if_frozen(self.invoice_id)
        return super().delete(*args, **kwargs)


def _refuse_if_frozen(invoice_id) -> None:
    if invoice_id and Invoice.objects.filter(pk=invoice_id).exclude(status__in=Invoice.UNISSUED).exists():
        raise InvoiceFrozen(f"invoice {invoice_id} is issued; its lines cannot change (issue a credit note)")


class FinanceApprovalRule(models.Model):
    """A condition that holds a new invoice for finance approval (else it is approved on creation)."""

    class Condition(models.TextChoices):
        TOTAL_ABOVE = "total_above", "Total above an amount (invoice currency)"
        FIRST_INVOICE = "first_invoice", "The customer's first invoice"
        HAS_CREDIT = "has_credit", "The invoice contains a credit (negative line)"
        NEGATIVE_TOTAL = "negative_total", "The invoice total is negative"

    name = models.CharField(max_length=120)
    condition = models.CharField(max_length=20, choices=Condition.choices)
    threshold = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class InvoiceEvent(models.Model):
    """The invoice's history: created, approved, issued, paid, dunning, voided, PDF rendered."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    kind = models.CharField(max_length=40)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.invoice_id} {self.kind}"


# --- payments and credit notes ---------------------------------------------------------------------------

class Payment(models.Model):
    """Money received. What is not allocated to invoices is the customer's credit balance."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Recorded by finance"
        WEBHOOK = "webhook", "Payment provider webhook"
        REFUND = "refund", "Refund (negative)"
        CREDIT = "credit", "Customer credit (credit note or negative invoice)"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount = AmountField()
    currency = CurrencyField()
    received_at = models.DateTimeField()
    reference = models.CharField(max_length=120, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    provider = models.CharField(max_length=40, blank=True)
    provider_event_id = models.CharField(max_length=120, blank=True)
    amount_allocated = AmountField(default=0)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_event_id"], condition=~Q(provider_event_id=""),
                                    name="payment_provider_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} from {self.customer}"

    @property
    def unallocated(self):
        return self.amount - self.amount_allocated


class PaymentAllocation(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = AmountField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_positive")]

    def __str__(self) -> str:
        return f"{self.amount} of payment {self.payment_id} to invoice {self.invoice_id}"


class CreditNote(models.Model):
    """A correction of an issued invoice. It reduces what is due; beyond that it becomes customer
    credit, or a refund when `refund` is set."""

    number = models.CharField(max_length=30, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credit_notes")
    currency = CurrencyField()
    reason = models.TextField()
    subtotal = AmountField(default=0)
    tax = AmountField(default=0)
    total = AmountField(default=0)
    applied_to_invoice = AmountField(default=0)
    refund = models.BooleanField(default=False)
    issued_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number


class CreditNoteLine(models.Model):
    credit_note = models.ForeignKey(CreditNote, on_delete=models.CASCADE, related_name="lines")
    invoice_line = models.ForeignKey(InvoiceLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    description = models.CharField(max_length=300)
    amount = AmountField()
    tax_amount = AmountField(default=0)

    def __str__(self) -> str:
        return self.description


# --- dunning ----------------------------------------------------------------------------------------------

class DunningNotice(models.Model):
    """An overdue reminder, once per invoice and step (days after the due date)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="dunning_notices")
    days_after_due = models.PositiveSmallIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)
    amount_due = AmountField()

    class Meta:
        ordering = ["invoice_id", "days_after_due"]
        constraints = [models.UniqueConstraint(fields=["invoice", "days_after_due"], name="dunning_step_once")]

    def __str__(self) -> str:
        return f"invoice {self.invoice_id}: {self.days_after_due} days overdue"
