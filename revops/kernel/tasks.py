from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .events import deliver_pending
from .models import IdempotencyRecord


@shared_task(acks_late=True, ignore_result=True)
def deliver_events() -> int:
    """Drain the outbox. Safe to run any number of times at once (per-subscriber locks)."""
    total = 0
    while True:
        n = deliver_pending()
        total += n
        if n == 0:
            return total


@shared_task(ignore_result=True)
def expire_idempotency_keys() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - timedelta(hours=24)).delete()
    return deleted
