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
        OWNER = "owner", "Team member (customer owner's username)"

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
    """A condition users want to hear about. Company-wide KPIs (mrr, customers, overdue_ar, churn) or
    per-subject ones: customer_usage (each customer's usage of `meter`, or only `customer`'s),
    renewal_at_risk (contracts ending within `trailing_days` with no renewal under way) and target_shortfall
    (`target`'s pace). Per-subject rules open one alert per subject (Alert.subject_key)."""

    class Kpi(models.TextChoices):
        MRR = "mrr", "MRR"
        CUSTOMERS = "customers", "Customers"
        OVERDUE_AR = "overdue_ar", "Overdue receivables"
        CHURN = "churn", "MRR churned (trailing 30 days)"
        CUSTOMER_USAGE = "customer_usage", "A customer's usage"
        RENEWAL_AT_RISK = "renewal_at_risk", "Renewal at risk"
        TARGET_SHORTFALL = "target_shortfall", "Shortfall against target"

    class Condition(models.TextChoices):
        BELOW = "below", "Below"
        ABOVE = "above", "Above"
        DROP_PCT_VS_TRAILING = "drop_pct_vs_trailing", "Drop % vs trailing average"
        RISE_PCT_VS_TRAILING = "rise_pct_vs_trailing", "Rise % vs trailing average"

    name = models.CharField(max_length=120)
    kpi = models.CharField(max_length=24, choices=Kpi.choices)
    condition = models.CharField(max_length=24, choices=Condition.choices)
    threshold = AmountField(help_text="An amount (reporting currency), a count, or a percent for the % conditions.")
    trailing_days = models.PositiveSmallIntegerField(default=30)
    meter = models.ForeignKey("catalog.Meter", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                              help_text="customer_usage: the meter watched.")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                 help_text="customer_usage: only this customer (blank: every customer).")
    target = models.ForeignKey(KpiTarget, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                               help_text="target_shortfall: the target whose pace is watched.")
    active = models.BooleanField(default=True)
    notify_group = models.CharField(max_length=150, help_text="Role (group) name whose users are notified.")
    notify_in_app = models.BooleanField(default=True)
    notify_email = models.BooleanField(default=True)
    notify_webhook = models.BooleanField(
        default=True, help_text="Send alert.triggered / alert.cleared to the webhook endpoints that subscribe to them.")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Alert(models.Model):
    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="alerts")
    subject_key = models.CharField(max_length=100, blank=True, default="",
                                   help_text="What the alert is about for per-subject rules, e.g. 'customer:42'.")
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    triggered_at = models.DateTimeField()
    value = AmountField()
    message = models.CharField(max_length=500)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-triggered_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["rule", "subject_key"], condition=models.Q(cleared_at__isnull=True),
                                               name="one_open_alert_per_rule_subject")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.triggered_at:%Y-%m-%d} {self.value}"


class SegmentScope(models.Model):
    """Optional customer-segment scope shared by cost and spend entries (blank field = every customer)."""

    CHOICES = [(v, label) for v, label in KpiTarget.SegmentField.choices if v != KpiTarget.SegmentField.OWNER]

    segment_field = models.CharField(max_length=24, choices=CHOICES, blank=True, default="")
    segment_value = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        abstract = True


class ServiceCost(SegmentScope):
    """Cost to serve entered for a month (support, success, ...): either for one customer, or for a segment
    (or everyone) and allocated over its customers by `driver`, the parts summing exactly to `amount`."""

    class Category(models.TextChoices):
        SUPPORT = "support", "Support"
        SUCCESS = "success", "Customer success"
        INFRASTRUCTURE = "infrastructure", "Infrastructure"
        OTHER = "other", "Other"

    class Driver(models.TextChoices):
        DIRECT = "direct", "Direct (one customer)"
        TICKETS = "tickets", "Support tickets"
        SEATS = "seats", "Seats (recurring quantities)"
        REVENUE_SHARE = "revenue_share", "Share of recognized revenue"

    period = models.DateField(help_text="First day of the month the cost belongs to.")
    category = models.CharField(max_length=16, choices=Category.choices)
    amount = AmountField()
    currency = CurrencyField()
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="service_costs")
    driver = models.CharField(max_length=16, choices=Driver.choices, default=Driver.DIRECT)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "category", "id"]
        indexes = [models.Index(fields=["period"], name="service_cost_period_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="service_cost_not_negative"),
            models.CheckConstraint(condition=models.Q(customer__isnull=True) | models.Q(driver="direct"),
                                   name="service_cost_direct_iff_customer"),
            models.CheckConstraint(condition=models.Q(customer__isnull=False) | ~models.Q(driver="direct"),
                                   name="service_cost_allocated_needs_driver"),
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.category} {self.amount} {self.currency}"


class SupportVolume(models.Model):
    """Support tickets a customer raised in a month: the `tickets` allocation driver."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="support_volumes")
    period = models.DateField(help_text="First day of the month.")
    tickets = models.PositiveIntegerField()

    class Meta:
        ordering = ["-period", "customer_id"]
        constraints = [models.UniqueConstraint(fields=["customer", "period"], name="support_volume_once_a_month")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.period:%Y-%m}: {self.tickets}"


class AcquisitionSpend(SegmentScope):
    """Marketing or sales spend for a channel and month: the numerator of CAC."""

    class Category(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        SALES = "sales", "Sales"

    channel = models.CharField(max_length=12, choices=Customer.Channel.choices)
    period = models.DateField(help_text="First day of the month.")
    category = models.CharField(max_length=10, choices=Category.choices)
    amount = AmountField()
    currency = CurrencyField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-period", "channel", "id"]
        indexes = [models.Index(fields=["period", "channel"], name="acq_spend_period_channel_idx")]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gte=0), name="acquisition_spend_not_negative")]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} {self.channel} {self.category} {self.amount} {self.currency}"


class CostShare(models.Model):
    """The shared service costs of a month, split over the customers (analytics.services.cost_allocation):
    one row per (month, customer) with the customer's part, and one row per month without a customer that
    holds what nobody could carry and whether the month is current. Stored so that one customer's cost to
    serve does not re-split every customer's. PostgreSQL triggers (migrations 0005, 0006) blank a month
    row's `inputs` when an input of that month changes, or, for ticket counts, posted revenue and contract
    lines, name the one driver they move in `stale`; the next read re-splits those months (or those drivers)
    only. Always rebuildable from the source records (`cost_allocation.cost_shares_verify`)."""

    month = models.DateField(help_text="First day of the month.")
    # no database constraint: a re-split inserts ~10,000 rows a month and the per-row foreign-key checks cost
    # more than the split itself; Django still deletes a customer's rows with it (CASCADE) and the triggers
    # mark every month stale when a customer is deleted
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                 db_constraint=False, db_index=False,
                                 help_text="Blank: the month's row (unallocated amount and whether it is current).")
    amount_reporting = AmountField(help_text="The part (the month row: what nobody could carry), in the reporting "
                                             "currency: tickets + seats + revenue_share.")
    # the part by the driver of the costs it comes from, so that a change that moves only one driver's weights
    # (tickets, posted revenue) re-splits only that driver's costs
    tickets = AmountField(default=0, help_text="Of which from costs allocated by tickets.")
    seats = AmountField(default=0, help_text="Of which from costs allocated by seats.")
    revenue_share = AmountField(default=0, help_text="Of which from costs allocated by revenue share.")
    inputs = models.CharField(max_length=500, blank=True, default="",
                              help_text="The month row: 'current:<reporting currency>' once split; blank when an "
                                        "input changed since that may move every driver's split.")
    stale = models.CharField(max_length=100, blank=True, default="",
                             help_text="The month row: the drivers whose weights changed since the split "
                                       "(comma-separated: tickets, seats, revenue_share); only those are re-split.")
    fallback = models.CharField(max_length=100, blank=True, default="",
                                help_text="The month row: the drivers with a cost that had no weight (split "
                                          "equally over the active customers, or carried by nobody) at the "
                                          "last split; a change of the active customers (seats) re-splits them.")

    class Meta:
        ordering = ["month", "customer_id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "month"], name="cost_share_once_a_month"),
            models.UniqueConstraint(fields=["month"], condition=models.Q(customer__isnull=True),
                                    name="cost_share_one_month_row"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.customer_id}: {self.amount_reporting}"
