"""/api/v1/ routes of the inbound part of integrations:

- `POST /inbound/<source>/`: a deal or order pushed by a CRM or shop, signed with the source's secret
  (`Revops-Signature`); no user authentication.
- `/inbound-messages/` (admins): the inbox, with `POST /inbound-messages/<id>/retry/`.
- `/erp-exports/` (finance, admins): create an export of a period, list them, download the file.
"""
from __future__ import annotations

import json

from django.http import StreamingHttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter
from rest_framework.views import APIView

from revops.kernel.api.renderers import CSVRenderer
from revops.kernel.errors import ValidationFailed

from .models import ErpExport, InboundMessage
from .services import erp_export, inbound
from .services.signing import HEADER

# --- inbound ---------------------------------------------------------------------------------------


class InboundMessageSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    kind = serializers.CharField(source="source.kind", read_only=True)
    quote_number = serializers.SerializerMethodField()
    quote_status = serializers.SerializerMethodField()
    contract = serializers.SerializerMethodField()

    class Meta:
        model = InboundMessage
        fields = ["id", "source", "kind", "external_id", "status", "error", "attempts", "customer", "quote",
                  "quote_number", "quote_status", "contract", "received_at", "processed_at", "payload"]
        read_only_fields = fields

    def get_quote_number(self, message) -> str | None:
        return f"{message.quote.number} v{message.quote.version}" if message.quote_id else None

    def get_quote_status(self, message) -> str | None:
        return message.quote.status if message.quote_id else None

    def get_contract(self, message) -> int | None:
        contract = inbound.message_contract(message)
        return contract.pk if contract else None


class InboundResultSerializer(InboundMessageSerializer):
    duplicate = serializers.BooleanField(read_only=True, help_text="true: a redelivery of a processed message; "
                                                                   "nothing was written.")

    class Meta(InboundMessageSerializer.Meta):
        fields = [*InboundMessageSerializer.Meta.fields, "duplicate"]
        read_only_fields = fields


def _message_answer(result: inbound.InboundResult, request) -> Response:
    message = result.message
    message.duplicate = result.duplicate
    data = InboundResultSerializer(message, context={"request": request}).data
    if result.duplicate:
        code = status.HTTP_200_OK
    elif message.status == InboundMessage.Status.FAILED:
        code = status.HTTP_202_ACCEPTED
    else:
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    return Response(data, status=code)


class InboundView(APIView):
    """Signed by the source, not by a user: no session, no token, no CSRF."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="inbound_receive",
        summary="Receive a deal or an order from a source",
        description=(
            "The raw body (JSON) signed with the source's secret: header `Revops-Signature: t=<unix>,v1=<hex "
            "HMAC-SHA256(secret, \"<t>.<body>\")>`, at most 5 minutes old. No signature: 401; a wrong or "
            "stale one: 403; nothing is written either way. The source's mapping turns the payload into a "
            "customer (created or updated by external id), contacts (by email) and a quote: a draft quote for "
            "a `deal` source, an accepted quote (and its contract) for an `order` source. Idempotent by the "
            "payload's id: the first processed delivery answers 201, a redelivery 200 with `duplicate: true` "
            "and nothing new written. A payload that cannot be processed (unknown product, missing field, "
            "unmet condition) is kept in the inbox with the reason and answered 202 with `status: failed`; "
            "redelivering it processes it again. A body that is not JSON or has no id: 400."),
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[OpenApiParameter(HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True)],
        responses={201: InboundResultSerializer, 200: InboundResultSerializer, 202: InboundResultSerializer})
    def post(self, request, source: str):
        body = request.body  # the raw bytes, read before DRF parses them: the signature covers these
        src = inbound.source_for(source)
        header = request.headers.get(HEADER, "")
        if not header:
            return Response({"error": {"code": "not_authenticated", "message": f"sign the body: {HEADER} header "
                                       "missing", "fields": {}}}, status=status.HTTP_401_UNAUTHORIZED)
        inbound.signature_check(source=src, header=header, body=body)
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ValidationFailed("the body is not JSON", fields={"body": ["must be a JSON object"]}) from None
        result = inbound.inbound_receive(source=src, payload=payload)
        return _message_answer(result, request)


@extend_schema_view(
    list=extend_schema(summary="List inbound messages (the inbox)",
                       description="Every payload received from a source, processed or failed (with the reason), "
                                   "newest first. Filters: `status` (processed|failed), `source` (name). Admins."),
    retrieve=extend_schema(summary="Get an inbound message"),
)
class InboundMessageViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = InboundMessage.objects.select_related("source", "quote", "contract")
    serializer_class = InboundMessageSerializer
    filterset_fields = ["status"]
    ordering_fields = ["received_at", "id"]
    ordering = ["-received_at", "-id"]
    action_permissions = {"retry": ["integrations.change_inboundmessage"]}

    def get_queryset(self):
        qs = super().get_queryset()
        source = self.request.query_params.get("source")
        return qs.filter(source__name=source) if source else qs

    @extend_schema(summary="Retry a failed inbound message",
                   description="Processes the stored payload again with the source's current mapping and the "
                               "current catalog (after fixing either). A processed message is a 409.",
                   request=None, responses=InboundResultSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        message = self.get_object()
        return _message_answer(inbound.inbound_retry(message_id=message.pk, by=request.user), request)


# --- ERP exports ------------------------------------------------------------------------------------


class ErpExportSerializer(serializers.ModelSerializer):
    mode = serializers.SerializerMethodField()
    note = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()
    invoices_download_url = serializers.SerializerMethodField()
    full = serializers.BooleanField(default=False, help_text="true: re-send everything of the period (a full "
                                                            "re-export); false: only what no export included.")

    class Meta:
        model = ErpExport
        fields = ["id", "period_start", "period_end", "format", "full", "mode", "note", "journal_entries",
                  "journal_lines", "invoices", "created_by", "created_at", "download_url", "invoices_download_url"]
        read_only_fields = ["journal_entries", "journal_lines", "invoices", "created_by", "created_at"]

    def get_mode(self, export) -> str:
        return erp_export.mode_of(export)

    def get_note(self, export) -> str:
        return erp_export.header(export)["note"]

    def _url(self, export, part=None) -> str:
        from django.urls import reverse

        url = reverse("erp-export-download", args=[export.pk])
        url += f"?part={part}" if part else ""
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request else url

    def get_download_url(self, export) -> str:
        return self._url(export)

    def get_invoices_download_url(self, export) -> str | None:
        return self._url(export, "invoices") if export.format == ErpExport.Format.CSV else None

    def validate(self, attrs):
        if attrs["period_end"] < attrs["period_start"]:
            raise serializers.ValidationError({"period_end": ["must be on or after period_start"]})
        return attrs


PART = OpenApiParameter("part", OpenApiTypes.STR, enum=list(erp_export.PARTS),
                        description="CSV exports: `journal` (default, one row per journal line) or `invoices`.")


@extend_schema_view(
    list=extend_schema(summary="List ERP exports", description="Newest first. Finance and admins."),
    retrieve=extend_schema(summary="Get an ERP export"),
    create=extend_schema(
        summary="Export a period to the ERP",
        description="`{period_start, period_end, format: csv|json, full}`. Records which journal entries (dated "
                    "in the period) and issued invoices (issue date in the period) the export includes: all of "
                    "them with `full: true` (`mode: full`, a re-export: replace what was loaded before), else "
                    "only those no earlier export included (`mode: incremental`; possibly none). Answers the "
                    "export with its counts and `download_url`."),
)
class ErpExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin,
                       viewsets.GenericViewSet):
    queryset = ErpExport.objects.all()
    serializer_class = ErpExportSerializer
    filterset_fields = ["format", "full", "period_start", "period_end"]
    ordering = ["-created_at", "-id"]
    action_permissions = {"download": ["integrations.view_erpexport"]}

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = erp_export.erp_export_create(
            period_start=data["period_start"], period_end=data["period_end"], format=data["format"],
            full=data.get("full", False), by=self.request.user)

    @extend_schema(
        summary="Download an ERP export",
        description="The file, streamed: JSON `{export: {...mode, full, note...}, journal_columns, "
                    "invoice_columns, journal_lines: [...], invoices: [...]}` or CSV (`?part=journal|invoices`), "
                    "every CSV row carrying `export_id` and `export_mode` (full|incremental). Header "
                    "`Revops-Export-Mode` says the same.",
        parameters=[PART],
        responses={(200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT),
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR)})
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CSVRenderer])
    def download(self, request, pk=None):
        export = self.get_object()
        return download_response(export, request.query_params.get("part") or "journal")


def download_response(export: ErpExport, part: str = "journal") -> StreamingHttpResponse:
    if export.format == ErpExport.Format.JSON:
        response = StreamingHttpResponse(erp_export.json_stream(export), content_type="application/json")
    else:
        if part not in erp_export.PARTS:
            raise ValidationFailed("part must be journal or invoices", fields={"part": ["must be journal or invoices"]})
        response = StreamingHttpResponse(erp_export.csv_stream(export, part), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{erp_export.filename(export, part)}"'
    response["Revops-Export-Mode"] = erp_export.mode_of(export)
    return response


def urlpatterns() -> list:
    router = SimpleRouter()
    router.register("inbound-messages", InboundMessageViewSet, basename="inbound-message")
    router.register("erp-exports", ErpExportViewSet, basename="erp-export")
    return [path("inbound/<slug:source>/", InboundView.as_view(), name="inbound-receive"), *router.urls]

