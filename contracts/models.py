"""Contracts: the record sales, finance and customer success share. Lines are versioned by effective
dates (an amendment closes a version and opens the next; nothing is overwritten), so "what did this
customer have on day D" is `lines.active_on(D)`."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Price, Product
from customers.models import Customer
from quotes.models import Quote
from revops.kernel.fields import AmountField, CurrencyField, QuantityField, UnitPriceField


def default_alert_offsets() -> list[int]:
    return [90, 60, 30]


class Contract(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        TERMINATED = "terminated", "Terminated"
        RENEWED = "renewed", "Renewed"

    class BillingFrequency(models.TextChoices):
        MONTH = "month", "Monthly"
        QUARTER = "quarter", "Quarterly"
        YEAR = "year", "Yearly"

    number = models.CharField(max_length=30, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="contracts")
    quote = models.OneToOneField(Quote, null=True, blank=True, on_delete=models.PROTECT, related_name="contract")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="contracts")
    currency = CurrencyField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    start_date = models.DateField()
    end_date = models.DateField(db_index=True)
    billing_frequency = models.CharField(max_length=8, choices=BillingFrequency.choices,
                                         default=BillingFrequency.MONTH)
    payment_terms = models.CharField(max_length=16, default="net_30")
    billing_anchor_day = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Day of month billing periods start on (e.g. 1 for calendar billing); "
                                         "empty: the contract's start date. The first period is prorated.")
    auto_renew = models.BooleanField(default=False)
    renewal_term_months = models.PositiveSmallIntegerField(default=12)
    renewal_uplift_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    renewal_notice_days = models.PositiveSmallIntegerField(default=60)
    renewal_alert_offsets = models.JSONField(default=default_alert_offsets,
                                             help_text="Days before the end date to alert, e.g. [90, 60, 30].")
    renewed_from = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="renewed_by")
    renewal_quote = models.OneToOneField(Quote, null=True, blank=True, on_delete=models.SET_NULL,
                                         related_name="renews_contract")
    terminated_on = models.DateField(null=True, blank=True)
    termination_reason = models.TextField(blank=True)
    tcv = AmountField(default=0)
    arr = AmountField(default=0)
    mrr = AmountField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=models.F("start_date")), name="contract_end_after_start"),
            models.CheckConstraint(condition=Q(renewal_term_months__gte=1), name="contract_renewal_term_positive"),
            models.CheckConstraint(condition=Q(renewal_uplift_percent__gte=-100), name="contract_uplift_sane"),
        ]
        indexes = [models.Index(fields=["status", "end_date"], name="contract_status_end_idx"),
                   models.Index(fields=["customer", "status"], name="contract_customer_status_idx")]

    def __str__(self) -> str:
        return self.number


class ContractLineQuerySet(models.QuerySet):
    def active_on(self, day):
        return self.filter(start_date__lte=day, end_date__gte=day)


class ContractLine(models.Model):
    """One version of one line: what was sold, at what price, between two dates (inclusive).

    `item` groups the versions of the same line; amending a line closes its current version the day
    before the change and opens a new one. `unit_price` and `amount` are per `period` (the price's
    period: month, quarter, year; or one_time, usage)."""

    class Period(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"
        YEAR = "year", "Year"
        ONE_TIME = "one_time", "One-time"
        USAGE = "usage", "Usage (in arrears)"

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    item = models.PositiveIntegerField(help_text="Versions of the same line share this number.")
    version = models.PositiveSmallIntegerField(default=1)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    price = models.ForeignKey(Price, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="Rates for usage lines; the catalogue price a line came from.")
    quantity = QuantityField()
    unit_price = UnitPriceField(help_text="Net price per unit per period.")
    amount = AmountField(help_text="Net amount per period for the quantity (quantized).")
    period = models.CharField(max_length=8, choices=Period.choices)
    billing_frequency = models.CharField(max_length=8, choices=Contract.BillingFrequency.choices)
    start_date = models.DateField()
    end_date = models.DateField()
    quote_line = models.ForeignKey("quotes.QuoteLine", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    amendment = models.ForeignKey("Amendment", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="line_versions", help_text="The amendment that opened this version.")

    objects = ContractLineQuerySet.as_manager()

    class Meta:
        ordering = ["contract_id", "item", "version"]
        constraints = [
            models.UniqueConstraint(fields=["contract", "item", "version"], name="contract_line_version_unique"),
            models.CheckConstraint(condition=Q(end_date__gte=models.F("start_date")),
                                   name="contract_line_end_after_start"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="contract_line_quantity_not_negative"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="contract_line_unit_price_not_negative"),
        ]
        indexes = [models.Index(fields=["contract", "start_date", "end_date"], name="contract_line_dates_idx")]

    def __str__(self) -> str:
        return f"{self.contract} #{self.item}.{self.version} {self.product.sku} × {self.quantity}"


class Amendment(models.Model):
    class Kind(models.TextChoices):
        AMEND = "amend", "Amendment"
        TERMINATE = "terminate", "Termination"

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="amendments")
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.AMEND)
    effective_date = models.DateField()
    reason = models.TextField(blank=True)
    source_quote = models.OneToOneField(Quote, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="amendment")
    changes = models.JSONField(default=list)  # what was asked, as given
    proration_total = AmountField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contract_id", "number"]
        constraints = [models.UniqueConstraint(fields=["contract", "number"], name="amendment_number_unique")]

    def __str__(self) -> str:
        return f"{self.contract} amendment {self.number}"


class ProrationCharge(models.Model):
    """A prorated charge (positive) or credit (negative) from an amendment, for the next invoice.

    amount = unit price per billing period × quantity × remaining days ÷ days in the billing period,
    computed exactly and quantized once."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="proration_charges")
    amendment = models.ForeignKey(Amendment, on_delete=models.CASCADE, related_name="charges")
    line = models.ForeignKey(ContractLine, on_delete=models.PROTECT, related_name="proration_charges")
    description = models.CharField(max_length=300)
    period_start = models.DateField()  # the slice charged: effective date … end of its billing period
    period_end = models.DateField()
    remaining_days = models.PositiveIntegerField()
    period_days = models.PositiveIntegerField()
    amount = AmountField()
    currency = CurrencyField()
    billed = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["contract_id", "period_start", "id"]

    def __str__(self) -> str:
        return f"{self.description}: {self.amount} {self.currency}"


class RenewalAlert(models.Model):
    """A renewal alert at `offset_days` before the end; the unique constraint makes it once only."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="renewal_alerts")
    offset_days = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)
    arr_at_risk = AmountField(default=0)

    class Meta:
        ordering = ["contract_id", "-offset_days"]
        constraints = [models.UniqueConstraint(fields=["contract", "offset_days"], name="renewal_alert_once")]

    def __str__(self) -> str:
        return f"{self.contract}: {self.offset_days} days"


class ContractEvent(models.Model):
    """The contract's timeline: created from quote, activated, amended, alerts, renewed, terminated."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    kind = models.CharField(max_length=40)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.contract} {self.kind}"


class ContractQuote(models.Model):
    """A quote made for an existing contract: an amendment or a renewal. When such a quote is accepted
    the contract is amended or renewed instead of a new contract being created."""

    class Purpose(models.TextChoices):
        AMENDMENT = "amendment", "Amendment"
        RENEWAL = "renewal", "Renewal"

    quote = models.OneToOneField(Quote, on_delete=models.CASCADE, related_name="contract_link")
    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="quotes")
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.quote} ({self.purpose} of {self.contract})"
