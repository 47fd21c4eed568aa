"""Outbox subscribers of the integrations app."""
from revops.kernel.events import subscriber


def _an_endpoint_wants(event_type: str) -> bool:
    """Checked when the event is recorded: without an enabled endpoint for its type (the usual case during
    a bill run) no outbox delivery is written for this subscriber at all."""
    from .models import WebhookEndpoint
    from .services.event_types import event_type_matches
    from .services.webhooks import TEST_EVENT

    if event_type == TEST_EVENT:
        return True
    return any(event_type_matches(event_type, patterns)
               for patterns in WebhookEndpoint.objects.filter(enabled=True).values_list("event_types", flat=True))


@subscriber("integrations.webhooks", "*", accepts=_an_endpoint_wants)
def on_any_event(event) -> None:
    """Every event becomes one delivery per endpoint that wants it (idempotent: unique endpoint + event),
    sent after commit. Events whose payload says "webhook": false are not sent."""
    from .services.webhooks import webhook_deliveries_create

    webhook_deliveries_create(event=event)
