"""The transactional outbox: written with the change (never without it), delivered after commit, in
order per subscriber, retried on failure, and harmless to deliver again."""
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from customers.services import customer_create
from revops.kernel import events
from revops.kernel.actor import acting_as
from revops.kernel.models import EventDelivery, OutboxEvent
from revops.kernel.tasks import deliver_events


@pytest.fixture(autouse=True)
def only_test_subscribers(monkeypatch):
    """The apps' own subscribers (some listen to every event) are not what these tests are about."""
    monkeypatch.setattr(events, "_registry", {})


@pytest.fixture
def recorder():
    """A subscriber to customer.* that remembers which events it saw, registered for one test."""
    seen: list[int] = []

    def handler(event):
        seen.append(event.pk)

    events.subscriber("test.recorder", "customer.*")(handler)
    yield seen
    events.unsubscribe("test.recorder")


def _create(name="Acme", **extra):
    return customer_create(name=name, currency="USD", **extra)


@pytest.mark.django_db
def test_the_event_is_written_in_the_same_transaction_as_the_change(recorder):
    customer = _create()
    event = OutboxEvent.objects.get()
    assert (event.type, event.aggregate_type, event.aggregate_id) == ("customer.created", "customers.customer",
                                                                      str(customer.pk))
    assert event.payload["name"] == "Acme"
    assert EventDelivery.objects.get().subscriber == "test.recorder"


@pytest.mark.django_db
def test_no_event_without_the_change_when_the_transaction_rolls_back(recorder):
    with pytest.raises(RuntimeError), transaction.atomic():
        _create()
        raise RuntimeError("the rest of the business operation failed")
    assert Customer.objects.count() == 0
    assert OutboxEvent.objects.count() == 0
    assert EventDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_record_event_refuses_to_run_outside_a_transaction():
    customer = Customer.objects.create(name="X", currency="USD")
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        events.record_event("customer.touched", customer)
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db
def test_delivery_happens_after_commit_not_before(recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            _create()
            assert recorder == []
        assert recorder == []  # committed (from the test's point of view) but not yet dispatched
    assert len(callbacks) == 1  # one dispatch per transaction
    callbacks[0]()
    event = OutboxEvent.objects.get()
    assert recorder == [event.pk]
    delivery = EventDelivery.objects.get()
    assert delivery.status == EventDelivery.Status.DELIVERED
    assert delivery.attempts == 1
    assert delivery.delivered_at is not None


@pytest.mark.django_db
def test_many_events_in_one_transaction_schedule_one_dispatch(recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        _create("A")
        _create("B")
        _create("C")
    assert len(callbacks) == 1
    assert recorder == list(OutboxEvent.objects.order_by("id").values_list("id", flat=True))


@pytest.mark.django_db
def test_running_the_delivery_again_delivers_nothing_twice(recorder, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _create()
    assert deliver_events.delay().get() == 0
    assert deliver_events.delay().get() == 0
    assert len(recorder) == 1


@pytest.mark.django_db
def test_redelivery_is_harmless_for_an_idempotent_subscriber(django_capture_on_commit_callbacks):
    """A subscriber keyed on the event id (as they all must be) ends in the same state after a redelivery."""
    effects: dict[int, str] = {}
    events.subscriber("test.idempotent", "customer.created")(lambda e: effects.__setitem__(e.pk, e.payload["name"]))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _create("Once")
        delivery = EventDelivery.objects.get(subscriber="test.idempotent")
        assert events.redeliver([delivery.pk]) == 1
        assert events.deliver_pending() == 1
        delivery.refresh_from_db()
        assert delivery.attempts == 2
        assert effects == {delivery.event_id: "Once"}
    finally:
        events.unsubscribe("test.idempotent")


@pytest.mark.django_db
def test_a_failing_handler_rolls_back_its_own_writes_and_is_retried_later(django_capture_on_commit_callbacks):
    calls = {"n": 0}

    def flaky(event):
        calls["n"] += 1
        Customer.objects.filter(pk=event.aggregate_id).update(industry=f"touched-{calls['n']}")
        if calls["n"] == 1:
            raise ConnectionError("downstream unavailable")

    events.subscriber("test.flaky", "customer.created")(flaky)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            customer = _create()
        delivery = EventDelivery.objects.get(subscriber="test.flaky")
        assert delivery.status == EventDelivery.Status.PENDING
        assert delivery.attempts == 1
        assert "ConnectionError: downstream unavailable" in delivery.last_error
        customer.refresh_from_db()
        assert customer.industry == ""  # the failed attempt's write was rolled back with it
        assert events.deliver_pending() == 0  # not due yet: backoff
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            assert events.deliver_pending() == 1
        delivery.refresh_from_db()
        customer.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_error) == (EventDelivery.Status.DELIVERED, 2, "")
        assert customer.industry == "touched-2"
    finally:
        events.unsubscribe("test.flaky")


@pytest.mark.django_db
def test_order_is_kept_per_subscriber_and_a_failure_does_not_block_others(django_capture_on_commit_callbacks):
    seen_ok: list[str] = []
    seen_strict: list[str] = []
    broken = {"B": True}

    def strict(event):
        if broken.get(event.payload["name"]):
            raise ValueError("cannot handle B yet")
        seen_strict.append(event.payload["name"])

    events.subscriber("test.strict", "customer.created")(strict)
    events.subscriber("test.ok", "customer.created")(lambda e: seen_ok.append(e.payload["name"]))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            for name in ("A", "B", "C"):
                _create(name)
        assert seen_ok == ["A", "B", "C"]
        assert seen_strict == ["A"]  # B failed, so C waits behind it: no out-of-order delivery
        EventDelivery.objects.filter(subscriber="test.strict").update(next_attempt_at=None)
        broken.clear()
        seen_strict.append("(fixed)")
        events.deliver_pending()
        assert seen_strict == ["A", "(fixed)", "B", "C"]
    finally:
        events.unsubscribe("test.strict")
        events.unsubscribe("test.ok")


@pytest.mark.django_db
def test_a_delivery_that_keeps_failing_is_marked_dead_and_stops_blocking(django_capture_on_commit_callbacks):
    def always_fails(event):
        raise ValueError("broken subscriber")

    events.subscriber("test.broken", "customer.created")(always_fails)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            _create("A")
        delivery = EventDelivery.objects.get(subscriber="test.broken")
        for _ in range(events.MAX_ATTEMPTS):
            EventDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
            events.deliver_pending()
        delivery.refresh_from_db()
        assert delivery.status == EventDelivery.Status.DEAD
        assert delivery.attempts == events.MAX_ATTEMPTS
    finally:
        events.unsubscribe("test.broken")


@pytest.mark.django_db
def test_the_event_records_who_acted(make_user, recorder):
    user = make_user("sales_rep")
    with acting_as(user):
        _create()
    assert OutboxEvent.objects.get().actor == user


@pytest.mark.django_db
def test_events_nobody_subscribes_to_are_kept_without_deliveries():
    _create()
    assert OutboxEvent.objects.count() == 1
    assert EventDelivery.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_deliver_each_event_exactly_once():
    """Two workers draining at once (real threads, real connections): per-subscriber locks mean each
    event reaches the subscriber once."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row/advisory locks; SQLite serialises writers (CI runs PostgreSQL)")
    seen: list[int] = []
    lock = threading.Lock()

    def handler(event):
        with lock:
            seen.append(event.pk)

    events.subscriber("test.concurrent", "customer.*")(handler)
    for i in range(40):
        with transaction.atomic():
            customer = Customer.objects.create(name=f"C{i}", currency="USD")
            events.record_event("customer.created", customer, {"i": i})
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            for _ in range(5):
                events.deliver_pending(limit=5)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events.deliver_pending()
        assert sorted(seen) == sorted(set(seen))
        assert len(seen) == 40
        assert EventDelivery.objects.filter(status=EventDelivery.Status.DELIVERED).count() == 40
    finally:
        events.unsubscribe("test.concurrent")


@pytest.mark.django_db
def test_a_drain_with_nothing_waiting_costs_one_query(recorder, django_assert_num_queries):
    # A bill run drains the outbox after every contract's commit: subscribers with nothing pending cost nothing.
    _create()
    events.deliver_pending()
    with django_assert_num_queries(1):
        assert events.deliver_pending() == 0
