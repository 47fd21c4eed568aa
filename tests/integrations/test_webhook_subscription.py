"""The webhooks subscriber is asked, when an event is recorded, whether any enabled endpoint wants its type:
without one, no outbox delivery is written for it (a bill run's thousands of invoice events cost nothing)."""
import pytest

from customers.services import customer_create
from integrations.models import WebhookEndpoint
from revops.kernel.models import EventDelivery

pytestmark = pytest.mark.django_db


def _deliveries_for_webhooks() -> int:
    return EventDelivery.objects.filter(subscriber="integrations.webhooks").count()


def test_no_endpoint_no_delivery_row_and_an_endpoint_for_the_type_gets_one():
    customer_create(name="Before any endpoint", currency="USD")
    assert _deliveries_for_webhooks() == 0
    WebhookEndpoint.objects.create(url="https://hooks.example.com/in", event_types=["invoice.*"], secret="s")
    customer_create(name="Not a type the endpoint wants", currency="USD")
    assert _deliveries_for_webhooks() == 0
    WebhookEndpoint.objects.create(url="https://crm.example.com/in", event_types=["customer.*"], secret="s")
    customer_create(name="Wanted", currency="USD")
    assert _deliveries_for_webhooks() == 1
    WebhookEndpoint.objects.filter(event_types=["customer.*"]).update(enabled=False)
    customer_create(name="Only a disabled endpoint wants it", currency="USD")
    assert _deliveries_for_webhooks() == 1
