"""The live dashboard: exact tiles, the partial the page re-fetches, filters, access."""
import re
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from recognition.models import FxRate
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(finance_user):
    seats = cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))
    customer = CustomerFactory(currency="USD", size="enterprise", region="emea")
    contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12, by=finance_user,
                    lines=[LineSpec(seats, D(25), D("10.00"))])  # 250.00 MRR
    small = CustomerFactory(currency="USD", size="smb", region="na")
    contract_create(customer=small, start_date=date(2027, 2, 1), term_months=12, by=finance_user,
                    lines=[LineSpec(seats, D(4), D("10.00"))])  # 40.00 MRR from February
    deliver_pending()
    return customer


def tile(html: str, name: str) -> str:
    match = re.search(rf'data-kpi="{name}">(.*?)</div>', html, re.S)
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def test_the_dashboard_shows_the_kpis_with_their_definitions(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("sales_manager"))
        page = client.get("/analytics/")
    assert page.status_code == 200
    html = page.text
    assert tile(html, "mrr") == "$290.00"
    assert tile(html, "arr") == "$3,480.00"
    assert tile(html, "customers") == "2"
    assert 'data-kpi="pipeline"' in html  # a sales manager sees the sales view by default
    assert "Customer success" in html  # and can switch views
    assert "How is this computed?" in html and "÷ months in the period" in html
    assert 'data-stream-url="/analytics/stream/"' in html  # live by server-sent events
    assert "vendor/chartjs/chart.umd.min.js" in html and "analytics/dashboard.js" in html  # no CDN
    assert 'data-chart="mrr"' in html and 'data-chart="targets"' in html and 'data-chart="aging"' not in html


def test_every_tile_links_to_its_drill_down(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("finance"))
        html = client.get("/analytics/tiles/").text
    links = dict(re.findall(r'data-kpi="(\w+)"><a href="([^"]+)"', html))
    assert set(links) == {"mrr", "billings", "collections", "dso", "deferred", "revenue", "margin"}
    assert links["mrr"] == "/analytics/drill/mrr/?from=2026-04&amp;to=2027-03"
    assert links["billings"] == "/analytics/drill/billings/?from=2027-03&amp;to=2027-03"  # this month
    assert links["dso"].startswith("/analytics/drill/receivables/")


def test_the_refetched_tiles_show_a_new_payment(client, make_user, book, finance_user):
    from billing.services.payments import payment_record

    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("finance"))
        assert tile(client.get("/analytics/tiles/").text, "collections") == "$0.00"
        payment_record(customer=book, amount="75.00", currency="USD", by=finance_user)
        assert tile(client.get("/analytics/tiles/").text, "collections") == "$75.00"


def test_the_segment_filter_narrows_the_tiles(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("admin"))
        everyone = client.get("/analytics/tiles/?audience=sales").text
        enterprise = client.get("/analytics/tiles/?audience=sales&size=enterprise").text
        smb_na = client.get("/analytics/tiles/?audience=sales&size=smb&region=na").text
    assert tile(everyone, "mrr") == "$290.00"
    assert tile(enterprise, "mrr") == "$250.00" and tile(enterprise, "customers") == "1"
    assert tile(smb_na, "mrr") == "$40.00"
    assert "/analytics/drill/mrr/?from=2026-04&amp;to=2027-03&amp;size=smb&amp;region=na" in smb_na


def test_the_owner_filter_shows_one_team_members_customers(client, make_user, book, sales_rep):
    from customers.models import Customer

    Customer.objects.filter(pk=book.pk).update(owner=sales_rep)  # the enterprise customer, 250.00 MRR
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("sales_manager"))
        page = client.get("/analytics/?audience=sales").text
        theirs = client.get(f"/analytics/tiles/?audience=sales&owner={sales_rep.username}").text
        drill = client.get(f"/analytics/drill/mrr/?from=2027-03&to=2027-03&owner={sales_rep.username}").text
    assert f'<option value="{sales_rep.username}"' in page
    assert tile(theirs, "mrr") == "$250.00" and tile(theirs, "customers") == "1"
    assert book.name in drill and "$40.00" not in drill


def test_the_period_filter_moves_the_day_of_the_tiles(client, make_user, book):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("admin"))
        january = client.get("/analytics/tiles/?audience=sales&from=2026-12&to=2027-01").text
        bad = client.get("/analytics/?audience=sales&from=2027-03&to=2027-01").text
    assert tile(january, "mrr") == "$250.00"  # on 31 January 2027, before the February contract
    assert "New MRR, January 2027" in january and tile(january, "new_mrr") == "$250.00"
    assert "from is after to" in bad


def test_a_chosen_currency_shows_both_figures(client, make_user, book):
    FxRate.objects.create(date=date(2027, 3, 1), currency="EUR", rate=D("1.25"))  # 1 EUR = 1.25 USD
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("admin"))
        html = client.get("/analytics/tiles/?audience=sales&currency=EUR").text
        page = client.get("/analytics/?audience=sales&currency=EUR").text
        missing = client.get("/analytics/?audience=sales&currency=JPY").text
    assert tile(html, "mrr") == "€232.00"  # 290.00 ÷ 1.25
    assert re.search(r'data-kpi-reporting="mrr">\s*\$290.00 in USD', html)
    assert '<option value="EUR" selected>' in page
    assert "no FX rate for JPY" in missing


def test_people_without_a_staff_role_get_403(client, make_user):
    from tests.portal.factories import portal_user

    assert client.get("/analytics/").status_code == 302  # anonymous: to the sign-in page
    client.force_login(make_user())
    assert client.get("/analytics/").status_code == 403
    assert client.get("/analytics/tiles/").status_code == 403
    client.force_login(portal_user(CustomerFactory(), "ap@portal.example"))
    assert client.get("/analytics/").status_code == 403


def test_a_movement_figure_drills_down_to_its_customers(client, make_user, book, finance_user):
    with time_machine.travel(date(2027, 3, 10)):
        client.force_login(make_user("finance"))
        dashboard = client.get("/analytics/?audience=leadership").text
        assert "/analytics/drill/new/?from=2027-01&amp;to=2027-01" in dashboard
        page = client.get("/analytics/drill/new/?from=2027-01&to=2027-01")
        old = client.get("/analytics/movements/?month=2027-01&kind=new")
    assert page.status_code == 200 and old.status_code == 200
    assert book.name in page.text and "$250.00" in page.text and book.name in old.text
    with time_machine.travel(date(2027, 3, 10)):
        assert book.name not in client.get("/analytics/drill/churn/?from=2027-01&to=2027-01").text


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
