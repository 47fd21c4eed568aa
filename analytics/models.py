"""Real-time revenue rollups, kept up to date from the outbox: each customer's MRR movements (new,
expansion, contraction, churn, reactivation) by day, in the contract currency and the reporting
currency. Everything here can be rebuilt from the source records (`manage.py verify_kpis`)."""
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
