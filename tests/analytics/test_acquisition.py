"""CAC, payback, CLV and CLV:CAC on the hand-computed data set (by channel, segment and plan: service, API
and page), and entering spend (CSV all or nothing)."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from analytics.models import AcquisitionSpend, MrrMovement
from analytics.services import acquisition as acq
from analytics.services import profitability as prof
from catalog import models as cm
from revops.kernel.errors import ValidationFailed
from tests.analytics.test_profitability_data import FIRST, LAST, contract, dataset, post_revenue
from tests.factories import CustomerFactory

FIXTURES = (dataset,)  # the shared data set, a fixture used by name below

pytestmark = pytest.mark.django_db


def rows_of(report):
    return {r["group"]: r for r in report["rows"]}


def test_cac_payback_and_clv_per_channel(dataset):
    report = acq.acquisition_report(first=FIRST, last=LAST)
    rows = rows_of(report)
    inbound = rows["inbound"]
    # 600 + 300 spent, one new customer (A): CAC 900; ARPA 1,000 × gross margin 94.67 % = 946.70 a month
    assert (inbound["spend"], inbound["new_customers"], inbound["cac"]) == (D("900.00"), 1, D("900.00"))
    assert (inbound["arpa"], inbound["gross_margin_pct"]) == (D("1000.00"), D("94.67"))
    assert inbound["payback_months"] == D("1.0")  # 900 ÷ 946.70 = 0.95
    # no churn in inbound: capped at 60 months of margin
    assert (inbound["monthly_churn_pct"], inbound["clv"], inbound["clv_capped"]) == (D("0.00"), D("56802.00"), True)
    assert inbound["clv_cac"] == D("63.11")
    partner = rows["partner"]  # 1,000 EUR × 1.10
    assert (partner["spend"], partner["cac"], partner["gross_margin_pct"]) == (D("1100.00"), D("1100.00"), D("67.50"))
    assert (partner["payback_months"], partner["clv"], partner["clv_cac"]) == (D("1.6"), D("40500.00"), D("36.82"))
    outbound = rows["outbound"]
    # C: MRR 20, gross margin 40 % → 8.00 a month; churn 80 ÷ (0 + 100 + 100) = 40 % → 2.5 months
    assert (outbound["cac"], outbound["arpa"], outbound["gross_margin_pct"]) == (D("200.00"), D("20.00"), D("40.00"))
    assert (outbound["payback_months"], outbound["monthly_churn_pct"]) == (D("25.0"), D("40.00"))
    assert (outbound["clv"], outbound["clv_capped"], outbound["clv_cac"]) == (D("20.00"), False, D("0.10"))
    total = report["total"]
    assert (total["spend"], total["new_customers"], total["cac"]) == (D("2200.00"), 3, D("733.33"))
    assert (total["arpa"], total["gross_margin_pct"], total["monthly_churn_pct"]) == (D("673.33"), D("82.94"),
                                                                                      D("2.50"))
    # 673.33 × 82.94 % = 558.4599 a month × 40 months
    assert (total["clv"], total["payback_months"], total["clv_cac"]) == (D("22338.40"), D("1.3"), D("30.46"))
    assert "CLV = ARPA × gross margin % ÷ monthly revenue churn" in report["formula"]
    assert report["spend_by_month"] == {"2027-01": D("600.00"), "2027-02": D("1400.00"), "2027-03": D("200.00")}


def test_cac_by_segment_splits_channel_spend_by_new_customers(dataset):
    AcquisitionSpend.objects.create(channel="events", period=date(2027, 2, 1), category="marketing",
                                    amount=D("70.00"), currency="USD")  # no new customer from events
    size = rows_of(acq.acquisition_report(first=FIRST, last=LAST, by="size"))
    # smb: inbound 900 (A) + outbound 200 (scoped smb) for A and C; enterprise: partner 1,100 for B
    assert (size["smb"]["spend"], size["smb"]["new_customers"], size["smb"]["cac"]) == (D("1100.00"), 2, D("550.00"))
    assert (size["enterprise"]["spend"], size["enterprise"]["cac"]) == (D("1100.00"), D("1100.00"))
    assert (size["(unattributed)"]["spend"], size["(unattributed)"]["cac"]) == (D("70.00"), None)
    region = rows_of(acq.acquisition_report(first=FIRST, last=LAST, by="region"))
    assert (region["na"]["spend"], region["na"]["cac"], region["emea"]["spend"]) == (D("1100.00"), D("550.00"),
                                                                                      D("1100.00"))
    channel = rows_of(acq.acquisition_report(first=FIRST, last=LAST))
    assert (channel["events"]["spend"], channel["events"]["new_customers"], channel["events"]["cac"]) == (
        D("70.00"), 0, None)


def test_unknown_grouping_is_refused(db):
    with pytest.raises(ValidationFailed) as exc:
        acq.acquisition_report(first=FIRST, last=LAST, by="colour")
    assert "plan" in exc.value.fields["by"][0]  # the message lists every grouping


# --- by plan ------------------------------------------------------------------------------------------------

@pytest.fixture
def with_plan_two(dataset):
    """The data set + D: inbound, mid-market / emea (outside every scoped cost), on "Plan Two" (unit cost
    20.00 a month, 500.00 a month) 2027-01-01..02-28, revenue 500 in Jan and Feb, MRR new 2027-01-01 +500
    and churned 2027-03-01. D has no tickets and no March line or revenue, so it takes no share of any shared
    cost: A, B and C keep their figures. D's cost of goods 20 × 2 months = 40."""
    d = CustomerFactory(name="D corp", industry="media", size="mid_market", region="emea",
                        acquisition_channel="inbound")
    p3 = cm.Product.objects.create(sku="P3", name="Plan Two", kind="recurring", recognition="ratable",
                                   unit_cost=D("20.00"), ssp=D("500"))
    contract(d, 4, [(p3, 1, "500.00", "month", FIRST, date(2027, 2, 28))])
    for month in (1, 2):
        post_revenue(d, date(2027, month, 28), "500.00")
    for day, kind, amount, before, after in [(FIRST, "new", "500", "0", "500"),
                                             (date(2027, 3, 1), "churn", "-500", "500", "0")]:
        MrrMovement.objects.create(customer=d, date=day, currency="USD", kind=kind, amount=D(amount),
                                   mrr_before=D(before), mrr_after=D(after), amount_reporting=D(amount))
    return {**dataset, "d": d}


def test_cac_by_plan_splits_channel_spend_over_the_plans_of_its_new_customers(with_plan_two):
    report = acq.acquisition_report(first=FIRST, last=LAST, by="plan")

    rows = rows_of(report)
    assert report["by"] == "plan" and set(rows) == {"Plan One", "Plan Two"}
    # spend: inbound 600 + 300, new customers A (Plan One) and D (Plan Two) → 450 each; partner 1,100 (B) and
    # outbound 200 for size smb (C, smb) → Plan One: 450 + 1,100 + 200 = 1,750
    one, two = rows["Plan One"], rows["Plan Two"]
    assert (one["spend"], one["new_customers"], one["cac"]) == (D("1750.00"), 3, D("583.33"))  # 1,750 ÷ 3
    assert (two["spend"], two["new_customers"], two["cac"]) == (D("450.00"), 1, D("450.00"))
    # Plan One = A, B, C: MRR 1,000 + 1,000 + 20 → ARPA 673.33; gross margin (5,100 − 870) ÷ 5,100 = 82.94 %;
    # churn 80 ÷ (0 + 1,100 + 2,100) = 2.50 % → 40 months of 673.33 × 82.94 % = 558.459902 → 22,338.40
    assert (one["customers"], one["arpa"], one["gross_margin_pct"]) == (3, D("673.33"), D("82.94"))
    assert (one["monthly_churn_pct"], one["clv"], one["clv_capped"]) == (D("2.50"), D("22338.40"), False)
    assert (one["payback_months"], one["clv_cac"]) == (D("1.0"), D("38.29"))  # 583.33 ÷ 558.46; 22,338.40 ÷ 583.33
    # Plan Two = D: churned, so no paying customer, no ARPA, payback or CLV; margin (1,000 − 40) ÷ 1,000;
    # churn 500 ÷ (0 + 500 + 500)
    assert (two["customers"], two["arpa"], two["gross_margin_pct"], two["monthly_churn_pct"]) == (
        0, None, D("96.00"), D("50.00"))
    assert (two["payback_months"], two["clv"], two["clv_cac"]) == (None, None, None)
    assert (report["total"]["spend"], report["total"]["new_customers"], report["total"]["cac"]) == (
        D("2200.00"), 4, D("550.00"))
    # the same plans as the profitability pages (one definition, one computation)
    plans = {r["name"]: r["plan"] for r in prof.customer_rows(prof.compute(first=FIRST, last=LAST))}
    assert plans == {"A corp": "Plan One", "B corp": "Plan One", "C corp": "Plan One", "D corp": "Plan Two"}


def test_by_plan_spend_of_a_channel_without_new_customers_is_unattributed(dataset):
    AcquisitionSpend.objects.create(channel="events", period=date(2027, 2, 1), category="marketing",
                                    amount=D("70.00"), currency="USD", segment_field="size", segment_value="smb")
    rows = rows_of(acq.acquisition_report(first=FIRST, last=LAST, by="plan"))
    # every new customer (A, B, C) is on Plan One: all the channels' spend but the events' 70 goes there
    assert (rows["Plan One"]["spend"], rows["Plan One"]["new_customers"], rows["Plan One"]["cac"]) == (
        D("2200.00"), 3, D("733.33"))
    assert (rows["(unattributed)"]["spend"], rows["(unattributed)"]["new_customers"],
            rows["(unattributed)"]["cac"]) == (D("70.00"), 0, None)


def test_the_api_groups_by_plan_and_refuses_unknown_groupings(with_plan_two, api_client_for, finance_user,
                                                              sales_rep):
    client = api_client_for(finance_user)
    body = client.get("/api/v1/acquisition/?from=2027-01&to=2027-03&by=plan").json()
    rows = {r["group"]: r for r in body["rows"]}
    assert body["by"] == "plan"
    assert (rows["Plan One"]["spend"], rows["Plan One"]["cac"], rows["Plan Two"]["cac"]) == (
        "1750.00", "583.33", "450.00")
    assert "plan" in body["definitions"]
    bad = client.get("/api/v1/acquisition/?from=2027-01&to=2027-03&by=colour")
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"]["by"] == ["one of acquisition_channel, size, region, industry, plan"]
    assert api_client_for(sales_rep).get("/api/v1/acquisition/?by=plan").status_code == 403


def test_the_page_offers_plan_and_refuses_unknown_groupings(with_plan_two, finance_user, sales_rep):
    client = Client()
    client.force_login(finance_user)
    window = {"start": "2027-01", "end": "2027-03"}
    r = client.get(reverse("analytics:acquisition"), {**window, "by": "plan"})
    assert r.status_code == 200
    html = r.content.decode()
    assert '<option value="plan" selected>Plan</option>' in html
    assert "<th>Plan</th>" in html and "Plan Two" in html
    assert "$1,750.00" in html and "$583.33" in html and "$22,338.40" in html and "38.29" in html
    bad = client.get(reverse("analytics:acquisition"), {**window, "by": "colour"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'id="by-error"' in html and "Unknown grouping &quot;colour&quot;" in html
    assert 'id="cac"' not in html  # no figures for a grouping that does not exist
    rep = Client()
    rep.force_login(sales_rep)
    assert rep.get(reverse("analytics:acquisition"), {**window, "by": "plan"}).status_code == 403


def test_spend_create_validates(db):
    spend = acq.acquisition_spend_create(channel="inbound", period="2027-04", category="sales", amount="12.50",
                                         currency="USD")
    assert (spend.period, spend.amount) == (date(2027, 4, 1), D("12.50"))
    for bad, field in [({"channel": "tv"}, "channel"), ({"amount": "-1"}, "amount"), ({"amount": "1.234"}, "amount"),
                       ({"currency": "XYZ"}, "currency"), ({"period": "April"}, "period"),
                       ({"segment_field": "size"}, "segment_value")]:
        fields = {"channel": "inbound", "period": "2027-04", "category": "sales", "amount": "1", "currency": "USD",
                  **bad}
        with pytest.raises(ValidationFailed) as exc:
            acq.acquisition_spend_create(**fields)
        assert field in exc.value.fields
    assert AcquisitionSpend.objects.count() == 1


GOOD_CSV = """channel,period,category,amount,currency,segment_field,segment_value,note
inbound,2027-04,marketing,1000.00,USD,,,webinars
partner,2027-04-01,sales,250,EUR,size,enterprise,
"""


def test_csv_import_creates_every_row(db):
    created = acq.acquisition_spend_import(text=GOOD_CSV)
    assert len(created) == 2
    assert sorted(AcquisitionSpend.objects.values_list("channel", "amount", "currency", "segment_value")) == [
        ("inbound", D("1000.000"), "USD", ""), ("partner", D("250.000"), "EUR", "enterprise")]


def test_csv_import_with_errors_writes_nothing(db):
    text = GOOD_CSV + "tv,2027-04,marketing,5,USD,,,\ninbound,2027-13,sales,abc,USD,,,\n"
    with pytest.raises(ValidationFailed) as exc:
        acq.acquisition_spend_import(text=text)
    assert set(exc.value.fields) == {"rows[3].channel", "rows[4].period"}
    assert "nothing was imported" in exc.value.message
    assert AcquisitionSpend.objects.count() == 0
    with pytest.raises(ValidationFailed) as exc:
        acq.acquisition_spend_import(text="channel,amount\ninbound,5\n")
    assert "file" in exc.value.fields
    assert AcquisitionSpend.objects.count() == 0
