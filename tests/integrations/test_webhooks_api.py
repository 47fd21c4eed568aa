"""/api/v1/webhook-endpoints/ and /api/v1/webhook-deliveries/, and the webhook pages: admins only, the
secret shown once, validation in the one error shape, the delivery log, replay and the test send."""
from __future__ import annotations

import pytest
from django.urls import reverse

from customers.services import customer_create, portal_access_grant
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import webhooks
from tests.factories import ContactFactory, CustomerFactory
from tests.integrations.test_webhooks_delivery import emit, receiver  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db

ENDPOINTS = "/api/v1/webhook-endpoints/"
NEW = {"url": "https://93.184.216.34/hooks", "event_types": ["invoice.issued", "contract.*"],
       "description": "ERP bridge"}


@pytest.fixture
def admin(make_user):
    return make_user("admin", is_staff=True)


@pytest.fixture
def portal_user():
    contact = ContactFactory(customer=CustomerFactory(), email="buyer@customer.example")
    return portal_access_grant(contact=contact, password="portal-pass-12345")


def _endpoint(admin, **extra) -> WebhookEndpoint:
    return webhooks.webhook_endpoint_create(**{"url": NEW["url"], "event_types": ["*"], "by": admin, **extra})


def test_an_admin_creates_an_endpoint_and_sees_the_secret_once(api_client_for, admin):
    client = api_client_for(admin)
    created = client.post(ENDPOINTS, NEW, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert (body["url"], body["event_types"], body["enabled"], body["status"], body["created_by"]) == (
        "https://93.184.216.34/hooks", ["invoice.issued", "contract.*"], True, "active", admin.pk)

    shown = client.get(f"{ENDPOINTS}{endpoint.pk}/").json()
    assert shown["secret"] == f"{endpoint.secret[:6]}…{endpoint.secret[-4:]}"
    assert endpoint.secret not in str(client.get(ENDPOINTS).json())


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({**NEW, "event_types": ["invoice.isued"]}, "event_types", "unknown event type 'invoice.isued'"),
    ({**NEW, "event_types": ["contracts.*"]}, "event_types", "unknown event type 'contracts.*'"),
    ({**NEW, "event_types": []}, "event_types", None),
    ({**NEW, "url": "http://10.0.0.1/hook"}, "url", "10.0.0.1 resolves to 10.0.0.1, a private address"),
    ({**NEW, "url": "http://169.254.169.254/latest/meta-data/"}, "url", "a link-local address"),
    ({**NEW, "url": "http://127.0.0.1:8000/"}, "url", "a loopback address"),
    ({**NEW, "url": "ftp://93.184.216.34/hook"}, "url", None),
    ({"event_types": ["*"]}, "url", None),
])
def test_bad_endpoints_are_refused_with_a_400_naming_the_field(api_client_for, admin, payload, field, message):
    response = api_client_for(admin).post(ENDPOINTS, payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] in ("validation_error", "unsafe_url")
    assert field in error["fields"]
    if message:
        assert any(message in m for m in error["fields"][field]), error
    assert WebhookEndpoint.objects.count() == 0


def test_an_admin_may_allow_a_private_network_and_change_an_endpoint(api_client_for, admin):
    client = api_client_for(admin)
    created = client.post(ENDPOINTS, {**NEW, "url": "http://10.0.0.1:9000/hook", "allow_private_network": True},
                          format="json")
    assert created.status_code == 201
    pk = created.json()["id"]
    # switching the flag off with the private URL still in place is refused, and nothing changes
    refused = client.patch(f"{ENDPOINTS}{pk}/", {"allow_private_network": False}, format="json")
    assert refused.status_code == 400 and "url" in refused.json()["error"]["fields"]
    assert WebhookEndpoint.objects.get().allow_private_network is True
    changed = client.patch(f"{ENDPOINTS}{pk}/", {"url": "https://93.184.216.34/v2", "allow_private_network": False,
                                                 "event_types": ["*"]}, format="json")
    assert changed.status_code == 200, changed.json()
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.url, endpoint.allow_private_network, endpoint.event_types) == (
        "https://93.184.216.34/v2", False, ["*"])


@pytest.mark.parametrize("role", ["finance", "sales_rep", "sales_manager", "customer_success"])
def test_other_roles_are_refused(api_client_for, make_user, admin, role):
    endpoint = _endpoint(admin)
    client = api_client_for(make_user(role))
    responses = [client.get(ENDPOINTS), client.post(ENDPOINTS, NEW, format="json"),
                 client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/"),
                 client.patch(f"{ENDPOINTS}{endpoint.pk}/", {"enabled": False}, format="json"),
                 client.post(f"{ENDPOINTS}{endpoint.pk}/test/")]
    assert [r.status_code for r in responses] == [403] * 5
    assert responses[1].json()["error"]["code"] == "permission_denied"
    assert WebhookEndpoint.objects.count() == 1 and WebhookEndpoint.objects.get().enabled
    assert WebhookDelivery.objects.count() == 0


def test_portal_users_and_anonymous_callers_are_refused(api_client_for, portal_user, admin):
    endpoint = _endpoint(admin)
    portal = api_client_for(portal_user)
    assert portal.get(ENDPOINTS).status_code == 403
    assert portal.delete(f"{ENDPOINTS}{endpoint.pk}/").status_code == 403
    assert api_client_for(None).get(ENDPOINTS).status_code == 401
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_the_delivery_log_replay_and_test_send(api_client_for, admin, receiver, emit, settings):  # noqa: F811
    client = api_client_for(admin)
    created = client.post(ENDPOINTS, {"url": receiver.url, "event_types": ["customer.created"]}, format="json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    receiver.codes = [500]
    customer = emit(lambda: customer_create(name="Pied Piper", currency="USD"))

    log = client.get(f"{ENDPOINTS}{pk}/deliveries/").json()
    assert log["count"] == 1
    (row,) = log["results"]
    delivery = WebhookDelivery.objects.get()
    assert (row["event_id"], row["event_type"], row["status"], row["attempts"], row["ordering_key"]) == (
        f"evt_{delivery.event_id}", "customer.created", "pending", 1, f"customers.customer:{customer.pk}")
    assert [(a["status_code"], a["succeeded"], a["manual"], a["error"]) for a in row["attempt_log"]] == [
        (500, False, False, "HTTP 500")]

    replayed = client.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "succeeded"
    assert [(a["status_code"], a["manual"]) for a in replayed.json()["attempt_log"]] == [(200, True), (500, False)]
    assert client.get(f"{ENDPOINTS}{pk}/deliveries/", {"status": "pending"}).json()["count"] == 0
    bad = client.get(f"{ENDPOINTS}{pk}/deliveries/", {"status": "lost"})
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"status": ["not a delivery status"]}
    assert client.post("/api/v1/webhook-deliveries/999999/replay/").status_code == 404

    tested = client.post(f"{ENDPOINTS}{pk}/test/")
    assert tested.status_code == 202
    assert (tested.json()["event_type"], tested.json()["status"]) == ("webhook.test", "pending")


def test_replay_is_refused_to_other_roles(api_client_for, make_user, admin, receiver, emit):  # noqa: F811
    webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.*"], by=admin)
    emit(lambda: customer_create(name="Aviato", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    response = api_client_for(make_user("finance")).post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert response.status_code == 403
    assert delivery.attempt_log.count() == 1 and len(receiver.requests) == 1


def test_list_queries_do_not_grow_with_deliveries(api_client_for, admin, receiver, emit,  # noqa: F811
                                                  django_assert_max_num_queries):
    client = api_client_for(admin)
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.*"], by=admin)
    for name in ("A", "B", "C", "D"):
        emit(lambda name=name: customer_create(name=name, currency="USD"))
    with django_assert_max_num_queries(8):
        body = client.get(f"{ENDPOINTS}{endpoint.pk}/deliveries/").json()
    assert body["count"] == 4


# --- pages -------------------------------------------------------------------------------------------


def test_the_pages_show_endpoints_and_their_log_to_admins(client, admin, receiver, emit):  # noqa: F811
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.*"], by=admin,
                                                description="Data warehouse")
    receiver.codes = [500]
    emit(lambda: customer_create(name="Bluth", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    client.force_login(admin)

    listing = client.get(reverse("integrations:webhooks"))
    assert listing.status_code == 200
    html = listing.content.decode()
    assert receiver.url in html and "Data warehouse" in html and "1 endpoint" in html

    page = client.get(reverse("integrations:webhook_endpoint", args=[endpoint.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert f"evt_{delivery.event_id}" in html and "HTTP 500" in html and "upstream exploded" in html
    assert endpoint.secret not in html

    replay = client.post(reverse("integrations:webhook_replay", args=[delivery.pk]), follow=True)
    assert replay.redirect_chain[-1][0] == reverse("integrations:webhook_endpoint", args=[endpoint.pk])
    assert "re-sent: HTTP 200" in replay.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded"


@pytest.mark.parametrize("role", ["finance", "sales_rep", "customer_success"])
def test_the_pages_are_403_for_other_roles(client, make_user, admin, role):
    endpoint = _endpoint(admin)
    client.force_login(make_user(role))
    assert client.get(reverse("integrations:webhooks")).status_code == 403
    assert client.get(reverse("integrations:webhook_endpoint", args=[endpoint.pk])).status_code == 403
    assert client.post(reverse("integrations:webhook_test", args=[endpoint.pk])).status_code == 403
    assert WebhookDelivery.objects.count() == 0


def test_the_pages_are_403_for_portal_users(client, portal_user):
    client.force_login(portal_user)
    assert client.get(reverse("integrations:webhooks")).status_code == 403


# --- admin -------------------------------------------------------------------------------------------


def test_the_admin_adds_an_endpoint_with_a_generated_secret_and_refuses_private_urls(client, admin):
    client.force_login(admin)
    add = reverse("admin:integrations_webhookendpoint_add")
    assert client.get(add).status_code == 200
    form = {"url": "http://169.254.169.254/latest/", "description": "", "event_types": '["invoice.issued"]',
            "enabled": "on", "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    refused = client.post(add, form)
    assert refused.status_code == 200 and "a link-local address" in refused.content.decode()
    assert WebhookEndpoint.objects.count() == 0

    typo = client.post(add, {**form, "url": "https://93.184.216.34/hooks", "event_types": '["invoice.isued"]'})
    assert typo.status_code == 200 and "unknown event type" in typo.content.decode()
    assert WebhookEndpoint.objects.count() == 0

    saved = client.post(add, {**form, "url": "https://93.184.216.34/hooks"}, follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.created_by == admin
    assert endpoint.secret in saved.content.decode()  # shown once, in the message
    page = client.get(reverse("admin:integrations_webhookendpoint_change", args=[endpoint.pk]))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()


def test_the_admin_replay_action_logs_a_manual_attempt(client, admin, receiver, emit):  # noqa: F811
    webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.*"], by=admin)
    emit(lambda: customer_create(name="Prestige", currency="USD"))
    delivery = WebhookDelivery.objects.get()
    client.force_login(admin)
    response = client.post(reverse("admin:integrations_webhookdelivery_changelist"),
                           {"action": "replay", "_selected_action": [delivery.pk]}, follow=True)
    assert "Replayed: 1 succeeded, 0 failed." in response.content.decode()
    assert list(delivery.attempt_log.values_list("manual", flat=True)) == [True, False]
    assert len(receiver.requests) == 2
