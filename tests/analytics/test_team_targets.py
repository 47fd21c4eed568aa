"""Targets per team member (segment_field "owner": the customers' owner, by username) and the KPIs of one
rep's customers (`?segment=owner:alice`), on hand-computed figures.

    alice owns A1 and A2, bob owns B1 (reporting currency USD, amounts as given)
      A1 2027-01-10 new          300.00
      B1 2027-01-20 new          500.00
      A2 2027-02-01 new          100.00
      A1 2027-02-05 expansion    200.00   (not new MRR)
      B1 2027-02-10 contraction −100.00
      A2 2027-03-03 churn       −100.00
    alice's MRR: January 300.00, February 600.00, March 500.00; bob's: 500.00, 400.00, 400.00
"""
from datetime import date
from decimal import Decimal as D

import pytest

from analytics.models import KpiTarget, MrrMovement
from analytics.services import kpis
from analytics.services.targets import target_progress
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def move(customer, day: date, kind: str, amount: str):
    MrrMovement.objects.create(customer=customer, date=day, currency="USD", kind=kind, amount=D(amount),
                               mrr_before=0, mrr_after=0, amount_reporting=D(amount))


@pytest.fixture
def team(make_user):
    alice, bob = make_user("sales_rep", username="alice"), make_user("sales_rep", username="bob")
    a1, a2, b1 = CustomerFactory(owner=alice), CustomerFactory(owner=alice), CustomerFactory(owner=bob)
    move(a1, date(2027, 1, 10), "new", "300.00")
    move(b1, date(2027, 1, 20), "new", "500.00")
    move(a2, date(2027, 2, 1), "new", "100.00")
    move(a1, date(2027, 2, 5), "expansion", "200.00")
    move(b1, date(2027, 2, 10), "contraction", "-100.00")
    move(a2, date(2027, 3, 3), "churn", "-100.00")
    return alice, bob


def test_a_new_mrr_target_for_one_rep_counts_only_that_reps_customers(team):
    target = KpiTarget.objects.create(kpi="new_mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                      segment_field="owner", segment_value="alice", value=D("1000.00"))
    p = target_progress(target, date(2027, 2, 14))  # day 45 of 90
    # alice: 300 + 100 = 400 (bob's 500 and the expansion do not count); (1,000 − 400) ÷ 45 = 13.33 a day
    assert (p["actual"], p["percent"], p["gap"], p["days_remaining"], p["pace_per_day"], p["on_track"]) == (
        D("400.00"), D("40.00"), D("600.00"), 45, D("13.33"), False)
    assert (p["projected"], p["shortfall_percent"], p["segment"]) == (D("800.00"), D("20.00"), {"owner": "alice"})
    company = KpiTarget.objects.create(kpi="new_mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                       value=D("1000.00"))
    assert target_progress(company, date(2027, 2, 14))["actual"] == D("900.00")  # everyone's: 300 + 500 + 100


def test_level_targets_for_a_rep(team):
    arr = KpiTarget.objects.create(kpi="arr", period_start=date(2027, 2, 1), period_end=date(2027, 2, 28),
                                   segment_field="owner", segment_value="bob", value=D("6000.00"))
    p = target_progress(arr, date(2027, 2, 14))  # bob's MRR 400.00 → ARR 4,800.00; start (31 Jan) 6,000.00
    assert (p["actual"], p["gap"], p["pace_per_day"]) == (D("4800.00"), D("1200.00"), D("85.71"))  # 1,200 ÷ 14
    # 6,000 + (4,800 − 6,000) × 28 ÷ 14 = 3,600.00; (6,000 − 3,600) ÷ 6,000 = 40.00 % short
    assert (p["projected"], p["shortfall_percent"]) == (D("3600.00"), D("40.00"))
    customers = KpiTarget.objects.create(kpi="customers", period_start=date(2027, 3, 1), period_end=date(2027, 3, 31),
                                         segment_field="owner", segment_value="alice", value=D("3"))
    p = target_progress(customers, date(2027, 3, 10))  # A2 churned on 3 March: alice has 1 of 3, 21 days left
    assert (p["actual"], p["gap"], p["pace_per_day"]) == (D(1), D(2), D("0.10"))
    assert kpis.mrr(date(2027, 3, 31), segment={"owner": "alice"}) == D("500.00")
    assert kpis.customers_count(date(2027, 2, 28), segment={"owner": "bob"}) == 1


@pytest.fixture
def api(make_user, api_client_for):
    return api_client_for(make_user("sales_manager"))


def test_the_kpi_api_by_owner(team, api):
    q = "from=2027-01&to=2027-03&interval=month"
    body = api.get(f"/api/v1/kpis/mrr/?{q}&segment=owner:alice").json()
    assert body["segment"] == {"owner": "alice"}
    assert [p["value"] for p in body["points"]] == ["300.00", "600.00", "500.00"]
    assert [r["mrr"] for r in body["series"]] == ["300.00", "600.00", "500.00"]
    new = api.get(f"/api/v1/kpis/new_mrr/?{q}&segment=owner:bob").json()
    assert [p["value"] for p in new["points"]] == ["500.00", "0.00", "0.00"]
    customers = api.get(f"/api/v1/kpis/customers/?{q}&segment=owner:alice").json()
    assert [p["value"] for p in customers["points"]] == [1, 2, 1]
    snapshot = api.get("/api/v1/kpis/?as_of=2027-02-28&segment=owner:bob").json()["values"]
    assert (snapshot["mrr"], snapshot["customers"]) == ("400.00", 1)
    bad = api.get(f"/api/v1/kpis/mrr/?{q}&segment=owner:nobody")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error" and "segment" in bad.json()["error"]["fields"]


def test_setting_a_target_for_a_rep_over_the_api(team, api, make_user, api_client_for):
    body = {"kpi": "new_mrr", "period_start": "2027-01-01", "period_end": "2027-03-31", "value": "1000.00",
            "segment_field": "owner", "segment_value": "alice"}
    created = api.post("/api/v1/targets/", body, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["segment_field"], created.json()["segment_value"]) == ("owner", "alice")
    detail = api.get(f"/api/v1/targets/{created.json()['id']}/?as_of=2027-02-14").json()["progress"]
    assert (detail["actual"], detail["pace_per_day"], detail["segment"]) == ("400.00", "13.33", {"owner": "alice"})

    make_user("sales_rep", username="gone", is_active=False)
    make_user(username="outsider")  # no staff role (e.g. a portal contact)
    for username in ("nobody", "gone", "outsider"):
        bad = api.post("/api/v1/targets/", {**body, "segment_value": username}, format="json")
        assert bad.status_code == 400, (username, bad.content)
        assert "segment_value" in bad.json()["error"]["fields"], bad.json()
    assert KpiTarget.objects.count() == 1
    # a rep reads targets but does not set them
    rep = api_client_for(team[1])
    assert rep.post("/api/v1/targets/", body, format="json").status_code == 403
    assert rep.get(f"/api/v1/targets/{created.json()['id']}/").status_code == 200
