from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from revops.kernel import audit

        from .models import Customer

        audit.track(Customer)
