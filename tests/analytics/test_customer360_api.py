"""GET /api/v1/customers/<id>/360/ and GET/POST /api/v1/customers/<id>/timeline/: shapes, role filters,
pagination, 400s with the one error body, and portal isolation (also through the portal's own API)."""
from __future__ import annotations

import pytest

from customers.models import CustomerComment
from revops.kernel import roles
from revops.kernel.models import Notification
from tests.analytics.test_customer360 import DAY, acme  # noqa: F401 - the shared fixture
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def url_360(customer_id) -> str:
    return f"/api/v1/customers/{customer_id}/360/"


def url_timeline(customer_id) -> str:
    return f"/api/v1/customers/{customer_id}/timeline/"


def test_finance_gets_every_section_with_money_as_strings(api_client_for, finance_user, acme):  # noqa: F811
    response = api_client_for(finance_user).get(url_360(acme.pk), {"as_of": DAY.isoformat()})

    assert response.status_code == 200
    body = response.json()
    assert {"customer", "as_of", "visibility", "mrr", "health", "recommendations", "upsell_flags", "quotes",
            "contracts", "renewals", "invoices", "usage", "alerts", "timeline", "profitability", "payments",
            "ar_aging", "revenue"} == set(body)
    assert body["as_of"] == "2027-03-15"
    assert (body["mrr"]["mrr"], body["mrr"]["arr"], body["mrr"]["currency"]) == ("370.00", "4440.00", "USD")
    assert body["customer"]["owner"]["username"] == "riley"
    assert body["ar_aging"]["rows"][0]["buckets"]["31-60"] == "100.00"
    assert body["ar_aging"]["rows"][0]["total"] == "250.00"
    assert body["invoices"]["rows"][0] == {"id": body["invoices"]["rows"][0]["id"], "number": "INV-1",
                                           "status": "issued", "status_label": "Issued", "issue_date": "2027-01-02",
                                           "due_date": "2027-02-01", "days_overdue": 42, "currency": "USD",
                                           "total": "100.00", "amount_paid": "0.00", "amount_due": "100.00"}
    assert body["usage"][0]["quantity"] == "1200.000000" and body["usage"][0]["estimated_amount"] == "2.00"
    assert body["revenue"] == [{"currency": "USD", "recognized": "200.00", "remaining": "300.00",
                                "deferred": "300.00"}]
    assert body["timeline"]["has_more"] is False and body["timeline"]["more"] is None
    assert [(r["kind"], r["at"][:10], r["amount"]) for r in body["timeline"]["results"]] == [
        ("alert.fired", "2027-03-05", None), ("payment.received", "2027-03-01", "50.00"),
        ("alert.cleared", "2027-02-09", None), ("alert.fired", "2027-02-05", None),
        ("invoice.overdue", "2027-02-02", None)]  # INV-1, due 1 February, unpaid on the 360's day (15 March)


def test_a_rep_gets_no_costs_payments_aging_revenue_or_invoice_amounts(api_client_for, acme):  # noqa: F811
    body = api_client_for(acme.owner).get(url_360(acme.pk), {"as_of": DAY.isoformat()}).json()

    assert not {"profitability", "payments", "ar_aging", "revenue"} & set(body)
    assert body["visibility"] == {"costs": False, "billing": False, "can_comment": True, "insights": True}
    assert [(r["number"], r["status"]) for r in body["invoices"]["rows"]] == [
        ("INV-1", "issued"), ("INV-2", "partially_paid"), ("INV-3", "paid")]
    assert all(set(r) == {"id", "number", "status", "status_label", "issue_date", "due_date", "days_overdue"}
               for r in body["invoices"]["rows"])


def test_customer_success_sees_invoices_and_payments_but_not_costs(api_client_for, success_user, acme):  # noqa: F811
    body = api_client_for(success_user).get(url_360(acme.pk), {"as_of": DAY.isoformat()}).json()

    assert "profitability" not in body
    assert body["payments"][0]["amount"] == "50.00" and body["payments"][0]["reference"] == "wire 42"
    assert body["invoices"]["rows"][1]["amount_due"] == "150.00"


def test_comments_round_trip_with_mentions_and_pagination(api_client_for, make_user):
    customer = CustomerFactory(name="Acme")
    fiona = make_user(roles.FINANCE, username="fiona", first_name="Fiona", last_name="Laurent")
    casey = make_user(roles.CUSTOMER_SUCCESS, username="casey")
    client = api_client_for(casey)

    created = client.post(url_timeline(customer.pk), {"body": "@fiona please chase INV-1"}, format="json")
    for n in range(3):
        client.post(url_timeline(customer.pk), {"body": f"note {n}"}, format="json")

    assert created.status_code == 201
    item = created.json()
    assert item["kind"] == "comment" and item["source"] == "comment" and item["mentions"] == ["fiona"]
    assert item["detail"] == "@fiona please chase INV-1"
    assert item["actor"] == {"id": casey.pk, "name": "casey"}
    assert item["link"] == f"/customers/{customer.pk}/#comment-{item['source_id']}"
    assert Notification.objects.filter(user=fiona, kind="customer.mention").count() == 1

    first = client.get(url_timeline(customer.pk), {"page_size": 3}).json()
    second = client.get(url_timeline(customer.pk), {"page_size": 3, "page": 2}).json()
    assert first["count"] == 4 and [r["detail"] for r in first["results"]] == ["note 2", "note 1", "note 0"]
    assert first["next"].endswith(f"{url_timeline(customer.pk)}?page=2&page_size=3") and first["previous"] is None
    assert [r["detail"] for r in second["results"]] == ["@fiona please chase INV-1"]
    assert second["next"] is None and second["previous"].endswith("?page=1&page_size=3")


@pytest.mark.parametrize("payload, field", [
    ({"body": ""}, "body"), ({"body": "   "}, "body"), ({}, "body"), ({"body": "x" * 5001}, "body"),
    ({"body": ["not", "text"]}, "body"),
])
def test_bad_comments_are_400_with_the_field_and_change_nothing(api_client_for, sales_rep, payload, field):
    customer = CustomerFactory()

    response = api_client_for(sales_rep).post(url_timeline(customer.pk), payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]
    assert not CustomerComment.objects.exists()


def test_an_unknown_customer_is_400_on_post_and_404_on_get(api_client_for, sales_rep):
    client = api_client_for(sales_rep)

    posted = client.post(url_timeline(999999), {"body": "hello"}, format="json")
    got = client.get(url_360(999999))
    listed = client.get(url_timeline(999999))

    assert posted.status_code == 400 and list(posted.json()["error"]["fields"]) == ["customer"]
    assert posted.json()["error"]["message"] == "no customer with id 999999"
    assert got.status_code == 404 and got.json()["error"]["code"] == "not_found"
    assert listed.status_code == 404


@pytest.mark.parametrize("params, field", [({"page_size": "0"}, "page_size"), ({"page": "x"}, "page")])
def test_bad_pagination_is_400(api_client_for, sales_rep, params, field):
    customer = CustomerFactory()

    response = api_client_for(sales_rep).get(url_timeline(customer.pk), params)

    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == [field]


def test_a_bad_as_of_is_400(api_client_for, sales_rep):
    response = api_client_for(sales_rep).get(url_360(CustomerFactory().pk), {"as_of": "March"})

    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["as_of"]


@pytest.fixture
def portal_user(make_user, acme):  # noqa: F811
    user = make_user(username="ap@acme.example")
    ContactFactory(customer=acme, portal_user=user, email="ap@acme.example")
    return user


@pytest.mark.parametrize("who", ["portal", "no_role"])
def test_portal_and_roleless_users_get_403_and_nothing_is_written(api_client_for, make_user, portal_user, acme,  # noqa: F811
                                                                 who):
    client = api_client_for(portal_user if who == "portal" else make_user())

    responses = [client.get(url_360(acme.pk)), client.get(url_timeline(acme.pk)),
                 client.post(url_timeline(acme.pk), {"body": "hello @riley"}, format="json")]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert all(r.json()["error"]["code"] in ("permission_denied", "not_authenticated") for r in responses)
    assert not CustomerComment.objects.exists() and not Notification.objects.exists()


def test_the_portal_api_exposes_no_comments_or_costs(api_client_for, portal_user, acme, finance_user):  # noqa: F811
    CustomerComment.objects.create(customer=acme, author=finance_user, body="INTERNAL-NOTE-7731 churn risk")
    client = api_client_for(portal_user)

    for resource in ("invoices", "payments", "quotes", "usage"):
        response = client.get(f"/api/v1/portal/{resource}/")
        assert response.status_code == 200, resource
        text = response.content.decode()
        assert "INTERNAL-NOTE-7731" not in text and "cost" not in text.lower() and "comment" not in text.lower()
    assert client.get(f"/api/v1/customers/{acme.pk}/").status_code == 403


def test_anonymous_callers_are_refused(client, acme):  # noqa: F811
    assert client.get(url_360(acme.pk)).status_code in (401, 403)
    assert client.post(url_timeline(acme.pk), {"body": "x"}).status_code in (401, 403)


def test_a_retried_comment_with_the_same_idempotency_key_is_written_once(api_client_for, make_user):
    customer = CustomerFactory()
    fiona = make_user(roles.FINANCE, username="fiona")
    client = api_client_for(make_user(roles.SALES_REP))

    first = client.post(url_timeline(customer.pk), {"body": "@fiona ping"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(url_timeline(customer.pk), {"body": "@fiona ping"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert CustomerComment.objects.count() == 1 and Notification.objects.filter(user=fiona).count() == 1
