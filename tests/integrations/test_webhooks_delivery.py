"""Webhook delivery end to end: outbox event -> delivery -> signed POST to a real HTTP server on 127.0.0.1,
retries on the schedule, the failing endpoint and its one notice, ordering per object, no duplicates,
replay, the SSRF guard at delivery time, and events that opt out."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.services import customer_create, customer_update
from integrations.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from integrations.services import webhooks
from integrations.services.signing import verify
from revops.kernel import events
from revops.kernel.events import record_event
from revops.kernel.models import EventDelivery, Notification, OutboxEvent

pytestmark = pytest.mark.django_db


class Receiver:
    """What the local test server received, and the status codes it answers with (200 once they run out)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.codes: list[int] = []
        self.url = ""

    def answer(self) -> int:
        return self.codes.pop(0) if self.codes else 200

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        receiver: Receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        code = receiver.answer()
        reply = b'{"received": true}' if code < 300 else b"upstream exploded"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    """A real HTTP server on 127.0.0.1 (a free port), allowed by REVOPS_WEBHOOK_ALLOWED_HOSTS."""
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver()
    server.receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/revops"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin(make_user):
    return make_user("admin", is_staff=True)


@pytest.fixture
def endpoint_for(receiver, admin):
    def make(*patterns: str, **extra) -> WebhookEndpoint:
        return webhooks.webhook_endpoint_create(url=receiver.url, event_types=list(patterns) or ["*"], by=admin,
                                                **extra)

    return make


@pytest.fixture
def emit(django_capture_on_commit_callbacks):
    """Commit a change that records events, then run what runs after commit (outbox, webhook tasks)."""

    def run(fn):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            result = fn()
        # The test's outer transaction never commits, so the kernel sees its first dispatch still queued and
        # does not queue another: drain the outbox here as the dispatch task would.
        with django_capture_on_commit_callbacks(execute=True):
            events.deliver_pending()
        return result

    return run


def _event(event_type, aggregate, payload=None):
    return lambda: record_event(event_type, aggregate, payload or {})


def test_an_event_is_posted_signed_to_the_endpoint_and_the_receiver_verifies_it(receiver, endpoint_for, emit):
    endpoint = endpoint_for("customer.*")
    customer = emit(lambda: customer_create(name="Globex", currency="EUR"))

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    event = OutboxEvent.objects.get(type="customer.created")
    assert request["path"] == "/hooks/revops"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Revops-Event-Id"] == f"evt_{event.pk}"
    verify(request["headers"]["Revops-Signature"], request["body"], endpoint.secret)  # raises if wrong
    body = json.loads(request["body"])
    assert set(body) == {"id", "type", "created_at", "data"}
    assert (body["id"], body["type"]) == (f"evt_{event.pk}", "customer.created")
    assert datetime.fromisoformat(body["created_at"]) == event.occurred_at
    assert body["created_at"].endswith("+00:00")
    assert body["data"]["name"] == "Globex"
    assert body["data"]["object"] == {"type": "customers.customer", "id": str(customer.pk)}

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.ordering_key) == (
        "succeeded", 1, f"customers.customer:{customer.pk}")
    attempt = delivery.attempt_log.get()
    assert (attempt.status_code, attempt.succeeded, attempt.manual, attempt.error) == (200, True, False, "")
    assert attempt.response_excerpt == '{"received": true}'
    assert attempt.latency_ms < 5000


def test_only_enabled_endpoints_whose_patterns_match_get_a_delivery(receiver, endpoint_for, emit):
    wants_contracts = endpoint_for("contract.*")
    wants_exact = endpoint_for("customer.created")
    wants_all = endpoint_for("*")
    disabled = endpoint_for("*", enabled=False)
    emit(lambda: customer_create(name="Initech", currency="USD"))

    got = set(WebhookDelivery.objects.values_list("endpoint_id", flat=True))
    assert got == {wants_exact.pk, wants_all.pk}
    assert wants_contracts.pk not in got and disabled.pk not in got
    assert len(receiver.requests) == 2


def test_events_whose_payload_says_webhook_false_are_not_sent(receiver, endpoint_for, emit, admin):
    endpoint_for("alert.*")
    emit(_event("alert.triggered", admin, {"rule": 1, "kpi": "mrr", "webhook": False}))
    assert WebhookDelivery.objects.count() == 0 and receiver.requests == []

    emit(_event("alert.triggered", admin, {"rule": 2, "kpi": "mrr", "webhook": True}))
    assert WebhookDelivery.objects.count() == 1
    (body,) = receiver.bodies()
    assert body["data"] == {"rule": 2, "kpi": "mrr", "object": {"type": "auth.user", "id": str(admin.pk)}}


def test_handing_the_same_outbox_event_over_again_makes_no_second_delivery(receiver, endpoint_for, emit):
    endpoint_for("customer.*")
    emit(lambda: customer_create(name="Hooli", currency="USD"))
    outbox_row = EventDelivery.objects.get(subscriber="integrations.webhooks")

    assert events.redeliver([outbox_row.pk]) == 1
    emit(lambda: events.deliver_pending())
    event = outbox_row.event
    webhooks.webhook_deliveries_create(event=event)  # and once more by hand

    assert WebhookDelivery.objects.count() == 1
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().attempts == 1


def test_a_failing_receiver_is_retried_on_the_schedule_then_the_endpoint_fails_and_admins_hear_once(
        receiver, endpoint_for, emit, admin, make_user, django_capture_on_commit_callbacks):
    finance = make_user("finance")
    receiver.codes = [500] * 20
    endpoint = endpoint_for("customer.*")
    customer = emit(lambda: customer_create(name="Umbrella", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    t0 = delivery.attempt_log.get().attempted_at
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("pending", 1, t0 + timedelta(minutes=1))

    # 1 min, 5 min, 30 min, 2 h, 5 h, 10 h and 24 h after the first attempt: 8 attempts in all
    offsets = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
               timedelta(hours=5), timedelta(hours=10), timedelta(hours=24)]
    for n, offset in enumerate(offsets, start=2):
        due = t0 + offset
        assert webhooks.webhook_deliver(delivery_id=delivery.pk, now=due - timedelta(seconds=1)) is None  # not yet
        assert webhooks.webhook_deliveries_due(now=due - timedelta(seconds=1)) == []
        assert webhooks.webhook_deliveries_due(now=due) == [delivery.pk]
        with django_capture_on_commit_callbacks(execute=True):
            attempt = webhooks.webhook_deliver(delivery_id=delivery.pk, now=due)
        assert (attempt.status_code, attempt.succeeded, attempt.error) == (500, False, "HTTP 500")
        assert attempt.response_excerpt == "upstream exploded"
        delivery.refresh_from_db()
        assert delivery.attempts == n
        if n < 8:
            assert (delivery.status, delivery.next_attempt_at) == ("pending", t0 + offsets[n - 1])

    assert list(delivery.attempt_log.order_by("attempted_at").values_list("attempted_at", flat=True)) == [
        t0, *(t0 + o for o in offsets)]
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    assert len(receiver.requests) == 8
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.failing_since) == ("failing", t0 + timedelta(hours=24))
    notice = Notification.objects.get()
    assert (notice.user, notice.kind) == (admin, "webhook.failing")
    assert endpoint.url in notice.message and "8 attempts" in notice.message
    assert notice.link == f"/integrations/webhooks/{endpoint.pk}/"
    assert [m.to for m in mail.outbox] == [[admin.email]]
    assert not Notification.objects.filter(user=finance).exists()
    assert webhooks.webhook_deliver(delivery_id=delivery.pk, now=t0 + timedelta(days=3)) is None  # gave up

    # a second delivery that gives up while the endpoint is still failing: no second notice
    emit(lambda: customer_update(customer_id=customer.pk, name="Umbrella Corp"))
    second = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    WebhookDelivery.objects.filter(pk=second.pk).update(attempts=7, next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_deliver(delivery_id=second.pk, now=t0 + timedelta(days=2))
    second.refresh_from_db()
    assert second.status == "failed"
    assert Notification.objects.count() == 1 and len(mail.outbox) == 1

    # the receiver is back: a replay succeeds and the endpoint is active again
    receiver.codes = []
    webhooks.webhook_delivery_replay(delivery_id=second.pk, by=admin)
    endpoint.refresh_from_db()
    second.refresh_from_db()
    assert (endpoint.status, endpoint.failing_since, second.status) == ("active", None, "succeeded")


def test_an_unreachable_receiver_is_a_failed_attempt_with_the_reason(receiver, endpoint_for, emit, admin):
    endpoint = webhooks.webhook_endpoint_create(url="http://127.0.0.1:9/closed", event_types=["customer.*"], by=admin)
    emit(lambda: customer_create(name="Vandelay", currency="USD"))
    attempt = WebhookAttempt.objects.get(delivery__endpoint=endpoint)
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("ConnectionRefusedError")
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "pending"


def test_deliveries_of_one_object_are_sent_in_order(receiver, endpoint_for, emit, django_capture_on_commit_callbacks):
    endpoint_for("customer.*")
    receiver.codes = [503]  # the first POST fails
    customer = emit(lambda: customer_create(name="Stark", currency="USD"))
    first = WebhookDelivery.objects.get()
    assert first.status == "pending"

    emit(lambda: customer_update(customer_id=customer.pk, name="Stark Industries"))
    second = WebhookDelivery.objects.exclude(pk=first.pk).get()
    # held: created and queued, but not sent while the first is pending, whatever the clock says
    assert (second.status, second.attempts) == ("pending", 0)
    assert len(receiver.requests) == 1
    later = first.next_attempt_at + timedelta(hours=1)
    assert webhooks.webhook_deliver(delivery_id=second.pk, now=later) is None
    assert webhooks.webhook_deliveries_due(now=later) == [first.pk]

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_deliver(delivery_id=first.pk, now=first.next_attempt_at)
    assert [b["type"] for b in receiver.bodies()] == ["customer.created", "customer.created", "customer.updated"]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


def test_other_objects_are_not_held_by_a_pending_delivery(receiver, endpoint_for, emit):
    endpoint_for("customer.*")
    receiver.codes = [500]
    emit(lambda: customer_create(name="Acme", currency="USD"))
    emit(lambda: customer_create(name="Wayne", currency="USD"))
    assert [b["data"]["name"] for b in receiver.bodies()] == ["Acme", "Wayne"]
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["pending", "succeeded"]


def test_replay_resends_the_same_body_as_a_manual_attempt_whatever_the_status(receiver, endpoint_for, emit, admin):
    endpoint_for("customer.*")
    emit(lambda: customer_create(name="Soylent", currency="USD"))
    delivery = WebhookDelivery.objects.get()

    attempt = webhooks.webhook_delivery_replay(delivery_id=delivery.pk, by=admin)
    assert (attempt.manual, attempt.succeeded, attempt.status_code) == (True, True, 200)
    first, again = receiver.requests
    assert first["body"] == again["body"]  # same event id: the receiver drops the repeat
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.attempt_log.count()) == ("succeeded", 1, 2)

    receiver.codes = [500]
    failed_replay = webhooks.webhook_delivery_replay(delivery_id=delivery.pk, by=admin)
    assert (failed_replay.manual, failed_replay.succeeded) == (True, False)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"  # a failed replay changes only the log


def test_replay_is_for_admins_only(receiver, endpoint_for, emit, make_user):
    endpoint_for("customer.*")
    emit(lambda: customer_create(name="Tyrell", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    from revops.kernel.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        webhooks.webhook_delivery_replay(delivery_id=delivery.pk, by=make_user("finance"))
    assert delivery.attempt_log.count() == 1 and len(receiver.requests) == 1


def test_the_ssrf_guard_runs_again_at_delivery_time(receiver, endpoint_for, emit, settings):
    endpoint_for("customer.*")
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = []  # the allow-list changed after the endpoint was saved
    emit(lambda: customer_create(name="Cyberdyne", currency="USD"))
    attempt = WebhookAttempt.objects.get()
    assert receiver.requests == []
    assert attempt.status_code is None and not attempt.succeeded
    assert attempt.error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address")


def test_an_endpoint_allowed_a_private_network_by_an_admin_is_delivered_to(receiver, emit, admin, settings):
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = []
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.created"], by=admin,
                                                allow_private_network=True)
    emit(lambda: customer_create(name="Oscorp", currency="USD"))
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get(endpoint=endpoint).status == "succeeded"


def test_a_test_event_goes_to_its_endpoint_only_even_when_disabled(receiver, endpoint_for, emit, admin):
    target = endpoint_for("invoice.issued", enabled=False)
    endpoint_for("*")  # wants everything, but not another endpoint's test
    delivery = emit(lambda: webhooks.webhook_test_send(endpoint_id=target.pk, by=admin))
    assert list(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == [target.pk]
    (body,) = receiver.bodies()
    assert (body["type"], body["id"], body["data"]["endpoint"]) == ("webhook.test", f"evt_{delivery.event_id}",
                                                                   target.pk)
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


def test_a_disabled_endpoint_keeps_its_pending_deliveries_until_enabled(receiver, endpoint_for, emit, admin,
                                                                        django_capture_on_commit_callbacks):
    endpoint = endpoint_for("customer.*")
    receiver.codes = [500]
    emit(lambda: customer_create(name="Massive Dynamic", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    webhooks.webhook_endpoint_update(endpoint_id=endpoint.pk, by=admin, enabled=False)
    due = delivery.next_attempt_at if delivery.next_attempt_at else None
    assert webhooks.webhook_deliver(delivery_id=delivery.pk, now=due) is None
    assert webhooks.webhook_deliveries_due(now=due) == []
    webhooks.webhook_endpoint_update(endpoint_id=endpoint.pk, by=admin, enabled=True)
    assert webhooks.webhook_deliveries_due(now=due) == [delivery.pk]
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_deliver(delivery_id=delivery.pk, now=due).succeeded


def test_the_sweep_task_sends_what_is_due(receiver, endpoint_for, emit, django_capture_on_commit_callbacks):
    from integrations.tasks import send_due_webhooks

    endpoint_for("customer.*")
    receiver.codes = [500]
    emit(lambda: customer_create(name="Dunder Mifflin", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    assert send_due_webhooks.delay().get() == 0  # the retry is a minute away
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.next_attempt_at - timedelta(minutes=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_webhooks.delay().get() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("succeeded", 2, 2)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(objects=st.lists(st.integers(min_value=0, max_value=1), min_size=2, max_size=6),
       answers=st.lists(st.sampled_from([200, 500, 503]), max_size=6))
def test_whatever_fails_each_object_s_events_arrive_in_order_and_all_arrive(
        receiver, emit, admin, django_capture_on_commit_callbacks, objects, answers):
    """Property: for any order of events on two objects and any run of failures (fewer than the attempts
    a delivery has), every event is eventually received with a 2xx, and per object in recording order."""
    WebhookEndpoint.objects.update(enabled=False)  # the endpoints of earlier examples
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.updated"], by=admin)
    customers = [emit(lambda n=n: customer_create(name=f"Object {n}", currency="USD")) for n in range(2)]
    receiver.requests.clear()
    receiver.codes = list(answers)
    for i, which in enumerate(objects):
        emit(lambda i=i, which=which: customer_update(customer_id=customers[which].pk, name=f"v{i}"))
    clock = timezone.now()
    for _ in range(30):
        due = webhooks.webhook_deliveries_due(now=clock)
        if not WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").exists():
            break
        for pk in due:
            with django_capture_on_commit_callbacks(execute=True):
                webhooks.webhook_deliver(delivery_id=pk, now=clock)
        clock += timedelta(hours=25)
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert set(deliveries.values_list("status", flat=True)) == {"succeeded"}
    accepted = [json.loads(r["body"]) for r, code in zip(receiver.requests, [*answers, *[200] * 99], strict=False)
                if code == 200]
    for customer in customers:
        got = [int(b["id"][4:]) for b in accepted if b["data"]["object"]["id"] == str(customer.pk)]
        expected = list(OutboxEvent.objects.filter(type="customer.updated", aggregate_id=str(customer.pk))
                        .order_by("pk").values_list("pk", flat=True))
        assert got == expected
