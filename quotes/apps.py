from django.apps import AppConfig


class QuotesConfig(AppConfig):
    name = "quotes"
    verbose_name = "Quotes (CPQ)"

    def ready(self) -> None:
        from revops.kernel import audit

        from .models import ApprovalRule, Quote

        audit.track(Quote, ApprovalRule)
