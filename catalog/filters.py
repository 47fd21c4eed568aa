"""Filters shared by the catalog API and pages (django-filter)."""
import django_filters
from django.db.models import Q

from .models import Price, Product


class ProductFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")

    class Meta:
        model = Product
        fields = ["kind", "recognition", "family", "active", "meter", "sku"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(sku__icontains=value) | Q(description__icontains=value))


class PriceFilter(django_filters.FilterSet):
    class Meta:
        model = Price
        fields = ["product", "price_book", "model", "billing_period", "currency", "active"]
