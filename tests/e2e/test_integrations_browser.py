"""Integrations pages in headless Chromium: an admin replays a failed webhook delivery to a real HTTP server
on 127.0.0.1 (which receives the signed request again) and sees the new attempt in the log; an admin
retries a failed inbound order from the inbox after the missing product is added to the catalog."""
from __future__ import annotations

import csv
import io
import json
import threading
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog import services as catalog
from customers.services import customer_create
from integrations.models import ErpExport, InboundMessage, WebhookAttempt, WebhookDelivery
from integrations.services import inbound, webhooks
from integrations.services.signing import verify
from revops.kernel import roles
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory
from tests.portal.factories import make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        server.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        code = server.codes.pop(0) if server.codes else 200
        reply = b'{"received": true}' if code < 300 else b"receiver down for maintenance"
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver(settings):
    """A real HTTP server on 127.0.0.1 (a free port) that answers 503 once, then 200; allowed by
    REVOPS_WEBHOOK_ALLOWED_HOSTS (the live server's thread reads the same settings)."""
    settings.REVOPS_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.received, server.codes = [], [503]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/revops"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def admin(make_user):
    return make_user(roles.ADMIN, username="ada", is_staff=True)


def test_an_admin_replays_a_failed_delivery_and_the_receiver_gets_it_signed(page, login, admin, receiver,
                                                                          screenshot_dir):
    endpoint = webhooks.webhook_endpoint_create(url=receiver.url, event_types=["customer.*"], by=admin,
                                                description="CRM sync")
    customer = customer_create(by=admin, name="Hooked Ltd", currency="USD")
    deliver_pending()  # the outbox makes the delivery; its first attempt runs at once (eager Celery) and gets 503
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.event.type) == ("pending", 1, "customer.created")
    assert len(receiver.received) == 1
    first = receiver.received[0]

    login(admin)
    page.goto("/integrations/webhooks/")
    row = page.locator(f'#webhook-endpoints tr[data-endpoint="{endpoint.pk}"]')
    expect(row.locator("td").nth(1)).to_have_text("CRM sync")
    expect(row.locator("td.num")).to_have_text(["1", "0"])  # pending, failed
    row.get_by_role("link", name=receiver.url).click()
    expect(page.locator("h1")).to_have_text(f"Webhook endpoint {endpoint.pk}")
    line = page.locator(f'#webhook-deliveries tr[data-delivery="{delivery.pk}"]')
    expect(line.locator("td").nth(0)).to_have_text(f"evt_{delivery.event_id}")
    expect(line.locator("td").nth(1)).to_have_text("customer.created")
    expect(line.locator(".delivery-status")).to_have_text("pending")
    expect(line.locator("li.attempt")).to_have_count(1)
    expect(line.locator("li.attempt").first).to_contain_text("503")
    expect(line.locator("li.attempt .error-message")).to_have_text("HTTP 503")

    with page.expect_navigation():
        line.get_by_role("button", name="Replay").click()
    expect(page.locator(".message-success")).to_have_text(f"evt_{delivery.event_id} re-sent: HTTP 200.")
    expect(line.locator(".delivery-status")).to_have_text("succeeded")
    attempts = line.locator("li.attempt")  # newest first
    expect(attempts).to_have_count(2)
    expect(attempts.nth(0).locator(".badge-ok")).to_have_text("200")
    expect(attempts.nth(0).locator(".badge-muted")).to_have_text("replay")
    expect(attempts.nth(1).locator(".badge-error")).to_have_text("503")
    page.screenshot(path=str(screenshot_dir / "webhooks-endpoint.png"), full_page=True)

    # The receiver got the same event again, signed with the endpoint's secret.
    assert len(receiver.received) == 2
    again = receiver.received[1]
    assert again["path"] == "/hooks/revops"
    assert again["body"] == first["body"]
    verify(again["headers"]["Revops-Signature"], again["body"], endpoint.secret)
    document = json.loads(again["body"])
    assert (document["id"], document["type"]) == (f"evt_{delivery.event_id}", "customer.created")
    assert document["data"]["object"] == {"type": "customers.customer", "id": str(customer.pk)}
    assert again["headers"]["Revops-Event-Id"] == f"evt_{delivery.event_id}"
    assert list(WebhookAttempt.objects.order_by("id").values_list("status_code", "manual", "succeeded")) == [
        (503, False, False), (200, True, True)]

    # "Send a test event": a webhook.test event for this endpoint, sent at once and logged above the other.
    with page.expect_navigation():
        page.get_by_role("button", name="Send a test event").click()
    test_delivery = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    expect(page.locator(".message-info")).to_have_text(
        f"A webhook.test event (evt_{test_delivery.event_id}) is on its way; see the log below.")
    expect(page.locator("#webhook-deliveries tbody tr")).to_have_count(2)
    test_line = page.locator(f'#webhook-deliveries tr[data-delivery="{test_delivery.pk}"]')
    expect(test_line.locator("td").nth(1)).to_have_text("webhook.test")
    expect(test_line.locator(".delivery-status")).to_have_text("succeeded")
    assert len(receiver.received) == 3
    test_request = receiver.received[2]
    verify(test_request["headers"]["Revops-Signature"], test_request["body"], endpoint.secret)
    assert json.loads(test_request["body"])["data"]["message"] == "A test event sent from revops."


def test_an_admin_retries_a_failed_order_after_adding_the_missing_product(page, login, admin):
    book = catalog.price_book_create(name="USD list", currency="USD", is_default=True)
    plan = catalog.product_create(sku="PLAN", name="Platform", kind="recurring", ssp=D("200.00"))
    catalog.price_create(product=plan, price_book=book, model="per_unit", unit_amount="200.00")
    source = inbound.inbound_source_install(name="shopify", secret="s3cret")
    payload = json.loads((inbound.MAPPINGS_DIR.parent.parent / "tests/integrations/payloads/shopify_order_paid.json")
                         .read_text())
    message = inbound.inbound_receive(source=source, payload=payload).message
    assert message.status == "failed"

    login(admin)
    page.goto("/integrations/inbox/")
    expect(page.locator("h1")).to_have_text("Inbound inbox")
    expect(page.locator("#inbound-sources tbody tr td.num")).to_have_text(["0", "1"])  # processed, failed
    row = page.locator(f'#inbound-messages tr[data-message="{message.pk}"]')
    expect(row.locator("td").nth(2)).to_have_text("5612345678901")
    expect(row.locator(".badge-error")).to_have_text("failed")
    expect(row.locator(".error-text")).to_contain_text("unknown product 'SEATS'")

    seats = catalog.product_create(sku="SEATS", name="Seats", kind="recurring", ssp=D("10.00"))
    catalog.price_create(product=seats, price_book=book, model="per_unit", unit_amount="10.00")
    with page.expect_navigation():
        row.get_by_role("button", name="Retry").click()
    expect(page.locator(".message-success")).to_have_text("5612345678901 processed.")
    message.refresh_from_db()
    assert (message.status, message.attempts) == (InboundMessage.Status.PROCESSED, 2)
    assert message.customer.name == "Brightside Studio"
    # PLAN 200.00 + 5 SEATS × 10.00 = 250.00 a month; 3,000.00 over the 12-month term
    assert (message.quote.status, message.quote.mrr, message.quote.tcv) == ("accepted", D("250.00"), D("3000.00"))
    expect(row.locator(".badge-ok")).to_have_text("processed")
    expect(row.locator("td").nth(4)).to_contain_text(f"Brightside Studio · {message.quote.number} v1 (accepted)")
    expect(row.get_by_role("button", name="Retry")).to_have_count(0)
    expect(page.locator("#inbound-sources tbody tr td.num")).to_have_text(["1", "0"])
    row.get_by_role("link", name="Brightside Studio").click()
    expect(page.locator("h1")).to_have_text("Brightside Studio")


def test_the_integration_pages_refuse_non_admins(page, login, make_user):
    login(make_user(roles.FINANCE, username="fin"))
    for path in ("/integrations/webhooks/", "/integrations/inbox/"):
        response = page.goto(path)
        assert response.status == 403, path


def test_finance_exports_the_month_for_the_erp_and_the_next_export_is_incremental(page, login, make_user):
    """One invoice issued today (100.00 + 10.00 tax), posted: AR 110.00 debit, deferred revenue 100.00 and
    tax 10.00 credits. The month's first export carries it; the second (incremental) carries nothing new."""
    customer = CustomerFactory(name="Ledger Ltd", currency="USD")
    invoice = make_invoice(customer, "100.00")
    deliver_pending()  # invoice.issued -> the journal entry
    today = timezone.localdate()

    login(make_user(roles.FINANCE, username="felix"))
    page.goto("/integrations/erp-exports/")
    expect(page.locator("h1")).to_have_text("ERP exports")
    form = page.locator("#erp-export-form")
    form.get_by_label("Period start").fill(today.replace(day=1).isoformat())
    form.get_by_label("Period end").fill(today.isoformat())
    form.get_by_label("Format").select_option("csv")
    with page.expect_navigation():
        form.get_by_role("button", name="Export").click()
    first = ErpExport.objects.get()
    expect(page.locator(".message-success")).to_have_text(
        f"Export {first.pk}: 1 journal entry (3 lines) and 1 invoice.")
    row = page.locator(f'#erp-exports tr[data-export="{first.pk}"]')
    expect(row.locator("td.num")).to_have_text(["1", "3", "1"])
    expect(row.locator(".badge-muted")).to_have_text("incremental")

    with page.expect_download() as download:
        row.get_by_role("link", name="journal CSV").click()
    lines = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert len(lines) == 3
    assert sum(D(r["debit"] or "0") for r in lines) == sum(D(r["credit"] or "0") for r in lines) == D("110.00")
    with page.expect_download() as download:
        row.get_by_role("link", name="invoices CSV").click()
    invoices = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["number"], r["total"]) for r in invoices] == [(invoice.number, "110.00")]

    with page.expect_navigation():
        form.get_by_role("button", name="Export").click()
    second = ErpExport.objects.exclude(pk=first.pk).get()
    expect(page.locator(".message-success")).to_have_text(
        f"Export {second.pk}: 0 journal entries (0 lines) and 0 invoices.")
