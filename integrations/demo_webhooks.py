"""Demo data of webhooks out: one disabled example endpoint (so the demo never makes a network call) with a
few made-up deliveries and attempts, so the delivery log page has something to show. Deterministic:
timestamps come from ctx.today, events are the first matching outbox events; idempotent (keyed on the URL)."""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from revops.kernel.models import OutboxEvent

from .models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from .services.signing import secret_generate
from .services.webhooks import ordering_key

DEMO_URL = "https://hooks.example.com/revops/demo"
DEMO_TYPES = ["invoice.issued", "invoice.paid", "payment.received"]


def seed(ctx) -> None:
    endpoint, created = WebhookEndpoint.objects.get_or_create(url=DEMO_URL, defaults={
        "description": "Demo endpoint, disabled: nothing is sent. Its deliveries and attempts are sample data.",
        "event_types": ["invoice.*", "payment.received"], "enabled": False,
        "secret": secret_generate(), "created_by": ctx.shared.get("users", {}).get("admin"),
    })
    if not created or endpoint.deliveries.exists():
        return
    events = {}
    for event_type in DEMO_TYPES:
        event = OutboxEvent.objects.filter(type=event_type).order_by("pk").first()
        if event is not None:
            events[event_type] = event
    morning = datetime.combine(ctx.today, time(9, 0), tzinfo=UTC)
    # (event type, status, [(minutes after 9:00, status code, latency ms, error, response)], next attempt)
    plans = [
        ("invoice.issued", WebhookDelivery.Status.SUCCEEDED, [(0, 200, 142, "", '{"received": true}')], None),
        ("invoice.paid", WebhookDelivery.Status.SUCCEEDED,
         [(1, 503, 2210, "HTTP 503", "Service Unavailable (demo)"), (2, 200, 98, "", '{"received": true}')], None),
        ("payment.received", WebhookDelivery.Status.PENDING,
         [(3, None, 10004, "TimeoutError: timed out (demo)", ""), (4, 500, 61, "HTTP 500", "Internal Server Error")],
         morning + timedelta(minutes=33)),
    ]
    for event_type, status, attempts, next_at in plans:
        event = events.get(event_type)
        if event is None:
            continue
        last = morning + timedelta(minutes=attempts[-1][0])
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint, event=event, ordering_key=ordering_key(event), status=status, attempts=len(attempts),
            next_attempt_at=next_at, delivered_at=last if status == WebhookDelivery.Status.SUCCEEDED else None)
        WebhookAttempt.objects.bulk_create([
            WebhookAttempt(delivery=delivery, attempted_at=morning + timedelta(minutes=minutes), status_code=code,
                           latency_ms=latency, succeeded=code is not None and 200 <= code < 300, error=error,
                           response_excerpt=body)
            for minutes, code, latency, error, body in attempts])
    ctx.log(f"  integrations: demo webhook endpoint (disabled) with {endpoint.deliveries.count()} sample deliveries")
