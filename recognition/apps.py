from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    verbose_name = "Revenue recognition"

    def ready(self) -> None:
        from revops.kernel import audit

        from . import models as m
        from . import subscribers  # noqa: F401  (registers the outbox subscribers)

        audit.track(m.Account, m.FxRate, m.AccountingPeriod)
