"""Domain events through a transactional outbox.

`record_event` writes the event (and one delivery row per interested subscriber) in the caller's
transaction, so an event exists if and only if the change it describes was committed. After commit a
Celery task (`deliver_events`) hands pending events to in-process subscribers, per subscriber in event
order. Each handler call and the mark "delivered" share one transaction, so a crash in between rolls
both back and the event is simply delivered again: at-least-once, and subscribers must be idempotent.

Subscribing:

    @subscriber("contracts.on_quote_accepted", "quote.accepted")
    def on_quote_accepted(event: OutboxEvent) -> None: ...

A subscriber registered after an event was recorded does not receive that event.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase

from django.db import connection, models, transaction
from django.utils import timezone

from .actor import current_actor
from .models import EventDelivery, OutboxEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH_SIZE = 200


@dataclass(frozen=True)
class Subscriber:
    name: str
    patterns: tuple[str, ...]
    handler: Callable[[OutboxEvent], None]
    # Optional check made when the event is recorded (in its transaction): False = nothing to do for it now,
    # so no delivery row is written (the webhooks subscriber when no endpoint wants that type).
    accepts: Callable[[str], bool] | None = None

    def wants(self, event_type: str) -> bool:
        return any(fnmatchcase(event_type, p) for p in self.patterns)


def _interested(event_type: str) -> list[str]:
    return [s.name for s in _registry.values()
            if s.wants(event_type) and (s.accepts is None or s.accepts(event_type))]


_registry: dict[str, Subscriber] = {}


def subscriber(name: str, *patterns: str, accepts: Callable[[str], bool] | None = None):
    """Register `handler` under a stable `name` for event types matching the glob `patterns` (and, when
    given, for which `accepts(event_type)` is true at the time the event is recorded)."""
    if not patterns:
        raise ValueError("a subscriber needs at least one event type pattern")

    def register(handler: Callable[[OutboxEvent], None]):
        _registry[name] = Subscriber(name=name, patterns=tuple(patterns), handler=handler, accepts=accepts)
        return handler

    return register


def unsubscribe(name: str) -> None:
    _registry.pop(name, None)


def subscribers() -> dict[str, Subscriber]:
    return dict(_registry)


def record_event(event_type: str, aggregate: models.Model, payload: dict | None = None) -> OutboxEvent:
    """Write `event_type` about `aggregate` into the outbox, inside the caller's transaction.

    Must be called inside `transaction.atomic()`: an event written in autocommit mode could survive a
    failure of the change it describes.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("record_event must run inside transaction.atomic() with the change it describes")
    actor = current_actor()
    event = OutboxEvent.objects.create(
        type=event_type,
        aggregate_type=aggregate._meta.label_lower,
        aggregate_id=str(aggregate.pk),
        payload=payload or {},
        actor_id=getattr(actor, "pk", None),
    )
    interested = _interested(event_type)
    if interested:
        EventDelivery.objects.bulk_create([EventDelivery(event=event, subscriber=name) for name in interested])
        _schedule_dispatch()
    return event


def record_events(event_type: str, items: list[tuple[models.Model, dict]]) -> list[OutboxEvent]:
    """`record_event` for many aggregates at once (one INSERT for the events, one for their deliveries):
    for batch services such as month-end revenue recognition. Same transaction rule."""
    if not items:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("record_events must run inside transaction.atomic() with the change it describes")
    actor_id = getattr(current_actor(), "pk", None)
    created = OutboxEvent.objects.bulk_create([
        OutboxEvent(type=event_type, aggregate_type=aggregate._meta.label_lower, aggregate_id=str(aggregate.pk),
                    payload=payload, actor_id=actor_id) for aggregate, payload in items])
    interested = _interested(event_type)
    if interested:
        EventDelivery.objects.bulk_create([EventDelivery(event=event, subscriber=name)
                                           for event in created for name in interested])
        _schedule_dispatch()
    return created


_draining = threading.local()


def _dispatch_after_commit() -> None:
    if getattr(_draining, "active", False):
        return  # a subscriber recorded this event while we are draining: the running loop picks it up
    from .tasks import deliver_events

    deliver_events.delay()


def _schedule_dispatch() -> None:
    """One dispatch per transaction, however many events it records."""
    if any(func is _dispatch_after_commit for _sids, func, _robust in connection.run_on_commit):
        return
    # robust: a broker hiccup must not break the request that already committed; the beat sweep retries.
    transaction.on_commit(_dispatch_after_commit, robust=True)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


class _SubscriberLock:
    """Only one worker delivers to a given subscriber at a time, which keeps its events in order.

    PostgreSQL: a session advisory lock, tried without waiting. SQLite serialises writers anyway.
    """

    def __init__(self, name: str):
        self.name = name
        self.acquired = False

    def __enter__(self) -> bool:
        if connection.vendor != "postgresql":
            self.acquired = True
            return True
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [f"revops.outbox:{self.name}"])
            self.acquired = bool(cur.fetchone()[0])
        return self.acquired

    def __exit__(self, *exc) -> None:
        if self.acquired and connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))", [f"revops.outbox:{self.name}"])


def deliver_pending(*, limit: int = BATCH_SIZE) -> int:
    """Deliver due pending events to every registered subscriber; return how many were delivered."""
    delivered = 0
    outer = getattr(_draining, "active", False)
    _draining.active = True
    try:
        # One query says which subscribers have anything waiting: a drain after each small commit (a bill
        # run's contract) then costs that query, not a lock and a queue read for every subscriber.
        waiting = set(EventDelivery.objects.filter(status=EventDelivery.Status.PENDING)
                      .order_by().values_list("subscriber", flat=True).distinct())
        for sub in list(_registry.values()):
            if sub.name not in waiting:
                continue
            with _SubscriberLock(sub.name) as got_it:
                if got_it:
                    delivered += _deliver_to(sub, limit=limit)
    finally:
        _draining.active = outer
    return delivered


def _deliver_to(sub: Subscriber, *, limit: int) -> int:
    now = timezone.now()
    queue = list(
        EventDelivery.objects.filter(subscriber=sub.name, status=EventDelivery.Status.PENDING)
        .select_related("event")
        .order_by("event_id")[:limit]
    )
    done = 0
    for delivery in queue:
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            break  # strict order: later events wait for this one's retry
        try:
            with transaction.atomic():
                still_pending = EventDelivery.objects.select_for_update().filter(
                    pk=delivery.pk, status=EventDelivery.Status.PENDING).exists()
                if not still_pending:
                    continue  # delivered meanwhile (a redelivered task, another worker)
                sub.handler(delivery.event)
                delivery.status = EventDelivery.Status.DELIVERED
                delivery.delivered_at = timezone.now()
                delivery.attempts += 1
                delivery.last_error = ""
                delivery.save(update_fields=["status", "delivered_at", "attempts", "last_error"])
        except Exception as exc:  # a failing subscriber must not stop the others; the row records why
            logger.exception("subscriber %s failed on event %s", sub.name, delivery.event_id)
            delivery.attempts += 1
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            delivery.status = (
                EventDelivery.Status.DEAD if delivery.attempts >= MAX_ATTEMPTS else EventDelivery.Status.PENDING
            )
            delivery.next_attempt_at = timezone.now() + _backoff(delivery.attempts)
            delivery.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            if delivery.status == EventDelivery.Status.PENDING:
                break
            continue
        done += 1
    return done


def redeliver(delivery_ids: list[int]) -> int:
    """Put deliveries back in the queue (admin action). Harmless: subscribers are idempotent."""
    return EventDelivery.objects.filter(pk__in=delivery_ids).update(
        status=EventDelivery.Status.PENDING, next_attempt_at=None
    )
