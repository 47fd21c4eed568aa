"""Celery tasks for analytics: thin and idempotent."""
from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def evaluate_alerts_task() -> dict:
    """Evaluate the KPI alert rules for today (opening or clearing alerts; see services.alerts)."""
    from .services.alerts import evaluate_alerts

    return evaluate_alerts(timezone.localdate())
