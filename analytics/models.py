"""Real-time revenue rollups, kept up to date from the outbox: each customer's MRR movements (new,
expansion, contraction, churn, reactivation) by day, in the contract currency and the reporting
currency. Everything here can be rebuilt from the source records (`manage.py verify_kpis`)."""
from django.conf import settings
from django.db import models

from customers.models import Customer
from revops.kernel.fields import AmountField, CurrencyField


class MrrMovement(models.Model):
    class Kind(models.TextChoices):
        NEW = "new", "New"
        EXPANSION = "expansion", "Expansion"
        CONTRACTION = "contraction", "Contraction"
        CHURN = "churn", "Churn"
        REACTIVATION = "reactivation", "Reactivation"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="mrr_movements")
    date = models.DateField(db_index=True)
    currency = CurrencyField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = AmountField(help_text="Signed change of MRR (churn and contraction are negative).")
    mrr_before = AmountField()
    mrr_after = AmountField()
    amount_reporting = AmountField(help_text="The change in the reporting currency (FX rate of the day).")

    class Meta:
        ordering = ["date", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["customer", "date", "currency"], name="one_movement_a_day")]
        indexes = [models.Index(fields=["date", "kind"], name="mrr_movement_date_kind_idx")]

    def __str__(self) -> str:
        return f"{self.date} {self.customer_id} {self.kind} {self.amount}"


class KpiTarget(models.Model):
    """A goal for one KPI over a period, optionally for one customer segment (reporting currency)."""

    class Kpi(models.TextChoices):
        MRR = "mrr", "MRR"
        ARR = "arr", "ARR"
        NEW_MRR = "new_mrr", "New MRR"
        CUSTOMERS = "customers", "Customers"

    class SegmentField(models.TextChoices):
        NONE = "", "All customers"
        SIZE = "size", "Size"
        REGION = "region", "Region"
        INDUSTRY = "industry", "Industry"
        ACQUISITION_CHANNEL = "acquisition_channel", "Acquisition channel"

    kpi = models.CharField(max_length=12, choices=Kpi.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    segment_field = models.CharField(max_length=24, choices=SegmentField.choices, blank=True, default="")
    segment_value = models.CharField(max_length=100, blank=True, default="")
    value = AmountField(help_text="The target, in the reporting currency (a count for customers).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period_start", "kpi", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(period_end__gte=models.F("period_start")),
                                              name="kpi_target_period_order")]

    def __str__(self) -> str:
        return f"{self.kpi} {self.period_start}..{self.period_end} = {self.value}"

    @property
    def segment(self) -> dict | None:
        return {self.segment_field: self.segment_value} if self.segment_field else None


class AlertRule(models.Model):
    class Kpi(models.TextChoices):
        MRR = "mrr", "MRR"
        CUSTOMERS = "customers", "Customers"
        OVERDUE_AR = "overdue_ar", "Overdue receivables"

    class Condition(models.TextChoices):
        BELOW = "below", "Below"
        ABOVE = "above", "Above"
        DROP_PCT_VS_TRAILING = "drop_pct_vs_trailing", "Drop % vs trailing average"

    name = models.CharField(max_length=120)
    kpi = models.CharField(max_length=12, choices=Kpi.choices)
    condition = models.CharField(max_length=24, choices=Condition.choices)
    threshold = AmountField(help_text="An amount (reporting currency), a count, or a percent for drop_pct_vs_trailing.")
    trailing_days = models.PositiveSmallIntegerField(default=30)
    active = models.BooleanField(default=True)
    notify_group = models.CharField(max_length=150, help_text="Role (group) name whose users are notified.")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    triggered_at = models.DateTimeField()
    value = AmountField()
    message = models.CharField(max_length=500)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule"], condition=models.Q(cleared_at__isnull=True),
                                               name="one_open_alert_per_rule")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.triggered_at:%Y-%m-%d} {self.value}"
