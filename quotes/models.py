"""Quotes: versions, lines, approval rules and the approval steps of each submission."""
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q

from catalog.models import Price, PriceBook, Product
from customers.models import Customer
from revops.kernel.fields import AmountField, CurrencyField, QuantityField, UnitPriceField


class Quote(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        SENT = "sent", "Sent"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"
        SUPERSEDED = "superseded", "Superseded"

    class BillingFrequency(models.TextChoices):
        MONTH = "month", "Monthly"
        QUARTER = "quarter", "Quarterly"
        YEAR = "year", "Yearly"

    class PaymentTerms(models.TextChoices):
        DUE_ON_RECEIPT = "due_on_receipt", "Due on receipt"
        NET_15 = "net_15", "Net 15"
        NET_30 = "net_30", "Net 30"
        NET_45 = "net_45", "Net 45"
        NET_60 = "net_60", "Net 60"
        NET_90 = "net_90", "Net 90"

    EDITABLE = (Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED)
    OPEN = (Status.DRAFT, Status.PENDING_APPROVAL, Status.APPROVED, Status.SENT)
    STANDARD_PAYMENT_TERMS = (PaymentTerms.DUE_ON_RECEIPT, PaymentTerms.NET_15, PaymentTerms.NET_30)

    number = models.CharField(max_length=30)  # shared by all versions: Q-2026-000042
    version = models.PositiveIntegerField(default=1)
    previous_version = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="next_version"
    )
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="quotes")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="quotes")
    currency = CurrencyField()
    price_book = models.ForeignKey(PriceBook, on_delete=models.PROTECT, related_name="quotes")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, db_index=True)
    start_date = models.DateField()
    term_months = models.PositiveSmallIntegerField(default=12)
    billing_frequency = models.CharField(max_length=8, choices=BillingFrequency.choices,
                                         default=BillingFrequency.MONTH)
    payment_terms = models.CharField(max_length=16, choices=PaymentTerms.choices, default=PaymentTerms.NET_30)
    valid_until = models.DateField()
    quote_discount_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    notes = models.TextField(blank=True, help_text="Shown to the customer on the quote and its PDF.")

    # Totals, recomputed by quotes.services.pricing whenever a line or a pricing input changes.
    one_time_total = AmountField(default=0)
    mrr = AmountField(default=0)
    arr = AmountField(default=0)
    tcv = AmountField(default=0)
    discount_total = AmountField(default=0)
    list_total = AmountField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    acceptance_nonce = models.CharField(max_length=32, blank=True)  # rotates on every send: old links die
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by_name = models.CharField(max_length=200, blank=True)
    accepted_by_title = models.CharField(max_length=200, blank=True)
    accepted_ip = models.GenericIPAddressField(null=True, blank=True)
    decline_reason = models.TextField(blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["number", "version"], name="quote_number_version_unique"),
            models.CheckConstraint(condition=Q(term_months__gte=1), name="quote_term_at_least_one_month"),
            models.CheckConstraint(
                condition=Q(quote_discount_percent__gte=0) & Q(quote_discount_percent__lte=100),
                name="quote_discount_percent_range",
            ),
        ]
        indexes = [models.Index(fields=["owner", "status"], name="quote_owner_status_idx"),
                   models.Index(fields=["customer", "status"], name="quote_customer_status_idx")]
        permissions = [("approve_quote", "Can approve quotes routed to one of the user's groups")]

    def __str__(self) -> str:
        return f"{self.number} v{self.version}"

    @property
    def is_editable(self) -> bool:
        return self.status in self.EDITABLE


class QuoteLine(models.Model):
    """A priced line. Amounts are for the whole term (`amount`) and per month (`mrr`) so that the
    quote's TCV is exactly the sum of its lines' amounts."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    price = models.ForeignKey(Price, on_delete=models.PROTECT, related_name="+")
    parent_line = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="children")
    position = models.PositiveIntegerField(default=0)
    quantity = QuantityField()
    # Manual discounts the rep typed; schedule discounts are derived and kept in `explanation`.
    discount_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    discount_amount = AmountField(default=0, help_text="Amount off per billing period of the price.")

    # Derived by the pricing service (never typed):
    recurring = models.BooleanField(default=False)
    usage = models.BooleanField(default=False)
    billing_period = models.CharField(max_length=8)
    list_period_amount = AmountField(default=0)  # list price for the quantity, one billing period
    net_period_amount = AmountField(default=0)  # after every discount, one billing period
    list_unit_price = UnitPriceField(default=0)
    net_unit_price = UnitPriceField(default=0)
    effective_discount_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)  # vs list
    manual_discount_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)  # vs schedules
    mrr = AmountField(default=0)
    amount = AmountField(default=0)  # net over the quote's term (one-time: once)
    list_amount = AmountField(default=0)  # list over the quote's term
    explanation = models.JSONField(default=list)  # [{"step", "detail", "amount"}]

    class Meta:
        ordering = ["quote_id", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="quote_line_quantity_positive"),
            models.CheckConstraint(condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100),
                                   name="quote_line_discount_percent_range"),
            models.CheckConstraint(condition=Q(discount_amount__gte=0), name="quote_line_discount_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quote} · {self.product.sku} × {self.quantity}"


class ApprovalRule(models.Model):
    """A condition that routes a quote to an approver group. Rules with a lower `order` come first."""

    class Condition(models.TextChoices):
        LINE_DISCOUNT_ABOVE = "line_discount_above", "A line's discount % is above the threshold"
        QUOTE_DISCOUNT_ABOVE = "quote_discount_above", "The quote's total discount % is above the threshold"
        TCV_ABOVE = "tcv_above", "TCV is above the threshold (quote currency)"
        NON_STANDARD_PAYMENT_TERMS = "payment_terms", "Payment terms longer than Net 30"
        PRODUCT_INCLUDED = "product_included", "The quote includes the product"

    name = models.CharField(max_length=120)
    condition = models.CharField(max_length=24, choices=Condition.choices)
    threshold = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    approver_group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+")
    order = models.PositiveSmallIntegerField(default=10)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(condition__in=["line_discount_above", "quote_discount_above", "tcv_above"])
                | Q(threshold__isnull=False),
                name="approval_rule_threshold_required",
            ),
            models.CheckConstraint(
                condition=~Q(condition="product_included") | Q(product__isnull=False),
                name="approval_rule_product_required",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ApprovalStep(models.Model):
    """One step of the approval chain of one submission of a quote."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled (quote changed)"

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="approval_steps")
    submission = models.PositiveIntegerField()  # 1 for the first submit, 2 after a resubmit, ...
    order = models.PositiveSmallIntegerField()
    rule = models.ForeignKey(ApprovalRule, null=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=300)  # why the rule fired, frozen at submit
    approver_group = models.ForeignKey(Group, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["quote_id", "submission", "order"]
        constraints = [models.UniqueConstraint(fields=["quote", "submission", "order"], name="approval_step_unique")]

    def __str__(self) -> str:
        return f"{self.quote} step {self.order}: {self.status}"


class QuoteEvent(models.Model):
    """The quote's own history shown on the page: submitted, approved by, sent, accepted, ..."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    kind = models.CharField(max_length=40)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.quote} {self.kind}"


