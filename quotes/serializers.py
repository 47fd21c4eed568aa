"""Serializers of the quotes API (API.md "Quotes").

Read serializers say what the API answers: money as strings in the quote currency's minor units, unit
prices with up to 6 places, percentages and quantities as plain decimal strings. Write serializers check
the *shape* of the input only (types, required keys, column limits); the rules — a product must be
priced in the quote's book, a discount lies between 0 and 100 %, who may change what — belong to
`quotes.services` so the API, the pages and the admin refuse the same input with the same message.
"""
from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group
from rest_framework import serializers

from catalog.models import Price, PriceBook, Product
from customers.models import Customer
from revops.kernel.api.fields import CurrencyField, DecimalStringField, MoneyField, UnitPriceField

from .models import ApprovalRule, ApprovalStep, Quote, QuoteLine

BIGINT_MAX = 2**63 - 1
SMALLINT_MAX = 32767
QUANTITY_LIMIT = Decimal(10) ** 14  # QuantityField: 20 digits, 6 of them places
AMOUNT_LIMIT = Decimal(10) ** 16  # AmountField: 19 digits, 3 of them places
MAX_LINES_PER_REQUEST = 500  # the quote is repriced once after all its lines are added


# --- read --------------------------------------------------------------------------------------------

class ExplanationStepSerializer(serializers.Serializer):
    step = serializers.CharField(help_text="list, volume_schedule, term_schedule, line_discount, "
                                           "line_amount_off, quote_discount or usage.")
    detail = serializers.CharField()
    amount = serializers.CharField(help_text="The line's amount for one billing period after this step.")


class QuoteLineSerializer(serializers.ModelSerializer):
    product_sku = serializers.CharField(source="product.sku", read_only=True)
    product_name = serializers.CharField(source="product.name", read_only=True)
    quantity = DecimalStringField(places=6, read_only=True)
    list_unit_price = UnitPriceField(currency_source="quote.currency", read_only=True,
                                     help_text="List price per unit for one billing period.")
    discount_percent = DecimalStringField(places=4, read_only=True, help_text="Manual discount typed on the line.")
    discount_amount = MoneyField(currency_source="quote.currency", read_only=True,
                                 help_text="Manual amount off per billing period.")
    effective_discount_percent = DecimalStringField(
        places=4, read_only=True, help_text="Total discount against list (schedules, manual, quote-level).")
    net_unit_price = UnitPriceField(currency_source="quote.currency", read_only=True,
                                    help_text="Net price per unit for one billing period.")
    mrr = MoneyField(currency_source="quote.currency", read_only=True)
    amount = MoneyField(currency_source="quote.currency", read_only=True,
                        help_text="Net over the quote's term (one-time lines: once; usage lines: 0).")
    explanation = ExplanationStepSerializer(many=True, read_only=True,
                                            help_text="How the price was reached, step by step.")

    class Meta:
        model = QuoteLine
        fields = ["id", "product", "product_sku", "product_name", "quantity", "list_unit_price",
                  "discount_percent", "discount_amount", "effective_discount_percent", "net_unit_price", "amount",
                  "mrr", "recurring", "usage", "billing_period", "parent_line", "position", "explanation"]
        read_only_fields = fields


class ApprovalStepSerializer(serializers.ModelSerializer):
    group = serializers.CharField(source="approver_group.name", read_only=True, help_text="Approver group.")
    decided_by_name = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalStep
        fields = ["id", "submission", "order", "group", "status", "reason", "decided_by", "decided_by_name",
                  "decided_at", "comment"]
        read_only_fields = fields

    def get_decided_by_name(self, step: ApprovalStep) -> str | None:
        user = step.decided_by
        return (user.get_full_name() or user.get_username()) if user is not None else None


class QuoteTotalsSerializer(serializers.Serializer):
    one_time = MoneyField(source="one_time_total", read_only=True)
    mrr = MoneyField(read_only=True)
    arr = MoneyField(read_only=True)
    tcv = MoneyField(read_only=True)
    discount = MoneyField(source="discount_total", read_only=True, help_text="List total − TCV.")
    list_total = MoneyField(read_only=True, help_text="List price over the term.")


class QuoteSerializer(serializers.ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    quote_discount_percent = DecimalStringField(places=4, read_only=True)
    lines = QuoteLineSerializer(many=True, read_only=True)
    totals = QuoteTotalsSerializer(source="*", read_only=True)
    approvals = ApprovalStepSerializer(source="approval_steps", many=True, read_only=True,
                                       help_text="Approval steps of every submission, oldest first.")

    class Meta:
        model = Quote
        fields = ["id", "number", "version", "previous_version", "customer", "customer_name", "owner", "currency",
                  "price_book", "status", "start_date", "term_months", "billing_frequency", "payment_terms",
                  "valid_until", "quote_discount_percent", "notes", "lines", "totals", "approvals", "created_at",
                  "updated_at", "submitted_at", "sent_at", "accepted_at", "accepted_by_name", "accepted_by_title",
                  "declined_at", "decline_reason"]
        read_only_fields = fields


# --- write -------------------------------------------------------------------------------------------

class OptionInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="Option product id.")
    quantity = DecimalStringField(places=6, positive=True)


class LineInputSerializer(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="Product id.")
    quantity = DecimalStringField(places=6, positive=True)
    discount_percent = DecimalStringField(places=4, required=False, help_text="Manual discount, 0–100.")
    discount_amount = DecimalStringField(places=3, required=False,
                                         help_text="Amount off per billing period, in the quote currency's places.")
    billing_period = serializers.ChoiceField(
        choices=Price.BillingPeriod.choices, required=False,
        help_text="Which of the product's prices to use; default: the quote's billing frequency.")
    options = OptionInputSerializer(
        many=True, required=False,
        help_text="Bundles only: optional options to include, with their quantities. Required options are "
                  "added at their default quantity unless listed here.")

    def validate_quantity(self, value: Decimal) -> Decimal:
        if value >= QUANTITY_LIMIT:
            raise serializers.ValidationError(f"must be less than {QUANTITY_LIMIT:f}")
        return value

    def validate_discount_amount(self, value: Decimal) -> Decimal:
        if value >= AMOUNT_LIMIT:
            raise serializers.ValidationError(f"must be less than {AMOUNT_LIMIT:f}")
        return value

    def validate_options(self, value: list[dict]) -> list[dict]:
        products = [o["product"] for o in value]
        if len(products) != len(set(products)):
            raise serializers.ValidationError("each option product may be listed once")
        return value

    @staticmethod
    def to_service_kwargs(data: dict) -> dict:
        """validated_data -> keyword arguments of `quote_line_add`."""
        kwargs = {"product_id": data["product"], "quantity": data["quantity"],
                  "discount_percent": data.get("discount_percent", 0), "discount_amount": data.get("discount_amount", 0),
                  "billing_period": data.get("billing_period")}
        if data.get("options"):
            kwargs["options"] = {o["product"]: o["quantity"] for o in data["options"]}
        return kwargs


class QuoteCreateSerializer(serializers.Serializer):
    customer = serializers.PrimaryKeyRelatedField(queryset=Customer.objects.all())
    currency = CurrencyField(required=False, help_text="Default: the price book's, else the customer's currency.")
    price_book = serializers.PrimaryKeyRelatedField(
        queryset=PriceBook.objects.all(), required=False,
        help_text="Default: the currency's default active price book.")
    start_date = serializers.DateField(required=False, help_text="Default: today.")
    term_months = serializers.IntegerField(min_value=1, max_value=SMALLINT_MAX, required=False,
                                           help_text="Default 12.")
    billing_frequency = serializers.ChoiceField(choices=Quote.BillingFrequency.choices, required=False)
    payment_terms = serializers.ChoiceField(choices=Quote.PaymentTerms.choices, required=False)
    valid_until = serializers.DateField(required=False, help_text="Default: 30 days from today.")
    quote_discount_percent = DecimalStringField(places=4, required=False,
                                                help_text="Discount on every line, 0–100.")
    notes = serializers.CharField(required=False, allow_blank=True)
    lines = LineInputSerializer(many=True, required=False)

    def validate_lines(self, value: list[dict]) -> list[dict]:
        # Checked here rather than with ListSerializer(max_length=...), whose error lands under
        # "lines.non_field_errors" instead of "lines".
        if len(value) > MAX_LINES_PER_REQUEST:
            raise serializers.ValidationError(f"at most {MAX_LINES_PER_REQUEST} lines per request; add more with "
                                              "POST /quotes/<id>/lines/")
        return value


class QuoteUpdateSerializer(serializers.Serializer):
    """PATCH: the quote's terms. Lines change through the line endpoints, status through the actions."""

    NOT_HERE = {
        "customer": "the customer cannot change; create a new quote",
        "currency": "the currency cannot change; create a new quote",
        "price_book": "the price book cannot change; create a new quote",
        "owner": "the owner cannot change here",
        "lines": "change lines with POST/PATCH/DELETE /quotes/<id>/lines/",
        "status": "the status changes through the actions (submit, approve, send, ...)",
    }

    start_date = serializers.DateField(required=False)
    term_months = serializers.IntegerField(min_value=1, max_value=SMALLINT_MAX, required=False)
    billing_frequency = serializers.ChoiceField(choices=Quote.BillingFrequency.choices, required=False)
    payment_terms = serializers.ChoiceField(choices=Quote.PaymentTerms.choices, required=False)
    valid_until = serializers.DateField(required=False)
    quote_discount_percent = DecimalStringField(places=4, required=False)
    notes = serializers.CharField(required=False, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        refused = {key: [msg] for key, msg in self.NOT_HERE.items() if key in self.initial_data}
        if refused:
            raise serializers.ValidationError(refused)
        return attrs


class LineUpdateSerializer(serializers.Serializer):
    quantity = DecimalStringField(places=6, positive=True, required=False)
    discount_percent = DecimalStringField(places=4, required=False)
    discount_amount = DecimalStringField(places=3, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError("give at least one of quantity, discount_percent, discount_amount")
        if attrs.get("quantity") is not None and attrs["quantity"] >= QUANTITY_LIMIT:
            raise serializers.ValidationError({"quantity": [f"must be less than {QUANTITY_LIMIT:f}"]})
        if attrs.get("discount_amount") is not None and attrs["discount_amount"] >= AMOUNT_LIMIT:
            raise serializers.ValidationError({"discount_amount": [f"must be less than {AMOUNT_LIMIT:f}"]})
        return attrs


class ApproveSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class RejectSerializer(serializers.Serializer):
    comment = serializers.CharField(allow_blank=True, help_text="Why; shown to the quote's owner. Required.")


class AcceptSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The signed token of the quote's acceptance link.")
    name = serializers.CharField(max_length=200, allow_blank=True, help_text="Full name of the person accepting.")
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class DeclineSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The signed token of the quote's acceptance link.")
    reason = serializers.CharField(allow_blank=True)


# --- other responses ---------------------------------------------------------------------------------

class RevenueMonthSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM")
    amount = serializers.CharField()
    lines = serializers.DictField(child=serializers.CharField(), help_text="{line id: amount}")


class RevenuePreviewSerializer(serializers.Serializer):
    currency = serializers.CharField()
    months = RevenueMonthSerializer(many=True)
    total = serializers.CharField(help_text="Sum of the months: the quote's TCV.")


class AcceptanceLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires = serializers.DateTimeField(help_text="When the link stops working at the latest (the quote's "
                                                  "validity or the link's 90 days, whichever is first).")


# --- approval rules ----------------------------------------------------------------------------------

class ApprovalRuleSerializer(serializers.ModelSerializer):
    threshold = DecimalStringField(
        places=4, required=False, allow_null=True,
        help_text="Percent for the discount conditions, an amount in the quote currency for tcv_above.")
    product = serializers.PrimaryKeyRelatedField(queryset=Product.objects.all(), required=False, allow_null=True,
                                                 help_text="For product_included.")
    approver_group = serializers.SlugRelatedField(slug_field="name", queryset=Group.objects.all(),
                                                  help_text="Group name, e.g. sales_manager or finance.")
    order = serializers.IntegerField(min_value=0, max_value=SMALLINT_MAX, required=False,
                                     help_text="Rules with a lower order are evaluated (and approved) first.")

    class Meta:
        model = ApprovalRule
        fields = ["id", "name", "condition", "threshold", "product", "approver_group", "order", "active"]

    NEEDS_THRESHOLD = (ApprovalRule.Condition.LINE_DISCOUNT_ABOVE, ApprovalRule.Condition.QUOTE_DISCOUNT_ABOVE,
                       ApprovalRule.Condition.TCV_ABOVE)

    def validate(self, attrs: dict) -> dict:
        def current(key):
            if key in attrs:
                return attrs[key]
            return getattr(self.instance, key) if self.instance is not None else None

        condition, threshold, product = current("condition"), current("threshold"), current("product")
        errors = {}
        if condition in self.NEEDS_THRESHOLD and threshold is None:
            errors["threshold"] = [f"required for {condition}"]
        if condition == ApprovalRule.Condition.PRODUCT_INCLUDED and product is None:
            errors["product"] = ["required for product_included"]
        if threshold is not None and threshold >= AMOUNT_LIMIT:
            errors["threshold"] = [f"must be less than {AMOUNT_LIMIT:f}"]
        group = attrs.get("approver_group")
        if group is not None and not group.permissions.filter(content_type__app_label="quotes",
                                                              codename="approve_quote").exists():
            errors["approver_group"] = [f"members of {group.name} cannot approve quotes (the group lacks "
                                        "quotes.approve_quote); quotes routed to it would stay pending"]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs
