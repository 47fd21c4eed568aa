from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from revops.kernel import audit

        from . import models as m

        audit.track(m.Invoice, m.InvoiceLine, m.Payment, m.PaymentAllocation, m.CreditNote, m.TaxRate,
                    m.FinanceApprovalRule)
