"""The dashboard's server-sent events: the change signal, the stream's text, its bounded life, access."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.stream import LIVE_SUBSCRIBER, event_stream, live_version
from recognition.models import JournalEntry
from revops.kernel.events import deliver_pending
from revops.kernel.models import EventDelivery, OutboxEvent
from tests.factories import CustomerFactory
from tests.portal.factories import portal_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast_stream(settings):
    settings.REVOPS_ANALYTICS_STREAM_SECONDS = 0.4
    settings.REVOPS_ANALYTICS_STREAM_POLL = 0.02
    settings.REVOPS_ANALYTICS_STREAM_KEEPALIVE = 0.1


def _events(chunks: list[str]) -> list[dict]:
    out = []
    for chunk in chunks:
        fields = dict(line.split(": ", 1) for line in chunk.strip().splitlines() if not line.startswith(":"))
        if "event" in fields:
            out.append(fields)
    return out


def test_the_version_moves_when_a_payment_is_delivered_to_the_live_subscriber(finance_user):
    from billing.services.payments import payment_record

    customer = CustomerFactory(currency="USD")
    before = live_version()
    payment_record(customer=customer, amount="10.00", currency="USD", by=finance_user)
    assert live_version() == before  # recorded, not yet delivered: the rollups may not have caught up
    deliver_pending()
    event = OutboxEvent.objects.get(type="payment.received")
    assert EventDelivery.objects.get(event=event, subscriber=LIVE_SUBSCRIBER).status == "delivered"
    entry = JournalEntry.objects.get(source="payment.received")  # recognition posted the cash on delivery
    assert live_version() == f"{event.pk}.{entry.pk}"


def test_the_stream_sends_the_version_first_then_each_change(client, make_user, finance_user, fast_stream):
    from billing.services.payments import payment_record

    customer = CustomerFactory(currency="USD")
    client.force_login(make_user("finance"))
    response = client.get("/analytics/stream/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream; charset=utf-8"
    assert response["Cache-Control"] == "no-cache, no-transform"
    chunks = (c.decode() for c in response.streaming_content)
    assert next(chunks) == "retry: 1000\n\n"
    first = next(chunks)
    version = live_version()
    assert first == f'id: {version}\nevent: kpis\ndata: {{"version": "{version}"}}\n\n'
    payment_record(customer=customer, amount="10.00", currency="USD", by=finance_user)
    deliver_pending()
    rest = list(chunks)  # until the stream's lifetime is over
    (change,) = _events(rest)
    event_id = OutboxEvent.objects.get(type="payment.received").pk
    entry_id = JournalEntry.objects.get(source="payment.received").pk
    assert change["id"] == f"{event_id}.{entry_id}" and change["event"] == "kpis"
    assert ": keep-alive\n\n" in rest
    assert rest[-1] == ": lifetime over, reconnect\n\n"
    response.close()


def test_a_reconnection_with_the_current_last_event_id_gets_no_repeat(client, make_user, fast_stream):
    client.force_login(make_user("customer_success"))
    response = client.get("/analytics/stream/", headers={"Last-Event-ID": live_version()})
    chunks = [c.decode() for c in response.streaming_content]
    assert _events(chunks) == []
    assert chunks[0] == "retry: 1000\n\n" and chunks[-1] == ": lifetime over, reconnect\n\n"
    stale = client.get("/analytics/stream/", headers={"Last-Event-ID": "0.0-old"})
    assert [e["id"] for e in _events([c.decode() for c in stale.streaming_content])] == [live_version()]


def test_the_stream_is_for_staff_only(client, make_user):
    response = client.get("/analytics/stream/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(portal_user(CustomerFactory(), "ap@portal.example"))
    assert client.get("/analytics/stream/").status_code == 403
    client.force_login(make_user())
    assert client.get("/analytics/stream/").status_code == 403


def test_the_generator_keeps_alive_and_ends_after_its_lifetime():
    """A fake clock: 0.5 s a poll, keep-alive every 2 s, lifetime 5 s; the version changes once at t=3."""
    now = {"t": 0.0}
    versions = iter(["1.0"] * 6 + ["2.0"] * 100)
    chunks = list(event_stream(last_event_id="1.0", lifetime=5, poll=0.5, keepalive=2,
                               version=lambda: next(versions), sleep=lambda s: now.update(t=now["t"] + s),
                               clock=lambda: now["t"]))
    assert chunks == ["retry: 1000\n\n", ": keep-alive\n\n",
                      'id: 2.0\nevent: kpis\ndata: {"version": "2.0"}\n\n', ": lifetime over, reconnect\n\n"]


@settings(max_examples=200, deadline=None)
@given(versions=st.lists(st.sampled_from(["1.0", "1.1", "2.1", "3.1"]), min_size=1, max_size=40),
       last=st.one_of(st.none(), st.sampled_from(["1.0", "2.1"])), lifetime=st.integers(0, 50))
def test_the_stream_sends_each_change_once_and_always_ends(versions, last, lifetime):
    """Whatever the versions seen at each poll: an event for each change (a repeat of the version just sent
    is never sent), none for the client's own Last-Event-ID, and the stream ends after its lifetime."""
    now = {"t": 0}
    seen = iter(versions + [versions[-1]] * 100)
    polled = []

    def version():
        polled.append(next(seen))
        return polled[-1]

    chunks = list(event_stream(last_event_id=last, lifetime=lifetime, poll=1, keepalive=1000, version=version,
                               sleep=lambda s: now.update(t=now["t"] + s), clock=lambda: now["t"]))
    sent = [c.split("\n")[0][4:] for c in chunks if c.startswith("id: ")]
    expected, previous = [], last
    for v in polled:
        if v != previous:
            expected.append(v)
            previous = v
    assert sent == expected
    assert len(polled) == lifetime + 1 and chunks[-1] == ": lifetime over, reconnect\n\n"
