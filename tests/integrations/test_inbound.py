"""Inbound deals and orders: signed, mapped, idempotent, and kept in the inbox when they fail."""
import json
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.urls import reverse

from catalog import models as cm
from contracts.models import Contract
from customers.models import Contact, Customer
from integrations.models import InboundMessage, InboundSource
from integrations.services import inbound
from integrations.services.signing import sign
from quotes.models import Quote, QuoteLine
from revops.kernel.models import OutboxEvent

pytestmark = pytest.mark.django_db

PAYLOADS = Path(__file__).parent / "payloads"
MAPPINGS = Path(inbound.__file__).resolve().parent.parent / "mappings"
SECRET = "whsec_test_inbound_secret"


def _payload(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


@pytest.fixture
def catalog(db):
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    plan = cm.Product.objects.create(sku="PLAN", name="Platform", kind="recurring", recognition="ratable", ssp=D("200"))
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))
    setup = cm.Product.objects.create(sku="SETUP", name="Onboarding", kind="one_time", recognition="point_in_time",
                                      ssp=D("500"))
    cm.Price.objects.create(product=plan, price_book=book, model="per_unit", currency="USD", unit_amount=D("200.00"))
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="USD", unit_amount=D("10.00"))
    cm.Price.objects.create(product=setup, price_book=book, model="flat", currency="USD", flat_amount=D("500.00"),
                            billing_period="one_time")
    return {"plan": plan, "seats": seats, "setup": setup, "book": book}


def _source(name: str, file: str) -> InboundSource:
    spec = json.loads((MAPPINGS / file).read_text())
    return InboundSource.objects.create(name=name, kind=spec["kind"], secret=SECRET, mapping=spec["mapping"])


@pytest.fixture
def salesforce(catalog):
    return _source("salesforce", "salesforce_opportunity.json")


@pytest.fixture
def shopify(catalog):
    return _source("shopify", "shopify_order.json")


def _post(client, source: str, payload, *, secret=SECRET, header=None, body=None):
    body = body if body is not None else json.dumps(payload).encode()
    headers = {} if header == "" else {"HTTP_REVOPS_SIGNATURE": header or sign(body, secret)}
    return client.post(reverse("inbound-receive", args=[source]), data=body, content_type="application/json",
                       **headers)


def _written() -> tuple:
    return (Customer.objects.count(), Contact.objects.count(), Quote.objects.count(), QuoteLine.objects.count(),
            InboundMessage.objects.count())


def test_a_closed_won_deal_delivered_three_times_creates_one_customer_and_one_draft_quote(client, salesforce,
                                                                                           make_user):
    rep = make_user("sales_rep", username="sam.seller@revops.example")  # its email is <username>@example.com
    rep.email = "sam.seller@revops.example"
    rep.save(update_fields=["email"])
    payload = _payload("salesforce_opportunity_closed_won.json")
    answers = [_post(client, "salesforce", payload) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 200, 200]
    assert [a.json()["duplicate"] for a in answers] == [False, True, True]
    assert answers[1].json()["quote"] == answers[0].json()["quote"] == answers[2].json()["quote"]

    customer = Customer.objects.get()
    assert (customer.external_id, customer.name, customer.currency, customer.country, customer.billing_email,
            customer.industry, customer.acquisition_channel) == (
        "0015g00000AbCdEAAZ", "Northwind Traders", "USD", "US", "ap@northwind.example", "retail", "partner")
    assert sorted(customer.contacts.values_list("email", "name", "title")) == [
        ("andrew.fuller@northwind.example", "Andrew Fuller", "IT Director"),
        ("nancy.davolio@northwind.example", "Nancy Davolio", "VP Operations")]
    quote = Quote.objects.get()
    assert (quote.status, quote.owner, quote.start_date, quote.term_months, quote.billing_frequency) == (
        "draft", rep, date(2027, 1, 1), 12, "month")
    lines = [(x.product.sku, x.quantity, x.discount_amount, x.net_unit_price, x.net_period_amount)
             for x in quote.lines.order_by("position")]
    # SEATS sold at 9.00 against a book price of 10.00: 40 × 1.00 = 40.00 off per month.
    assert lines == [("PLAN", D(1), D("0.00"), D("200.000000"), D("200.00")),
                     ("SEATS", D(40), D("40.00"), D("9.000000"), D("360.00")),
                     ("SETUP", D(1), D("0.00"), D("500.000000"), D("500.00"))]
    assert (quote.mrr, quote.tcv) == (D("560.00"), D("7220.00"))  # 12 × 560.00 + 500.00
    assert OutboxEvent.objects.filter(type="quote.created").count() == 1
    assert OutboxEvent.objects.filter(type="customer.created").count() == 1
    message = InboundMessage.objects.get()
    assert (message.status, message.attempts, message.customer, message.quote) == ("processed", 1, customer, quote)


def test_a_new_deal_for_a_known_account_updates_the_customer_and_matches_contacts_by_email(client, salesforce):
    existing = Customer.objects.create(name="Northwind (old name)", external_id="0015g00000AbCdEAAZ", currency="USD")
    Contact.objects.create(customer=existing, name="N. Davolio", email="nancy.davolio@northwind.example")
    answer = _post(client, "salesforce", _payload("salesforce_opportunity_closed_won.json"))
    assert answer.status_code == 201
    existing.refresh_from_db()
    assert (Customer.objects.count(), existing.name) == (1, "Northwind Traders")
    assert sorted(existing.contacts.values_list("name", flat=True)) == ["Andrew Fuller", "Nancy Davolio"]
    assert Quote.objects.get().customer == existing
    assert Quote.objects.get().owner.username == inbound.INTEGRATION_USERNAME  # no user has the owner's email


def test_a_paid_order_becomes_an_accepted_quote_and_its_contract(client, shopify,
                                                                 django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = _post(client, "shopify", _payload("shopify_order_paid.json"))
    assert answer.status_code == 201, answer.json()
    quote = Quote.objects.get()
    assert (quote.status, quote.accepted_by_name, quote.start_date, quote.mrr) == (
        "accepted", "Lena Fischer", date(2026, 11, 30), D("250.00"))  # 200.00 + 5 × 10.00
    customer = quote.customer
    assert (customer.external_id, customer.name, customer.acquisition_channel, customer.billing_email) == (
        "shopify-customer-7012345678901", "Brightside Studio", "self_serve", "lena@brightside.example")
    assert list(customer.contacts.values_list("name", "email")) == [("Lena Fischer", "lena@brightside.example")]
    contract = Contract.objects.get(quote=quote)
    assert (contract.status, contract.start_date, contract.arr) == ("active", date(2026, 11, 30), D("3000.00"))
    message = InboundMessage.objects.get()
    assert (message.external_id, message.contract, message.quote) == ("5612345678901", contract, quote)


def test_an_order_that_needs_approval_is_refused_whole(client, shopify, make_user):
    from django.contrib.auth.models import Group

    from quotes.models import ApprovalRule

    ApprovalRule.objects.create(name="Big deals", condition="tcv_above", threshold=D("1000"),
                                approver_group=Group.objects.get(name="sales_manager"))
    answer = _post(client, "shopify", _payload("shopify_order_paid.json"))
    assert (answer.status_code, answer.json()["status"]) == (202, "failed")
    assert "needs approval" in answer.json()["error"] and "1000" in answer.json()["error"]
    assert _written() == (0, 0, 0, 0, 1)


@pytest.mark.parametrize("header", ["", "t=1,v1=deadbeef", "tampered"])
def test_a_bad_signature_is_refused_and_nothing_is_written(client, salesforce, header):
    payload = _payload("salesforce_opportunity_closed_won.json")
    body = json.dumps(payload).encode()
    if header == "tampered":  # signed, then the body changed on the way
        header = sign(body, SECRET)
        body = body.replace(b"Northwind Traders", b"Evil Traders")
    answer = _post(client, "salesforce", payload, header=header, body=body)
    assert answer.status_code == (401 if header == "" else 403)
    assert answer.json()["error"]["code"] in ("not_authenticated", "signature_invalid")
    assert _written() == (0, 0, 0, 0, 0)


def test_a_signature_with_another_sources_secret_or_an_old_timestamp_is_refused(client, salesforce):
    body = json.dumps(_payload("salesforce_opportunity_closed_won.json")).encode()
    assert _post(client, "salesforce", None, body=body, header=sign(body, "other-secret")).status_code == 403
    assert _post(client, "salesforce", None, body=body, header=sign(body, SECRET, timestamp=1_000_000)).status_code == 403
    assert _post(client, "nowhere", None, body=body).status_code == 404
    assert _written() == (0, 0, 0, 0, 0)


def test_a_body_that_is_not_json_or_has_no_id_is_a_400_and_nothing_is_kept(client, salesforce):
    assert _post(client, "salesforce", None, body=b"not json").status_code == 400
    answer = _post(client, "salesforce", {"Name": "no id"})
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "mapping_failed")
    assert _written() == (0, 0, 0, 0, 0)


def test_an_unknown_product_lands_in_the_inbox_and_a_retry_after_adding_it_succeeds(client, salesforce, catalog,
                                                                                   admin_user_role, api_client_for):
    payload = _payload("salesforce_opportunity_closed_won.json")
    payload["OpportunityLineItems"]["records"][2]["Product2"]["ProductCode"] = "TRAINING"
    answer = _post(client, "salesforce", payload)
    assert (answer.status_code, answer.json()["status"]) == (202, "failed")
    message = InboundMessage.objects.get()
    assert message.error.startswith("lines[2].sku: unknown product 'TRAINING'")
    assert _written() == (0, 0, 0, 0, 1)  # no half-written customer or quote

    admin = api_client_for(admin_user_role)
    inbox = admin.get("/api/v1/inbound-messages/?status=failed").json()
    assert [(m["external_id"], m["status"]) for m in inbox["results"]] == [("0065g00000XyZ12AAB", "failed")]
    assert "TRAINING" in inbox["results"][0]["error"]

    training = cm.Product.objects.create(sku="TRAINING", name="Training", kind="one_time", recognition="point_in_time",
                                         ssp=D("800"))
    cm.Price.objects.create(product=training, price_book=catalog["book"], model="flat", currency="USD",
                            flat_amount=D("500.00"), billing_period="one_time")
    retried = admin.post(f"/api/v1/inbound-messages/{message.pk}/retry/")
    assert retried.status_code == 200, retried.json()
    assert (retried.json()["status"], retried.json()["attempts"], retried.json()["error"]) == ("processed", 2, "")
    assert (Customer.objects.count(), Quote.objects.count()) == (1, 1)
    assert Quote.objects.get().lines.filter(product=training).exists()
    again = admin.post(f"/api/v1/inbound-messages/{message.pk}/retry/")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "invalid_transition")


def test_a_redelivered_failed_deal_is_processed_again_with_the_new_payload(client, salesforce):
    payload = _payload("salesforce_opportunity_closed_won.json")
    payload["StageName"] = "Negotiation"
    first = _post(client, "salesforce", payload)
    assert first.json()["status"] == "failed" and "StageName" in first.json()["error"]
    payload["StageName"] = "Closed Won"
    second = _post(client, "salesforce", payload)
    assert (second.status_code, second.json()["status"], second.json()["attempts"]) == (200, "processed", 2)
    assert InboundMessage.objects.count() == 1


def test_an_inbound_price_above_the_price_book_fails_with_the_reason(client, salesforce):
    payload = _payload("salesforce_opportunity_closed_won.json")
    payload["OpportunityLineItems"]["records"][0]["UnitPrice"] = 250.0
    answer = _post(client, "salesforce", payload)
    assert answer.json()["status"] == "failed"
    assert "PLAN sold at 250.0 USD, above the price book's 200" in answer.json()["error"]
    assert _written() == (0, 0, 0, 0, 1)


def test_the_inbox_api_and_retry_are_for_admins_only(client, salesforce, api_client_for, make_user):
    payload = _payload("salesforce_opportunity_closed_won.json")
    payload["StageName"] = "Prospecting"
    _post(client, "salesforce", payload)
    message = InboundMessage.objects.get()
    for role in ("sales_rep", "sales_manager", "finance", "customer_success"):
        api = api_client_for(make_user(role))
        assert api.get("/api/v1/inbound-messages/").status_code == 403
        assert api.post(f"/api/v1/inbound-messages/{message.pk}/retry/").status_code == 403
    assert api_client_for(None).get("/api/v1/inbound-messages/").status_code == 401
    message.refresh_from_db()
    assert message.attempts == 1


def test_the_inbox_list_costs_a_fixed_number_of_queries(client, salesforce, admin_user_role, api_client_for,
                                                         django_assert_max_num_queries):
    payload = _payload("salesforce_opportunity_closed_won.json")
    for i in range(4):
        payload["Id"] = f"0065g00000XyZ1{i}AAB"
        payload["StageName"] = "Closed Won" if i % 2 else "Lost"
        _post(client, "salesforce", payload)
    api = api_client_for(admin_user_role)
    with django_assert_max_num_queries(8):
        answer = api.get("/api/v1/inbound-messages/")
    assert [m["status"] for m in answer.json()["results"]] == ["processed", "failed", "processed", "failed"]
