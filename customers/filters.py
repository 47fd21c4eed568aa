"""Filters shared by the customer API and pages (django-filter)."""
import django_filters
from django.db.models import Q

from .models import Contact, Customer


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte")

    class Meta:
        model = Customer
        fields = ["currency", "country", "industry", "size", "region", "acquisition_channel", "tax_exempt",
                  "owner", "external_id"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(external_id__icontains=value)
                               | Q(billing_email__icontains=value))


class ContactFilter(django_filters.FilterSet):
    class Meta:
        model = Contact
        fields = ["customer", "role", "email"]
