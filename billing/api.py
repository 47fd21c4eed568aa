"""/api/v1/ billing and usage: thin views over billing.services.

Endpoints: usage-events (batch ingest), customers/{id}/usage, invoices (+ approve, issue, void,
mark_uncollectible, pdf, bulk-approve), credit-notes, payments (+ the provider webhook), tax-rates,
finance-approval-rules, bill-runs and reports/ar-aging.

Who sees what: invoices, payments and credit notes are finance records every staff role that may read
them reads in full — there is no per-owner scope (sales reps hold only `billing.view_invoice`, customer
success `billing.view_*`, finance and admins `billing.*`); portal users reach none of them here (they
use /portal/). Writes follow the role groups' model permissions (`revops.kernel.roles`): approving,
issuing, voiding, writing off, payments, credit notes, bill runs, tax rates and approval rules are for
finance and admins; every other role gets a 403 in the API error shape and nothing changes.

Usage ingest is for machines: it needs `billing.add_usageevent` and nothing else — no role group — so
an integration can run as its own user holding only that permission (create the user, grant the
permission in the admin, `POST /api/v1/auth/token/` for its token). Finance and admins have it too.
The batch is parsed once and validated in one loop by `usage_ingest` (never a serializer per event).
The payment webhook takes no authentication: the provider's HMAC signature over the raw body is the
authority (`Revops-Signature: t=<unix>,v1=<hex>`, 5 minutes' tolerance).
"""
from __future__ import annotations

import json
import logging
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, ProtectedError, QuerySet
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import SearchFilter
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from catalog import pricing as engine
from catalog.models import Meter
from contracts.models import Contract, ContractLine
from contracts.services.periods import billing_anchor, billing_period_containing
from customers.models import Customer
from quotes.filters import StableOrderingFilter
from revops.kernel import money
from revops.kernel.actor import set_actor
from revops.kernel.api.renderers import CSVExportMixin, PDFRenderer, amount, field
from revops.kernel.errors import Conflict, DomainError, ValidationFailed

from . import serializers as s
from .filters import (
    BillRunFilter,
    CreditNoteFilter,
    FinanceApprovalRuleFilter,
    InvoiceFilter,
    PaymentFilter,
    TaxRateFilter,
)
from .models import (
    BillRun,
    CreditNote,
    CreditNoteLine,
    FinanceApprovalRule,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    TaxRate,
    UsageEvent,
)
from .services import invoices as invoice_service
from .services.billrun import bill_run_create
from .services.credit_notes import credit_note_create
from .services.dunning import BUCKETS, ar_aging
from .services.payments import payment_from_webhook, payment_record
from .services.usage import MAX_BATCH, usage_ingest, usage_total

logger = logging.getLogger(__name__)

MAX_INGEST_BYTES = 32 * 1024 * 1024  # 10,000 events with generous properties fit; a runaway client does not
SIGNATURE_HEADER = "Revops-Signature"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413



# --- helpers -----------------------------------------------------------------------------------------

def _date_param(request, name: str, default: date | None = None) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise ValidationFailed(f"{name} {raw!r} is not a date", fields={name: ["must be a date, YYYY-MM-DD"]})
    return day


def _id_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    if not raw.isdigit():
        raise ValidationFailed(f"{name} {raw!r} is not an id", fields={name: ["must be an integer id"]})
    return int(raw)


def _business_today() -> date:
    """Today in the zone usage days and billing periods are counted in."""
    return timezone.now().astimezone(ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE)).date()


def _decimal(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def _pk_from(view, label: str) -> int:
    pk = str(view.kwargs.get(view.lookup_url_kwarg or view.lookup_field, ""))
    if not pk.isdigit() or not view.get_queryset().filter(pk=int(pk)).exists():
        raise NotFound(f"No {label} with this id.")
    return int(pk)


# --- usage -------------------------------------------------------------------------------------------

class CanIngestUsage(BasePermission):
    """`billing.add_usageevent`, with or without a role group: integrations run as a user holding only
    this permission; finance and admins hold it through `billing.*`."""

    message = "sending usage events needs the billing.add_usageevent permission"

    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("billing.add_usageevent"))


class UsageEventViewSet(viewsets.ViewSet):
    """Metered usage, in batches."""

    permission_classes = [CanIngestUsage]
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="usage_events_ingest",
        summary="Send usage events: one, or a batch of up to 10,000",
        description=(
            "The body is one event object or a JSON array of at most 10,000 (more is a 400 and nothing is "
            "stored). Each event names its customer (`customer` id or `customer_external_id`), `meter` (code), "
            "`timestamp` (ISO 8601 with an offset, at most an hour ahead), `value` (default: the meter's "
            "property, or 1 for count meters), `properties` and an `idempotency_key` unique per customer.\n\n"
            "Valid events are stored even when others are rejected: the answer counts them (`accepted`), "
            "those already stored under the same (customer, idempotency_key) (`duplicates` — resending a "
            "batch after a timeout is harmless), and lists the rejected ones by position with the reason "
            "(`rejected: [{\"index\", \"error\"}]`).\n\n"
            "Permission: `billing.add_usageevent` (finance, admins, or an integration user holding only "
            "that permission, authenticated by its token). Events carry their own idempotency keys, so the "
            "`Idempotency-Key` header is not needed here (and limits the body to Django's upload size)."),
        request={"application/json": s.USAGE_INGEST_REQUEST_SCHEMA},
        responses={200: s.UsageIngestResultSerializer,
                   400: OpenApiResponse(description="Not an event or a list of events, or more than 10,000."),
                   413: OpenApiResponse(description="The body is larger than 32 MB.")})
    def create(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > MAX_INGEST_BYTES:
            raise PayloadTooLarge(f"the body is larger than {MAX_INGEST_BYTES // (1024 * 1024)} MB; send smaller "
                                  "batches")
        data = request.data  # parsed once, by the JSON parser
        if isinstance(data, dict) and data:
            events = [data]
        elif isinstance(data, list):
            events = data
        else:
            raise ValidationFailed("the body must be one event object or a list of events",
                                   fields={"events": ["an event object or a list of event objects"]})
        if len(events) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} events per request (got {len(events)}); nothing was "
                                   "stored", fields={"events": [f"at most {MAX_BATCH} events"]})
        return Response(usage_ingest(events).as_dict(), status=status.HTTP_200_OK)


def customer_usage(*, customer: Customer, first_day: date, last_day: date, meter: Meter | None,
                   today: date) -> dict:
    """Per meter the aggregate over [first_day, last_day], and the running billing period's usage and
    estimated charge for every usage line of the customer's active contracts."""
    versions = list(
        ContractLine.objects.filter(
            contract__customer=customer,
            contract__status__in=[Contract.Status.ACTIVE, Contract.Status.RENEWED],
            contract__start_date__lte=today, contract__end_date__gte=today,
            period=ContractLine.Period.USAGE, start_date__lte=today, end_date__gte=today,
            price__isnull=False, product__meter__isnull=False)
        .select_related("contract", "product__meter", "price").prefetch_related("price__tiers")
        .order_by("contract_id", "item", "version"))
    if meter is not None:
        versions = [v for v in versions if v.product.meter_id == meter.pk]
        meters = [meter]
    else:
        start, end = _window(first_day, last_day)
        with_events = Meter.objects.filter(Exists(UsageEvent.objects.filter(
            customer_id=customer.pk, meter_id=OuterRef("pk"), timestamp__gte=start, timestamp__lt=end)))
        by_pk = {m.pk: m for m in with_events}
        for v in versions:
            by_pk.setdefault(v.product.meter_id, v.product.meter)
        meters = sorted(by_pk.values(), key=lambda m: m.code)
    rows = [{"meter": m.code, "name": m.name, "aggregation": m.aggregation, "unit": m.unit,
             "total": _decimal(usage_total(customer.pk, m, first_day, last_day))} for m in meters]
    current = []
    for v in versions:
        contract = v.contract
        period = billing_period_containing(billing_anchor(contract), contract.billing_frequency,
                                           max(today, billing_anchor(contract)))
        first, last = max(period.start, v.start_date), min(period.end, v.end_date)
        quantity = usage_total(customer.pk, v.product.meter, first, min(last, today))
        charge = engine.calculate(v.price, quantity).amount if quantity else money.zero(contract.currency)
        current.append({
            "contract": contract.pk, "contract_number": contract.number, "contract_line": v.pk,
            "product": v.product_id, "product_name": v.product.name, "meter": v.product.meter.code,
            "currency": contract.currency, "period_start": first.isoformat(), "period_end": last.isoformat(),
            "usage_through": min(last, today).isoformat(), "quantity": _decimal(quantity),
            "estimated_charge": str(money.quantize(charge, contract.currency)),
        })
    return {"customer": customer.pk, "from": first_day.isoformat(), "to": last_day.isoformat(), "meters": rows,
            "current_period": current}


def _window(first_day: date, last_day: date):
    from .services.usage import day_bounds

    return day_bounds(first_day, last_day)


CUSTOMER_ID = OpenApiParameter("customer_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Customer id.")


class CustomerUsageViewSet(viewsets.ViewSet):
    """A customer's usage per meter, and what the running billing period will charge so far."""

    action_permissions = {"list": ["billing.view_usageevent"]}
    MAX_WINDOW_DAYS = 400

    @extend_schema(
        operation_id="customers_usage_retrieve",
        summary="A customer's usage per meter over a window, and the running period's estimate",
        description=(
            "`meters`: for each meter (only `?meter=<code>` when given; otherwise every meter with events in "
            "the window or on one of the customer's active contracts) its aggregate — count, sum, max, unique "
            "count or latest, as the meter says — over the calendar days `from` … `to` (inclusive, in the "
            "business time zone; default: the first of this month to today; at most 400 days).\n\n"
            "`current_period`: for every usage line of the customer's active contracts, the usage so far in "
            "the billing period running today and its estimated charge — the quantity rated through the "
            "line's price (graduated tiers over the period's total) as if the period ended today, net of tax. "
            "The bill run charges the final figure in arrears after the period ends.\n\n"
            "Needs `billing.view_usageevent` (finance, customer success, admins)."),
        parameters=[
            CUSTOMER_ID,
            OpenApiParameter("meter", OpenApiTypes.STR, description="A meter code."),
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (default: 1st of this month)."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive (default: today)."),
        ],
        responses=s.CustomerUsageSerializer)
    def list(self, request, customer_id=None):
        customer = Customer.objects.filter(pk=int(customer_id)).first() if str(customer_id).isdigit() else None
        if customer is None:
            raise NotFound("No customer with this id.")
        today = _business_today()
        first_day = _date_param(request, "from", today.replace(day=1))
        last_day = _date_param(request, "to", today)
        if last_day < first_day:
            raise ValidationFailed("`to` is before `from`", fields={"to": ["must be on or after `from`"]})
        if (last_day - first_day).days >= self.MAX_WINDOW_DAYS:
            raise ValidationFailed(f"the window is longer than {self.MAX_WINDOW_DAYS} days",
                                   fields={"from": [f"at most {self.MAX_WINDOW_DAYS} days before `to`"]})
        code = request.query_params.get("meter")
        meter = None
        if code:
            meter = Meter.objects.filter(code=code).first()
            if meter is None:
                raise ValidationFailed(f"unknown meter {code!r}", fields={"meter": [f"unknown meter {code!r}"]})
        return Response(customer_usage(customer=customer, first_day=first_day, last_day=last_day, meter=meter,
                                       today=today))


# --- invoices ----------------------------------------------------------------------------------------

def invoice_list() -> QuerySet[Invoice]:
    """Invoices with their customer and lines: a page costs a fixed number of queries."""
    return Invoice.objects.select_related("customer").prefetch_related(
        Prefetch("lines", InvoiceLine.objects.order_by("position", "id")))


@extend_schema_view(
    list=extend_schema(
        summary="List invoices",
        description="Every staff role that may read invoices sees every invoice. Filters: `status` "
                    "(repeatable), `customer`, `contract`, `bill_run`, `number`, `currency`, `pdf_status`, "
                    "`issue_date_from`/`issue_date_to`, `due_date_from`/`due_date_to`, `period_from`/`period_to` "
                    "(overlapping the billing period); `?q=` matches the number and the customer's name. "
                    "Ordering e.g. `?ordering=-due_date` or `total`. Each invoice carries its lines."),
    retrieve=extend_schema(summary="Get an invoice"),
)
class InvoiceViewSet(CSVExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Invoices: created by bill runs, approved, issued (numbered, frozen), paid, credited or voided."""

    queryset = Invoice.objects.all()  # model permissions and the schema; rows come from get_queryset
    serializer_class = s.InvoiceSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter, SearchFilter]
    filterset_class = InvoiceFilter
    ordering_fields = ["id", "number", "status", "issue_date", "due_date", "period_start", "created_at", "total",
                       "amount_due", "customer__name"]
    ordering = ["-created_at", "-id"]
    search_fields = ["number", "customer__name"]
    csv_filename = "invoices"  # ?format=csv: every filtered invoice, streamed (revops.kernel.api.renderers)
    csv_columns = [
        ("id", field("pk")), ("number", field("number")), ("status", field("status")),
        ("customer_id", field("customer_id")), ("customer", field("customer.name")),
        ("contract_id", field("contract_id")), ("currency", field("currency")), ("issue_date", field("issue_date")),
        ("due_date", field("due_date")), ("period_start", field("period_start")), ("period_end", field("period_end")),
        ("subtotal", amount("subtotal")), ("tax", amount("tax")), ("total", amount("total")),
        ("amount_paid", amount("amount_paid")), ("amount_due", amount("amount_due")),
    ]
    action_permissions = {
        "approve": ["billing.approve_invoice"],
        "bulk_approve": ["billing.approve_invoice"],
        "issue": ["billing.issue_invoice"],
        "void": ["billing.change_invoice"],
        "mark_uncollectible": ["billing.change_invoice"],
        "pdf": ["billing.view_invoice"],
    }

    def get_queryset(self):
        return invoice_list()

    def _answer(self, invoice_id: int) -> Response:
        invoice = invoice_list().get(pk=invoice_id)
        return Response(s.InvoiceSerializer(invoice, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="Approve an invoice held for finance approval",
        description="Only an invoice `pending_approval` (a finance approval rule held it): it becomes "
                    "`approved`, ready to issue. Any other status is a 409 `invalid_transition`. Needs "
                    "`billing.approve_invoice` (finance, admins).",
        request=None, responses=s.InvoiceSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        invoice_id = _pk_from(self, "invoice")
        invoice_service.invoice_approve(invoice_id=invoice_id, by=request.user)
        return self._answer(invoice_id)

    @extend_schema(
        summary="Approve several invoices",
        description="Each invoice on its own: those that cannot be approved (not pending, unknown) are "
                    "listed in `refused` with the reason; the others are approved.",
        request=s.BulkApproveSerializer, responses=s.BulkApproveResultSerializer)
    @action(detail=False, methods=["post"], url_path="bulk-approve", filter_backends=[])
    def bulk_approve(self, request):
        serializer = s.BulkApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        done, refused = invoice_service.invoices_approve(invoice_ids=serializer.validated_data["ids"],
                                                         by=request.user)
        return Response({"approved": [i.pk for i in done],
                         "refused": [{"invoice": pk, "message": msg} for pk, msg in refused.items()]})

    @extend_schema(
        summary="Issue an approved invoice",
        description="Takes the next gapless number of the year (`INV-2027-000001`), sets the issue and due "
                    "dates from the payment terms, snapshots the customer and freezes the invoice; the "
                    "customer's credit is applied at once. The PDF is rendered and emailed after commit. "
                    "Only an `approved` invoice (else 409). Needs `billing.issue_invoice`.",
        request=None, responses=s.InvoiceSerializer)
    @action(detail=True, methods=["post"])
    def issue(self, request, pk=None):
        invoice_id = _pk_from(self, "invoice")
        invoice_service.invoice_issue(invoice_id=invoice_id, by=request.user)
        return self._answer(invoice_id)

    @extend_schema(
        summary="Void an invoice nobody has paid",
        description="`reason` is required (400). An invoice with payments or credit notes is a 409: correct it "
                    "with a credit note. Its charges count as not billed, so the next bill run bills them "
                    "again (fix the contract first).",
        request=s.VoidSerializer, responses=s.InvoiceSerializer)
    @action(detail=True, methods=["post"])
    def void(self, request, pk=None):
        invoice_id = _pk_from(self, "invoice")
        serializer = s.VoidSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice_service.invoice_void(invoice_id=invoice_id, by=request.user,
                                     reason=serializer.validated_data["reason"])
        return self._answer(invoice_id)

    @extend_schema(
        summary="Write off an unpaid issued invoice",
        description="Only `issued` or `partially_paid` (else 409); it leaves dunning and AR aging.",
        request=s.UncollectibleSerializer, responses=s.InvoiceSerializer)
    @action(detail=True, methods=["post"], url_path="mark_uncollectible")
    def mark_uncollectible(self, request, pk=None):
        invoice_id = _pk_from(self, "invoice")
        serializer = s.UncollectibleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invoice_service.invoice_mark_uncollectible(invoice_id=invoice_id, by=request.user,
                                                   reason=serializer.validated_data["reason"])
        return self._answer(invoice_id)

    @extend_schema(
        summary="The invoice as a PDF",
        description="application/pdf, as an attachment named `<number>.pdf`. An issued invoice answers its "
                    "stored PDF (rendered once after issue; rendered and stored now if it is not yet); an "
                    "invoice not yet issued is rendered on the fly, marked DRAFT, and nothing is stored.",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request, pk=None):
        from .services import documents  # WeasyPrint loads only when a PDF is asked for

        invoice = self.get_object()
        content = None
        if invoice.number is None:
            content = documents.render_invoice_pdf(invoice)
        else:
            if not (invoice.pdf_status == Invoice.PdfStatus.RENDERED and invoice.pdf):
                invoice = documents.invoice_pdf_render(invoice_id=invoice.pk)
            try:
                with invoice.pdf.open("rb") as stored:
                    content = stored.read()
            except OSError:
                logger.warning("invoice %s: stored PDF %s is missing; rendering it again", invoice.pk,
                               invoice.pdf.name)
                content = documents.render_invoice_pdf(invoice)
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{documents.invoice_pdf_filename(invoice)}"'
        response["Cache-Control"] = "private, no-store"
        return response


# --- credit notes ------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List credit notes",
                       description="Filters: `invoice`, `customer`, `contract`, `number`, `currency`, `refund`, "
                                   "`issued_from`/`issued_to`."),
    retrieve=extend_schema(summary="Get a credit note"),
)
class CreditNoteViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                        viewsets.GenericViewSet):
    """Corrections of issued invoices."""

    queryset = CreditNote.objects.select_related("invoice").prefetch_related(
        Prefetch("lines", CreditNoteLine.objects.order_by("id")))
    serializer_class = s.CreditNoteSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = CreditNoteFilter
    ordering_fields = ["id", "number", "issued_at", "total"]
    ordering = ["-issued_at", "-id"]

    @extend_schema(
        summary="Credit an issued invoice",
        description="`lines`: `[{\"invoice_line\", \"amount\"}]`, the net amount to credit of each line (at most "
                    "what is left of it), in the invoice currency's places; tax is credited at the line's rate. "
                    "The credit reduces the invoice's amount due; what exceeds it becomes customer credit, or a "
                    "refund with `\"refund\": true`. `reason` is required. Only an issued, partly paid or paid "
                    "invoice (else 409). A refused request (400 naming `lines[1].amount`, ...) saves nothing. "
                    "Honours `Idempotency-Key`.",
        request=s.CreditNoteCreateSerializer, responses={201: s.CreditNoteSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.CreditNoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        note = credit_note_create(
            invoice_id=data["invoice"].pk, reason=data["reason"], refund=data["refund"], by=request.user,
            lines=[{"invoice_line": line["invoice_line"], "amount": str(line["amount"])} for line in data["lines"]])
        note = self.get_queryset().get(pk=note.pk)
        location = request.build_absolute_uri(reverse("credit-note-detail", args=[note.pk]))
        return Response(s.CreditNoteSerializer(note, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED, headers={"Location": location})


# --- payments ----------------------------------------------------------------------------------------

PROVIDER = OpenApiParameter("provider", OpenApiTypes.STR, OpenApiParameter.PATH,
                            description="The payment provider's name, as configured (`demo` in development).")


@extend_schema_view(
    list=extend_schema(summary="List payments",
                       description="Payments, customer credits and refunds. Filters: `customer`, `invoice` "
                                   "(allocated to it), `currency`, `source`, `provider`, `reference`, "
                                   "`received_from`/`received_to`."),
    retrieve=extend_schema(summary="Get a payment"),
)
class PaymentViewSet(CSVExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    """Money received, and how it was allocated to invoices."""

    queryset = Payment.objects.select_related("customer").prefetch_related(
        Prefetch("allocations", PaymentAllocation.objects.select_related("invoice").order_by("id")))
    serializer_class = s.PaymentSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = PaymentFilter
    ordering_fields = ["id", "received_at", "amount", "created_at"]
    ordering = ["-received_at", "-id"]
    csv_filename = "payments"  # ?format=csv: every filtered payment, streamed
    csv_columns = [
        ("id", field("pk")), ("customer_id", field("customer_id")), ("customer", field("customer.name")),
        ("received_at", field("received_at")), ("currency", field("currency")), ("amount", amount("amount")),
        ("amount_allocated", amount("amount_allocated")), ("reference", field("reference")),
        ("source", field("source")), ("provider", field("provider")),
    ]

    def _answer(self, payment_id: int, status_code: int) -> Response:
        payment = self.get_queryset().get(pk=payment_id)
        location = self.request.build_absolute_uri(reverse("payment-detail", args=[payment_id]))
        return Response(s.PaymentSerializer(payment, context=self.get_serializer_context()).data,
                        status=status_code, headers={"Location": location})

    @extend_schema(
        summary="Record a payment",
        description="`amount` greater than 0 with the currency's places, in the customer's currency. With "
                    "`allocations` (`[{\"invoice\", \"amount\"}]`) it pays those open invoices; without, the "
                    "oldest open invoices first. What is left is customer credit, applied to the next invoice "
                    "issued. A refusal is a 400 naming the field (`amount`, `currency`, `allocations[0].amount`) "
                    "and saves nothing. Honours `Idempotency-Key` (a retried POST records one payment).",
        request=s.PaymentCreateSerializer, responses={201: s.PaymentSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        allocations = [{"invoice": a["invoice"], "amount": a["amount"]} for a in data.get("allocations") or []]
        payment = payment_record(customer=data["customer"], amount=data["amount"], currency=data["currency"],
                                 received_at=data.get("received_at"), reference=data["reference"],
                                 allocations=allocations or None, by=request.user)
        return self._answer(payment.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Payment provider webhook (signed, no authentication)",
        description="The provider posts `{\"id\", \"type\": \"payment.succeeded\", \"customer\" | "
                    "\"customer_external_id\", \"amount\", \"currency\", \"created\", \"reference\", "
                    "\"invoice\"?}` with the header `Revops-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "
                    "\"<t>.<raw body>\" with the provider's secret>`. A missing or wrong signature, or a "
                    "timestamp more than 5 minutes away, is a 400 `bad_signature` and nothing is saved. 201 "
                    "with the payment; a redelivered event (same provider and `id`) answers the same payment "
                    "with 200 and records nothing new. Other event types are acknowledged with 202 and ignored.",
        parameters=[PROVIDER, OpenApiParameter(SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER,
                                               required=True, description="t=<unix>,v1=<hex>")],
        request=s.WebhookEventSerializer,
        responses={201: s.PaymentSerializer, 200: s.PaymentSerializer, 202: s.WebhookIgnoredSerializer},
        auth=[])
    @action(detail=False, methods=["post"], url_path=r"webhook/(?P<provider>[A-Za-z0-9_-]{1,40})",
            permission_classes=[AllowAny], authentication_classes=[], parser_classes=[JSONParser],
            filter_backends=[])
    def webhook(self, request, provider=None):
        body = request.body  # the raw bytes the signature covers: never re-serialised
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        event_id = str(event.get("id") or "") if isinstance(event, dict) else ""
        seen = bool(event_id) and Payment.objects.filter(provider=provider, provider_event_id=event_id).exists()
        try:
            payment = payment_from_webhook(provider=provider, body=body,
                                           signature_header=request.headers.get(SIGNATURE_HEADER, ""))
        except ValidationFailed as exc:
            if exc.code != "ignored_event":
                raise
            return Response({"ignored": True, "message": exc.message}, status=status.HTTP_202_ACCEPTED)
        return self._answer(payment.pk, status.HTTP_200_OK if seen else status.HTTP_201_CREATED)


# --- tax rates and approval rules ----------------------------------------------------------------------

TAX_RATE_TERMS = ("country", "region", "percent", "inclusive")


@extend_schema_view(
    list=extend_schema(summary="List tax rates", description="Filters: `country`, `region`, `inclusive`, `active`."),
    retrieve=extend_schema(summary="Get a tax rate"),
    create=extend_schema(summary="Create a tax rate (finance, admins)",
                         description="One active rate per country and region (400 on `active` otherwise)."),
    update=extend_schema(summary="Replace a tax rate (finance, admins)"),
    partial_update=extend_schema(
        summary="Change a tax rate (finance, admins)",
        description="A rate already on invoices keeps its country, region, percent and inclusive flag (409): "
                    "deactivate it and create a new one, so issued invoices keep the rate they were taxed at."),
    destroy=extend_schema(summary="Delete a tax rate never used (finance, admins)",
                          description="A rate used by an invoice line is a 409: set `active: false` instead."),
)
class TaxRateViewSet(viewsets.ModelViewSet):
    queryset = TaxRate.objects.all()
    serializer_class = s.TaxRateSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = TaxRateFilter
    ordering_fields = ["id", "country", "region", "name", "percent"]
    ordering = ["country", "region", "name", "id"]

    def perform_update(self, serializer):
        rate = serializer.instance
        changed = [f for f in TAX_RATE_TERMS if f in serializer.validated_data
                   and serializer.validated_data[f] != getattr(rate, f)]
        if changed and InvoiceLine.objects.filter(tax_rate=rate).exists():
            raise Conflict(f"{rate} is used by invoices; its {', '.join(changed)} cannot change — deactivate it "
                           "and create a new rate", fields={f: ["used by invoices"] for f in changed})
        serializer.save()

    def perform_destroy(self, instance):
        try:
            instance.delete()
        except ProtectedError:
            raise Conflict(f"{instance} is used by invoices; deactivate it (active: false) instead") from None


@extend_schema_view(
    list=extend_schema(summary="List finance approval rules",
                       description="Conditions that hold a new invoice for finance approval; an invoice no "
                                   "active rule holds is approved when created."),
    retrieve=extend_schema(summary="Get a finance approval rule"),
    create=extend_schema(summary="Create a finance approval rule (finance, admins)",
                         description="`total_above` needs a `threshold` (in the invoice's currency)."),
    update=extend_schema(summary="Replace a finance approval rule (finance, admins)"),
    partial_update=extend_schema(summary="Change a finance approval rule (finance, admins)",
                                 description="Applies to invoices created later."),
    destroy=extend_schema(summary="Delete a finance approval rule (finance, admins)"),
)
class FinanceApprovalRuleViewSet(viewsets.ModelViewSet):
    queryset = FinanceApprovalRule.objects.all()
    serializer_class = s.FinanceApprovalRuleSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = FinanceApprovalRuleFilter
    ordering_fields = ["id", "name", "condition"]
    ordering = ["id"]


# --- bill runs ---------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(summary="List bill runs",
                       description="Newest first, with their counts and errors (dry-run previews on the detail). "
                                   "Filters: `status`, `dry_run`, `as_of`, `as_of_from`/`as_of_to`, "
                                   "`created_from`/`created_to`.",
                       responses=s.BillRunListSerializer(many=True)),
    retrieve=extend_schema(summary="Get a bill run", description="Progress, counts, errors and the preview."),
)
class BillRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                     viewsets.GenericViewSet):
    queryset = BillRun.objects.prefetch_related("errors")
    serializer_class = s.BillRunSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = BillRunFilter
    ordering_fields = ["id", "as_of", "created_at", "status"]
    ordering = ["-created_at", "-id"]

    def get_serializer_class(self):
        return s.BillRunListSerializer if self.action == "list" else s.BillRunSerializer

    @extend_schema(
        summary="Start a bill run",
        description="Bills every contract with charges due on `as_of` (default today): recurring charges in "
                    "advance, usage in arrears, one-time charges once, amendments and late usage as "
                    "adjustments. Runs in the background in chunks; each contract is billed once however often "
                    "runs repeat or overlap. 201 with the run as it stands (`status` pending → running → done "
                    "or done_with_errors; GET it for progress). A contract that fails is listed in `errors` "
                    "with its customer and the others are billed. `dry_run: true` writes no invoice and fills "
                    "`preview` with what would be invoiced per contract.",
        request=s.BillRunCreateSerializer, responses={201: s.BillRunSerializer})
    def create(self, request, *args, **kwargs):
        serializer = s.BillRunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = bill_run_create(as_of=data.get("as_of") or timezone.localdate(), dry_run=data["dry_run"],
                              by=request.user)
        run = self.get_queryset().get(pk=run.pk)  # eager Celery may have finished it already
        location = request.build_absolute_uri(reverse("bill-run-detail", args=[run.pk]))
        return Response(s.BillRunSerializer(run, context=self.get_serializer_context()).data,
                        status=status.HTTP_201_CREATED, headers={"Location": location})


# --- reports -----------------------------------------------------------------------------------------

class ArAgingViewSet(viewsets.ViewSet):
    """Receivables by days past due."""

    action_permissions = {"list": ["billing.view_invoice", "billing.view_payment"]}

    @extend_schema(
        operation_id="reports_ar_aging_retrieve",
        summary="Accounts receivable aging",
        description="What is due on issued and partly paid invoices, per customer and currency, by days past "
                    "the due date on `as_of` (default today): current, 1-30, 31-60, 61-90, 90+ — money strings "
                    "in the currency's places — with per-currency `totals`. `?customer=` narrows it to one "
                    "customer. Needs `billing.view_invoice` and `billing.view_payment` (finance, customer "
                    "success, admins).",
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="Default: today."),
                    OpenApiParameter("customer", OpenApiTypes.INT, description="Customer id.")],
        responses=s.AgingReportSerializer)
    def list(self, request):
        as_of = _date_param(request, "as_of", timezone.localdate())
        rows = ar_aging(as_of=as_of, customer_id=_id_param(request, "customer"))
        totals: dict[str, dict[str, Decimal]] = {}
        for row in rows:
            per = totals.setdefault(row.currency, {b: Decimal(0) for b in BUCKETS})
            for b in BUCKETS:
                per[b] += row.buckets[b]

        def fmt(value, currency) -> str:
            return str(money.quantize(value, currency))

        return Response({
            "as_of": as_of.isoformat(),
            "buckets": list(BUCKETS),
            "rows": [{"customer": r.customer_id, "customer_name": r.customer_name, "currency": r.currency,
                      "buckets": {b: fmt(r.buckets[b], r.currency) for b in BUCKETS},
                      "total": fmt(r.total, r.currency)} for r in rows],
            "totals": [{"currency": cur, "buckets": {b: fmt(v, cur) for b, v in per.items()},
                        "total": fmt(sum(per.values(), Decimal(0)), cur)} for cur, per in sorted(totals.items())],
        })


def register(router) -> None:
    router.register("usage-events", UsageEventViewSet, basename="usage-event")
    router.register(r"customers/(?P<customer_id>[0-9]+)/usage", CustomerUsageViewSet, basename="customer-usage")
    router.register("invoices", InvoiceViewSet, basename="invoice")
    router.register("credit-notes", CreditNoteViewSet, basename="credit-note")
    router.register("payments", PaymentViewSet, basename="payment")
    router.register("tax-rates", TaxRateViewSet, basename="tax-rate")
    router.register("finance-approval-rules", FinanceApprovalRuleViewSet, basename="finance-approval-rule")
    router.register("bill-runs", BillRunViewSet, basename="bill-run")
    router.register("reports/ar-aging", ArAgingViewSet, basename="ar-aging")
