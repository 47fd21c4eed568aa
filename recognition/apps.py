from django.apps import AppConfig


class RecognitionConfig(AppConfig):
    name = "recognition"
    verbose_name = "Revenue recognition"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from revops.kernel import audit

        from .chart import ensure_after_migrate

        # Also after `flush` (transactional tests), which empties the accounts the migration created.
        post_migrate.connect(ensure_after_migrate, sender=self, dispatch_uid="revops.recognition.chart")

        from . import models as m
        from . import subscribers  # noqa: F401  (registers the outbox subscribers)

        audit.track(m.Account, m.FxRate, m.AccountingPeriod)
