"""/api/v1/portal/...: the signed-in customer's own invoices, payments, quotes and usage, read-only.

Permission `IsPortalUser` (a contact with a portal login; staff tokens get 403, no credentials 401).
Every queryset comes from portal.selectors, scoped to the contact's customer, so another customer's
record — or a draft invoice — is a 404 in the API error shape, exactly like a record that does not exist.
"""
from __future__ import annotations

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import OrderingFilter
from rest_framework.renderers import JSONRenderer
from rest_framework.reverse import reverse

from billing.models import Invoice, InvoiceLine, Payment, PaymentAllocation
from quotes.models import Quote, QuoteLine
from quotes.services.lifecycle import acceptance_url
from revops.kernel.api.fields import DecimalStringField, MoneyField, UnitPriceField
from revops.kernel.api.renderers import PDFRenderer
from revops.kernel.permissions import IsPortalUser

from . import selectors

PDF_RESPONSE = {(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")}


# --- serializers ---------------------------------------------------------------------------------------

class PortalInvoiceLineSerializer(serializers.ModelSerializer):
    quantity = DecimalStringField(read_only=True)
    unit_price = UnitPriceField(currency_source="invoice.currency", read_only=True)
    amount = MoneyField(currency_source="invoice.currency", read_only=True, help_text="Net of tax.")
    tax_percent = DecimalStringField(read_only=True)
    tax_amount = MoneyField(currency_source="invoice.currency", read_only=True)

    class Meta:
        model = InvoiceLine
        fields = ["id", "kind", "description", "product", "quantity", "unit_price", "amount", "period_start",
                  "period_end", "tax_percent", "tax_amount"]
        read_only_fields = fields


class PortalInvoicePaymentSerializer(serializers.ModelSerializer):
    payment = serializers.IntegerField(source="payment_id", read_only=True)
    amount = MoneyField(currency_source="invoice.currency", read_only=True, help_text="Applied to this invoice.")
    received_at = serializers.DateTimeField(source="payment.received_at", read_only=True)
    reference = serializers.CharField(source="payment.reference", read_only=True)

    class Meta:
        model = PaymentAllocation
        fields = ["payment", "amount", "received_at", "reference"]
        read_only_fields = fields


class PortalInvoiceSerializer(serializers.ModelSerializer):
    subtotal = MoneyField(read_only=True)
    tax = MoneyField(read_only=True)
    total = MoneyField(read_only=True)
    amount_paid = MoneyField(read_only=True)
    amount_credited = MoneyField(read_only=True)
    amount_due = MoneyField(read_only=True)
    lines = PortalInvoiceLineSerializer(many=True, read_only=True)
    payments = PortalInvoicePaymentSerializer(source="allocations", many=True, read_only=True)
    pdf_url = serializers.SerializerMethodField(help_text="GET: the invoice as a PDF.")

    class Meta:
        model = Invoice
        fields = ["id", "number", "customer", "currency", "status", "issue_date", "due_date", "period_start",
                  "period_end", "subtotal", "tax", "total", "amount_paid", "amount_credited", "amount_due", "lines",
                  "payments", "pdf_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdf_url(self, invoice: Invoice) -> str:
        return reverse("portal-invoice-pdf", args=[invoice.pk], request=self.context.get("request"))


class PortalAllocationSerializer(serializers.ModelSerializer):
    invoice_number = serializers.CharField(source="invoice.number", read_only=True)
    amount = MoneyField(currency_source="payment.currency", read_only=True)

    class Meta:
        model = PaymentAllocation
        fields = ["invoice", "invoice_number", "amount"]
        read_only_fields = fields


class PortalPaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True)
    unallocated = MoneyField(read_only=True, help_text="Not applied to an invoice yet: your credit.")
    allocations = PortalAllocationSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = ["id", "customer", "amount", "currency", "received_at", "reference", "source", "allocations",
                  "unallocated"]
        read_only_fields = fields


class PortalQuoteLineSerializer(serializers.ModelSerializer):
    product_name = serializers.CharField(source="product.name", read_only=True)
    quantity = DecimalStringField(read_only=True)
    net_unit_price = UnitPriceField(currency_source="quote.currency", read_only=True)
    amount = MoneyField(currency_source="quote.currency", read_only=True, help_text="Over the quote's term.")

    class Meta:
        model = QuoteLine
        fields = ["id", "product", "product_name", "quantity", "net_unit_price", "amount", "recurring", "usage",
                  "billing_period", "parent_line"]
        read_only_fields = fields


class PortalQuoteTotalsSerializer(serializers.Serializer):
    one_time = MoneyField(source="one_time_total", read_only=True)
    mrr = MoneyField(read_only=True)
    arr = MoneyField(read_only=True)
    tcv = MoneyField(read_only=True)
    discount = MoneyField(source="discount_total", read_only=True)


class PortalQuoteSerializer(serializers.ModelSerializer):
    lines = PortalQuoteLineSerializer(many=True, read_only=True)
    totals = PortalQuoteTotalsSerializer(source="*", read_only=True)
    acceptance_url = serializers.SerializerMethodField(
        help_text="The signed page to accept or decline this quote; null unless it is sent and still valid.")
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Quote
        fields = ["id", "number", "version", "customer", "currency", "status", "start_date", "term_months",
                  "billing_frequency", "payment_terms", "valid_until", "sent_at", "accepted_at", "lines", "totals",
                  "acceptance_url", "pdf_url"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_acceptance_url(self, quote: Quote) -> str | None:
        if not selectors.quote_is_open(quote):
            return None
        request = self.context.get("request")
        url = acceptance_url(quote)
        return request.build_absolute_uri(url) if request is not None else url

    @extend_schema_field(OpenApiTypes.URI)
    def get_pdf_url(self, quote: Quote) -> str:
        return reverse("portal-quote-pdf", args=[quote.pk], request=self.context.get("request"))


class PortalUsageSerializer(serializers.Serializer):
    contract = serializers.CharField(source="contract_number", help_text="The contract's number.")
    contract_line = serializers.IntegerField(source="contract_line_id")
    product = serializers.CharField(source="product_name")
    meter = serializers.CharField(source="meter_code")
    meter_name = serializers.CharField()
    unit = serializers.CharField()
    period_start = serializers.DateField(help_text="The current billing period.")
    period_end = serializers.DateField()
    from_date = serializers.DateField(source="window_start",
                                      help_text="First day counted: the period's start, or the line's if later.")
    to_date = serializers.DateField(source="window_end", help_text="Last day counted (today), inclusive.")
    quantity = DecimalStringField()
    estimated_amount = MoneyField(help_text="At the line's price, before tax, if the period ended today.")
    currency = serializers.CharField()


# --- filters -------------------------------------------------------------------------------------------

class PortalInvoiceFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=[(s, Invoice.Status(s).label) for s in selectors.VISIBLE_INVOICE_STATUSES],
        help_text="One status, or several: `?status=issued&status=partially_paid`.")
    issued_from = django_filters.DateFilter(field_name="issue_date", lookup_expr="gte")
    issued_to = django_filters.DateFilter(field_name="issue_date", lookup_expr="lte")
    due_from = django_filters.DateFilter(field_name="due_date", lookup_expr="gte")
    due_to = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")

    class Meta:
        model = Invoice
        fields = ["status", "currency"]


class PortalPaymentFilter(django_filters.FilterSet):
    received_from = django_filters.DateFilter(field_name="received_at", lookup_expr="date__gte")
    received_to = django_filters.DateFilter(field_name="received_at", lookup_expr="date__lte")

    class Meta:
        model = Payment
        fields = ["currency"]


class PortalQuoteFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=[(s, Quote.Status(s).label) for s in selectors.VISIBLE_QUOTE_STATUSES])
    valid_until_from = django_filters.DateFilter(field_name="valid_until", lookup_expr="gte")
    valid_until_to = django_filters.DateFilter(field_name="valid_until", lookup_expr="lte")

    class Meta:
        model = Quote
        fields = ["status"]


class StableOrdering(OrderingFilter):
    """`?ordering=` with `id` as the tie-breaker so pages never repeat or skip a row."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(o.lstrip("-") == "id" for o in ordering):
            ordering = [*ordering, "-id"]
        return ordering


# --- views ---------------------------------------------------------------------------------------------

class PortalViewSet(viewsets.GenericViewSet):
    permission_classes = [IsPortalUser]
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, StableOrdering]

    def get_object(self):
        # The scoped queryset answers: absent, another customer's and not-yet-visible records alike are 404.
        pk = str(self.kwargs.get("pk", ""))
        obj = self.get_queryset().filter(pk=int(pk)).first() if pk.isdigit() else None
        if obj is None:
            raise NotFound(f"No {self.noun} with this id.")
        return obj


@extend_schema(tags=["portal"])
class PortalInvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalViewSet):
    """Your invoices, once issued (issued, partially paid, paid, written off, void)."""

    serializer_class = PortalInvoiceSerializer
    filterset_class = PortalInvoiceFilter
    ordering_fields = ["issue_date", "due_date", "total", "amount_due", "number", "id"]
    noun = "invoice"
    queryset = Invoice.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return selectors.portal_invoices_with_details(self.request.user)

    @extend_schema(summary="The invoice as a PDF", responses=PDF_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request, pk=None):
        from .documents import invoice_pdf_response  # WeasyPrint loads on the first download

        return invoice_pdf_response(self.get_object())


@extend_schema(tags=["portal"])
class PortalPaymentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalViewSet):
    """Your payments and credits, with the invoices each was applied to."""

    serializer_class = PortalPaymentSerializer
    filterset_class = PortalPaymentFilter
    ordering_fields = ["received_at", "amount", "id"]
    noun = "payment"
    queryset = Payment.objects.none()

    def get_queryset(self):
        return selectors.portal_payments(self.request.user)


@extend_schema(tags=["portal"])
class PortalQuoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PortalViewSet):
    """Quotes sent to you: sent (awaiting your decision), accepted, declined, expired."""

    serializer_class = PortalQuoteSerializer
    filterset_class = PortalQuoteFilter
    ordering_fields = ["sent_at", "valid_until", "tcv", "id"]
    noun = "quote"
    queryset = Quote.objects.none()

    def get_queryset(self):
        return selectors.portal_quotes(self.request.user)

    @extend_schema(summary="The quote as a PDF", responses=PDF_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request, pk=None):
        from .documents import quote_pdf_response

        return quote_pdf_response(self.get_object())


@extend_schema(tags=["portal"])
class PortalUsageViewSet(PortalViewSet):
    """Usage so far in the current billing period, per usage line of your active contracts."""

    serializer_class = PortalUsageSerializer
    filter_backends: list = []

    @extend_schema(summary="Usage this billing period, with estimated charges")
    def list(self, request):
        page = self.paginate_queryset(selectors.portal_usage(request.user))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def register(router) -> None:
    router.register("portal/invoices", PortalInvoiceViewSet, basename="portal-invoice")
    router.register("portal/payments", PortalPaymentViewSet, basename="portal-payment")
    router.register("portal/quotes", PortalQuoteViewSet, basename="portal-quote")
    router.register("portal/usage", PortalUsageViewSet, basename="portal-usage")
