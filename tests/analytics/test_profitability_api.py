"""The profitability API: figures as strings, the whale curve, role denials (sales reps, customer success,
portal users), entering costs and spend, the CSV upload all or nothing."""
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analytics.models import AcquisitionSpend, ServiceCost, SupportVolume
from customers.models import Contact
from tests.analytics.test_profitability_data import dataset
from tests.factories import CustomerFactory

FIXTURES = (dataset,)  # the shared data set, a fixture used by name below
pytestmark = pytest.mark.django_db
WINDOW = "from=2027-01&to=2027-03"


@pytest.fixture
def portal_user(make_user):
    user = make_user()
    Contact.objects.create(customer=CustomerFactory(), name="Portal", email="p@example.com", portal_user=user)
    return user


def test_profitability_by_customer_and_segment(dataset, api_client_for, finance_user):
    client = api_client_for(finance_user)
    body = client.get(f"/api/v1/profitability/?{WINDOW}").json()
    assert (body["currency"], body["by"], body["totals"]["contribution"], body["unallocated"]) == (
        "USD", "customer", "2610.00", "50.00")
    assert [(r["name"], r["contribution"], r["margin_pct"]) for r in body["rows"]] == [
        ("A corp", "2208.57", "73.62"), ("B corp", "749.52", "37.48"), ("C corp", "-348.09", "-348.09")]
    assert body["whale_curve"]["peak"]["rank"] == 2
    assert "revenue" in body["definitions"]
    limited = client.get(f"/api/v1/profitability/?{WINDOW}&limit=1").json()
    assert len(limited["rows"]) == 1 and limited["totals"]["customers"] == 3
    seg = client.get(f"/api/v1/profitability/?{WINDOW}&by=segment&segment_field=size").json()
    assert [(r["segment"], r["contribution"], r["customers"]) for r in seg["rows"]] == [
        ("smb", "1860.48", 2), ("enterprise", "749.52", 1)]
    curve = client.get(f"/api/v1/profitability/whale-curve/?{WINDOW}").json()
    assert (curve["peak"]["customers_pct"], curve["peak"]["pct_of_total"]) == ("66.67", "113.34")
    trends = client.get(f"/api/v1/profitability/trends/?{WINDOW}").json()
    assert [m["contribution"] for m in trends["months"]] == ["540.00", "1270.00", "800.00"]


def test_bad_parameters_use_the_error_shape(api_client_for, finance_user):
    client = api_client_for(finance_user)
    r = client.get("/api/v1/profitability/?from=2027-05&to=2027-01")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "validation_error" and "from" in r.json()["error"]["fields"]
    r = client.get("/api/v1/profitability/?by=segment&segment_field=colour")
    assert r.status_code == 400 and "segment_field" in r.json()["error"]["fields"]
    assert client.get("/api/v1/profitability/?from=yesterday").status_code == 400


def test_acquisition_report(dataset, api_client_for, sales_manager):
    body = api_client_for(sales_manager).get(f"/api/v1/acquisition/?{WINDOW}").json()
    rows = {r["group"]: r for r in body["rows"]}
    assert (rows["inbound"]["cac"], rows["inbound"]["clv"], rows["inbound"]["clv_cac"]) == (
        "900.00", "56802.00", "63.11")
    assert body["total"]["cac"] == "733.33"
    assert "CLV = ARPA × gross margin %" in body["formula"]


@pytest.mark.parametrize("path", ["/api/v1/profitability/", "/api/v1/profitability/whale-curve/",
                                  "/api/v1/profitability/trends/", "/api/v1/acquisition/",
                                  "/api/v1/acquisition-spend/", "/api/v1/service-costs/", "/api/v1/support-volumes/"])
def test_costs_are_refused_to_reps_success_and_portal(path, api_client_for, sales_rep, success_user, portal_user):
    for user in (sales_rep, success_user, portal_user):
        r = api_client_for(user).get(path)
        assert r.status_code == 403, (path, user.username)
        assert r.json()["error"]["code"] in ("permission_denied", "not_authenticated", "forbidden")
    assert api_client_for(None).get(path).status_code == 401


def test_sales_manager_reads_but_cannot_enter(api_client_for, sales_manager):
    client = api_client_for(sales_manager)
    assert client.get("/api/v1/service-costs/").status_code == 200
    r = client.post("/api/v1/acquisition-spend/", {"channel": "inbound", "period": "2027-04", "category": "sales",
                                                   "amount": "10.00", "currency": "USD"}, format="json")
    assert r.status_code == 403
    assert AcquisitionSpend.objects.count() == 0


def test_data_health_for_every_staff_role_not_portal(api_client_for, sales_rep, portal_user):
    body = api_client_for(sales_rep).get("/api/v1/data-health/").json()
    assert {c["key"] for c in body["checks"]} >= {"customers_without_segment", "fx_rates_missing"}
    assert api_client_for(portal_user).get("/api/v1/data-health/").status_code == 403


def test_enter_and_delete_spend(api_client_for, finance_user):
    client = api_client_for(finance_user)
    r = client.post("/api/v1/acquisition-spend/", {"channel": "partner", "period": "2027-04", "category": "marketing",
                                                   "amount": "1200.50", "currency": "EUR", "segment_field": "size",
                                                   "segment_value": "enterprise"}, format="json")
    assert r.status_code == 201, r.json()
    assert (r.json()["period"], r.json()["amount"], r.json()["created_by"]) == ("2027-04-01", "1200.50",
                                                                                finance_user.pk)
    spend_id = r.json()["id"]
    listed = client.get("/api/v1/acquisition-spend/?channel=partner&from=2027-04&to=2027-04").json()
    assert [s["id"] for s in listed["results"]] == [spend_id]
    bad = client.post("/api/v1/acquisition-spend/", {"channel": "partner", "period": "2027-04", "category": "x",
                                                     "amount": "1", "currency": "EUR"}, format="json")
    assert bad.status_code == 400 and "category" in bad.json()["error"]["fields"]
    assert client.delete(f"/api/v1/acquisition-spend/{spend_id}/").status_code == 204
    assert AcquisitionSpend.objects.count() == 0


def test_csv_upload_all_or_nothing(api_client_for, finance_user):
    client = api_client_for(finance_user)
    good = b"channel,period,category,amount,currency\ninbound,2027-04,marketing,100.00,USD\nevents,2027-05,sales,5,USD\n"
    r = client.post("/api/v1/acquisition-spend/upload/", {"file": SimpleUploadedFile("s.csv", good, "text/csv")},
                    format="multipart")
    assert r.status_code == 201 and r.json()["created"] == 2
    bad = good + b"inbound,2027-06,marketing,-3,USD\nradio,2027-06,sales,3,USD\n"
    r = client.post("/api/v1/acquisition-spend/upload/", {"file": SimpleUploadedFile("s.csv", bad, "text/csv")},
                    format="multipart")
    assert r.status_code == 400
    assert r.json()["error"]["fields"] == {"rows[3].amount": ["must not be negative"],
                                           "rows[4].channel": [
                                               "one of inbound, outbound, partner, paid_search, events, referral, "
                                               "self_serve"]}
    assert AcquisitionSpend.objects.count() == 2  # the first upload only
    r = client.post("/api/v1/acquisition-spend/upload/", {"csv": "channel,period,category,amount,currency\n"
                                                                 "referral,2027-04,sales,1,USD\n"}, format="json")
    assert r.status_code == 201 and AcquisitionSpend.objects.count() == 3


def test_service_costs_and_support_volumes(api_client_for, admin_user_role):
    client = api_client_for(admin_user_role)
    customer = CustomerFactory()
    r = client.post("/api/v1/service-costs/", {"period": "2027-04-15", "category": "support", "amount": "99.90",
                                               "currency": "USD", "customer": customer.pk}, format="json")
    assert r.status_code == 201, r.json()
    assert (r.json()["period"], r.json()["driver"], r.json()["customer"]) == ("2027-04-01", "direct", customer.pk)
    r = client.post("/api/v1/service-costs/", {"period": "2027-04", "category": "success", "amount": "500",
                                               "currency": "USD", "driver": "seats", "segment_field": "size",
                                               "segment_value": "smb"}, format="json")
    assert r.status_code == 201, r.json()
    refused = client.post("/api/v1/service-costs/", {"period": "2027-04", "category": "success", "amount": "5",
                                                     "currency": "USD", "driver": "tickets",
                                                     "customer": customer.pk}, format="json")
    assert refused.status_code == 400 and "customer" in refused.json()["error"]["fields"]
    assert ServiceCost.objects.count() == 2
    for tickets in (4, 7):  # the second figure for the month replaces the first
        r = client.post("/api/v1/support-volumes/", {"customer": customer.pk, "period": "2027-04",
                                                     "tickets": tickets}, format="json")
        assert r.status_code == 201, r.json()
    assert list(SupportVolume.objects.values_list("tickets", flat=True)) == [7]
    assert client.get(f"/api/v1/service-costs/?customer={customer.pk}").json()["count"] == 1
    assert D(client.get("/api/v1/service-costs/?driver=seats").json()["results"][0]["amount"]) == D("500")
