"""Serializers of the billing API (API.md "Usage" and "Billing").

Read serializers say what the API answers: money as strings in the document currency's minor units,
unit prices with up to 6 places, quantities and percentages as plain decimal strings. Write serializers
check the *shape* of the input only (types, required keys, column limits); the rules — a payment is
positive and in the customer's currency, a credit stays within what is left of a line, only an issued
invoice takes a credit note — belong to `billing.services`, so the API, the pages and the admin refuse
the same input with the same message and the same field path (`allocations[0].amount`, `lines[1].amount`).

Usage events have no serializer on purpose: a batch of 10,000 is validated in one tight loop by
`billing.services.usage.usage_ingest` (FIELD_NOTES "HTTP"); the schema below only documents it.
"""
from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from customers.models import Customer
from revops.kernel.api.fields import CurrencyField, DecimalStringField, MoneyField, UnitPriceField

from .models import (
    BillRun,
    BillRunError,
    CreditNote,
    CreditNoteLine,
    FinanceApprovalRule,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    TaxRate,
)
from .services.dunning import BUCKETS
from .services.usage import MAX_BATCH

BIGINT_MAX = 2**63 - 1
AMOUNT_LIMIT = Decimal(10) ** 16  # AmountField: 19 digits, 3 of them places
MAX_ALLOCATIONS = 500
MAX_CREDIT_LINES = 500
MAX_BULK_APPROVE = 500


def _below_limit(value: Decimal) -> Decimal:
    if abs(value) >= AMOUNT_LIMIT:
        raise serializers.ValidationError(f"must be less than {AMOUNT_LIMIT:f}")
    return value


class NamedChoiceField(serializers.ChoiceField):
    """A choice field whose enum is its own named schema component (`InvoiceStatusEnum`), so billing's
    `status` and `kind` do not collide with the quotes' and catalog's in the OpenAPI schema."""

    def __init__(self, *, component_name: str, **kwargs):
        self.component_name = component_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        component = ResolvedComponent(
            name=field.component_name, type=ResolvedComponent.SCHEMA, object=field.component_name,
            schema={"type": "string", "enum": list(field.choices),
                    "description": "\n".join(f"* `{value}` - {label}" for value, label in field.choices.items())})
        auto_schema.registry.register_on_missing(component)
        return component.ref


# --- usage (schema only: the endpoint never runs a serializer per event) ---------------------------------

USAGE_EVENT_SCHEMA = {
    "type": "object",
    "description": "One metered event. `customer` (id) or `customer_external_id` names the customer.",
    "properties": {
        "customer": {"type": "integer", "description": "Customer id."},
        "customer_external_id": {"type": "string", "description": "The customer's id in your system."},
        "meter": {"type": "string", "description": "Meter code, e.g. `api-calls`."},
        "timestamp": {"type": "string", "format": "date-time",
                      "description": "ISO 8601 with an offset; at most an hour in the future."},
        "value": {"type": "string", "format": "decimal",
                  "description": "Default: `properties[meter.field]`, or 1 for count meters."},
        "properties": {"type": "object", "additionalProperties": True},
        "idempotency_key": {"type": "string", "minLength": 1, "maxLength": 255,
                            "description": "Unique per customer: an event sent again is a duplicate."},
    },
    "required": ["meter", "timestamp", "idempotency_key"],
}

USAGE_INGEST_REQUEST_SCHEMA = {
    "oneOf": [
        USAGE_EVENT_SCHEMA,
        {"type": "array", "maxItems": MAX_BATCH, "items": USAGE_EVENT_SCHEMA},
    ],
}


class RejectedEventSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch (0 for a single event).")
    error = serializers.CharField()


class UsageIngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored now.")
    duplicates = serializers.IntegerField(help_text="Events whose (customer, idempotency_key) was already stored.")
    rejected = RejectedEventSerializer(many=True, help_text="Invalid events, by index; the others are kept.")


class MeterUsageSerializer(serializers.Serializer):
    meter = serializers.CharField(help_text="Meter code.")
    name = serializers.CharField()
    aggregation = serializers.CharField()
    unit = serializers.CharField()
    total = DecimalStringField(help_text="The meter's aggregate over the window's calendar days.")


class PeriodUsageSerializer(serializers.Serializer):
    contract = serializers.IntegerField()
    contract_number = serializers.CharField()
    contract_line = serializers.IntegerField(help_text="The usage line version rated.")
    product = serializers.IntegerField()
    product_name = serializers.CharField()
    meter = serializers.CharField()
    currency = serializers.CharField()
    period_start = serializers.DateField(help_text="The running billing period (this line version's part of it).")
    period_end = serializers.DateField()
    usage_through = serializers.DateField(help_text="Usage counted up to and including this day (today).")
    quantity = DecimalStringField()
    estimated_charge = serializers.CharField(
        help_text="The quantity so far rated through the line's price (tiers over the period's total), as if "
                  "the period ended today. Tax not included.")


@extend_schema_serializer(many=False)  # the answer of a `list` route, but one object
class CustomerUsageSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    from_ = serializers.DateField()
    to = serializers.DateField()
    meters = MeterUsageSerializer(many=True)
    current_period = PeriodUsageSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a keyword in Python
        return fields


# --- invoices --------------------------------------------------------------------------------------------

class InvoiceLineSerializer(serializers.ModelSerializer):
    kind = NamedChoiceField(choices=InvoiceLine.Kind.choices, component_name="InvoiceLineKindEnum", read_only=True)
    quantity = DecimalStringField(read_only=True)
    unit_price = UnitPriceField(currency_source="invoice.currency", read_only=True)
    amount = MoneyField(currency_source="invoice.currency", read_only=True, help_text="Net of tax.")
    tax_percent = DecimalStringField(places=4, read_only=True)
    tax_amount = MoneyField(currency_source="invoice.currency", read_only=True)

    class Meta:
        model = InvoiceLine
        fields = ["id", "kind", "description", "product", "meter", "contract_line", "quantity", "unit_price", "amount",
                  "period_start", "period_end", "tax_rate", "tax_percent", "tax_amount", "position"]
        read_only_fields = fields


class InvoiceSerializer(serializers.ModelSerializer):
    status = NamedChoiceField(choices=Invoice.Status.choices, component_name="InvoiceStatusEnum", read_only=True)
    pdf_status = NamedChoiceField(choices=Invoice.PdfStatus.choices, component_name="InvoicePdfStatusEnum",
                                  read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)
    subtotal = MoneyField(read_only=True, help_text="Sum of the lines' net amounts.")
    tax = MoneyField(read_only=True, help_text="Sum of the lines' tax, each rounded half-up (`tax_rule`).")
    total = MoneyField(read_only=True)
    amount_paid = MoneyField(read_only=True, help_text="Payments and customer credit allocated to the invoice.")
    amount_credited = MoneyField(read_only=True, help_text="Credit notes applied to the invoice.")
    amount_due = MoneyField(read_only=True, help_text="total − amount_paid − amount_credited (0 when void).")
    approval_reasons = serializers.ListField(child=serializers.CharField(), read_only=True,
                                             help_text="Why finance approval is (or was) needed.")
    pdf_url = serializers.SerializerMethodField(help_text="GET it for the PDF.")

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer", "customer_name", "contract", "bill_run", "currency", "status",
                  "issue_date", "due_date", "period_start", "period_end", "payment_terms", "prices_include_tax",
                  "tax_rule", "lines", "subtotal", "tax", "total", "amount_paid", "amount_credited", "amount_due",
                  "approval_reasons", "approved_by", "approved_at", "issued_at", "voided_at", "void_reason",
                  "pdf_status", "pdf_url", "created_at"]
        read_only_fields = fields

    def get_pdf_url(self, invoice: Invoice) -> str:
        path = reverse("invoice-pdf", args=[invoice.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, help_text="Why; required.")


class UncollectibleSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class BulkApproveSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX), allow_empty=False,
                                max_length=MAX_BULK_APPROVE, help_text=f"Invoice ids, at most {MAX_BULK_APPROVE}.")


class RefusalSerializer(serializers.Serializer):
    invoice = serializers.IntegerField()
    message = serializers.CharField()


class BulkApproveResultSerializer(serializers.Serializer):
    approved = serializers.ListField(child=serializers.IntegerField())
    refused = RefusalSerializer(many=True)


# --- credit notes ------------------------------------------------------------------------------------------

class CreditNoteLineSerializer(serializers.ModelSerializer):
    amount = MoneyField(currency_source="credit_note.currency", read_only=True, help_text="Net credited.")
    tax_amount = MoneyField(currency_source="credit_note.currency", read_only=True)

    class Meta:
        model = CreditNoteLine
        fields = ["id", "invoice_line", "description", "amount", "tax_amount"]
        read_only_fields = fields


class CreditNoteSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    lines = CreditNoteLineSerializer(many=True, read_only=True)
    subtotal = MoneyField(read_only=True)
    tax = MoneyField(read_only=True)
    total = MoneyField(read_only=True)
    applied_to_invoice = MoneyField(read_only=True, help_text="What it took off the invoice's amount due; the "
                                                              "rest became customer credit (or a refund).")

    class Meta:
        model = CreditNote
        fields = ["id", "number", "invoice", "invoice_number", "customer", "currency", "reason", "lines", "subtotal",
                  "tax", "total", "applied_to_invoice", "refund", "issued_at", "created_by"]
        read_only_fields = fields


class CreditLineInputSerializer(serializers.Serializer):
    invoice_line = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="A line of the invoice.")
    amount = DecimalStringField(allow_negative=True, help_text="Net amount to credit, in the invoice currency's "
                                                               "places; at most what is left of the line.")

    def validate_amount(self, value: Decimal) -> Decimal:
        return _below_limit(value)


class CreditNoteCreateSerializer(serializers.Serializer):
    invoice = serializers.PrimaryKeyRelatedField(queryset=Invoice.objects.all(), help_text="An issued invoice.")
    lines = CreditLineInputSerializer(many=True)
    reason = serializers.CharField(allow_blank=True, help_text="Why; required.")
    refund = serializers.BooleanField(default=False, help_text="Pay back what exceeds the amount due instead of "
                                                               "keeping it as customer credit.")

    def validate_lines(self, value: list[dict]) -> list[dict]:
        if len(value) > MAX_CREDIT_LINES:
            raise serializers.ValidationError(f"at most {MAX_CREDIT_LINES} lines per credit note")
        return value


# --- payments -----------------------------------------------------------------------------------------------

class PaymentAllocationSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    amount = MoneyField(currency_source="payment.currency", read_only=True)

    class Meta:
        model = PaymentAllocation
        fields = ["invoice", "invoice_number", "amount"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    source = NamedChoiceField(choices=Payment.Source.choices, component_name="PaymentSourceEnum", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    amount = MoneyField(read_only=True)
    amount_allocated = MoneyField(read_only=True)
    unallocated = MoneyField(read_only=True, help_text="Customer credit left from this payment.")
    allocations = PaymentAllocationSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "customer", "customer_name", "amount", "currency", "received_at", "reference", "source",
                  "provider", "provider_event_id", "amount_allocated", "unallocated", "allocations", "recorded_by",
                  "created_at"]
        read_only_fields = fields


class AllocationInputSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="An open invoice of the customer.")
    amount = DecimalStringField(allow_negative=True, help_text="At most the invoice's amount due.")

    def validate_amount(self, value: Decimal) -> Decimal:
        return _below_limit(value)


class PaymentCreateSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    amount = DecimalStringField(allow_negative=True, help_text="Greater than 0, in the currency's places.")
    currency = CurrencyField(help_text="The customer's currency (or one it has been invoiced in).")
    received_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    reference = serializers.CharField(required=False, allow_blank=True, default="", max_length=120)
    allocations = AllocationInputSerializer(
        many=True, required=False,
        help_text="Which invoices it pays. Without: the oldest open invoices first; the rest is customer credit.")

    def validate_amount(self, value: Decimal) -> Decimal:
        return _below_limit(value)

    def validate_allocations(self, value: list[dict]) -> list[dict]:
        if len(value) > MAX_ALLOCATIONS:
            raise serializers.ValidationError(f"at most {MAX_ALLOCATIONS} allocations per payment")
        return value


class WebhookEventSerializer(serializers.Serializer):
    """The provider event posted to the webhook (schema only: the body is verified as raw bytes)."""

    id = serializers.CharField(help_text="The provider's event id; a redelivered event is recorded once.")
    type = serializers.CharField(help_text="`payment.succeeded`; other types are acknowledged and ignored.")
    customer = serializers.IntegerField(required=False)
    customer_external_id = serializers.CharField(required=False)
    amount = serializers.CharField()
    currency = serializers.CharField()
    created = serializers.DateTimeField(required=False)
    reference = serializers.CharField(required=False)
    invoice = serializers.IntegerField(required=False, help_text="Allocate the whole amount to this invoice.")


class WebhookIgnoredSerializer(serializers.Serializer):
    ignored = serializers.BooleanField()
    message = serializers.CharField()


# --- tax rates and approval rules ---------------------------------------------------------------------------

class TaxRateSerializer(serializers.ModelSerializer):
    percent = DecimalStringField(places=4, help_text="0–100.")

    class Meta:
        model = TaxRate
        fields = ["id", "name", "country", "region", "percent", "inclusive", "active"]
        read_only_fields = ["id"]
        validators = []  # the one-active-rate-per-place rule is checked in validate(), with a clear message

    def validate_country(self, value: str) -> str:
        if len(value) != 2 or not value.isalpha() or not value.isupper():
            raise serializers.ValidationError("an ISO 3166-1 alpha-2 code in capitals, e.g. US, DE, JP")
        return value

    def validate_percent(self, value: Decimal) -> Decimal:
        if value > 100:
            raise serializers.ValidationError("must be between 0 and 100")
        return value

    def validate(self, attrs: dict) -> dict:
        current = self.instance
        country = attrs.get("country", getattr(current, "country", ""))
        region = attrs.get("region", getattr(current, "region", ""))
        active = attrs.get("active", getattr(current, "active", True))
        if active:
            clash = TaxRate.objects.filter(country=country, region=region, active=True)
            if current is not None:
                clash = clash.exclude(pk=current.pk)
            if clash.exists():
                place = f"{country}/{region}" if region else country
                raise serializers.ValidationError({"active": [
                    f"{place} already has an active rate; deactivate it first"]})
        return attrs


class FinanceApprovalRuleSerializer(serializers.ModelSerializer):
    threshold = DecimalStringField(places=4, required=False, allow_null=True,
                                   help_text="For `total_above`: the amount, in the invoice's currency.")

    class Meta:
        model = FinanceApprovalRule
        fields = ["id", "name", "condition", "threshold", "active"]
        read_only_fields = ["id"]

    def validate_threshold(self, value):
        return _below_limit(value) if value is not None else value

    def validate(self, attrs: dict) -> dict:
        condition = attrs.get("condition", getattr(self.instance, "condition", None))
        threshold = attrs.get("threshold", getattr(self.instance, "threshold", None))
        if condition == FinanceApprovalRule.Condition.TOTAL_ABOVE and threshold is None:
            raise serializers.ValidationError({"threshold": ["required for total_above"]})
        return attrs


# --- bill runs ------------------------------------------------------------------------------------------------

class BillRunErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = BillRunError
        fields = ["contract", "customer", "message", "at"]
        read_only_fields = fields


class PreviewChargeSerializer(serializers.Serializer):
    description = serializers.CharField()
    amount = serializers.CharField()


class PreviewContractSerializer(serializers.Serializer):
    contract = serializers.IntegerField()
    contract_number = serializers.CharField()
    customer = serializers.IntegerField()
    customer_name = serializers.CharField()
    currency = serializers.CharField()
    lines = serializers.IntegerField(help_text="Lines the invoice would have.")
    subtotal = serializers.CharField(help_text="Net, before tax.")
    charges = PreviewChargeSerializer(many=True, help_text="The first 50 charges.")


class BillRunSerializer(serializers.ModelSerializer):
    status = NamedChoiceField(choices=BillRun.Status.choices, component_name="BillRunStatusEnum", read_only=True)
    errors = BillRunErrorSerializer(many=True, read_only=True,
                                    help_text="Contracts that failed (the others were billed).")
    preview = PreviewContractSerializer(many=True, read_only=True,
                                        help_text="Dry runs: what would be invoiced, per contract.")

    class Meta:
        model = BillRun
        fields = ["id", "as_of", "dry_run", "status", "invoices_created", "lines_created", "contracts_total",
                  "contracts_billed", "chunks_total", "chunks_done", "errors", "preview", "created_by", "created_at",
                  "started_at", "finished_at"]
        read_only_fields = fields


class BillRunListSerializer(BillRunSerializer):
    """The list leaves out dry-run previews (one entry per contract); GET the run for them."""

    class Meta(BillRunSerializer.Meta):
        fields = [f for f in BillRunSerializer.Meta.fields if f != "preview"]
        read_only_fields = fields


class BillRunCreateSerializer(serializers.Serializer):
    as_of = serializers.DateField(required=False, help_text="Bill everything due on this day. Default: today.")
    dry_run = serializers.BooleanField(default=False, help_text="Compute what would be invoiced; write no invoice.")


# --- reports ---------------------------------------------------------------------------------------------------

class AgingRowSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    customer_name = serializers.CharField()
    currency = serializers.CharField()
    buckets = serializers.DictField(child=serializers.CharField(),
                                    help_text=f"Amount due by days past due: {', '.join(BUCKETS)}.")
    total = serializers.CharField()


class AgingTotalSerializer(serializers.Serializer):
    currency = serializers.CharField()
    buckets = serializers.DictField(child=serializers.CharField())
    total = serializers.CharField()


@extend_schema_serializer(many=False)  # the answer of a `list` route, but one object
class AgingReportSerializer(serializers.Serializer):
    as_of = serializers.DateField()
    buckets = serializers.ListField(child=serializers.CharField(), help_text="Bucket names, in order.")
    rows = AgingRowSerializer(many=True, help_text="One per customer and currency, by customer name.")
    totals = AgingTotalSerializer(many=True, help_text="Per currency.")
