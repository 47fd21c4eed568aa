"""An alert goes out as a webhook, end to end and without mocks: a real MRR below a rule's threshold, the
alert evaluation, the outbox drained, the delivery task sending a signed POST to a real HTTP server on
127.0.0.1. A rule with notify_webhook=False opens its alert but sends nothing."""
from __future__ import annotations

import json
import threading
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from analytics.models import Alert, AlertRule
from analytics.services.alerts import evaluate_alerts
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from integrations import tasks
from integrations.models import WebhookDelivery
from integrations.services import webhooks
from integrations.services.signing import SignatureError, verify
from revops.kernel import roles
from revops.kernel.events import deliver_pending
from revops.kernel.models import OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}/revops/alerts"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def mrr_100(finance_user, django_capture_on_commit_callbacks):
    """One customer on 10 seats × 10.00 from the first of this month: company MRR 100.00 today."""
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable",
                                      ssp=D("10"))
    today = timezone.localdate()
    with django_capture_on_commit_callbacks(execute=True):
        contract_create(customer=CustomerFactory(currency="USD"), start_date=today.replace(day=1), term_months=12,
                        by=finance_user, lines=[LineSpec(seats, D(10), D("10.00"))])
        deliver_pending()
    return today


def test_an_alert_triggered_reaches_the_subscribed_endpoint_signed(receiver, mrr_100, make_user,
                                                                    django_capture_on_commit_callbacks):
    admin = make_user(roles.ADMIN, username="ops-admin")
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["alert.*"], by=admin,
                                                description="Ops pager")
    loud = AlertRule.objects.create(name="MRR floor", kpi="mrr", condition="below", threshold=D("150.00"),
                                    notify_group=roles.FINANCE, notify_email=False, notify_webhook=True)
    quiet = AlertRule.objects.create(name="MRR soft floor", kpi="mrr", condition="below", threshold=D("200.00"),
                                     notify_group=roles.FINANCE, notify_email=False, notify_webhook=False)
    day = mrr_100

    with django_capture_on_commit_callbacks(execute=True):
        result = evaluate_alerts(day)
    assert sorted(result["triggered"]) == sorted([loud.pk, quiet.pk]) and result["opened_count"] == 2
    assert OutboxEvent.objects.filter(type="alert.triggered").count() == 2
    with django_capture_on_commit_callbacks(execute=True):  # the outbox dispatch: deliveries, then eager sends
        deliver_pending()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.send_due_webhooks() == 0  # the beat sweep finds nothing left to send

    loud_alert, quiet_alert = Alert.objects.get(rule=loud), Alert.objects.get(rule=quiet)
    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request["path"] == "/revops/alerts"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Revops-Event-Type"] == "alert.triggered"
    verify(request["headers"]["Revops-Signature"], request["body"], endpoint.secret)
    with pytest.raises(SignatureError):
        verify(request["headers"]["Revops-Signature"], request["body"].replace(b"100.00", b"900.00"), endpoint.secret)
    document = json.loads(request["body"])
    event = OutboxEvent.objects.get(type="alert.triggered", aggregate_id=str(loud_alert.pk))
    assert (document["id"], document["type"]) == (f"evt_{event.pk}", "alert.triggered")
    # (the threshold is printed at the column's scale, 150.000: compared as a number here)
    assert loud_alert.message.startswith("MRR floor: MRR is 100.00, below 150.00")
    assert loud_alert.message.endswith(f" on {day.isoformat()}.")
    data = document["data"]
    assert D(data.pop("threshold")) == D("150.00")
    assert data == {
        "alert": loud_alert.pk, "rule": loud.pk, "rule_name": "MRR floor", "kpi": "mrr", "condition": "below",
        "subject_key": loud_alert.subject_key, "customer": None, "value": "100.00", "message": loud_alert.message,
        "day": day.isoformat(), "object": {"type": "analytics.alert", "id": str(loud_alert.pk)},
    }
    assert "webhook" not in document["data"]

    # The quiet rule's alert is open and in the outbox, but no delivery was made for it.
    assert quiet_alert.cleared_at is None
    assert list(WebhookDelivery.objects.values_list("event__aggregate_id", "status", "attempts")) == [
        (str(loud_alert.pk), "succeeded", 1)]
