"""Celery tasks of integrations: thin, taking ids; the services decide whether anything is due."""
from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> bool:
    """Try one webhook delivery if it is due (a redelivered task finds it leased or settled and does nothing).
    HTTP failures are not task failures: they are recorded as attempts and retried on the schedule."""
    from .services.webhooks import webhook_deliver

    return webhook_deliver(delivery_id=delivery_id) is not None


@shared_task(acks_late=True, ignore_result=True)
def send_due_webhooks() -> int:
    """Beat, every minute: queue the retries that are due (and first sends a broker hiccup lost)."""
    from .services.webhooks import webhook_deliveries_due

    due = webhook_deliveries_due()
    for pk in due:
        deliver_webhook.delay(pk)
    return len(due)
