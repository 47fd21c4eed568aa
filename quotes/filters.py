"""Filters for the quotes API (django-filter), and ordering with a stable tie-breaker."""
from __future__ import annotations

import django_filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import OrderingFilter

from .models import ApprovalRule, Quote


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """A record id (integer in the schema)."""


class QuoteFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Quote.Status.choices, help_text="One status, or several: `?status=draft&status=sent`.")
    owner = django_filters.CharFilter(method="filter_owner", help_text="Owner's user id, or `me`.")
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact",
                                       help_text="The quote number shared by all versions, e.g. Q-2026-000042.")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte",
                                             help_text="Created on or after this date.")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte",
                                           help_text="Created on or before this date.")
    valid_until_from = django_filters.DateFilter(field_name="valid_until", lookup_expr="gte",
                                                 help_text="Valid until this date or later.")
    valid_until_to = django_filters.DateFilter(field_name="valid_until", lookup_expr="lte",
                                               help_text="Valid until this date or earlier.")
    q = django_filters.CharFilter(method="search", help_text="Search the number and the customer's name.")

    class Meta:
        model = Quote
        fields = ["status", "owner", "customer", "number", "currency", "price_book", "billing_frequency",
                  "version"]

    def filter_owner(self, queryset, name, value):
        if value == "me":
            return queryset.filter(owner_id=getattr(self.request.user, "pk", None))
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(owner_id=int(value))

    def search(self, queryset, name, value):
        return queryset.filter(Q(number__icontains=value) | Q(customer__name__icontains=value))


class ApprovalRuleFilter(django_filters.FilterSet):
    approver_group = django_filters.CharFilter(field_name="approver_group__name", help_text="Group name.")

    class Meta:
        model = ApprovalRule
        fields = ["condition", "product", "approver_group", "active"]


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with `id` appended as a tie-breaker, so pages never repeat or skip a row."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering = [*ordering, "-id" if ordering[0].startswith("-") else "id"]
        return ordering
