"""/api/v1/webhook-endpoints/ and /api/v1/webhook-deliveries/: webhook receivers, their delivery log, replay
and a test send. Admins only (every other role, and portal users, get 403). The endpoint's secret is in
the create response once; afterwards it is masked. Included by revops/api_urls.py through `urlpatterns()`.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from revops.kernel import roles
from revops.kernel.actor import set_actor
from revops.kernel.errors import ValidationFailed

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services import webhooks as service
from .services.event_types import KNOWN_EVENT_TYPES


class IsAdminRole(BasePermission):
    """The admin role (or a superuser); webhooks carry every revenue event out of the system."""

    message = "Only admins manage webhooks."

    def has_permission(self, request, view) -> bool:
        set_actor(request.user)
        user = request.user
        return bool(user and user.is_authenticated and roles.has_role(user, roles.ADMIN))


class WebhookEndpointSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False,
        help_text='Patterns: exact types ("invoice.issued"), globs ("contract.*") or "*". Known types: '
                  + ", ".join(KNOWN_EVENT_TYPES) + ".")
    secret = serializers.SerializerMethodField(
        help_text="The HMAC secret: in full in the create response only, masked afterwards.")
    created_by = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "event_types", "enabled", "allow_private_network", "status",
                  "failing_since", "secret", "created_by", "created_at"]
        read_only_fields = ["status", "failing_since", "created_at"]

    def get_secret(self, endpoint) -> str:
        return endpoint.secret if self.context.get("reveal_secret") else service.secret_masked(endpoint.secret)


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["id", "attempted_at", "status_code", "latency_ms", "succeeded", "error", "response_excerpt",
                  "manual"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.SerializerMethodField(help_text='The body\'s "id", e.g. evt_42: receivers dedupe by it.')
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True, help_text="Newest first.")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "endpoint", "event_id", "event_type", "ordering_key", "status", "attempts",
                  "next_attempt_at", "delivered_at", "created_at", "attempt_log"]

    def get_event_id(self, delivery) -> str:
        return f"evt_{delivery.event_id}"


STATUS_PARAM = OpenApiParameter("status", OpenApiTypes.STR, enum=list(WebhookDelivery.Status.values),
                                description="Only deliveries in this status.")


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints"),
    retrieve=extend_schema(summary="A webhook endpoint (secret masked)"),
    create=extend_schema(summary="Add a webhook endpoint",
                         description="The URL must be http(s) and resolve to public addresses (SSRF guard) unless "
                                     "allow_private_network is set. The response shows the secret once."),
    update=extend_schema(summary="Replace a webhook endpoint's settings"),
    partial_update=extend_schema(summary="Change a webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint and its delivery log"),
)
class WebhookEndpointViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                             viewsets.GenericViewSet):
    queryset = WebhookEndpoint.objects.all()
    serializer_class = WebhookEndpointSerializer
    permission_classes = [IsAdminRole]
    filterset_fields = ["enabled", "status"]
    ordering_fields = ["id", "created_at"]

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        endpoint = service.webhook_endpoint_create(
            url=data["url"], event_types=data["event_types"], by=request.user,
            description=data.get("description", ""), enabled=data.get("enabled", True),
            allow_private_network=data.get("allow_private_network", False))
        body = self.get_serializer(endpoint, context={**self.get_serializer_context(), "reveal_secret": True}).data
        return Response(body, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        endpoint = self.get_object()
        serializer = self.get_serializer(endpoint, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        endpoint = service.webhook_endpoint_update(endpoint_id=endpoint.pk, by=request.user,
                                                   **serializer.validated_data)
        return Response(self.get_serializer(endpoint).data)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(summary="An endpoint's deliveries with their attempts (newest first)", parameters=[STATUS_PARAM],
                   responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def deliveries(self, request, pk=None):
        endpoint = self.get_object()
        wanted = request.query_params.get("status") or None
        if wanted and wanted not in WebhookDelivery.Status.values:
            raise ValidationFailed(f"status must be one of {', '.join(WebhookDelivery.Status.values)}",
                                   fields={"status": ["not a delivery status"]})
        rows = service.endpoint_deliveries(endpoint_id=endpoint.pk, status=wanted)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(summary="Send a webhook.test event to this endpoint", request=None,
                   description="Sent after the request commits, even to a disabled endpoint; the returned delivery "
                               "is pending until then. Read its outcome from the deliveries list.",
                   responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        endpoint = self.get_object()
        delivery = service.webhook_test_send(endpoint_id=endpoint.pk, by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(retrieve=extend_schema(summary="A webhook delivery with its attempts"))
class WebhookDeliveryViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = WebhookDelivery.objects.select_related("event").prefetch_related("attempt_log")
    serializer_class = WebhookDeliverySerializer
    permission_classes = [IsAdminRole]

    @extend_schema(summary="Send a delivery again now (any status)", request=None,
                   description="Waits for the receiver (at most 10 s) and logs a manual attempt. A 2xx settles a "
                               "pending or failed delivery; a failure changes only the log.",
                   responses={200: WebhookDeliverySerializer,
                              404: OpenApiResponse(description="No such delivery")})
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        service.webhook_delivery_replay(delivery_id=delivery.pk, by=request.user)
        return Response(WebhookDeliverySerializer(self.get_queryset().get(pk=delivery.pk)).data)


def urlpatterns() -> list:
    from rest_framework.routers import SimpleRouter

    router = SimpleRouter()
    router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
    router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")
    return router.urls
