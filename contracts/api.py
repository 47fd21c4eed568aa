"""/api/v1/contracts/ and /api/v1/renewal-alerts/: thin views over contracts.services.

Who sees what: contracts are records sales, finance and customer success share, so every staff role
reads every contract (and its amendments, timeline and renewal alerts); portal users reach none of
them here. Who may write follows the role groups' model permissions (`revops.kernel.roles`):
- create, amend (and its preview) and terminate: finance and admins (`contracts.add_contract`,
  `contracts.add_amendment`);
- renew, renewal-quote and PATCH of the renewal settings: also customer success
  (`contracts.change_contract`);
- sales roles read only (403 on every write).
Every write answers with the contract as it now is, read back in one shape; `renew` answers the new
contract. A refused request changes nothing (one transaction per service call).
"""
from __future__ import annotations

from datetime import timedelta

from django.db.models import Prefetch, QuerySet
from django.urls import reverse
from django.utils.dateparse import parse_date
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from quotes.filters import StableOrderingFilter
from revops.kernel import money
from revops.kernel.api.fields import format_unit_price
from revops.kernel.api.renderers import CSVExportMixin, amount, field
from revops.kernel.errors import ValidationFailed

from .filters import ContractFilter, RenewalAlertFilter
from .models import Amendment, Contract, ContractEvent, ContractLine, RenewalAlert
from .serializers import (
    AmendmentPlanSerializer,
    AmendmentSerializer,
    AmendSerializer,
    ContractCreateSerializer,
    ContractEventSerializer,
    ContractSerializer,
    ContractUpdateSerializer,
    RenewalAlertSerializer,
    RenewalQuoteSerializer,
    RenewSerializer,
    TerminateSerializer,
)
from .services.amendments import AmendmentPlan, contract_amend, plan_amendment
from .services.creation import LineSpec, contract_create, contract_update_terms
from .services.renewals import contract_renew, renewal_quote_create
from .services.termination import contract_terminate

AS_OF = OpenApiParameter(
    "as_of", OpenApiTypes.DATE, OpenApiParameter.QUERY, required=False,
    description="Only the line versions active on this day (YYYY-MM-DD): what the customer had then. "
                "tcv, arr and mrr stay the contract's current figures.")


def contract_list(*, lines_on=None) -> QuerySet[Contract]:
    """Contracts with customer and renewal loaded and their line versions (with product) prefetched —
    only those active on `lines_on` when given — so a page of contracts costs a fixed number of queries."""
    lines = ContractLine.objects.select_related("product").order_by("item", "version")
    if lines_on is not None:
        lines = lines.active_on(lines_on)
    return Contract.objects.select_related("customer", "renewed_by").prefetch_related(Prefetch("lines", lines))


def _as_of(request):
    raw = request.query_params.get("as_of")
    if not raw:
        return None
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is None:
        raise ValidationFailed(f"as_of {raw!r} is not a date", fields={"as_of": ["must be a date, YYYY-MM-DD"]})
    return day


def _decimal(value) -> str:
    return f"{value.normalize():f}"


def plan_body(plan: AmendmentPlan) -> dict:
    """An amendment plan as the preview answers it (AmendmentPlanSerializer)."""
    contract, effective = plan.contract, plan.effective_date
    currency = contract.currency
    day_before = effective - timedelta(days=1)
    closed = [(v.closes, False) for v in plan.versions if v.closes is not None]
    closed += [(line, True) for line in plan.closes]
    return {
        "preview": True,
        "contract": contract.pk,
        "effective_date": effective.isoformat(),
        "currency": currency,
        "versions": [{
            "item": v.item, "version": v.closes.version + 1 if v.closes else 1, "product": v.product.pk,
            "product_name": v.product.name, "quantity": _decimal(v.quantity),
            "unit_price": format_unit_price(v.unit_price, currency), "amount": str(money.quantize(v.amount, currency)),
            "period": v.period, "start_date": effective.isoformat(), "end_date": contract.end_date.isoformat(),
            "replaces": v.closes.pk if v.closes else None,
        } for v in plan.versions],
        "closes": [{
            "line": line.pk, "item": line.item, "version": line.version, "product": line.product_id,
            "product_name": line.product.name, "quantity": _decimal(line.quantity),
            "unit_price": format_unit_price(line.unit_price, currency), "start_date": line.start_date.isoformat(),
            "end_date": day_before.isoformat(), "removed": removed,
        } for line, removed in sorted(closed, key=lambda pair: pair[0].item)],
        "charges": [{
            "item": c.item, "product": c.product.pk, "description": c.description,
            "period_start": c.period_start.isoformat(), "period_end": c.period_end.isoformat(),
            "remaining_days": c.remaining_days, "period_days": c.period_days,
            "amount": str(money.quantize(c.amount, currency)),
        } for c in plan.charges],
        "total": str(plan.total),
    }


# --- contracts ---------------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(
        summary="List contracts",
        description="Every staff role sees every contract (a shared record). Filters: `status` (repeatable), "
                    "`customer`, `owner` (id or `me`), `quote`, `renewed_from`, `number`, `currency`, "
                    "`billing_frequency`, `auto_renew`, `start_date_from`/`start_date_to`, "
                    "`end_date_from`/`end_date_to`; `?q=` matches the number and the customer's name. Ordering "
                    "e.g. `?ordering=end_date` or `-arr`. Each contract carries all its line versions."),
    retrieve=extend_schema(
        summary="Get a contract",
        description="With every line version (`item` groups the versions of one line, `version` counts "
                    "them), or with `?as_of=YYYY-MM-DD` only the versions active that day.",
        parameters=[AS_OF]),
)
class ContractViewSet(CSVExportMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Contracts: versioned lines, renewal settings, value, and their amendments and timeline."""

    queryset = Contract.objects.all()  # model permissions and the schema; rows come from get_queryset
    serializer_class = ContractSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ContractFilter
    ordering_fields = ["id", "number", "status", "start_date", "end_date", "created_at", "tcv", "arr", "mrr",
                       "customer__name"]
    ordering = ["-start_date", "-id"]
    csv_filename = "contracts"  # ?format=csv: every filtered contract, streamed (revops.kernel.api.renderers)
    csv_columns = [
        ("id", field("pk")), ("number", field("number")), ("status", field("status")),
        ("customer_id", field("customer_id")), ("customer", field("customer.name")), ("quote_id", field("quote_id")),
        ("currency", field("currency")), ("start_date", field("start_date")), ("end_date", field("end_date")),
        ("billing_frequency", field("billing_frequency")), ("auto_renew", field("auto_renew")),
        ("mrr", amount("mrr")), ("arr", amount("arr")), ("tcv", amount("tcv")),
    ]
    action_permissions = {
        "create": ["contracts.add_contract"],
        "partial_update": ["contracts.change_contract"],
        "amend": ["contracts.change_contract", "contracts.add_amendment"],
        "terminate": ["contracts.change_contract", "contracts.add_amendment"],
        "renew": ["contracts.change_contract"],
        "renewal_quote": ["contracts.change_contract"],
        "amendments": ["contracts.view_contract", "contracts.view_amendment"],
        "timeline": ["contracts.view_contract", "contracts.view_contractevent"],
    }

    def get_queryset(self):
        lines_on = _as_of(self.request) if self.action == "retrieve" else None
        return contract_list(lines_on=lines_on)

    def _contract_id(self) -> int:
        pk = str(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
        if not pk.isdigit() or not Contract.objects.filter(pk=int(pk)).exists():
            raise NotFound("No contract with this id.")
        return int(pk)

    def _answer(self, contract_id: int, status_code: int = status.HTTP_200_OK, **headers) -> Response:
        contract = contract_list().get(pk=contract_id)
        return Response(ContractSerializer(contract, context=self.get_serializer_context()).data,
                        status=status_code, headers=headers)

    @extend_schema(
        summary="Enter a contract (staff: imported deals)",
        description="A contract not made from a quote: `lines` give product, quantity, net `unit_price` per "
                    "`period` (default from the product) and run over the whole term. Validated whole: a bad "
                    "line is a 400 naming it (`lines[1].unit_price`) and nothing is saved. Activated at once "
                    "unless `activate` is false (a contract that already ended stays a draft). Records "
                    "`contract.created` (and `contract.activated`). Honours `Idempotency-Key`.",
        request=ContractCreateSerializer, responses={201: ContractSerializer})
    def create(self, request, *args, **kwargs):
        serializer = ContractCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        lines = [LineSpec(product=line["product"], quantity=line["quantity"], unit_price=line["unit_price"],
                          period=line.get("period") or None) for line in data.pop("lines")]
        contract = contract_create(
            customer=data.pop("customer"), start_date=data.pop("start_date"), term_months=data.pop("term_months"),
            billing_frequency=data.pop("billing_frequency", Contract.BillingFrequency.MONTH),
            currency=data.pop("currency", None), activate=data.pop("activate"), lines=lines, by=request.user,
            **data)
        location = request.build_absolute_uri(reverse("contract-detail", args=[contract.pk]))
        return self._answer(contract.pk, status.HTTP_201_CREATED, Location=location)

    @extend_schema(
        summary="Change a contract's renewal settings or owner",
        description="`auto_renew`, `renewal_term_months` (at least 1), `renewal_uplift_percent` (from -100), "
                    "`renewal_notice_days`, `renewal_alert_offsets` (positive whole days, e.g. [90, 60, 30]), "
                    "`owner`. Lines, dates and status change only through `amend`, `renew` and `terminate` "
                    "(naming them here is a 400). Only a draft or active contract (else 409). Audited; records "
                    "`contract.updated` with the changed fields.",
        request=ContractUpdateSerializer, responses=ContractSerializer)
    def partial_update(self, request, *args, **kwargs):
        contract_id = self._contract_id()
        serializer = ContractUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contract_update_terms(contract_id=contract_id, by=request.user, **serializer.validated_data)
        return self._answer(contract_id)

    # --- actions ------------------------------------------------------------------------------------

    @extend_schema(
        summary="Amend an active contract from an effective date, or preview the amendment",
        description="`changes`: `{\"line\": id, \"quantity\"?, \"unit_price\"?}` changes a line (the new "
                    "absolute quantity; 0 removes it), `{\"product\": id, \"quantity\", \"unit_price\"?}` adds "
                    "one co-termed to the end (default price: the list price). Each changed line's version "
                    "ends the day before `effective_date` and a new version starts on it; the rest of the "
                    "billing period the date falls in is prorated by days (credit the old, charge the new). "
                    "Returns the updated contract and records `contract.amended`.\n\n"
                    "**Preview**: with `\"preview\": true` nothing is written; the answer is the plan — the "
                    "new `versions`, the versions it `closes`, the `charges` (description, remaining_days, "
                    "period_days, amount) and their `total` — exactly what the same request without "
                    "`preview` would do today.\n\n"
                    "Refusals name the field: `effective_date` (outside the contract, or before a later "
                    "change), `changes[0].quantity`, `changes[1].line`, ... (400); a contract that is not "
                    "active is a 409. Honours `Idempotency-Key`.",
        request=AmendSerializer,
        responses=PolymorphicProxySerializer(component_name="AmendResult", resource_type_field_name=None,
                                             serializers=[ContractSerializer, AmendmentPlanSerializer]))
    @action(detail=True, methods=["post"])
    def amend(self, request, pk=None):
        contract_id = self._contract_id()
        serializer = AmendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = serializer.service_changes()
        if data["preview"]:
            plan = plan_amendment(Contract.objects.get(pk=contract_id), data["effective_date"], changes)
            return Response(plan_body(plan))
        contract_amend(contract_id=contract_id, effective_date=data["effective_date"], changes=changes,
                       by=request.user, reason=data["reason"])
        return self._answer(contract_id)

    @extend_schema(
        summary="Renew: a new contract for the next term",
        description="Starts the day after this contract ends, for `term_months` (default the contract's "
                    "`renewal_term_months`), with every recurring and usage line active at the end carried "
                    "over at its price raised by `uplift_percent` (default the contract's "
                    "`renewal_uplift_percent`); one-time lines are not renewed. This contract becomes "
                    "`renewed`. Answers the NEW contract (201, its URL in `Location`). A contract renews "
                    "once: asking again answers the same renewal (200). Only an active or expired contract "
                    "(else 409).",
        request=RenewSerializer, responses={201: ContractSerializer, 200: ContractSerializer})
    @action(detail=True, methods=["post"])
    def renew(self, request, pk=None):
        contract_id = self._contract_id()
        serializer = RenewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        already = Contract.objects.filter(renewed_from_id=contract_id).exists()
        renewal = contract_renew(contract_id=contract_id, by=request.user, **serializer.validated_data)
        location = request.build_absolute_uri(reverse("contract-detail", args=[renewal.pk]))
        return self._answer(renewal.pk, status.HTTP_200_OK if already else status.HTTP_201_CREATED,
                            Location=location)

    @extend_schema(
        summary="Terminate early",
        description="Every line ends on `effective_date` (inclusive, within the contract and not before a "
                    "later change) and the unused days of the billing period are credited for the next "
                    "invoice. `reason` is required. An active (or renewed, whose renewal then does not "
                    "start) contract only: an expired or terminated one is a 409.",
        request=TerminateSerializer, responses=ContractSerializer)
    @action(detail=True, methods=["post"])
    def terminate(self, request, pk=None):
        contract_id = self._contract_id()
        serializer = TerminateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        contract_terminate(contract_id=contract_id, by=request.user, **serializer.validated_data)
        return self._answer(contract_id)

    @extend_schema(
        summary="Prepare the draft renewal quote",
        description="A draft quote for the contract's owner (or the caller when it has none) starting the day "
                    "after the end, with the lines active at the end priced at their uplifted contract price. "
                    "201 with `{\"quote\": id}`; a contract that already has one answers it (200). When the "
                    "customer accepts the quote, the contract is renewed from it. Only an active or expired "
                    "contract (else 409).",
        request=None, responses={201: RenewalQuoteSerializer, 200: RenewalQuoteSerializer})
    @action(detail=True, methods=["post"], url_path="renewal-quote")
    def renewal_quote(self, request, pk=None):
        contract_id = self._contract_id()
        existing = Contract.objects.filter(pk=contract_id).values_list("renewal_quote_id", flat=True).first()
        quote = renewal_quote_create(contract_id=contract_id, by=request.user)
        location = request.build_absolute_uri(reverse("quote-detail", args=[quote.pk]))
        return Response({"quote": quote.pk}, status=status.HTTP_200_OK if existing else status.HTTP_201_CREATED,
                        headers={"Location": location})

    # --- sub-resources ------------------------------------------------------------------------------

    @extend_schema(
        summary="The contract's amendments and terminations, with their prorated charges",
        description="Oldest first. `changes` are as they were asked; `charges` are what billing settles.",
        responses=AmendmentSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], serializer_class=AmendmentSerializer)
    def amendments(self, request, pk=None):
        contract_id = self._contract_id()
        rows = (Amendment.objects.filter(contract_id=contract_id).select_related("contract", "created_by")
                .prefetch_related("charges").order_by("number"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(AmendmentSerializer(page, many=True).data)

    @extend_schema(
        summary="The contract's timeline",
        description="Created, activated, amended, renewal alerts, renewal settings changed, renewed, "
                    "terminated, ... oldest first, with who did it (null for the system).",
        responses=ContractEventSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], serializer_class=ContractEventSerializer)
    def timeline(self, request, pk=None):
        contract_id = self._contract_id()
        rows = ContractEvent.objects.filter(contract_id=contract_id).select_related("actor").order_by("at", "id")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ContractEventSerializer(page, many=True).data)


# --- renewal alerts ----------------------------------------------------------------------------------

@extend_schema_view(
    list=extend_schema(
        summary="List renewal alerts",
        description="Alerts sent before contracts end (one per contract and offset). Every staff role sees "
                    "them all. Filters: `contract`, `customer`, `owner`, `offset_days`, `due_from`/`due_to`, "
                    "`sent_from`/`sent_to`. Newest first; ordering e.g. `?ordering=due_date`."),
    retrieve=extend_schema(summary="Get a renewal alert"),
)
class RenewalAlertViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = RenewalAlert.objects.select_related("contract__customer")
    serializer_class = RenewalAlertSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = RenewalAlertFilter
    ordering_fields = ["id", "due_date", "sent_at", "offset_days", "arr_at_risk"]
    ordering = ["-sent_at", "-id"]


def register(router) -> None:
    router.register("contracts", ContractViewSet, basename="contract")
    router.register("renewal-alerts", RenewalAlertViewSet, basename="renewal-alert")
