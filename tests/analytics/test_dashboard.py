"""The live dashboard: exact tiles, the partial the page polls, access."""
import re
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(finance_user):
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))
    customer = CustomerFactory(currency="USD")
    contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12, by=finance_user,
                    lines=[LineSpec(seats, D(25), D("10.00"))])  # 250.00 MRR
    deliver_pending()
    return customer


def test_the_dashboard_shows_the_kpis_with_their_definitions(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("sales_manager"))
        page = client.get("/analytics/")
    assert page.status_code == 200
    html = page.text
    assert 'data-kpi="mrr">$250.00<' in html
    assert 'data-kpi="arr">$3,000.00<' in html
    assert 'data-kpi="pipeline"' in html  # a sales manager sees the sales view by default
    assert "Customer success" in html  # and can switch views
    assert "How is this computed?" in html and "÷ months in the period" in html
    assert 'hx-trigger="every 2s"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html  # served from our static files, no CDN


def test_the_polled_tiles_show_a_new_payment(client, make_user, book, finance_user):
    from billing.services.payments import payment_record

    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("finance"))
        assert _tile(client.get("/analytics/tiles/").text, "collections") == "$0.00"
        payment_record(customer=book, amount="75.00", currency="USD", by=finance_user)
        assert _tile(client.get("/analytics/tiles/").text, "collections") == "$75.00"


def _tile(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">(.*?)</div>', html, re.S)
    return " ".join(match.group(1).split())


def test_people_without_a_staff_role_get_403(client, make_user):
    client.force_login(make_user())
    assert client.get("/analytics/").status_code == 403


def test_a_movement_figure_drills_down_to_its_customers(client, make_user, book, finance_user):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("finance"))
        dashboard = client.get("/analytics/").text
        assert "/analytics/movements/?month=2027-01&kind=new" in dashboard
        page = client.get("/analytics/movements/?month=2027-01&kind=new")
    assert page.status_code == 200
    assert book.name in page.text and "$250.00" in page.text
    with time_machine.travel(date(2027, 3, 10)):
        assert book.name not in client.get("/analytics/movements/?month=2027-01&kind=churn").text


def test_each_audience_sees_its_own_few_kpis(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("customer_success"))
        success = client.get("/analytics/tiles/").text
        finance_view = client.get("/analytics/tiles/?audience=finance").text
    assert 'data-kpi="at_risk"' in success and 'data-kpi="dso"' not in success
    assert 'data-kpi="dso"' in finance_view and 'data-kpi="deferred"' in finance_view


def test_leadership_sees_cohort_retention(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("admin"))
        html = client.get("/analytics/").text
    assert "Cohort retention" in html and "2027-01" in html
