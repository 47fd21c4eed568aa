"""Live dashboard updates by server-sent events (`GET /analytics/stream/`).

The change signal is a *version* string, "<event>.<entry>":

* <event>: the id of the newest outbox event delivered to the `analytics.live` subscriber (see
  analytics/subscribers.py), which listens to every event that moves a dashboard number (invoices,
  payments, credit notes, contracts, quotes, accounting periods). Its handler does nothing: the
  delivery row turning "delivered" *is* the bump. It is registered after the analytics rollup
  subscriber, so in a drain the MRR rollup is rebuilt before the version moves, and the dashboard
  re-fetches numbers that already include the change.
* <entry>: the newest journal entry id, because revenue recognition posts entries on a schedule
  without an outbox event.

Both are index-only MAX() lookups (the delivery queue index (subscriber, status, event) and the
primary key), so a connection polls the version every REVOPS_ANALYTICS_STREAM_POLL seconds (0.5) at
next to no cost, and no table or cache had to be added. The stream:

* sends `retry:` then, at once, the current version as an `event: kpis` with `id: <version>`, unless
  the client's Last-Event-ID (sent by EventSource when it reconnects) is already that version;
* sends another `kpis` event whenever the version changes;
* sends a `: keep-alive` comment when nothing was written for REVOPS_ANALYTICS_STREAM_KEEPALIVE
  seconds (15), so proxies keep the connection open;
* ends after REVOPS_ANALYTICS_STREAM_SECONDS (25): the browser reconnects after `retry` ms with its
  Last-Event-ID, so a thread is never held for long and a missed change is sent on reconnection.

Each open stream holds one server thread (and one database connection) for its lifetime: serve it from
a threaded server (runserver, gunicorn `--worker-class gthread --threads N` or gevent), not from
gunicorn's sync workers.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.models import Max
from django.http import StreamingHttpResponse

from revops.kernel.views import staff_required

LIVE_SUBSCRIBER = "analytics.live"
# Not customer.*: a customer's own change moves no number until it has a contract, invoice or payment.
# Invoice drafts (invoice.created / invoice.approved) move no dashboard figure: a bill run writes thousands.
INVOICE_FIGURE_EVENTS = ("invoice.issued", "invoice.paid", "invoice.voided", "invoice.uncollectible",
                         "invoice.overdue")
LIVE_PATTERNS = (*INVOICE_FIGURE_EVENTS, "payment.*", "credit_note.*", "contract.*", "quote.*", "period.*")
RETRY_MS = 1000


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def live_version() -> str:
    """The dashboard's change signal (see the module docstring): "<delivered event id>.<journal entry id>"."""
    from recognition.models import JournalEntry
    from revops.kernel.models import EventDelivery

    event = (EventDelivery.objects.filter(subscriber=LIVE_SUBSCRIBER, status=EventDelivery.Status.DELIVERED)
             .aggregate(m=Max("event_id"))["m"])
    entry = JournalEntry.objects.aggregate(m=Max("id"))["m"]
    return f"{event or 0}.{entry or 0}"


def sse_event(version: str) -> str:
    return f"id: {version}\nevent: kpis\ndata: {json.dumps({'version': version})}\n\n"


def event_stream(*, last_event_id: str | None, lifetime: float, poll: float, keepalive: float,
                 version: Callable[[], str] = live_version, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> Iterator[str]:
    """The text of one connection's stream, chunk by chunk (one event or comment each)."""
    started = last_write = clock()
    yield f"retry: {RETRY_MS}\n\n"
    sent = last_event_id
    while True:
        current = version()
        if current != sent:
            yield sse_event(current)
            sent, last_write = current, clock()
        now = clock()
        if now - started >= lifetime:
            yield ": lifetime over, reconnect\n\n"
            return
        if now - last_write >= keepalive:
            yield ": keep-alive\n\n"
            last_write = now
        sleep(poll)


@staff_required()
def stream(request):
    """Staff only: anonymous visitors are sent to the sign-in page, portal users get 403."""
    response = StreamingHttpResponse(
        event_stream(last_event_id=request.headers.get("Last-Event-ID") or request.GET.get("last_event_id"),
                     lifetime=_setting("REVOPS_ANALYTICS_STREAM_SECONDS", 25),
                     poll=_setting("REVOPS_ANALYTICS_STREAM_POLL", 0.5),
                     keepalive=_setting("REVOPS_ANALYTICS_STREAM_KEEPALIVE", 15)),
        content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
