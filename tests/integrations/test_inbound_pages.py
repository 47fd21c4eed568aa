"""The inbound inbox page (admins): failed messages with their reason and a Retry button; the demo data."""
import json
from datetime import date
from decimal import Decimal as D

import pytest
from django.urls import reverse

from catalog import models as cm
from integrations.models import ErpExport, InboundMessage, InboundSource
from integrations.services import inbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed_message(db):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    source = inbound.inbound_source_install(name="shopify", secret="s3cret")
    payload = json.loads((inbound.MAPPINGS_DIR.parent.parent / "tests/integrations/payloads/shopify_order_paid.json")
                         .read_text())
    result = inbound.inbound_receive(source=source, payload=payload)
    assert result.message.status == "failed"
    return {"message": result.message, "book": book}


def _add_products(book):
    for sku, amount in (("PLAN", "200.00"), ("SEATS", "10.00")):
        product = cm.Product.objects.create(sku=sku, name=sku.title(), kind="recurring", recognition="ratable",
                                            ssp=D(amount))
        cm.Price.objects.create(product=product, price_book=book, model="per_unit", currency="USD",
                                unit_amount=D(amount))


def test_the_inbox_shows_the_reason_and_retry_processes_after_the_catalog_is_fixed(
        client, admin_user_role, failed_message, django_capture_on_commit_callbacks):
    message = failed_message["message"]
    client.force_login(admin_user_role)
    page = client.get(reverse("integrations:inbox") + "?status=failed").content.decode()
    assert "unknown product &#x27;PLAN&#x27;" in page and "Retry" in page
    detail = client.get(reverse("integrations:inbox_message", args=[message.pk]))
    assert detail.status_code == 200 and b"5612345678901" in detail.content

    still = client.post(reverse("integrations:inbox_retry", args=[message.pk]), follow=True)
    assert b"failed again" in still.content
    _add_products(failed_message["book"])
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(reverse("integrations:inbox_retry", args=[message.pk]), follow=True)
    assert b"5612345678901 processed." in done.content
    message.refresh_from_db()
    assert (message.status, message.attempts, message.quote.status) == ("processed", 3, "accepted")
    assert message.contract is not None and message.contract.quote == message.quote


@pytest.mark.parametrize("role", ["sales_rep", "sales_manager", "finance", "customer_success"])
def test_the_inbox_is_for_admins_only(client, make_user, failed_message, role):
    client.force_login(make_user(role))
    message = failed_message["message"]
    assert client.get(reverse("integrations:inbox")).status_code == 403
    assert client.post(reverse("integrations:inbox_retry", args=[message.pk])).status_code == 403
    message.refresh_from_db()
    assert message.attempts == 1


def test_a_portal_user_or_anonymous_visitor_cannot_see_the_inbox_or_the_exports(client, make_user, failed_message):
    assert client.get(reverse("integrations:inbox")).status_code == 302  # to the login page
    client.force_login(make_user())  # no role: what a portal contact is
    assert client.get(reverse("integrations:inbox")).status_code == 403
    assert client.get(reverse("integrations:erp_exports")).status_code == 403


def test_the_admin_lists_and_retries_messages(client, admin_user_role, failed_message):
    client.force_login(admin_user_role)
    message = failed_message["message"]
    assert client.get("/admin/integrations/inboundmessage/").status_code == 200
    assert client.get(f"/admin/integrations/inboundmessage/{message.pk}/change/").status_code == 200
    assert client.get("/admin/integrations/inboundsource/").status_code == 200
    assert client.get("/admin/integrations/erpexport/").status_code == 200
    _add_products(failed_message["book"])
    client.post("/admin/integrations/inboundmessage/", {"action": "retry_messages",
                                                        "_selected_action": [message.pk]})
    message.refresh_from_db()
    assert message.status == "processed"


def test_the_ready_sources_command_creates_both_sources_once(capsys):
    from django.core.management import call_command

    call_command("inbound_sources")
    call_command("inbound_sources", "--show-secrets")
    out = capsys.readouterr().out
    assert "shopify (order): POST /api/v1/inbound/shopify/" in out and "secret whsec_" in out
    assert sorted(InboundSource.objects.values_list("name", "kind")) == [("salesforce", "deal"), ("shopify", "order")]


def test_the_demo_seeds_a_processed_deal_a_failed_one_and_an_export():
    """Against a tiny catalog: the demo's deal sells PLAT-PRO and SVC-ONBOARDING."""
    import random
    from types import SimpleNamespace

    from integrations import demo_inbound

    book = cm.PriceBook.objects.create(name="Global list", currency="USD", is_default=True)
    for sku, kind, amount, period in (("PLAT-PRO", "recurring", "59", "month"),
                                      ("SVC-ONBOARDING", "one_time", "5000", "one_time"),
                                      ("PLAT-STARTER", "recurring", "29", "month")):
        product = cm.Product.objects.create(sku=sku, name=sku, kind=kind, ssp=D(amount),
                                            recognition="ratable" if kind == "recurring" else "point_in_time")
        cm.Price.objects.create(product=product, price_book=book, model="per_unit", currency="USD",
                                unit_amount=D(amount), billing_period=period)
    ctx = SimpleNamespace(rng=random.Random(1), today=date(2027, 3, 15), shared={})
    demo_inbound.seed(ctx)
    demo_inbound.seed(ctx)  # idempotent
    assert sorted(InboundMessage.objects.values_list("external_id", "status")) == [
        (demo_inbound.FAILED_ID, "failed"), (demo_inbound.DEAL_ID, "processed")]
    deal = InboundMessage.objects.get(external_id=demo_inbound.DEAL_ID)
    assert [(x.product.sku, x.net_unit_price) for x in deal.quote.lines.order_by("position")] == [
        ("PLAT-PRO", D("50.000000")), ("SVC-ONBOARDING", D("4000.000000"))]
    export = ErpExport.objects.get()
    assert (export.period_start, export.period_end, export.full) == (date(2027, 2, 1), date(2027, 2, 28), False)


def test_retry_never_redirects_to_another_site(client, admin_user_role, failed_message):
    client.force_login(admin_user_role)
    answer = client.post(reverse("integrations:inbox_retry", args=[failed_message["message"].pk]),
                         {"next": "https://evil.example/phish"})
    assert answer.status_code == 302 and answer["Location"] == reverse("integrations:inbox")
