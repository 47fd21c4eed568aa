"""The profitability report with its reads really apart (revops.kernel.background: outside a transaction,
on PostgreSQL, the shared costs' split, revenue, usage and the contract lines are read on other
connections): the same hand-computed figures as inline (tests/analytics/test_profitability.py), also on the
first read after a ticket change, which re-splits that month's tickets-driven costs on another connection."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.db import connection

from analytics.services import cost_allocation as ca
from analytics.services import profitability as prof
from revops.kernel import background
from tests.analytics.test_profitability_data import FIRST, LAST, dataset

FIXTURES = (dataset,)

pytestmark = [pytest.mark.skipif(connection.vendor != "postgresql", reason="runs apart on PostgreSQL only"),
              pytest.mark.django_db(transaction=True)]


def _figures(report) -> dict:
    return {r["name"]: (r["revenue"], r["cost_of_goods"], r["cost_to_serve"], r["contribution"], r["plan"])
            for r in report["rows"]}


def test_the_report_read_apart_has_the_hand_computed_figures(dataset):
    assert background.can_start()
    report = prof.report(first=FIRST, last=LAST)
    assert _figures(report) == {
        "A corp": (D("3000.00"), D("160.00"), D("631.43"), D("2208.57"), "Plan One"),
        "B corp": (D("2000.00"), D("650.00"), D("600.48"), D("749.52"), "Plan One"),
        "C corp": (D("100.00"), D("60.00"), D("388.09"), D("-348.09"), "Plan One")}
    assert report["unallocated"] == D("50.00")
    assert report["whale_curve"]["peak"]["rank"] == 2


def test_after_a_ticket_change_the_report_read_apart_re_splits_that_driver(dataset):
    prof.report(first=FIRST, last=LAST)
    ca.support_volume_set(customer_id=dataset["a"].pk, period=date(2027, 2, 1), tickets=3)  # A 60.00, B 40.00
    rows = {r["name"]: r for r in prof.report(first=FIRST, last=LAST)["rows"]}
    assert (rows["A corp"]["cost_to_serve"], rows["B corp"]["cost_to_serve"]) == (D("658.10"), D("573.81"))
    assert ca.cost_shares_verify(months=[date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)]) == {}


def test_a_missing_fx_rate_is_still_a_clear_error_when_read_apart(dataset):
    from recognition.models import FxRate
    from recognition.services.journal import FxRateMissing

    FxRate.objects.all().delete()
    with pytest.raises(FxRateMissing, match="EUR"):
        prof.report(first=FIRST, last=LAST)


@pytest.mark.parametrize("first, last, by_month", [(FIRST, LAST, False), (FIRST, LAST, True),
                                                    (date(2027, 2, 10), date(2027, 3, 20), False),
                                                    (date(2027, 2, 10), date(2027, 3, 20), True)])
def test_the_lines_sql_gives_the_python_reference_rows(dataset, first, last, by_month):
    """LINES_SQL (PostgreSQL) and line_rows_in_python (the SQLite demo's path) agree row for row: the exact
    numerators over COMMON_DAYS, the plans, whole and part months, one-time lines, EUR at its rate."""
    from analytics.services.profitability import _Run

    run = _Run(first, last, focus=None, by_month=by_month, month_filter=None)
    in_python = run.line_rows_in_python()  # by_month: keyed by month, as the SQLite trends read it
    in_sql = run.line_rows() if not by_month else [("plan", *row[1:]) for row in in_python if row[0] == "plan"] + [
        ("cost", pk, month, n, None) for pk, month, n in _sql_costs_by_customer_and_month(run)]

    def normal(rows):
        """{(customer, month): numerator} (the SQL gives recurring and one-time lines a row each) and plans."""
        costs: dict = {}
        for tag, pk, month, n, _name in rows:
            if tag == "cost":
                costs[pk, month] = costs.get((pk, month), 0) + n
        return costs, sorted((pk, name) for tag, pk, _m, _n, name in rows if tag == "plan")

    assert normal(in_sql) == normal(in_python)
    assert {tag for tag, *_rest in in_sql} == {"cost", "plan"}
    if by_month:  # the trends' month totals (LINES_MONTH_TOTALS_SQL), over everyone and over customer A
        for counted in (None, [dataset["a"].pk]):
            totals = {month: n for tag, _pk, month, n, _t in run.month_line_rows(counted) if tag == "cost"}
            expected: dict = {}
            for (pk, month), n in normal(in_python)[0].items():
                if counted is None or pk in counted:
                    expected[month] = expected.get(month, 0) + n
            assert totals == expected


def test_trends_read_apart_by_segment_and_by_plan(dataset):
    """By month the split's refresh runs apart and the months are summed over the counted customers after
    the plans are known (test_trends_by_month's figures)."""
    months = {r["month"]: r for r in prof.trends(first=FIRST, last=LAST)}
    assert (months["2027-03"]["revenue"], months["2027-03"]["cost_to_serve"]) == (D("2100.00"), D("1130.00"))
    smb = {r["month"]: r for r in prof.trends(first=FIRST, last=LAST, segment_field="size", segment_value="smb")}
    assert (smb["2027-02"]["revenue"], smb["2027-01"]["cost_to_serve"]) == (D("1000.00"), D("390.00"))
    by_plan = prof.trends(first=FIRST, last=LAST, segment_field="plan", segment_value="Plan One")
    assert by_plan == list(months.values())


def _sql_costs_by_customer_and_month(run) -> list[tuple]:
    """The month totals of LINES_MONTH_TOTALS_SQL, one customer at a time: (customer, month, numerator)."""
    return [(pk, month, n) for pk in run.attrs or _customer_ids()
            for tag, _none, month, n, _t in run.month_line_rows([pk]) if tag == "cost"]


def _customer_ids() -> list[int]:
    from customers.models import Customer

    return list(Customer.objects.values_list("pk", flat=True))
