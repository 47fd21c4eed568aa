"""Catalog REST API (API.md "Catalog"): products, meters, bundles, product rules, price books, prices
with tiers and the price calculator, discount schedules.

Serializers check the shape of the input only; every write goes through `catalog.services`, which
holds the business rules, and reads come from `catalog.selectors` (tiers and options prefetched).
"""
from __future__ import annotations

from decimal import Decimal

import django_filters
from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from revops.kernel import money, roles
from revops.kernel.api.fields import (
    CurrencyField,
    DecimalStringField,
    MoneyField,
    UnitPriceField,
    format_unit_price,
)

from . import pricing, selectors, services
from .filters import PriceFilter, ProductFilter
from .models import (
    Bundle,
    DiscountSchedule,
    Meter,
    Price,
    PriceBook,
    Product,
    ProductRule,
)

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


# --- serializers ----------------------------------------------------------------------------------

class MeterSerializer(serializers.ModelSerializer):
    class Meta:
        model = Meter
        fields = ["id", "code", "name", "aggregation", "field", "unit"]
        extra_kwargs = {"code": {"validators": []}}  # uniqueness is the service's rule


class ProductSerializer(serializers.ModelSerializer):
    recognition = serializers.ChoiceField(
        choices=Product.Recognition.choices, required=False,
        help_text="Defaults from the kind: recurring ratable, one_time point_in_time, usage usage.")
    currency = CurrencyField(required=False, help_text="Currency of the SSP and unit cost (default USD).")
    ssp = UnitPriceField(required=False, allow_null=True,
                         help_text="Standalone selling price per unit (per month for recurring products).")
    unit_cost = UnitPriceField(required=False)
    meter = serializers.SlugRelatedField(
        slug_field="code", queryset=Meter.objects.all(), required=False, allow_null=True,
        help_text="Meter code; required for usage products.")

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "description", "family", "kind", "recognition", "currency", "ssp",
                  "unit_cost", "meter", "active", "ssp_residual", "distinct"]
        extra_kwargs = {"sku": {"validators": []}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and not roles.can_see_costs(request.user):
            data.pop("unit_cost", None)  # costs are for roles.COST_ROLES only
        return data


class PriceBookSerializer(serializers.ModelSerializer):
    currency = CurrencyField()

    class Meta:
        model = PriceBook
        fields = ["id", "name", "currency", "is_default", "active"]
        extra_kwargs = {"name": {"validators": []}}
        validators: list = []  # one default per currency: the service hands the default over


class PriceTierSerializer(serializers.Serializer):
    up_to = serializers.IntegerField(allow_null=True, max_value=BIGINT_MAX,
                                     help_text="Last unit of the tier; null for the open-ended last tier.")
    unit_amount = UnitPriceField(currency_source="price.currency", required=False)
    flat_amount = MoneyField(currency_source="price.currency", required=False)


class PriceSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    price_book = serializers.PrimaryKeyRelatedField(queryset=PriceBook.objects.all())
    currency = CurrencyField(required=False, help_text="Always the price book's currency (the default).")
    unit_amount = UnitPriceField(required=False, allow_null=True)
    flat_amount = MoneyField(required=False, allow_null=True)
    package_size = serializers.IntegerField(required=False, allow_null=True, max_value=INT_MAX)
    percentage = DecimalStringField(places=4, required=False, allow_null=True)
    tiers = PriceTierSerializer(many=True, required=False,
                                help_text="Graduated and volume prices: ascending, the last one open-ended.")

    class Meta:
        model = Price
        fields = ["id", "product", "price_book", "model", "unit_amount", "flat_amount", "package_size",
                  "percentage", "tiers", "billing_period", "currency", "active"]
        validators: list = []  # one price per product/book/period: checked by the service


class CalculateRequestSerializer(serializers.Serializer):
    quantity = DecimalStringField(places=6)
    base_amount = DecimalStringField(places=6, required=False, allow_null=True,
                                     help_text="Percentage prices: the amount the percentage applies to.")


class BreakdownRowSerializer(serializers.Serializer):
    tier = serializers.IntegerField(allow_null=True, help_text="1-based tier number; null for untiered models.")
    quantity = serializers.CharField()
    unit_amount = serializers.CharField()
    flat_amount = serializers.CharField()
    amount = serializers.CharField()


class CalculationSerializer(serializers.Serializer):
    amount = serializers.CharField()
    currency = serializers.CharField()
    breakdown = BreakdownRowSerializer(many=True)


class BundleOptionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all())
    required = serializers.BooleanField(required=False)
    default_quantity = DecimalStringField(places=6, required=False)
    min_quantity = DecimalStringField(places=6, required=False)
    max_quantity = DecimalStringField(places=6, required=False, allow_null=True)
    position = serializers.IntegerField(required=False, min_value=0, max_value=32767)


class BundleSerializer(serializers.ModelSerializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(),
                                                 help_text="The parent product sold as the bundle.")
    product_sku = serializers.CharField(source="product.sku", read_only=True)
    options = BundleOptionSerializer(many=True, required=False)

    class Meta:
        model = Bundle
        fields = ["id", "product", "product_sku", "description", "options"]


class ProductRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductRule
        fields = ["id", "kind", "product", "other_product", "message"]
        validators: list = []


class DiscountTierSerializer(serializers.Serializer):
    discount_percent = DecimalStringField(places=4)

    def get_fields(self):
        # "from" is a Python keyword, so the field cannot be declared as a class attribute.
        return {"from": DecimalStringField(places=6, source="from_value",
                                           help_text="Quantity (volume) or months (term) from which it applies."),
                **super().get_fields()}


class DiscountScheduleSerializer(serializers.ModelSerializer):
    tiers = DiscountTierSerializer(many=True, required=False)

    class Meta:
        model = DiscountSchedule
        fields = ["id", "name", "kind", "product", "active", "tiers"]


# --- filters --------------------------------------------------------------------------------------

class ProductApiFilter(ProductFilter):
    meter = django_filters.CharFilter(method="filter_meter", label="Meter code (or id)")

    def filter_meter(self, queryset, name, value):
        match = Q(meter__code=value)
        if value.isdigit():
            match |= Q(meter_id=int(value))
        return queryset.filter(match)


class BundleFilter(django_filters.FilterSet):
    class Meta:
        model = Bundle
        fields = ["product"]


class ProductRuleFilter(django_filters.FilterSet):
    class Meta:
        model = ProductRule
        fields = ["kind", "product", "other_product"]


class PriceBookFilter(django_filters.FilterSet):
    class Meta:
        model = PriceBook
        fields = ["currency", "is_default", "active"]


class MeterFilter(django_filters.FilterSet):
    class Meta:
        model = Meter
        fields = ["aggregation", "code"]


class DiscountScheduleFilter(django_filters.FilterSet):
    class Meta:
        model = DiscountSchedule
        fields = ["kind", "product", "active"]


# --- views ----------------------------------------------------------------------------------------

class ServiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """List/retrieve from a selector; POST and PATCH validate the shape with the serializer, then call
    the service, then answer with the saved object read back through the selector. No PUT: PATCH."""

    def service_create(self, data: dict):
        raise NotImplementedError

    def service_update(self, instance, data: dict):
        raise NotImplementedError

    def _read_back(self, obj) -> dict:
        return self.get_serializer(self.get_queryset().get(pk=obj.pk)).data

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = self.service_create(dict(serializer.validated_data))
        return Response(self._read_back(obj), status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        obj = self.service_update(instance, dict(serializer.validated_data))
        return Response(self._read_back(obj))


class MeterViewSet(ServiceViewSet):
    """Meters: how usage events of one kind add up (count, sum, max, unique_count, latest)."""

    serializer_class = MeterSerializer
    filterset_class = MeterFilter
    ordering_fields = ["id", "code", "name", "aggregation"]
    search_fields = ["code", "name"]

    def get_queryset(self):
        return selectors.meter_list()

    def service_create(self, data):
        return services.meter_create(**data)

    def service_update(self, instance, data):
        return services.meter_update(meter_id=instance.pk, **data)


class ProductViewSet(ServiceViewSet):
    """Products. `?q=` or `?search=` match SKU and name; `?meter=` takes a meter code."""

    serializer_class = ProductSerializer
    filterset_class = ProductApiFilter
    ordering_fields = ["id", "sku", "name", "kind", "family", "ssp"]
    search_fields = ["sku", "name"]

    def get_queryset(self):
        return selectors.product_list()

    def service_create(self, data):
        return services.product_create(**data)

    def service_update(self, instance, data):
        return services.product_update(product_id=instance.pk, **data)


class PriceBookViewSet(ServiceViewSet):
    """Price books, one currency each; one default book per currency (a new default replaces the old)."""

    serializer_class = PriceBookSerializer
    filterset_class = PriceBookFilter
    ordering_fields = ["id", "name", "currency"]
    search_fields = ["name"]

    def get_queryset(self):
        return selectors.price_book_list()

    def service_create(self, data):
        return services.price_book_create(**data)

    def service_update(self, instance, data):
        return services.price_book_update(price_book_id=instance.pk, **data)


class PriceViewSet(ServiceViewSet):
    """Prices with their tiers. Any staff role may `calculate`; writing needs the price permissions."""

    serializer_class = PriceSerializer
    filterset_class = PriceFilter
    ordering_fields = ["id", "product", "price_book", "model", "billing_period", "unit_amount", "flat_amount"]
    search_fields = ["product__sku", "product__name"]
    action_permissions = {"calculate": ["catalog.view_price"]}

    def get_queryset(self):
        return selectors.price_list()

    def service_create(self, data):
        return services.price_create(**data)

    def service_update(self, instance, data):
        return services.price_update(price_id=instance.pk, **data)

    @extend_schema(request=CalculateRequestSerializer, responses=CalculationSerializer,
                   summary="Price a quantity: the amount and its per-tier breakdown")
    @action(detail=True, methods=["post"])
    def calculate(self, request, pk=None):
        price = self.get_object()
        serializer = CalculateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = pricing.calculate(price, serializer.validated_data["quantity"],
                                   base_amount=serializer.validated_data.get("base_amount"))
        return Response(calculation_data(result))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


def calculation_data(result: pricing.PriceResult) -> dict:
    """A PriceResult as API.md writes it: money as strings in the currency's places."""
    currency = result.currency
    return {
        "amount": str(result.amount),
        "currency": currency,
        "breakdown": [
            {
                "tier": row.tier,
                "quantity": _plain(row.quantity),
                "unit_amount": format_unit_price(row.unit_amount, currency),
                "flat_amount": str(money.quantize(row.flat_amount or 0, currency)),
                "amount": str(row.amount),
            }
            for row in result.breakdown
        ],
    }


class BundleViewSet(ServiceViewSet):
    """Bundles: a parent product and its options. PATCH with `options` replaces the list (matched by product)."""

    serializer_class = BundleSerializer
    filterset_class = BundleFilter
    ordering_fields = ["id", "product"]
    search_fields = ["product__sku", "product__name"]

    def get_queryset(self):
        return selectors.bundle_list()

    def service_create(self, data):
        return services.bundle_create(**data)

    def service_update(self, instance, data):
        return services.bundle_update(bundle_id=instance.pk, **data)


class ProductRuleViewSet(mixins.DestroyModelMixin, ServiceViewSet):
    """`requires` / `excludes` rules between products, checked when quotes are built."""

    serializer_class = ProductRuleSerializer
    filterset_class = ProductRuleFilter
    ordering_fields = ["id", "kind", "product"]
    search_fields = ["message"]

    def get_queryset(self):
        return selectors.product_rule_list()

    def service_create(self, data):
        return services.product_rule_create(**data)

    def service_update(self, instance, data):
        return services.product_rule_update(rule_id=instance.pk, **data)

    def perform_destroy(self, instance):
        services.product_rule_delete(rule_id=instance.pk)


class DiscountScheduleViewSet(ServiceViewSet):
    """Automatic discounts by quantity (`volume`) or contract months (`term`): tiers `{"from", "discount_percent"}`."""

    serializer_class = DiscountScheduleSerializer
    filterset_class = DiscountScheduleFilter
    ordering_fields = ["id", "name", "kind"]
    search_fields = ["name"]

    def get_queryset(self):
        return selectors.discount_schedule_list()

    def service_create(self, data):
        data.setdefault("tiers", [])
        return services.discount_schedule_create(**data)

    def service_update(self, instance, data):
        return services.discount_schedule_update(schedule_id=instance.pk, **data)


def register(router) -> None:
    router.register("meters", MeterViewSet, basename="meter")
    router.register("products", ProductViewSet, basename="product")
    router.register("price-books", PriceBookViewSet, basename="price-book")
    router.register("prices", PriceViewSet, basename="price")
    router.register("bundles", BundleViewSet, basename="bundle")
    router.register("product-rules", ProductRuleViewSet, basename="product-rule")
    router.register("discount-schedules", DiscountScheduleViewSet, basename="discount-schedule")
