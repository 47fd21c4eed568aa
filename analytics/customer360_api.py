"""/api/v1/ routes of the Customer 360 area (added to revops/api_urls.py before the routers):

- GET  /api/v1/customers/<id>/360/       the customer's 360, cut to the caller's role
                                         (analytics.services.customer360.visibility_for);
- GET  /api/v1/customers/<id>/timeline/  the shared timeline, newest first, paginated (?page=&page_size=);
- POST /api/v1/customers/<id>/timeline/  {"body"} adds a comment; @username mentions notify colleagues.

Staff roles only (portal users and users without a role: 403). Amounts are strings beside their currency;
an unknown customer is a 404 on GET and a 400 (field `customer`) on POST, like every bad comment input.
"""
from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from customers.selectors import customers_visible_to
from revops.kernel.errors import ValidationFailed
from revops.kernel.permissions import IsAuthenticatedStaff

from .services import customer360, timeline

DEFAULT_PAGE_SIZE = 50


def _json(value):
    """Decimals as strings (API.md), dates and instants ISO 8601, dataclasses as objects."""
    if is_dataclass(value) and not isinstance(value, type):
        return _json(asdict(value))
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _item(item: timeline.TimelineItem) -> dict:
    return {"kind": item.kind, "at": item.at.isoformat(), "title": item.title, "detail": item.detail,
            "link": item.link, "actor": ({"id": item.actor_id, "name": item.actor} if item.actor_id else None),
            "source": item.source, "source_id": item.source_id,
            "amount": str(item.amount) if item.amount is not None else None, "currency": item.currency or None,
            "mentions": item.mentions}


def _customer(request, pk: int) -> Customer:
    customer = customers_visible_to(user=request.user).select_related("owner").filter(pk=pk).first()
    if customer is None:
        raise NotFound(f"no customer with id {pk}")
    return customer


def _positive_int(request, name: str, default: int, maximum: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a whole number", fields={name: ["not a whole number"]}) from None
    if value < 1:
        raise ValidationFailed(f"{name} must be at least 1", fields={name: ["must be at least 1"]})
    return min(value, maximum) if maximum else value


class TimelineActorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class TimelineItemSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="e.g. quote.sent, contract.amended, invoice.overdue, payment.received, "
                                           "credit_note.issued, alert.fired, alert.cleared, comment")
    at = serializers.DateTimeField()
    title = serializers.CharField()
    detail = serializers.CharField(help_text="The event's detail; a comment's text.")
    link = serializers.CharField(help_text="The page of the record (a comment: its anchor on the customer page).")
    actor = TimelineActorSerializer(allow_null=True)
    source = serializers.ChoiceField(choices=timeline.SOURCES)
    source_id = serializers.IntegerField(help_text="The id of the event, payment, credit note, alert or comment.")
    amount = serializers.CharField(allow_null=True, help_text="Payments and credit notes: the amount.")
    currency = serializers.CharField(allow_null=True)
    mentions = serializers.ListField(child=serializers.CharField(), help_text="Comments: mentioned usernames.")


class TimelinePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = TimelineItemSerializer(many=True)


class CommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(help_text=f"At most {timeline.COMMENT_MAX_LENGTH} characters; @username mentions "
                                           "an active staff colleague (an in-app notification).")


class Customer360View(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(
        operation_id="customer_360",
        parameters=[OpenApiParameter("as_of", OpenApiTypes.DATE, description="The day (default today)."),
                    OpenApiParameter("timeline_limit", OpenApiTypes.INT,
                                     description="Timeline items included (default 20, at most 200).")],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description=(
            "customer (segment, owner), visibility, mrr, health, recommendations, upsell_flags, quotes, contracts, "
            "renewals, invoices, usage, alerts, timeline (the newest items, has_more, and `more`: the next page of "
            "the timeline endpoint); profitability for finance, sales managers and admins; "
            "payments, ar_aging and revenue for finance, customer success, sales managers and admins. "
            "Sections a role may not see are absent.")),
                   403: OpenApiResponse(description="Not a staff role (portal users included)."),
                   404: OpenApiResponse(description="No such customer.")},
    )
    def get(self, request, pk: int):
        customer = _customer(request, pk)
        raw = request.query_params.get("as_of")
        try:
            day = date.fromisoformat(raw) if raw else None
        except ValueError:
            raise ValidationFailed("as_of must be a date, YYYY-MM-DD", fields={"as_of": ["not a date"]}) from None
        limit = _positive_int(request, "timeline_limit", 20, timeline.MAX_LIMIT)
        data = customer360.customer_360(customer=customer, user=request.user, day=day, timeline_limit=limit)
        page = data.pop("timeline")
        body = _json(data)
        body["timeline"] = {"has_more": page.has_more, "more": request.build_absolute_uri(
            f"/api/v1/customers/{customer.pk}/timeline/?page=2&page_size={limit}") if page.has_more else None,
            "results": [_item(i) for i in page.items]}
        return Response(body)


class CustomerTimelineView(APIView):
    permission_classes = [IsAuthenticatedStaff]

    @extend_schema(
        operation_id="customer_timeline_list",
        parameters=[OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter(
            "page_size", OpenApiTypes.INT, description=f"Default {DEFAULT_PAGE_SIZE}, at most {timeline.MAX_LIMIT}.")],
        responses={200: TimelinePageSerializer, 403: OpenApiResponse(description="Not a staff role."),
                   404: OpenApiResponse(description="No such customer.")},
    )
    def get(self, request, pk: int):
        customer = _customer(request, pk)
        number = _positive_int(request, "page", 1)
        size = _positive_int(request, "page_size", DEFAULT_PAGE_SIZE, timeline.MAX_LIMIT)
        seen = customer360.visibility_for(request.user)
        page = timeline.customer_timeline(customer_id=customer.pk, limit=size, offset=(number - 1) * size,
                                          **seen.timeline_filter)

        def link(n: int) -> str:
            return request.build_absolute_uri(f"{request.path}?page={n}&page_size={size}")

        return Response({"count": page.count, "next": link(number + 1) if page.has_more else None,
                         "previous": link(number - 1) if number > 1 else None,
                         "results": [_item(i) for i in page.items]})

    @extend_schema(
        operation_id="customer_timeline_comment",
        request=CommentInputSerializer,
        responses={201: TimelineItemSerializer,
                   400: OpenApiResponse(description="Empty or too long body, or no such customer."),
                   403: OpenApiResponse(description="Not a staff role, or no customers.add_customercomment.")},
    )
    def post(self, request, pk: int):
        if not request.user.has_perm("customers.add_customercomment"):
            raise PermissionDenied("Your role does not allow comments (customers.add_customercomment).")
        body = request.data.get("body") if hasattr(request.data, "get") else None
        if body is not None and not isinstance(body, str):
            raise ValidationFailed("body must be text", fields={"body": ["must be a string"]})
        comment = timeline.customer_comment_add(customer_id=pk, author=request.user, body=body or "")
        mentions = sorted(u.username for u in comment.mentions.all())
        author = request.user
        item = timeline.TimelineItem(
            kind="comment", at=comment.created_at, title=timeline.TITLES["comment"], detail=comment.body,
            link=timeline._link("comment", comment.pk, comment.customer_id, comment.pk),
            actor=author.get_full_name() or author.get_username(), actor_id=author.pk, source="comment",
            source_id=comment.pk, mentions=mentions)
        return Response(_item(item), status=status.HTTP_201_CREATED)


def urlpatterns() -> list:
    return [
        path("customers/<int:pk>/360/", Customer360View.as_view(), name="customer-360"),
        path("customers/<int:pk>/timeline/", CustomerTimelineView.as_view(), name="customer-timeline"),
    ]
