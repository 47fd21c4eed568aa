"""/api/v1/customers/ and /api/v1/contacts/: thin views over customers.services and customers.selectors.

Writes go through the services (one event per change, same transaction); uniqueness and format rules
live there too, so the API, the pages and the admin refuse the same input with the same message.
Customers and contacts are not deleted through the API (invoices and contracts refer to them): a DELETE
is 403 for roles without the delete permission and 405 for the others.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Q
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response

from revops.kernel.api.fields import CurrencyField
from revops.kernel.roles import STAFF_ROLES

from . import selectors, services
from .filters import ContactFilter, CustomerFilter
from .models import Contact, Customer


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` with `id` appended as a tie-breaker, so pages never repeat or skip a row."""

    def get_ordering(self, request, queryset, view):
        ordering = super().get_ordering(request, queryset, view)
        if ordering and not any(field.lstrip("-") in ("id", "pk") for field in ordering):
            ordering = [*ordering, "id"]
        return ordering


def _staff_users():
    roles = Q(groups__name__in=STAFF_ROLES) | Q(is_superuser=True)
    return get_user_model().objects.filter(roles, is_active=True).distinct()


class CustomerSerializer(serializers.ModelSerializer):
    currency = CurrencyField(help_text="ISO 4217 code, e.g. USD, EUR, JPY.")
    owner = serializers.PrimaryKeyRelatedField(
        queryset=_staff_users(), allow_null=True, required=False, help_text="Account owner (a staff user id)."
    )

    class Meta:
        model = Customer
        fields = [
            "id",
            "name",
            "external_id",
            "currency",
            "billing_email",
            "country",
            "tax_exempt",
            "industry",
            "size",
            "region",
            "acquisition_channel",
            "created_at",
            "owner",
            "tax_id",
            "address",
        ]
        read_only_fields = ["id", "created_at"]
        # external_id uniqueness is checked by the service (with the race covered by the constraint).
        extra_kwargs = {"external_id": {"validators": []}}


class ContactSerializer(serializers.ModelSerializer):
    portal_access = serializers.SerializerMethodField(
        help_text="Whether the contact can sign in to the portal."
    )

    class Meta:
        model = Contact
        fields = ["id", "customer", "name", "email", "phone", "title", "role", "portal_access"]
        read_only_fields = ["id", "portal_access"]
        validators: list = []  # one email per customer: checked by the service, case-insensitively

    def get_portal_access(self, contact: Contact) -> bool:
        return contact.portal_user_id is not None


@extend_schema_view(
    list=extend_schema(
        summary="List customers",
        description="Filter by segment, `?q=` searches name, "
        "external id and billing email; `?created_from=`/`?created_to=` bound the creation date.",
    ),
    retrieve=extend_schema(summary="Get a customer"),
    create=extend_schema(summary="Create a customer", description="Records `customer.created`."),
    update=extend_schema(summary="Replace a customer's fields", description="Records `customer.updated`."),
    partial_update=extend_schema(
        summary="Change some of a customer's fields",
        description="Records `customer.updated` with the changed field names.",
    ),
)
class CustomerViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Customer.objects.all()  # for the permission check and the schema; rows via get_queryset
    serializer_class = CustomerSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = CustomerFilter
    ordering_fields = ["name", "created_at", "external_id", "id"]
    ordering = ["name", "id"]

    def get_queryset(self):
        return selectors.customers_visible_to(user=self.request.user).order_by("name", "id")

    def perform_create(self, serializer):
        serializer.instance = services.customer_create(by=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = services.customer_update(
            customer_id=serializer.instance.pk, by=self.request.user, **serializer.validated_data
        )


@extend_schema_view(
    list=extend_schema(summary="List contacts", description="`?customer=` lists one customer's contacts."),
    retrieve=extend_schema(summary="Get a contact"),
    create=extend_schema(summary="Add a contact to a customer", description="Records `contact.created`."),
)
class ContactViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    queryset = Contact.objects.all()
    serializer_class = ContactSerializer
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["name", "email", "id"]
    ordering = ["customer_id", "name", "id"]
    action_permissions = {"grant_portal_access": ["customers.change_contact"]}

    def get_queryset(self):
        return selectors.contacts_visible_to(user=self.request.user).order_by("customer_id", "name", "id")

    def perform_create(self, serializer):
        serializer.instance = services.contact_create(by=self.request.user, **serializer.validated_data)

    @extend_schema(
        summary="Let a contact sign in to the customer portal",
        description="Creates the contact's portal login (username = email, no staff role; the password is "
        "set through the reset flow) and records `contact.portal_access_granted`. Granting "
        "again changes nothing. Returns the updated contact.",
        request=None,
        responses=ContactSerializer,
    )
    @action(detail=True, methods=["post"], url_path="grant-portal-access")
    def grant_portal_access(self, request, pk=None):
        contact = self.get_object()
        services.portal_access_grant(contact=contact)
        contact.refresh_from_db()
        return Response(ContactSerializer(contact, context=self.get_serializer_context()).data)


def register(router) -> None:
    router.register("customers", CustomerViewSet, basename="customer")
    router.register("contacts", ContactViewSet, basename="contact")
