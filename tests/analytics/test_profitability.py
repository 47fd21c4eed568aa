"""Profitability on the hand-computed data set (tests/analytics/test_profitability_data.py): contribution
margin per customer and segment, the whale curve's peak, trends, the Customer 360 summary and the
allocation invariant (hypothesis)."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from analytics.models import ServiceCost
from analytics.services import profitability as prof
from analytics.services.cost_allocation import allocate_cost
from tests.analytics.test_profitability_data import FIRST, LAST, dataset

FIXTURES = (dataset,)  # the shared data set, a fixture used by name below

pytestmark = pytest.mark.django_db


def by_name(rows):
    return {r["name"]: r for r in rows}


def test_contribution_margin_per_customer(dataset):
    report = prof.report(first=FIRST, last=LAST)
    rows = by_name(report["rows"])
    a, b, c = rows["A corp"], rows["B corp"], rows["C corp"]
    assert (a["revenue"], a["product_cost"], a["usage_cost"], a["cost_of_goods"]) == (
        D("3000.00"), D("150.00"), D("10.00"), D("160.00"))
    assert (a["direct_cost"], a["allocated_cost"], a["cost_to_serve"]) == (D("0.00"), D("631.43"), D("631.43"))
    assert (a["contribution"], a["margin_pct"], a["gross_margin_pct"]) == (D("2208.57"), D("73.62"), D("94.67"))
    assert (b["revenue"], b["cost_of_goods"], b["cost_to_serve"]) == (D("2000.00"), D("650.00"), D("600.48"))
    assert (b["contribution"], b["margin_pct"]) == (D("749.52"), D("37.48"))
    assert (c["revenue"], c["cost_of_goods"], c["direct_cost"], c["allocated_cost"]) == (
        D("100.00"), D("60.00"), D("300.00"), D("88.09"))
    assert (c["contribution"], c["margin_pct"]) == (D("-348.09"), D("-348.09"))
    assert [r["name"] for r in report["rows"]] == ["A corp", "B corp", "C corp"]
    assert [r["rank"] for r in report["rows"]] == [1, 2, 3]
    assert (a["plan"], b["plan"], a["size"], b["acquisition_channel"]) == ("Plan One", "Plan One", "smb", "partner")
    totals = report["totals"]
    assert (totals["customers"], totals["revenue"], totals["contribution"]) == (3, D("5100.00"), D("2610.00"))
    # every shared cost lands on customers except the latam one (nobody there): 50.00 unallocated
    assert report["unallocated"] == D("50.00")
    entered = D("100") + D("90") + D("1100") + D("30")
    assert sum((r["allocated_cost"] for r in report["rows"]), D(0)) == entered


def test_whale_curve_peak(dataset):
    curve = prof.report(first=FIRST, last=LAST)["whale_curve"]
    peak = curve["peak"]
    assert curve["total"] == D("2610.00")
    assert (peak["rank"], peak["customers_pct"], peak["cumulative"]) == (2, D("66.67"), D("2958.09"))
    assert peak["pct_of_total"] == D("113.34")  # 2,958.09 ÷ 2,610.00
    assert peak["value_destroyed"] == D("348.09")
    assert [p["cumulative_pct"] for p in curve["curve"]] == [D("84.62"), D("113.34"), D("100.00")]


def test_whale_curve_all_profitable_peaks_at_the_end():
    rows = [{"customer_id": i, "contribution": D(v)} for i, v in enumerate(["50", "30", "20"], start=1)]
    curve = prof.whale_curve(rows)
    assert (curve["peak"]["rank"], curve["peak"]["customers_pct"], curve["peak"]["pct_of_total"]) == (
        3, D("100.00"), D("100.00"))
    assert prof.whale_curve([])["peak"] is None


def test_segment_matrix(dataset):
    result = prof.compute(first=FIRST, last=LAST)
    matrix = prof.segment_matrix(result)
    industry = {r["segment"]: r for r in matrix["industry"]}
    assert (industry["software"]["customers"], industry["software"]["revenue"]) == (2, D("3100.00"))
    assert industry["software"]["contribution"] == D("1860.48")  # 2,208.57 − 348.09
    assert industry["software"]["contribution_per_customer"] == D("930.24")
    assert industry["software"]["margin_pct"] == D("60.02")  # 1,860.48 ÷ 3,100
    assert industry["retail"]["contribution"] == D("749.52")
    assert industry["software"]["share_of_contribution"] == D("71.28")  # 1,860.48 ÷ 2,610
    channel = {r["segment"]: r["contribution"] for r in matrix["acquisition_channel"]}
    assert channel == {"inbound": D("2208.57"), "partner": D("749.52"), "outbound": D("-348.09")}
    assert {r["segment"] for r in matrix["plan"]} == {"Plan One"}
    assert [r["segment"] for r in matrix["size"]] == ["smb", "enterprise"]


def test_trends_by_month(dataset):
    months = {r["month"]: r for r in prof.trends(first=FIRST, last=LAST)}
    assert list(months) == ["2027-01", "2027-02", "2027-03"]
    jan, feb, mar = months["2027-01"], months["2027-02"], months["2027-03"]
    assert (jan["revenue"], jan["cost_of_goods"], jan["cost_to_serve"]) == (D("1000.00"), D("70.00"), D("390.00"))
    assert (feb["revenue"], feb["cost_of_goods"]) == (D("2000.00"), D("630.00"))  # 70 + 50 + 500 + usage 10
    assert feb["cost_to_serve"] == D("100.00")
    assert (mar["revenue"], mar["cost_of_goods"], mar["cost_to_serve"]) == (D("2100.00"), D("170.00"),
                                                                           D("1130.00"))
    total = sum((m["contribution"] for m in months.values()), D(0))
    assert total == D("2610.00")
    smb = {r["month"]: r for r in prof.trends(first=FIRST, last=LAST, segment_field="size", segment_value="smb")}
    assert smb["2027-02"]["revenue"] == D("1000.00")
    assert smb["2027-01"]["cost_to_serve"] == D("390.00")  # 300 direct + 90 seats, all smb


def test_trends_by_plan(dataset):
    """The plan segment (the product of the main recurring line) filters the months too: A, B and C are all
    on Plan One, so its months are everyone's; nobody is without a plan. (It once failed on PostgreSQL: the
    stored split was filtered by a customer field named like the segment, and plan is not one.)"""
    everyone = prof.trends(first=FIRST, last=LAST)
    assert prof.trends(first=FIRST, last=LAST, segment_field="plan", segment_value="Plan One") == everyone
    nobody = prof.trends(first=FIRST, last=LAST, segment_field="plan", segment_value="(none)")
    assert [m["month"] for m in nobody] == ["2027-01", "2027-02", "2027-03"]
    assert all(m["revenue"] == m["cost_of_goods"] == m["cost_to_serve"] == 0 for m in nobody)


def test_customer_summary_matches_the_table_and_computes_clv(dataset, django_assert_max_num_queries):
    from django.core.cache import cache

    a = dataset["a"]
    cache.clear()
    with django_assert_max_num_queries(20):  # cold: the months are split for everyone and stored (CostShare)
        prof.customer_summary(customer_id=a.pk, first=FIRST, last=LAST)
    # current: one query reads the months' state and the customer's parts (PostgreSQL's stored split); SQLite,
    # the demo database, has no stored split and splits again on each read
    with django_assert_max_num_queries(11 if connection.vendor == "postgresql" else 20):
        summary = prof.customer_summary(customer_id=a.pk, first=FIRST, last=LAST)
    # churn: contracted 80 ÷ (MRR at the start of Jan 0 + Feb 1,100 + Mar 2,100) = 0.025 → 40 months
    # CLV = MRR 1,000 × gross margin 94.67 % × 40
    assert summary == {"revenue": D("3000.00"), "cost_of_goods": D("160.00"), "cost_to_serve": D("631.43"),
                       "contribution": D("2208.57"), "margin_pct": D("73.62"), "clv": D("37868.00"),
                       "currency": "USD"}
    c = prof.customer_summary(customer_id=dataset["c"].pk, first=FIRST, last=LAST)
    assert (c["cost_to_serve"], c["contribution"]) == (D("388.09"), D("-348.09"))
    assert c["clv"] == D("320.00")  # MRR 20 × gross margin 40 % × 40 months
    assert prof.customer_cost_to_serve_share(customer_id=dataset["b"].pk, first=FIRST, last=LAST) == D("0.3002")


def test_clv_is_capped_when_churn_is_zero():
    assert prof.clv_value(monthly_margin=D("100"), churn=None) == D("6000.00")
    assert prof.clv_value(monthly_margin=D("100"), churn=D("0")) == D("6000.00")
    assert prof.clv_value(monthly_margin=D("100"), churn=D("0.01")) == D("6000.00")  # 100 months → cap 60
    assert prof.clv_value(monthly_margin=D("100"), churn=D("0.05")) == D("2000.00")


def test_a_customer_without_figures_has_zero_and_no_margin(dataset):
    from tests.factories import CustomerFactory

    idle = CustomerFactory(name="Idle")
    summary = prof.customer_summary(customer_id=idle.pk, first=FIRST, last=LAST)
    assert (summary["revenue"], summary["contribution"], summary["margin_pct"], summary["clv"]) == (
        D("0.00"), D("0.00"), None, None)
    assert prof.customer_cost_to_serve_share(customer_id=idle.pk, first=FIRST, last=LAST) is None
    assert "Idle" not in by_name(prof.report(first=FIRST, last=LAST)["rows"])


def test_allocated_costs_sum_exactly_to_each_cost_entered(dataset):
    ServiceCost.objects.all().delete()
    ServiceCost.objects.create(period=date(2027, 3, 1), category="support", amount=D("100.00"), currency="USD",
                               driver="revenue_share")  # 1,000 / 1,000 / 100
    rows = prof.report(first=FIRST, last=LAST)["rows"]
    parts = sorted(r["allocated_cost"] for r in rows)
    assert parts == [D("4.76"), D("47.62"), D("47.62")]
    assert sum(parts) == D("100.00")


@given(amount=st.decimals(min_value=0, max_value=D("1000000"), places=2),
       weights=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=30),
       fallback=st.lists(st.integers(min_value=1, max_value=50), max_size=10))
def test_allocation_parts_sum_exactly_to_the_cost(amount, weights, fallback):
    parts = allocate_cost(amount=amount, currency="USD", weights={i + 1: D(w) for i, w in enumerate(weights)},
                          fallback=fallback)
    if any(weights) or fallback:
        assert sum(parts.values(), D(0)) == amount
        assert all(p >= 0 for p in parts.values())
        if any(weights):  # a customer without driver gets nothing
            assert all(weights[pk - 1] > 0 for pk in parts)
    else:
        assert parts == {}


@given(amount=st.decimals(min_value=0, max_value=D("99999"), places=0),
       weights=st.lists(st.decimals(min_value=0, max_value=D("5000"), places=3), min_size=1, max_size=20))
def test_allocation_exact_in_a_currency_without_minor_units(amount, weights):
    parts = allocate_cost(amount=amount, currency="JPY", weights=dict(enumerate(weights)), fallback=[99])
    assert sum(parts.values(), D(0)) == amount
    assert all(p == p.to_integral_value() for p in parts.values())


def test_missing_fx_rate_is_a_clear_error(dataset):
    from recognition.models import FxRate
    from recognition.services.journal import FxRateMissing

    FxRate.objects.all().delete()
    with pytest.raises(FxRateMissing, match="EUR"):
        prof.report(first=FIRST, last=LAST)


def test_window_must_be_ordered(db):
    from revops.kernel.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        prof.compute(first=LAST, last=FIRST)


def test_the_stored_split_follows_new_costs(dataset):
    b = dataset["b"]
    before = prof.customer_summary(customer_id=b.pk, first=FIRST, last=LAST)["cost_to_serve"]
    ServiceCost.objects.create(period=date(2027, 2, 1), category="support", amount=D("30.00"), currency="USD",
                               driver="tickets")  # tickets A 1, B 2 → B 20.00
    after = prof.customer_summary(customer_id=b.pk, first=FIRST, last=LAST)["cost_to_serve"]
    assert after - before == D("20.00")
