"""Webhooks out: endpoints, one delivery per (endpoint, event), signed HTTP attempts with retries.

Guarantees:
- At-least-once: a delivery stays pending until a receiver answers 2xx or the retry schedule is spent;
  the same outbox event never makes two deliveries to one endpoint (unique endpoint + event), and its
  body always carries the same `id` ("evt_<outbox id>") so receivers can drop repeats.
- Ordered per object: a delivery is not sent while an earlier delivery of the same endpoint and
  `ordering_key` (the event's aggregate, e.g. "billing.invoice:12") is still pending, so a receiver sees
  invoice.issued before invoice.paid. A delivery that gave up (failed) no longer holds the next one.
- No long transactions: a delivery is claimed in a short transaction (row lock, skip_locked, and a
  lease in next_attempt_at), the HTTP request runs outside any transaction, and its outcome is written
  in a second short one.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from revops.kernel import roles
from revops.kernel.errors import PermissionDeniedError, ValidationFailed
from revops.kernel.events import record_event
from revops.kernel.models import OutboxEvent
from revops.kernel.notifications import notify

from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from . import signing
from .event_types import event_type_matches, event_types_clean
from .urlguard import Target, UnsafeUrl, url_check

logger = logging.getLogger(__name__)

# When a failed delivery is tried again, counted from its first attempt: 8 attempts over 24 hours, then
# the delivery is failed and its endpoint marked failing.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
    timedelta(hours=5), timedelta(hours=10), timedelta(hours=24),
)
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)
TIMEOUT_SECONDS = 10
# A claimed delivery is not claimed again for this long (longer than one request can take), so a
# worker that dies mid-request only delays the retry.
LEASE = timedelta(minutes=2)
EXCERPT_CHARS = 1000
TEST_EVENT = "webhook.test"
USER_AGENT = "revops-webhooks/1"
ENDPOINT_FIELDS = ("url", "description", "event_types", "enabled", "allow_private_network")


# --- endpoints -------------------------------------------------------------------------------------


def _require_admin_for_private(by, allow: bool) -> None:
    if allow and not roles.has_role(by, roles.ADMIN):
        raise PermissionDeniedError("only admins may allow a private network",
                                    fields={"allow_private_network": ["only admins may set this"]})


def webhook_endpoint_create(*, url: str, event_types: list[str], by, description: str = "", enabled: bool = True,
                            allow_private_network: bool = False) -> WebhookEndpoint:
    """A new endpoint with a freshly generated secret (read it from the returned object, once).

    The URL passes the SSRF guard and every event type pattern matches a known type, or nothing is saved.
    """
    _require_admin_for_private(by, allow_private_network)
    patterns = event_types_clean(event_types)
    url_check(url, allow_private_network=allow_private_network)
    with transaction.atomic():
        return WebhookEndpoint.objects.create(
            url=url, description=description, event_types=patterns, enabled=enabled,
            allow_private_network=allow_private_network, secret=signing.secret_generate(), created_by=by)


def webhook_endpoint_update(*, endpoint_id: int, by, **changes) -> WebhookEndpoint:
    """Change an endpoint's url, description, event types, enabled flag or private-network flag.

    A new URL, a newly allowed (or disallowed) private network, and enabling are checked again by the
    SSRF guard.
    """
    unknown = set(changes) - set(ENDPOINT_FIELDS)
    if unknown:
        raise ValidationFailed(f"cannot change {', '.join(sorted(unknown))}")
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        if "allow_private_network" in changes and changes["allow_private_network"] != endpoint.allow_private_network:
            _require_admin_for_private(by, True)
        if "event_types" in changes:
            changes["event_types"] = event_types_clean(changes["event_types"])
        for name, value in changes.items():
            setattr(endpoint, name, value)
        if {"url", "allow_private_network"} & set(changes) or changes.get("enabled"):
            url_check(endpoint.url, allow_private_network=endpoint.allow_private_network)
        endpoint.save(update_fields=list(changes) or None)
    return endpoint


def secret_masked(secret: str) -> str:
    return f"{secret[:6]}…{secret[-4:]}" if len(secret) > 12 else "…"


# --- from the outbox to deliveries -----------------------------------------------------------------


def ordering_key(event: OutboxEvent) -> str:
    return f"{event.aggregate_type}:{event.aggregate_id}"


def endpoints_for_event(event: OutboxEvent) -> list[WebhookEndpoint]:
    """The endpoints that receive `event`: enabled ones whose patterns match its type. A test event goes
    to the one endpoint it was sent for; an event whose payload says "webhook": false goes nowhere."""
    if event.payload.get("webhook") is False:
        return []
    if event.type == TEST_EVENT:
        return list(WebhookEndpoint.objects.filter(pk=event.payload.get("endpoint")))
    return [e for e in WebhookEndpoint.objects.filter(enabled=True) if event_type_matches(event.type, e.event_types)]


def webhook_deliveries_create(*, event: OutboxEvent) -> list[int]:
    """One pending delivery per receiving endpoint (none twice, however often the event is handed over);
    each is sent after commit. Returns the ids of the event's deliveries still waiting for a first try."""
    endpoints = endpoints_for_event(event)
    if not endpoints:
        return []
    with transaction.atomic():
        WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(endpoint=e, event=event, ordering_key=ordering_key(event)) for e in endpoints],
            ignore_conflicts=True)
        ids = list(WebhookDelivery.objects.filter(event=event, endpoint__in=endpoints, attempts=0,
                                                  status=WebhookDelivery.Status.PENDING).values_list("pk", flat=True))
        schedule_send(ids)
    return ids


def schedule_send(delivery_ids: list[int]) -> None:
    """Send these deliveries after the transaction commits (the sweep task catches any the broker lost)."""
    if not delivery_ids:
        return

    def enqueue() -> None:
        from ..tasks import deliver_webhook

        for pk in delivery_ids:
            deliver_webhook.delay(pk)

    transaction.on_commit(enqueue, robust=True)


def webhook_test_send(*, endpoint_id: int, by) -> WebhookDelivery:
    """Record a `webhook.test` event for one endpoint (enabled or not) and send it after commit."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        event = record_event(TEST_EVENT, endpoint, {
            "endpoint": endpoint.pk, "message": "A test event sent from revops.", "requested_by": getattr(by, "pk", None)})
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=event, ordering_key=ordering_key(event))
        schedule_send([delivery.pk])
    return delivery


# --- the request -----------------------------------------------------------------------------------


def event_body(event: OutboxEvent) -> bytes:
    """The JSON body of an event: the same bytes on every attempt and replay."""
    data = {k: v for k, v in event.payload.items() if k != "webhook"}
    data["object"] = {"type": event.aggregate_type, "id": event.aggregate_id}
    document = {
        "id": f"evt_{event.pk}",
        "type": event.type,
        "created_at": event.occurred_at.astimezone(UTC).isoformat(),
        "data": data,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class SendResult:
    status_code: int | None = None
    latency_ms: int = 0
    error: str = ""
    excerpt: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the checked address, with SNI and certificate check for the URL's host name."""

    def __init__(self, target: Target, *, timeout: float):
        super().__init__(target.address, target.port, timeout=timeout, context=ssl.create_default_context())
        self._server_hostname = target.host

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_hostname)


def _connection(target: Target) -> http.client.HTTPConnection:
    if target.scheme == "https":
        return _PinnedHTTPSConnection(target, timeout=TIMEOUT_SECONDS)
    return http.client.HTTPConnection(target.address, target.port, timeout=TIMEOUT_SECONDS)


def _post(delivery: WebhookDelivery) -> SendResult:
    """One signed POST. Redirects are not followed (a 3xx is a failure): following them would let a
    public URL bounce the request to a private address."""
    endpoint, event = delivery.endpoint, delivery.event
    try:
        target = url_check(endpoint.url, allow_private_network=endpoint.allow_private_network)
    except UnsafeUrl as exc:
        return SendResult(error=f"refused: {exc.message}"[:500])
    body = event_body(event)
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        signing.HEADER: signing.sign(body, endpoint.secret),  # the real clock, whatever `now` a caller passes
        "Revops-Event-Id": f"evt_{event.pk}",
        "Revops-Event-Type": event.type,
        "Revops-Delivery": str(delivery.pk),
    }
    started = time.monotonic()
    conn = _connection(target)
    try:
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read(EXCERPT_CHARS * 4)
        status = response.status
    except (OSError, http.client.HTTPException) as exc:  # refused, timeout, TLS, reset, bad status line
        return SendResult(latency_ms=int((time.monotonic() - started) * 1000),
                          error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        conn.close()
    latency = int((time.monotonic() - started) * 1000)
    excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
    error = "" if 200 <= status < 300 else f"HTTP {status}"
    return SendResult(status_code=status, latency_ms=latency, error=error, excerpt=excerpt)


# --- attempts --------------------------------------------------------------------------------------


def _held_by_earlier(delivery: WebhookDelivery) -> bool:
    return WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id, ordering_key=delivery.ordering_key,
        status=WebhookDelivery.Status.PENDING, pk__lt=delivery.pk).exists()


def next_attempt_time(*, first_attempt_at: datetime, attempts: int, now: datetime) -> datetime:
    """When attempt `attempts + 1` is due: RETRY_SCHEDULE after the first attempt, and never sooner than a
    minute from now (a sweep that ran late does not fire the overdue retries back to back)."""
    return max(first_attempt_at + RETRY_SCHEDULE[attempts - 1], now + RETRY_SCHEDULE[0])


def webhook_deliver(*, delivery_id: int, now: datetime | None = None) -> WebhookAttempt | None:
    """Try a pending delivery once, if it is due, its endpoint enabled and no earlier delivery of the same
    object to that endpoint is pending; return the attempt, or None when nothing was sent.

    Safe to call any number of times at once: the claim skips rows another worker holds, and a claimed
    delivery is leased (next_attempt_at) until its outcome is written.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related("endpoint", "event")
                    .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).first())
        if delivery is None:
            return None  # sent, failed, or being sent by another worker
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        if not delivery.endpoint.enabled and delivery.event.type != TEST_EVENT:
            return None  # waits until the endpoint is enabled again
        if _held_by_earlier(delivery):
            return None  # sent when the earlier one leaves pending (see _release_next)
        delivery.attempts += 1
        delivery.next_attempt_at = now + LEASE
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    result = _post(delivery)
    return _attempt_record(delivery_id=delivery_id, result=result, now=now, manual=False)


def webhook_delivery_replay(*, delivery_id: int, by, now: datetime | None = None) -> WebhookAttempt:
    """Send a delivery again now, whatever its status (an attempt marked manual). Success settles a pending
    or failed delivery; a failed replay changes nothing but the log (the retry schedule goes on)."""
    if not roles.has_role(by, roles.ADMIN):
        raise PermissionDeniedError("only admins may replay webhooks")
    now = now or timezone.now()
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    result = _post(delivery)
    return _attempt_record(delivery_id=delivery_id, result=result, now=now, manual=True)


def _attempt_record(*, delivery_id: int, result: SendResult, now: datetime, manual: bool) -> WebhookAttempt:
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
        attempt = WebhookAttempt.objects.create(
            delivery=delivery, attempted_at=now, status_code=result.status_code, latency_ms=result.latency_ms,
            succeeded=result.succeeded, error=result.error, response_excerpt=result.excerpt, manual=manual)
        was_pending = delivery.status == WebhookDelivery.Status.PENDING
        if result.succeeded:
            if delivery.status != WebhookDelivery.Status.SUCCEEDED:
                delivery.status = WebhookDelivery.Status.SUCCEEDED
                delivery.delivered_at = now
                delivery.next_attempt_at = None
                delivery.save(update_fields=["status", "delivered_at", "next_attempt_at"])
            if endpoint.status == WebhookEndpoint.Status.FAILING:
                endpoint.status = WebhookEndpoint.Status.ACTIVE
                endpoint.failing_since = None
                endpoint.save(update_fields=["status", "failing_since"])
        elif not manual and was_pending:
            if delivery.attempts >= MAX_ATTEMPTS:
                delivery.status = WebhookDelivery.Status.FAILED
                delivery.next_attempt_at = None
                _endpoint_mark_failing(endpoint, now=now, reason=result.error)
            else:
                first = (delivery.attempt_log.filter(manual=False).order_by("attempted_at")
                         .values_list("attempted_at", flat=True).first())
                delivery.next_attempt_at = next_attempt_time(first_attempt_at=first, attempts=delivery.attempts,
                                                             now=now)
            delivery.save(update_fields=["status", "next_attempt_at"])
        if was_pending and delivery.status != WebhookDelivery.Status.PENDING:
            _release_next(delivery)
    return attempt


def _release_next(delivery: WebhookDelivery) -> None:
    """The next pending delivery of the same object to the same endpoint may go now."""
    following = (WebhookDelivery.objects.filter(endpoint_id=delivery.endpoint_id, ordering_key=delivery.ordering_key,
                                                status=WebhookDelivery.Status.PENDING, pk__gt=delivery.pk)
                 .order_by("pk").values_list("pk", flat=True).first())
    if following is not None:
        schedule_send([following])


def admins():
    return (get_user_model().objects.filter(Q(groups__name=roles.ADMIN) | Q(is_superuser=True), is_active=True)
            .distinct())


def _endpoint_mark_failing(endpoint: WebhookEndpoint, *, now: datetime, reason: str) -> None:
    """Mark the endpoint failing (from the first give-up on) and tell the admins once per failing spell."""
    if endpoint.status != WebhookEndpoint.Status.FAILING:
        endpoint.status = WebhookEndpoint.Status.FAILING
        endpoint.failing_since = now
        endpoint.save(update_fields=["status", "failing_since"])
    message = (f"Webhook endpoint {endpoint.url} is failing: a delivery gave up after {MAX_ATTEMPTS} attempts "
               f"({reason or 'no 2xx answer'}).")
    link = reverse("integrations:webhook_endpoint", args=[endpoint.pk])
    notify(users=list(admins()), kind="webhook.failing", message=message, link=link,
           dedupe_key=f"webhook.failing:{endpoint.pk}:{int(endpoint.failing_since.timestamp())}",
           email_subject=f"revops: webhook endpoint failing ({endpoint.url})"[:200])


# --- selectors -------------------------------------------------------------------------------------


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending deliveries to enabled endpoints that are due and not held by an earlier one, oldest first."""
    now = now or timezone.now()
    earlier_pending = WebhookDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"), ordering_key=OuterRef("ordering_key"),
        status=WebhookDelivery.Status.PENDING, pk__lt=OuterRef("pk"))
    rows = (WebhookDelivery.objects
            .filter(status=WebhookDelivery.Status.PENDING)
            .filter(Q(endpoint__enabled=True) | Q(event__type=TEST_EVENT))
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .filter(~Exists(earlier_pending))
            .order_by("pk"))
    return list(rows.values_list("pk", flat=True)[:limit])


def endpoints_with_stats() -> QuerySet[WebhookEndpoint]:
    pending, failed = WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED
    return WebhookEndpoint.objects.annotate(
        pending_count=Count("deliveries", filter=Q(deliveries__status=pending)),
        failed_count=Count("deliveries", filter=Q(deliveries__status=failed)),
        last_delivered_at=Max("deliveries__delivered_at"),
    ).order_by("id")


def endpoint_deliveries(*, endpoint_id: int, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries, newest first, with their event and attempts (newest attempt first)."""
    rows = (WebhookDelivery.objects.filter(endpoint_id=endpoint_id).select_related("event")
            .prefetch_related(Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("-attempted_at", "-id")))
            .order_by("-pk"))
    if status:
        rows = rows.filter(status=status)
    return rows
