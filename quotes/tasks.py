from celery import shared_task

from .services.lifecycle import quotes_expire


@shared_task(acks_late=True, ignore_result=True)
def expire_quotes() -> int:
    """Hourly: expire open quotes past their validity. Idempotent, so overlapping runs are harmless."""
    return quotes_expire()
