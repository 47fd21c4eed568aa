"""Outbox subscribers of the integrations app."""
from revops.kernel.events import subscriber


@subscriber("integrations.webhooks", "*")
def on_any_event(event) -> None:
    """Every event becomes one delivery per endpoint that wants it (idempotent: unique endpoint + event),
    sent after commit. Events whose payload says "webhook": false are not sent."""
    from .services.webhooks import webhook_deliveries_create

    webhook_deliveries_create(event=event)
