"""CAC, payback, CLV and CLV:CAC on the hand-computed data set, and entering spend (CSV all or nothing)."""
from datetime import date
from decimal import Decimal as D

import pytest

from analytics.models import AcquisitionSpend
from analytics.services import acquisition as acq
from revops.kernel.errors import ValidationFailed
from tests.analytics.test_profitability_data import FIRST, LAST, dataset

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
    with pytest.raises(ValidationFailed):
        acq.acquisition_report(first=FIRST, last=LAST, by="colour")


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
