from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True)
def recognize_revenue() -> int:
    """Daily: post revenue for every month that has ended. Idempotent (each schedule line posts once)."""
    from .services.posting import recognize_through

    return recognize_through(day=timezone.localdate())
