from django.apps import AppConfig


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = "Contracts"

    def ready(self) -> None:
        from revops.kernel import audit

        from . import subscribers  # noqa: F401  (registers the quote.accepted subscriber)
        from .models import Contract, ContractLine, ProrationCharge

        audit.track(Contract, ContractLine, ProrationCharge)
