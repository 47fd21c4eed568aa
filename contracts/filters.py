"""Filters for the contracts API (django-filter)."""
from __future__ import annotations

import django_filters
from django.db.models import Q

from quotes.filters import IdFilter

from .models import Contract, RenewalAlert


class ContractFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Contract.Status.choices, help_text="One status, or several: `?status=active&status=renewed`.")
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    owner = django_filters.CharFilter(method="filter_owner", help_text="Owner's user id, or `me`.")
    quote = IdFilter(field_name="quote_id", help_text="The quote the contract came from.")
    renewed_from = IdFilter(field_name="renewed_from_id", help_text="The contract this one renews.")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact", help_text="e.g. C-2027-000012.")
    start_date_from = django_filters.DateFilter(field_name="start_date", lookup_expr="gte",
                                                help_text="Starts on or after this date.")
    start_date_to = django_filters.DateFilter(field_name="start_date", lookup_expr="lte",
                                              help_text="Starts on or before this date.")
    end_date_from = django_filters.DateFilter(field_name="end_date", lookup_expr="gte",
                                              help_text="Ends on or after this date.")
    end_date_to = django_filters.DateFilter(field_name="end_date", lookup_expr="lte",
                                            help_text="Ends on or before this date.")
    q = django_filters.CharFilter(method="search", help_text="Search the number and the customer's name.")

    class Meta:
        model = Contract
        fields = ["status", "customer", "owner", "quote", "renewed_from", "number", "currency", "billing_frequency",
                  "auto_renew"]

    def filter_owner(self, queryset, name, value):
        if value == "me":
            return queryset.filter(owner_id=getattr(self.request.user, "pk", None))
        if not value.isdigit():
            return queryset.none()
        return queryset.filter(owner_id=int(value))

    def search(self, queryset, name, value):
        return queryset.filter(Q(number__icontains=value) | Q(customer__name__icontains=value))


class RenewalAlertFilter(django_filters.FilterSet):
    contract = IdFilter(field_name="contract_id", help_text="Contract id.")
    customer = IdFilter(field_name="contract__customer_id", help_text="Customer id.")
    owner = IdFilter(field_name="contract__owner_id", help_text="The contract owner's user id.")
    due_from = django_filters.DateFilter(field_name="due_date", lookup_expr="gte", help_text="Due on or after.")
    due_to = django_filters.DateFilter(field_name="due_date", lookup_expr="lte", help_text="Due on or before.")
    sent_from = django_filters.DateFilter(field_name="sent_at", lookup_expr="date__gte",
                                          help_text="Sent on or after this date.")
    sent_to = django_filters.DateFilter(field_name="sent_at", lookup_expr="date__lte",
                                        help_text="Sent on or before this date.")

    class Meta:
        model = RenewalAlert
        fields = ["contract", "customer", "owner", "offset_days"]
