"""Chart data endpoints on the small data set of test_drilldown (figures written by hand there)."""
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from analytics.models import KpiTarget
from analytics.services import forecast
from recognition.services.posting import recognize_through
from tests.analytics.test_drilldown import world  # noqa: F401  (the shared data set)

pytestmark = pytest.mark.django_db


@pytest.fixture
def get(client, make_user):
    def fetch(url: str) -> dict:
        with time_machine.travel(date(2027, 3, 10)):
            client.force_login(make_user("finance"))
            response = client.get(url)
        assert response.status_code == 200, response.content
        return response.json()

    return fetch


def test_mrr_with_its_movements(world, get):  # noqa: F811
    d = get("/analytics/charts/mrr/?from=2027-01&to=2027-03")
    assert d["labels"] == ["2027-01", "2027-02", "2027-03"]
    assert d["series"] == {"mrr": ["100.00", "320.00", "420.00"], "new": ["100.00", "220.00", "0.00"],
                           "expansion": ["0.00", "0.00", "100.00"], "contraction": ["0.00", "0.00", "0.00"],
                           "churn": ["0.00", "0.00", "0.00"]}
    assert d["currency"] == "USD" and "reporting" not in d
    smb = get("/analytics/charts/mrr/?from=2027-01&to=2027-03&size=smb")
    assert smb["series"]["mrr"] == ["0.00", "220.00", "220.00"]


def test_recognized_billed_collected(world, get):  # noqa: F811
    with time_machine.travel(date(2027, 2, 2)):
        recognize_through(day=date(2027, 2, 2))  # January of A1: 1,200.00 × 31 / 365 = 101.92
    d = get("/analytics/charts/flows/?from=2027-01&to=2027-03")
    assert d["series"] == {"recognized": ["101.92", "0.00", "0.00"], "billed": ["100.00", "220.00", "100.00"],
                           "collected": ["50.00", "0.00", "55.00"]}
    emea = get("/analytics/charts/flows/?from=2027-01&to=2027-03&region=emea")
    assert emea["series"] == {"recognized": ["0.00", "0.00", "0.00"], "billed": ["0.00", "220.00", "0.00"],
                              "collected": ["0.00", "0.00", "55.00"]}


def test_ar_aging_in_the_reporting_and_a_chosen_currency(world, get):  # noqa: F811
    d = get("/analytics/charts/aging/?to=2027-03")
    assert d["labels"] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert d["series"]["amount"] == ["110.00", "165.00", "60.00", "0.00", "0.00"]
    eur = get("/analytics/charts/aging/?to=2027-03&currency=EUR")
    assert eur["currency"] == "EUR"
    assert eur["series"]["amount"] == ["100.00", "150.00", "54.55", "0.00", "0.00"]  # ÷ 1.10
    assert eur["reporting"]["amount"] == ["110.00", "165.00", "60.00", "0.00", "0.00"]


def test_actual_against_target(world, get, finance_user):  # noqa: F811
    mrr = KpiTarget.objects.create(kpi="mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                   value=D("500.00"), created_by=finance_user)
    KpiTarget.objects.create(kpi="new_mrr", period_start=date(2027, 7, 1), period_end=date(2027, 9, 30),
                             value=D("900.00"))  # outside the period: not shown
    logos = KpiTarget.objects.create(kpi="customers", period_start=date(2027, 3, 1), period_end=date(2027, 3, 31),
                                     segment_field="size", segment_value="smb", value=D("3"))
    d = get("/analytics/charts/targets/?from=2027-01&to=2027-03")
    assert d["targets"] == [mrr.pk, logos.pk]
    assert d["labels"] == ["MRR 2027-01-01–2027-03-31", "Customers 2027-03-01–2027-03-31 · size=smb"]
    assert d["series"] == {"actual": ["420.00", "1"], "target": ["500.00", "3"]}  # a count is not money
    eur = get("/analytics/charts/targets/?from=2027-01&to=2027-03&currency=EUR")
    assert eur["series"] == {"actual": ["381.82", "1"], "target": ["454.55", "3"]}  # ÷ 1.10


def test_forecast_with_its_band(world, get):  # noqa: F811
    d = get("/analytics/charts/forecast/?to=2027-03")
    with time_machine.travel(date(2027, 3, 10)):
        expected = forecast.revenue_forecast(date(2027, 3, 10), 12)
    assert d["labels"] == [f"2027-{m:02d}" for m in range(3, 13)] + ["2028-01", "2028-02"]
    assert d["series"]["total"] == [str(r["total"]) for r in expected["months"]]
    assert d["series"]["low"] == [str(r["low"]) for r in expected["months"]]
    # renewals: A1 (100.00 MRR) ends 2027-12-31, B1 (200.00 EUR) 2028-01-31, neither auto-renews: × 0.6
    assert d["series"]["renewals"][-2:] == ["60.00", "192.00"]  # 60.00; 60.00 + 200.00 × 0.6 × 1.10


def test_charts_are_for_staff_only(client, make_user):
    assert client.get("/analytics/charts/mrr/").status_code == 302
    client.force_login(make_user())
    assert client.get("/analytics/charts/mrr/").status_code == 403
    client.force_login(make_user("sales_rep"))
    assert client.get("/analytics/charts/pie/").status_code == 404
