"""Profitability pages: they render for the roles that see costs, refuse the others (403), and the
entry forms (spend, CSV, service costs, tickets) write through the services."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from analytics.models import AcquisitionSpend, ServiceCost, SupportVolume
from customers.models import Contact
from tests.analytics.test_profitability_data import dataset
from tests.factories import CustomerFactory

FIXTURES = (dataset,)  # the shared data set, a fixture used by name below
pytestmark = pytest.mark.django_db
COST_PAGES = ["analytics:profitability", "analytics:profitability_segments", "analytics:profitability_trends",
              "analytics:acquisition", "analytics:service_costs"]
WINDOW = {"start": "2027-01", "end": "2027-03"}


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def portal_user(make_user):
    user = make_user()
    Contact.objects.create(customer=CustomerFactory(), name="Portal", email="p@example.com", portal_user=user)
    return user


def test_main_page_ranks_and_marks_the_peak(dataset, finance_user):
    r = client_for(finance_user).get(reverse("analytics:profitability"), WINDOW)
    assert r.status_code == 200
    html = r.content.decode()
    assert html.index("A corp") < html.index("B corp") < html.index("C corp")
    assert "$2,208.57" in html and "-$348.09" in html
    assert "Profit peaks at customer <strong>2</strong> of 3" in html
    assert "<strong>66.67 %</strong>" in html and "113.34 %" in html
    assert "$50.00" in html  # unallocated
    assert "chart.umd.min.js" in html


def test_other_pages_render_with_their_figures(dataset, sales_manager):
    client = client_for(sales_manager)
    html = client.get(reverse("analytics:profitability_segments"), WINDOW).content.decode()
    assert "$1,860.48" in html and "60.02 %" in html and "71.28 %" in html
    html = client.get(reverse("analytics:profitability_trends"), WINDOW).content.decode()
    assert "2027-02" in html and "$1,270.00" in html
    html = client.get(reverse("analytics:profitability_trends"),
                      {**WINDOW, "trend_field": "size", "trend_value": "smb"}).content.decode()
    assert "size smb" in html
    html = client.get(reverse("analytics:acquisition"), WINDOW).content.decode()
    assert "$900.00" in html and "$56,802.00*" in html and "63.11" in html
    assert "CLV = ARPA × gross margin % ÷ monthly revenue churn" in html
    assert "Record spend" not in html  # sales managers read, finance and admins enter
    html = client.get(reverse("analytics:service_costs")).content.decode()
    assert "Share of recognized revenue" in html and "Record cost" not in html


@pytest.mark.parametrize("name", COST_PAGES)
def test_cost_pages_refuse_reps_success_and_portal(name, sales_rep, success_user, portal_user):
    for user in (sales_rep, success_user, portal_user):
        assert client_for(user).get(reverse(name)).status_code == 403, (name, user.username)
    anonymous = Client().get(reverse(name))
    assert anonymous.status_code == 302


def test_entry_is_refused_to_sales_managers(sales_manager):
    client = client_for(sales_manager)
    r = client.post(reverse("analytics:acquisition_spend_create"), {"channel": "inbound", "period": "2027-04",
                                                                    "category": "sales", "amount": "5",
                                                                    "currency": "USD"})
    assert r.status_code == 403
    assert client.post(reverse("analytics:service_costs"), {"cost-period": "2027-04"}).status_code == 403
    assert AcquisitionSpend.objects.count() == 0 and ServiceCost.objects.count() == 0


def test_data_health_page_for_every_staff_role(sales_rep, portal_user):
    CustomerFactory(name="No size", size="")
    r = client_for(sales_rep).get(reverse("analytics:data_health"))
    assert r.status_code == 200
    assert "No size — missing size" in r.content.decode()
    assert client_for(portal_user).get(reverse("analytics:data_health")).status_code == 403


def test_spend_form_and_csv_upload(finance_user):
    client = client_for(finance_user)
    r = client.post(reverse("analytics:acquisition_spend_create"), {"channel": "inbound", "period": "2027-04",
                                                                    "category": "sales", "amount": "1.234",
                                                                    "currency": "USD"})
    assert r.status_code == 400 and "at most 2 decimal places" in r.content.decode()
    assert AcquisitionSpend.objects.count() == 0
    r = client.post(reverse("analytics:acquisition_spend_create"), {"channel": "inbound", "period": "2027-04",
                                                                    "category": "sales", "amount": "120.00",
                                                                    "currency": "USD"})
    assert r.status_code == 302
    spend = AcquisitionSpend.objects.get()
    assert (spend.period, spend.amount, spend.created_by) == (date(2027, 4, 1), D("120.00"), finance_user)
    bad = b"channel,period,category,amount,currency\ninbound,2027-05,sales,5,USD\ninbound,2027-05,sales,x,USD\n"
    r = client.post(reverse("analytics:acquisition_spend_upload"),
                    {"file": SimpleUploadedFile("spend.csv", bad, "text/csv")})
    assert r.status_code == 400
    assert "rows[2].amount: must be a decimal number" in r.content.decode()
    assert AcquisitionSpend.objects.count() == 1
    good = b"channel,period,category,amount,currency\ninbound,2027-05,sales,5,USD\n"
    r = client.post(reverse("analytics:acquisition_spend_upload"),
                    {"file": SimpleUploadedFile("spend.csv", good, "text/csv")})
    assert r.status_code == 302 and AcquisitionSpend.objects.count() == 2
    r = client.post(reverse("analytics:acquisition_spend_delete", args=[spend.pk]))
    assert r.status_code == 302 and AcquisitionSpend.objects.count() == 1


def test_service_cost_and_ticket_forms(admin_user_role):
    client = client_for(admin_user_role)
    customer = CustomerFactory(name="Zeta")
    r = client.post(reverse("analytics:service_costs"), {"cost-period": "2027-04", "cost-category": "support",
                                                         "cost-amount": "80", "cost-currency": "USD",
                                                         "cost-driver": "direct"})
    assert r.status_code == 400 and "a direct cost names its customer" in r.content.decode()
    assert ServiceCost.objects.count() == 0
    r = client.post(reverse("analytics:service_costs"), {"cost-period": "2027-04", "cost-category": "support",
                                                         "cost-amount": "80", "cost-currency": "USD",
                                                         "cost-driver": "direct", "cost-customer": customer.pk})
    assert r.status_code == 302
    assert ServiceCost.objects.get().customer == customer
    r = client.post(reverse("analytics:service_costs"), {"tickets-customer": customer.pk, "tickets-period": "2027-04",
                                                         "tickets-tickets": "12"})
    assert r.status_code == 302
    assert SupportVolume.objects.get().tickets == 12
    html = client.get(reverse("analytics:service_costs")).content.decode()
    assert "Zeta" in html and "Record cost" in html


def test_a_missing_fx_rate_is_said_on_the_page(dataset, finance_user):
    from recognition.models import FxRate

    FxRate.objects.all().delete()
    r = client_for(finance_user).get(reverse("analytics:profitability"), WINDOW)
    assert r.status_code == 200
    assert "no FX rate for EUR" in r.content.decode()


def test_admin_lists_the_inputs(dataset, admin_user_role):
    client = client_for(admin_user_role)
    for model in ("servicecost", "supportvolume", "acquisitionspend"):
        r = client.get(f"/admin/analytics/{model}/")
        assert r.status_code == 200, model
    assert "C corp" in client.get("/admin/analytics/servicecost/").content.decode()
