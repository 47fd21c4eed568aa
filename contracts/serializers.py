"""Serializers of the contracts API (API.md "Contracts").

Read serializers say what the API answers: money as strings in the contract currency's minor units,
unit prices with up to 6 places, quantities and percentages as plain decimal strings. Write serializers
check the *shape* of the input only (types, required keys, column limits); the rules — an amendment's
date lies within the contract, a renewal term is at least a month, a quantity is not negative — belong
to `contracts.services`, so the API, the pages and the admin refuse the same input with the same
message and the same field path (`changes[0].quantity`, `effective_date`, `lines[1].unit_price`).
"""
from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework import serializers

from catalog.models import Product
from customers.models import Customer
from quotes.models import Quote
from revops.kernel.api.fields import CurrencyField, DecimalStringField, MoneyField, UnitPriceField
from revops.kernel.roles import STAFF_ROLES

from .models import Amendment, Contract, ContractEvent, ContractLine, ProrationCharge, RenewalAlert

BIGINT_MAX = 2**63 - 1
SMALLINT_MAX = 32767
QUANTITY_LIMIT = Decimal(10) ** 14  # QuantityField: 20 digits, 6 of them places
UNIT_PRICE_LIMIT = Decimal(10) ** 14  # UnitPriceField: 20 digits, 6 of them places
UPLIFT_LIMIT = Decimal(1000)  # renewal_uplift_percent: 7 digits, 4 of them places
MAX_LINES_PER_REQUEST = 200
MAX_CHANGES_PER_REQUEST = 100


def staff_users():
    roles = Q(groups__name__in=STAFF_ROLES) | Q(is_superuser=True)
    return get_user_model().objects.filter(roles, is_active=True).distinct()


def _name(user) -> str | None:
    return (user.get_full_name() or user.get_username()) if user is not None else None


# --- read --------------------------------------------------------------------------------------------

class ContractLineSerializer(serializers.ModelSerializer):
    product_sku = serializers.CharField(source="product.sku", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    quantity = DecimalStringField(places=6, read_only=True)
    unit_price = UnitPriceField(currency_source="contract.currency", read_only=True,
                                help_text="Net price per unit per `period`.")
    amount = MoneyField(currency_source="contract.currency", read_only=True,
                        help_text="Net amount per `period` for the quantity.")
    item = serializers.IntegerField(read_only=True, help_text="Versions of the same line share this number.")
    version = serializers.IntegerField(read_only=True, help_text="1 for the original line, +1 per amendment.")

    class Meta:
        model = ContractLine
        fields = ["id", "item", "version", "product", "product_sku", "product_name", "quantity", "unit_price",
                  "amount", "period", "billing_frequency", "start_date", "end_date", "amendment"]
        read_only_fields = fields


class ContractSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    renewal_uplift_percent = DecimalStringField(places=4, allow_negative=True, read_only=True,
                                                help_text="Price uplift applied on renewal, in percent.")
    renewal_alert_offsets = serializers.ListField(child=serializers.IntegerField(), read_only=True,
                                                  help_text="Days before the end date at which alerts go out.")
    renewed_by = serializers.SerializerMethodField(help_text="The contract that renews this one, if any.")
    tcv = MoneyField(read_only=True, help_text="Total contract value over every line version's dates.")
    arr = MoneyField(read_only=True, help_text="Annual recurring revenue of the lines active today (or at the "
                                               "start / end when outside the term).")
    mrr = MoneyField(read_only=True)
    lines = ContractLineSerializer(many=True, read_only=True,
                                   help_text="Every line version (or, with `?as_of=`, those active that day).")

    class Meta:
        model = Contract
        fields = ["id", "number", "customer", "customer_name", "quote", "owner", "currency", "status",
                  "start_date", "end_date", "billing_frequency", "payment_terms", "auto_renew",
                  "renewal_term_months", "renewal_uplift_percent", "renewal_notice_days", "renewal_alert_offsets",
                  "renewed_from", "renewed_by", "renewal_quote", "terminated_on", "termination_reason", "lines",
                  "tcv", "arr", "mrr", "created_at", "activated_at"]
        read_only_fields = fields

    def get_renewed_by(self, contract: Contract) -> int | None:
        renewal = getattr(contract, "renewed_by", None)  # select_related: no query
        return renewal.pk if renewal is not None else None


class ProrationChargeSerializer(serializers.ModelSerializer):
    amount = MoneyField(read_only=True, help_text="Positive: charged; negative: credited.")

    class Meta:
        model = ProrationCharge
        fields = ["id", "line", "description", "period_start", "period_end", "remaining_days", "period_days",
                  "amount", "currency", "billed"]
        read_only_fields = fields


class AmendmentSerializer(serializers.ModelSerializer):
    proration_total = MoneyField(currency_source="contract.currency", read_only=True)
    currency = serializers.CharField(source="contract.currency", read_only=True)
    changes = serializers.JSONField(read_only=True, help_text="The changes as they were asked for.")
    charges = ProrationChargeSerializer(many=True, read_only=True)
    created_by_name = serializers.SerializerMethodField()

    class Meta:
        model = Amendment
        fields = ["id", "number", "kind", "effective_date", "reason", "changes", "charges", "proration_total",
                  "currency", "source_quote", "created_by", "created_by_name", "created_at"]
        read_only_fields = fields

    def get_created_by_name(self, amendment: Amendment) -> str | None:
        return _name(amendment.created_by)


class ContractEventSerializer(serializers.ModelSerializer):
    actor_name = serializers.SerializerMethodField()

    class Meta:
        model = ContractEvent
        fields = ["id", "at", "kind", "detail", "actor", "actor_name"]
        read_only_fields = fields

    def get_actor_name(self, event: ContractEvent) -> str | None:
        return _name(event.actor)


class RenewalAlertSerializer(serializers.ModelSerializer):
    contract_number = serializers.CharField(source="contract.number", read_only=True)
    customer = serializers.IntegerField(source="contract.customer_id", read_only=True)
    customer_name = serializers.CharField(source="contract.customer.name", read_only=True)
    end_date = serializers.DateField(source="contract.end_date", read_only=True,
                                     help_text="The contract's (current) end date.")
    currency = serializers.CharField(source="contract.currency", read_only=True)
    arr_at_risk = MoneyField(currency_source="contract.currency", read_only=True,
                             help_text="The contract's ARR when the alert went out.")

    class Meta:
        model = RenewalAlert
        fields = ["id", "contract", "contract_number", "customer", "customer_name", "offset_days", "due_date",
                  "end_date", "sent_at", "arr_at_risk", "currency"]
        read_only_fields = fields


# --- amendment preview (a plan, not stored) ------------------------------------------------------------

class PlannedVersionSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    version = serializers.IntegerField()
    product = serializers.IntegerField()
    product_name = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField()
    amount = serializers.CharField(help_text="Per `period`.")
    period = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField()
    replaces = serializers.IntegerField(allow_null=True, help_text="The line version it follows, if any.")


class ClosedVersionSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The line version that ends.")
    item = serializers.IntegerField()
    version = serializers.IntegerField()
    product = serializers.IntegerField()
    product_name = serializers.CharField()
    quantity = serializers.CharField()
    unit_price = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(help_text="Its new end date: the day before the effective date.")
    removed = serializers.BooleanField(help_text="True when no new version follows (quantity 0).")


class PlannedChargeSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    product = serializers.IntegerField()
    description = serializers.CharField()
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    remaining_days = serializers.IntegerField()
    period_days = serializers.IntegerField()
    amount = serializers.CharField(help_text="Positive: charged; negative: credited.")


class AmendmentPlanSerializer(serializers.Serializer):
    """Schema of the amendment preview (the view builds the body from an `AmendmentPlan`)."""

    preview = serializers.BooleanField(help_text="Always true: nothing was written.")
    contract = serializers.IntegerField()
    effective_date = serializers.DateField()
    currency = serializers.CharField()
    versions = PlannedVersionSerializer(many=True, help_text="New line versions from the effective date.")
    closes = ClosedVersionSerializer(many=True, help_text="Line versions that would end the day before.")
    charges = PlannedChargeSerializer(many=True, help_text="Prorated charges and credits for the next invoice.")
    total = serializers.CharField(help_text="Sum of the charges.")


class RenewalQuoteSerializer(serializers.Serializer):
    quote = serializers.IntegerField(help_text="The draft renewal quote (see /api/v1/quotes/{id}/).")


# --- write -------------------------------------------------------------------------------------------

class _Limited(DecimalStringField):
    def __init__(self, *, limit: Decimal, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        value = super().to_internal_value(data)
        if abs(value) >= self.limit:
            raise serializers.ValidationError(f"must be less than {self.limit:f}")
        return value


class ContractLineInputSerializer(serializers.Serializer):
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(), help_text="Product id.")
    quantity = _Limited(places=6, limit=QUANTITY_LIMIT, allow_negative=True)
    unit_price = _Limited(places=6, limit=UNIT_PRICE_LIMIT, allow_negative=True,
                          help_text="Net price per unit per `period` (up to 6 places).")
    period = serializers.CharField(required=False, allow_blank=True, max_length=8,
                                   help_text="month, quarter, year, one_time or usage. Default: one_time and usage "
                                             "products by their kind, others from their price (else month).")


class RenewalTermsMixin(serializers.Serializer):
    auto_renew = serializers.BooleanField(required=False)
    renewal_term_months = serializers.IntegerField(required=False, max_value=SMALLINT_MAX,
                                                   help_text="At least 1.")
    renewal_uplift_percent = _Limited(places=4, limit=UPLIFT_LIMIT, allow_negative=True, required=False,
                                      help_text="Percent, from -100.")
    renewal_notice_days = serializers.IntegerField(required=False, max_value=SMALLINT_MAX,
                                                   help_text="Days before the end when a renewal quote is prepared.")
    renewal_alert_offsets = serializers.ListField(
        child=serializers.IntegerField(max_value=SMALLINT_MAX), required=False, max_length=20,
        help_text="Days before the end date to alert, positive whole numbers, e.g. [90, 60, 30].")
    owner = serializers.PrimaryKeyRelatedField(queryset=staff_users(), required=False, allow_null=True,
                                               help_text="A staff user id.")


class ContractCreateSerializer(RenewalTermsMixin):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    start_date = serializers.DateField()
    term_months = serializers.IntegerField(max_value=SMALLINT_MAX, help_text="At least 1.")
    billing_frequency = serializers.ChoiceField(choices=Contract.BillingFrequency.choices, required=False)
    currency = CurrencyField(required=False, help_text="Default: the customer's currency.")
    payment_terms = serializers.ChoiceField(choices=Quote.PaymentTerms.choices, required=False)
    activate = serializers.BooleanField(required=False, default=True,
                                        help_text="Activate at once (default). A contract that already ended "
                                                  "cannot be activated: send false to keep it as a draft.")
    lines = ContractLineInputSerializer(many=True)

    def validate_lines(self, value: list[dict]) -> list[dict]:
        # Checked here rather than with ListSerializer(max_length=...), whose error lands under
        # "lines.non_field_errors" instead of "lines".
        if len(value) > MAX_LINES_PER_REQUEST:
            raise serializers.ValidationError(f"at most {MAX_LINES_PER_REQUEST} lines per contract request")
        return value


class ContractUpdateSerializer(RenewalTermsMixin):
    """PATCH: renewal settings and owner only. Lines and dates change through the actions."""

    NOT_HERE = {
        "lines": "lines change with POST /contracts/<id>/amend/",
        "status": "the status changes through the actions (amend, renew, terminate)",
        "start_date": "the dates cannot change; amend, renew or terminate instead",
        "end_date": "the dates cannot change; amend, renew or terminate instead",
        "customer": "the customer cannot change",
        "currency": "the currency cannot change",
        "quote": "the quote cannot change",
        "billing_frequency": "the billing frequency cannot change on a running contract",
    }

    def validate(self, attrs: dict) -> dict:
        refused = {key: [msg] for key, msg in self.NOT_HERE.items() if key in self.initial_data}
        if refused:
            raise serializers.ValidationError(refused)
        if not attrs:
            raise serializers.ValidationError("give at least one of auto_renew, renewal_term_months, "
                                              "renewal_uplift_percent, renewal_notice_days, "
                                              "renewal_alert_offsets, owner")
        return attrs


class ChangeSerializer(serializers.Serializer):
    line = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX,
                                    help_text="A contract line id (any version of the line).")
    product = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX,
                                       help_text="A product to add, co-termed to the contract's end.")
    quantity = _Limited(places=6, limit=QUANTITY_LIMIT, allow_negative=True, required=False,
                        help_text="The new absolute quantity; 0 removes the line.")
    unit_price = _Limited(places=6, limit=UNIT_PRICE_LIMIT, allow_negative=True, required=False,
                          help_text="Net per unit per the line's period. Default for a new product: its list price.")

    def validate(self, attrs: dict) -> dict:
        if attrs.get("line") is not None and attrs.get("product") is not None:
            raise serializers.ValidationError({"product": ["name a line or a product, not both"]})
        return attrs


class AmendSerializer(serializers.Serializer):
    effective_date = serializers.DateField()
    changes = ChangeSerializer(many=True)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    preview = serializers.BooleanField(required=False, default=False,
                                       help_text="True: answer the plan (versions, closed versions, charges, "
                                                 "total) and write nothing.")

    def validate_changes(self, value: list[dict]) -> list[dict]:
        if len(value) > MAX_CHANGES_PER_REQUEST:
            raise serializers.ValidationError(f"at most {MAX_CHANGES_PER_REQUEST} changes per amendment")
        return value

    def service_changes(self) -> list[dict]:
        """The changes as the service takes (and stores) them: ids and decimal strings, given keys only."""
        return [{key: (str(value) if isinstance(value, Decimal) else value) for key, value in change.items()
                 if value is not None} for change in self.validated_data["changes"]]


class RenewSerializer(serializers.Serializer):
    term_months = serializers.IntegerField(required=False, min_value=1, max_value=SMALLINT_MAX,
                                           help_text="Default: the contract's renewal_term_months.")
    uplift_percent = _Limited(places=4, limit=UPLIFT_LIMIT, allow_negative=True, required=False,
                              help_text="Default: the contract's renewal_uplift_percent. From -100.")


class TerminateSerializer(serializers.Serializer):
    effective_date = serializers.DateField(help_text="The last day of the contract (inclusive).")
    reason = serializers.CharField(allow_blank=True, help_text="Why the contract ends. Required.")
