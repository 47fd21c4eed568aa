from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = "Analytics (real-time revenue)"

    def ready(self) -> None:
        from . import subscribers  # noqa: F401  (registers the outbox subscribers)
