"""/api/v1/quotes/ and /api/v1/approval-rules/: thin views over quotes.services and quotes.selectors.

Who sees what: sales managers, finance and admins see every quote; sales reps and customer success see
the quotes they own, and another owner's quote is a 404 (`quotes.selectors`). Model permissions come
from the role groups (`RolePermission`); who may change, submit or approve a given quote is decided by
the services (owner or a sales manager edits; nobody approves their own quote), answered as a 403 in
the API error shape. Every write answers with the quote as it now is, read back in one shape.
"""
from __future__ import annotations

import copy
from datetime import datetime, time, timedelta

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.filters import SearchFilter
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from revops.kernel import money, roles
from revops.kernel.api.renderers import CSVExportMixin, PDFRenderer, amount, field
from revops.kernel.errors import DomainError, InvalidTransition, ValidationFailed
from revops.kernel.permissions import RolePermission

from . import selectors
from .filters import ApprovalRuleFilter, QuoteFilter, StableOrderingFilter
from .models import ApprovalRule, Quote, QuoteLine
from .revenue import project_revenue
from .serializers import (
    MAX_LINES_PER_REQUEST,
    AcceptanceLinkSerializer,
    AcceptSerializer,
    ApprovalRuleSerializer,
    ApproveSerializer,
    DeclineSerializer,
    LineInputSerializer,
    LineUpdateSerializer,
    QuoteCreateSerializer,
    QuoteSerializer,
    QuoteUpdateSerializer,
    RejectSerializer,
    RevenuePreviewSerializer,
)
from .services import editing, lifecycle

LINE_ID = OpenApiParameter("line_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Quote line id.")


class DocumentUnavailable(DomainError):
    code = "document_unavailable"
    status = 503



# --- helpers -----------------------------------------------------------------------------------------

def _rekeyed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    """The same error with its fields under `prefix` ("quantity" -> "lines[2].quantity")."""
    fields = {(prefix if key in ("non_field_errors", "__all__") else f"{prefix}.{key}"): msgs
              for key, msgs in exc.fields.items()} or {prefix: [exc.message]}
    rekeyed = copy.copy(exc)
    rekeyed.fields = fields
    rekeyed.message = f"{next(iter(fields))}: {exc.message}"
    rekeyed.args = (rekeyed.message,)
    return rekeyed


def _check_places(value, currency: str, field: str) -> None:
    """Posted amounts carry at most the currency's minor-unit places (API.md)."""
    if value is not None and value != money.quantize(value, currency):
        raise ValidationFailed(f"{field} has more places than {currency} allows",
                               fields={field: [f"must have at most {money.minor_units(currency)} decimal places "
                                               f"in {currency}"]})


def quote_create_with_lines(*, owner, lines: list[dict], **terms) -> Quote:
    """All or nothing: the draft and every line in one transaction. A refused line rolls the whole quote
    back (its number too) and the error names the line: `lines[2].quantity`, `lines[0].product`, ..."""
    with transaction.atomic():
        quote = editing.quote_create(owner=owner, **terms)
        for i, line in enumerate(lines):
            try:
                _check_places(line.get("discount_amount"), quote.currency, "discount_amount")
                editing.quote_line_add(quote_id=quote.pk, by=owner, reprice=False,
                                       **LineInputSerializer.to_service_kwargs(line))
            except ValidationFailed as exc:
                raise _rekeyed(exc, f"lines[{i}]") from exc
        editing.quote_reprice(quote=quote)  # once for all lines, not once per line
    return quote


def _acceptance_link_expires(quote: Quote) -> datetime:
    """A link dies after ACCEPTANCE_MAX_AGE, at the end of the quote's last valid day, or on a re-send."""
    end_of_validity = timezone.make_aware(datetime.combine(quote.valid_until + timedelta(days=1), time.min))
    return min(timezone.now() + timedelta(seconds=lifecycle.ACCEPTANCE_MAX_AGE), end_of_validity)


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it, and
    # the recorded IP is evidence of the acceptance.
    return request.META.get("REMOTE_ADDR") or None


# --- quotes ------------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(
        summary="List quotes",
        description="Sales managers, finance and admins see every quote; sales reps and customer success "
                    "their own. Filters: `status` (repeatable), `owner` (id or `me`), `customer`, `number`, "
                    "`currency`, `created_from`/`created_to`, `valid_until_from`/`valid_until_to`; `?q=` or "
                    "`?search=` match the number and the customer's name. Ordering e.g. `?ordering=-tcv`."),
    retrieve=extend_schema(summary="Get a quote", description="Another owner's quote is a 404 for reps."),
)
class QuoteViewSet(CSVExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Quotes: versions with priced lines, totals and their approval chain."""

    queryset = Quote.objects.all()  # model permissions and the schema; rows come from get_queryset
    serializer_class = QuoteSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter, SearchFilter]
    filterset_class = QuoteFilter
    ordering_fields = ["id", "created_at", "updated_at", "number", "version", "status", "start_date",
                       "valid_until", "term_months", "tcv", "arr", "mrr", "customer__name"]
    ordering = ["-created_at", "-id"]
    search_fields = ["number", "customer__name"]
    csv_filename = "quotes"  # ?format=csv: every quote the caller sees and the filters select, streamed
    csv_columns = [
        ("id", field("pk")), ("number", field("number")), ("version", field("version")), ("status", field("status")),
        ("customer_id", field("customer_id")), ("customer", field("customer.name")), ("owner_id", field("owner_id")),
        ("currency", field("currency")), ("start_date", field("start_date")), ("term_months", field("term_months")),
        ("billing_frequency", field("billing_frequency")), ("valid_until", field("valid_until")),
        ("one_time_total", amount("one_time_total")), ("mrr", amount("mrr")), ("arr", amount("arr")),
        ("tcv", amount("tcv")), ("discount_total", amount("discount_total")), ("created_at", field("created_at")),
    ]
    action_permissions = {
        "submit": ["quotes.change_quote"],
        "approve": ["quotes.approve_quote"],
        "reject": ["quotes.approve_quote"],
        "send": ["quotes.change_quote"],
        "accept": ["quotes.view_quote"],
        "decline": ["quotes.view_quote"],
        "revise": ["quotes.add_quote", "quotes.change_quote"],
        "line_add": ["quotes.add_quoteline"],
        "line_update": ["quotes.change_quoteline"],
        "line_remove": ["quotes.delete_quoteline"],
        "pdf": ["quotes.view_quote"],
        "revenue_preview": ["quotes.view_quote"],
        "acceptance_link": ["quotes.change_quote"],
    }

    def get_queryset(self):
        return selectors.quotes_visible_to(user=self.request.user)

    # The caller's scope decides 404 before any service runs; the service then locks and re-checks.
    def _quote_id(self) -> int:
        pk = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if not pk.isdigit() or not self.get_queryset().filter(pk=int(pk)).exists():
            raise NotFound("No quote with this id.")
        return int(pk)

    def _quote(self) -> Quote:
        pk = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        quote = self.get_queryset().filter(pk=int(pk)).first() if pk.isdigit() else None
        if quote is None:
            raise NotFound("No quote with this id.")
        return quote

    def _answer(self, quote_id: int, status_code: int = status.HTTP_200_OK, **headers) -> Response:
        quote = selectors.quote_list().get(pk=quote_id)
        return Response(QuoteSerializer(quote, context=self.get_serializer_context()).data, status=status_code,
                        headers=headers)

    def _line_id(self, quote_id: int) -> int:
        line_id = str(self.kwargs.get("line_id", ""))
        if not line_id.isdigit() or not QuoteLine.objects.filter(pk=int(line_id), quote_id=quote_id).exists():
            raise NotFound("No line with this id on this quote.")
        return int(line_id)

    @extend_schema(
        summary="Create a quote, with its lines",
        description="Opens a draft owned by the caller in the customer's currency and default price book "
                    "(or the `currency` / `price_book` given) and adds `lines` in order. All or nothing: a "
                    "refused line is a 400 naming it (`lines[2].quantity`, `lines[0].product`) and no quote is "
                    f"saved. At most {MAX_LINES_PER_REQUEST} lines per request; "
                    "add more with POST /quotes/{id}/lines/. Honours `Idempotency-Key`.",
        request=QuoteCreateSerializer, responses={201: QuoteSerializer})
    def create(self, request, *args, **kwargs):
        serializer = QuoteCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        quote = quote_create_with_lines(owner=request.user, lines=data.pop("lines", []), **data)
        return self._answer(quote.pk, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a quote's terms",
        description="start_date, term_months, billing_frequency, payment_terms, valid_until, "
                    "quote_discount_percent, notes. Reprices the quote; a pending or approved quote goes back "
                    "to draft (the approval covered the old terms). Only the owner or a sales manager may; a "
                    "sent, accepted or superseded quote is a 409 (revise it).",
        request=QuoteUpdateSerializer, responses=QuoteSerializer)
    def partial_update(self, request, *args, **kwargs):
        quote_id = self._quote_id()
        serializer = QuoteUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        editing.quote_update(quote_id=quote_id, by=request.user, **serializer.validated_data)
        return self._answer(quote_id)

    # --- lines --------------------------------------------------------------------------------------

    @extend_schema(
        summary="Add a product to a quote",
        description="Prices the line from the quote's price book and reprices the quote. A bundle adds its "
                    "required options and the optional ones listed in `options`. Returns the updated quote "
                    "(201). A pending or approved quote goes back to draft.",
        request=LineInputSerializer, responses={201: QuoteSerializer})
    @action(detail=True, methods=["post"], url_path="lines")
    def line_add(self, request, pk=None):
        quote_id = self._quote_id()
        serializer = LineInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quote = Quote.objects.only("currency").get(pk=quote_id)
        _check_places(serializer.validated_data.get("discount_amount"), quote.currency, "discount_amount")
        editing.quote_line_add(quote_id=quote_id, by=request.user,
                               **LineInputSerializer.to_service_kwargs(serializer.validated_data))
        return self._answer(quote_id, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a line's quantity or discount",
        description="Reprices the quote and returns it. Bundle options stay within their min/max.",
        parameters=[LINE_ID], request=LineUpdateSerializer, responses=QuoteSerializer)
    @action(detail=True, methods=["patch"], url_path=r"lines/(?P<line_id>[^/.]+)")
    def line_update(self, request, pk=None, line_id=None):
        quote_id = self._quote_id()
        line_pk = self._line_id(quote_id)
        serializer = LineUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        quote = Quote.objects.only("currency").get(pk=quote_id)
        _check_places(serializer.validated_data.get("discount_amount"), quote.currency, "discount_amount")
        try:
            editing.quote_line_update(line_id=line_pk, by=request.user, **serializer.validated_data)
        except QuoteLine.DoesNotExist:
            raise NotFound("No line with this id on this quote.") from None
        return self._answer(quote_id)

    @extend_schema(
        summary="Remove a line",
        description="A bundle's parent takes its options with it; a required option cannot go alone (400). "
                    "Returns the updated quote (200, not 204: the totals changed).",
        parameters=[LINE_ID], request=None, responses={200: QuoteSerializer})
    @line_update.mapping.delete
    def line_remove(self, request, pk=None, line_id=None):
        quote_id = self._quote_id()
        line_pk = self._line_id(quote_id)
        try:
            editing.quote_line_remove(line_id=line_pk, by=request.user)
        except QuoteLine.DoesNotExist:
            raise NotFound("No line with this id on this quote.") from None
        return self._answer(quote_id)

    # --- state changes ------------------------------------------------------------------------------

    @extend_schema(
        summary="Submit a draft for approval",
        description="Product rules must hold (400 `product_rule_violation`). The active approval rules decide "
                    "the chain: none triggered → `approved` at once; otherwise `pending_approval` with one "
                    "step per rule, in rule order.",
        request=None, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        quote_id = self._quote_id()
        lifecycle.quote_submit(quote_id=quote_id, by=request.user)
        return self._answer(quote_id)

    @extend_schema(
        summary="Approve the current approval step",
        description="Needs `quotes.approve_quote` and membership of the step's group. Approving one's own "
                    "quote is a 403; a quote not pending approval is a 409. The last step approves the quote.",
        request=ApproveSerializer, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        quote_id = self._quote_id()
        serializer = ApproveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle.quote_approve(quote_id=quote_id, by=request.user, comment=serializer.validated_data["comment"])
        return self._answer(quote_id)

    @extend_schema(
        summary="Reject the current approval step",
        description="The quote goes back to draft with the comment (required) for its owner.",
        request=RejectSerializer, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        quote_id = self._quote_id()
        serializer = RejectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        lifecycle.quote_reject(quote_id=quote_id, by=request.user, comment=serializer.validated_data["comment"])
        return self._answer(quote_id)

    @extend_schema(
        summary="Mark an approved quote as sent",
        description="Mints a fresh acceptance nonce: every earlier acceptance link of this quote stops "
                    "working. Get the link with GET /quotes/{id}/acceptance-link/.",
        request=None, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request, pk=None):
        quote_id = self._quote_id()
        lifecycle.quote_send(quote_id=quote_id, by=request.user)
        return self._answer(quote_id)

    @extend_schema(
        summary="Record the customer's acceptance, with the token of their link",
        description="For integrations relaying a customer's acceptance (e-signature, a custom page): the "
                    "`token` of the quote's acceptance link is the customer's authority — staff cannot accept "
                    "on a customer's behalf without it. Records `name`, `title` and the caller's IP (the "
                    "request's REMOTE_ADDR). Accepting again changes nothing and answers the accepted quote. A "
                    "tampered, expired, re-sent or other quote's token is a 400 `acceptance_link_invalid`; a "
                    "quote that is not sent (or past its validity) is a 409.",
        request=AcceptSerializer, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        quote_id = self._quote_id()
        serializer = AcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if lifecycle.quote_from_token(data["token"]).pk != quote_id:
            raise lifecycle.AcceptanceLinkInvalid("this link is for another quote",
                                                  fields={"token": ["belongs to another quote"]})
        lifecycle.quote_accept(token=data["token"], name=data["name"], title=data["title"], ip=_client_ip(request))
        return self._answer(quote_id)

    @extend_schema(
        summary="Record the customer's refusal, with the token of their link",
        description="Like `accept`: the token is the customer's authority. The quote becomes `rejected` with "
                    "the reason (required).",
        request=DeclineSerializer, responses=QuoteSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        quote_id = self._quote_id()
        serializer = DeclineSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if lifecycle.quote_from_token(data["token"]).pk != quote_id:
            raise lifecycle.AcceptanceLinkInvalid("this link is for another quote",
                                                  fields={"token": ["belongs to another quote"]})
        lifecycle.quote_decline(token=data["token"], reason=data["reason"])
        return self._answer(quote_id)

    @extend_schema(
        summary="Revise: a new draft version",
        description="Copies the terms and lines into version n+1 (a draft, 201 with the new version and its "
                    "URL in `Location`); this version becomes `superseded` and its acceptance link dies.",
        request=None, responses={201: QuoteSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        quote_id = self._quote_id()
        new = lifecycle.quote_revise(quote_id=quote_id, by=request.user)
        location = request.build_absolute_uri(reverse("quote-detail", args=[new.pk]))
        return self._answer(new.pk, status.HTTP_201_CREATED, Location=location)

    # --- documents and previews ---------------------------------------------------------------------

    @extend_schema(
        summary="The quote as a PDF",
        description="application/pdf, as an attachment named `<number>-v<version>.pdf`. 503 "
                    "`document_unavailable` while PDF rendering is not installed.",
        responses={(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF.")})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PDFRenderer])
    def pdf(self, request, pk=None):
        quote = self._quote()
        try:
            from quotes.documents import render_quote_pdf
        except ModuleNotFoundError as exc:
            if exc.name != "quotes.documents":
                raise
            raise DocumentUnavailable("quote PDFs are not available yet") from None
        content = render_quote_pdf(quote)
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{quote.number}-v{quote.version}.pdf"'
        response["Cache-Control"] = "private, no-store"
        return response

    @extend_schema(
        summary="Projected monthly revenue recognition of the quote",
        description="Ratable lines spread by days over the term, point-in-time lines in the start month, "
                    "usage not projected; the months sum exactly to the TCV (`total`). `lines` maps line ids "
                    "to their share of the month.",
        responses=RevenuePreviewSerializer)
    @action(detail=True, methods=["get"], url_path="revenue-preview")
    def revenue_preview(self, request, pk=None):
        quote = self._quote()
        months = project_revenue(quote, lines=list(quote.lines.all()))
        total = sum((m.amount for m in months), money.zero(quote.currency))

        def amount(value) -> str:  # stored amounts carry 3 places; show the currency's
            return str(money.quantize(value, quote.currency))

        return Response({
            "currency": quote.currency,
            "months": [{"month": f"{m.month:%Y-%m}", "amount": amount(m.amount),
                        "lines": {str(line_id): amount(part) for line_id, part in m.by_line.items()}}
                       for m in months],
            "total": amount(total),
        })

    @extend_schema(
        summary="The customer's acceptance link of a sent quote",
        description="A signed link (no guessable id) to the page where the customer accepts or declines. "
                    "It stops working at `expires` (90 days or the quote's validity, whichever is first) and "
                    "as soon as the quote is sent again or revised. 409 unless the quote is sent and valid.",
        responses=AcceptanceLinkSerializer)
    @action(detail=True, methods=["get"], url_path="acceptance-link")
    def acceptance_link(self, request, pk=None):
        quote = Quote.objects.get(pk=self._quote_id())
        if quote.status != Quote.Status.SENT:
            raise InvalidTransition(f"{quote} is {quote.status}; only a sent quote has an acceptance link")
        if quote.valid_until < timezone.localdate():
            raise InvalidTransition(f"{quote} expired on {quote.valid_until}")
        return Response({"url": request.build_absolute_uri(lifecycle.acceptance_url(quote)),
                         "expires": _acceptance_link_expires(quote).isoformat()})


# --- approval rules ----------------------------------------------------------------------------------

class WritesNeedAdminRole(BasePermission):
    """Approval rules decide who must sign off on deals, so only admins change them (sales managers
    hold `quotes.*` model permissions but must not route their own deals around approval)."""

    message = "only admins may change approval rules"

    def has_permission(self, request, view) -> bool:
        return request.method in ("GET", "HEAD", "OPTIONS") or roles.has_role(request.user, roles.ADMIN)


@extend_schema_view(
    list=extend_schema(summary="List approval rules", description="Readable by every role that reads quotes."),
    retrieve=extend_schema(summary="Get an approval rule"),
    create=extend_schema(summary="Create an approval rule (admins)"),
    update=extend_schema(summary="Replace an approval rule (admins)"),
    partial_update=extend_schema(summary="Change an approval rule (admins)",
                                 description="Applies to later submissions; steps already created keep "
                                             "their reason."),
    destroy=extend_schema(summary="Delete an approval rule (admins)",
                          description="Past approval steps keep their reason; consider `active: false`."),
)
class ApprovalRuleViewSet(viewsets.ModelViewSet):
    """Conditions that route a submitted quote to an approver group, lowest `order` first."""

    queryset = ApprovalRule.objects.select_related("approver_group").order_by("order", "id")
    serializer_class = ApprovalRuleSerializer
    permission_classes = [RolePermission, WritesNeedAdminRole]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ApprovalRuleFilter
    ordering_fields = ["id", "order", "name", "condition"]
    ordering = ["order", "id"]


def register(router) -> None:
    router.register("quotes", QuoteViewSet, basename="quote")
    router.register("approval-rules", ApprovalRuleViewSet, basename="approval-rule")
