"""Revenue recognition (ASC 606 / IFRS 15): performance obligations with their allocated price and
monthly schedules, a double-entry journal in the transaction and the reporting currency, FX rates,
and accounting periods that close."""
from django.conf import settings
from django.db import models
from django.db.models import Q

from catalog.models import Product
from contracts.models import Contract
from customers.models import Customer
from revops.kernel.fields import AmountField, CurrencyField, QuantityField


class Account(models.Model):
    class Kind(models.TextChoices):
        ASSET = "asset", "Asset"
        LIABILITY = "liability", "Liability"
        EQUITY = "equity", "Equity"
        REVENUE = "revenue", "Revenue"
        EXPENSE = "expense", "Expense"

    class Role(models.TextChoices):
        """What the platform posts to; the chart itself is configurable in admin."""

        RECEIVABLE = "receivable", "Accounts receivable"
        CASH = "cash", "Cash"
        UNBILLED = "unbilled", "Unbilled receivable (contract asset)"
        DEFERRED = "deferred", "Deferred revenue (contract liability)"
        TAX = "tax", "Tax payable"
        CREDIT = "credit", "Customer credit"
        REVENUE = "revenue", "Revenue"
        OTHER = "other", "Other"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OTHER)
    family = models.CharField(max_length=60, blank=True,
                              help_text="Revenue accounts: the product family they take (empty = the default).")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["role", "family"], condition=~Q(role="other"),
                                               name="one_account_per_role_and_family")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class FxRate(models.Model):
    """1 unit of `currency` = `rate` units of the reporting currency, from `date` on."""

    date = models.DateField()
    currency = CurrencyField()
    rate = models.DecimalField(max_digits=20, decimal_places=10)

    class Meta:
        ordering = ["-date", "currency"]
        constraints = [models.UniqueConstraint(fields=["date", "currency"], name="fx_rate_once_a_day"),
                       models.CheckConstraint(condition=Q(rate__gt=0), name="fx_rate_positive")]

    def __str__(self) -> str:
        return f"{self.date} {self.currency} {self.rate}"


class AccountingPeriod(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    start = models.DateField(unique=True)  # first day of the month
    end = models.DateField()
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    checklist = models.JSONField(default=dict, blank=True)  # what was checked at close

    class Meta:
        ordering = ["start"]
        permissions = [("close_period", "Can close accounting periods"),
                       ("reopen_period", "Can reopen closed accounting periods")]

    def __str__(self) -> str:
        return f"{self.start:%Y-%m}"


class PerformanceObligation(models.Model):
    class Pattern(models.TextChoices):
        RATABLE = "ratable", "Ratable over the service period"
        POINT_IN_TIME = "point_in_time", "Point in time"
        USAGE = "usage", "As used (variable consideration)"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended (terminated)"
        REPLACED = "replaced", "Replaced by a modification"

    contract = models.ForeignKey(Contract, on_delete=models.PROTECT, related_name="obligations")
    item = models.PositiveIntegerField(help_text="The contract line item it comes from.")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    pattern = models.CharField(max_length=14, choices=Pattern.choices)
    quantity = QuantityField()
    start_date = models.DateField()
    end_date = models.DateField()
    currency = CurrencyField()
    ssp = AmountField(help_text="Standalone selling price over the obligation's term.")
    allocated_price = AmountField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    version = models.PositiveSmallIntegerField(default=1, help_text="Bumps at each contract modification.")
    allocation_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["contract_id", "item", "version"]
        indexes = [models.Index(fields=["contract", "status"], name="obligation_contract_idx")]

    def __str__(self) -> str:
        return f"{self.contract} · {self.product.sku}"


class ScheduleLine(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        RECOGNIZED = "recognized", "Recognized"
        CANCELLED = "cancelled", "Cancelled (modification or termination)"

    obligation = models.ForeignKey(PerformanceObligation, on_delete=models.CASCADE, related_name="schedule")
    period = models.DateField(help_text="First day of the month.")
    amount = AmountField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED, db_index=True)
    entry = models.ForeignKey("JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["obligation_id", "period", "id"]
        indexes = [models.Index(fields=["status", "period"], name="schedule_status_period_idx")]

    def __str__(self) -> str:
        return f"{self.obligation} {self.period:%Y-%m}: {self.amount}"


class JournalEntry(models.Model):
    """A balanced double entry. `source_key` makes posting idempotent: each business fact posts once."""

    date = models.DateField(db_index=True)
    period = models.ForeignKey(AccountingPeriod, on_delete=models.PROTECT, related_name="entries")
    memo = models.CharField(max_length=300)
    source = models.CharField(max_length=40)  # invoice.issued, payment.received, revenue.recognized, ...
    source_key = models.CharField(max_length=120, unique=True)
    currency = CurrencyField()
    reporting_currency = CurrencyField()
    fx_rate = models.DecimalField(max_digits=20, decimal_places=10, default=1)
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    corrects_period = models.ForeignKey(AccountingPeriod, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+", help_text="A late item: the closed period it belongs to.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "id"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"{self.date} {self.memo}"


class JournalLine(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.CASCADE, related_name="lines")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lines")
    debit = AmountField(default=0)
    credit = AmountField(default=0)
    debit_reporting = AmountField(default=0)
    credit_reporting = AmountField(default=0)
    contract = models.ForeignKey(Contract, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["entry_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(debit__gte=0) & Q(credit__gte=0), name="journal_amounts_not_negative"),
            models.CheckConstraint(condition=Q(debit=0) | Q(credit=0), name="journal_line_one_side"),
        ]
        indexes = [models.Index(fields=["account", "contract"], name="journal_account_contract_idx")]

    def __str__(self) -> str:
        return f"{self.account.code} Dr {self.debit} Cr {self.credit}"
