"""MRR movements with exact figures (upgrade, downgrade, churn, reactivation of one customer) and the
rollup checked against the source records after random sequences of contract events."""
from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.models import MrrMovement
from analytics.services import kpis
from analytics.services.mrr import verify
from catalog import models as cm
from contracts.models import Contract
from contracts.services.amendments import contract_amend
from contracts.services.creation import LineSpec, contract_create
from contracts.services.termination import contract_terminate
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seats(db):
    return cm.Product.objects.create(sku="SEATS", name="Seats", kind="recurring", recognition="ratable", ssp=D("10"))


def test_one_customer_across_a_year(seats, finance_user):
    customer = CustomerFactory(currency="USD")
    first = contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12, by=finance_user,
                            lines=[LineSpec(seats, D(10), D("10.00"))])  # 100.00 MRR from January
    line = first.lines.get()
    contract_amend(contract_id=first.pk, effective_date=date(2027, 4, 1), by=finance_user,
                   changes=[{"line": line.pk, "quantity": "15"}])  # 150.00: expansion +50
    contract_amend(contract_id=first.pk, effective_date=date(2027, 7, 1), by=finance_user,
                   changes=[{"line": line.pk, "quantity": "12"}])  # 120.00: contraction −30
    contract_terminate(contract_id=first.pk, effective_date=date(2027, 9, 30), reason="budget", by=finance_user)
    contract_create(customer=customer, start_date=date(2027, 12, 1), term_months=12, by=finance_user,
                    lines=[LineSpec(seats, D(8), D("10.00"))])  # back at 80.00: reactivation
    deliver_pending()
    assert list(MrrMovement.objects.order_by("date").values_list("date", "kind", "amount", "mrr_after")) == [
        (date(2027, 1, 1), "new", D("100.00"), D("100.00")),
        (date(2027, 4, 1), "expansion", D("50.00"), D("150.00")),
        (date(2027, 7, 1), "contraction", D("-30.00"), D("120.00")),
        (date(2027, 10, 1), "churn", D("-120.00"), D("0.00")),
        (date(2027, 12, 1), "reactivation", D("80.00"), D("80.00")),
        (date(2028, 12, 1), "churn", D("-80.00"), D("0.00")),  # scheduled: the new term ends 2028-11-30
    ]
    year = kpis.movements(date(2027, 1, 1), date(2027, 12, 31))
    assert (year["start"], year["new"], year["expansion"], year["reactivation"], year["contraction"], year["churn"],
            year["end"], year["ties"]) == (D("0.00"), D("100.00"), D("50.00"), D("80.00"), D("30.00"), D("120.00"),
                                           D("80.00"), True)
    assert kpis.mrr(date(2027, 5, 15)) == D("150.00")
    assert verify() == []


def test_a_foreign_currency_customer_is_valued_at_the_rate_of_its_latest_change(seats, finance_user):
    from recognition.models import FxRate

    FxRate.objects.create(currency="EUR", date=date(2026, 12, 31), rate=D("1.10"))
    FxRate.objects.create(currency="EUR", date=date(2027, 2, 1), rate=D("1.20"))
    FxRate.objects.create(currency="EUR", date=date(2027, 3, 1), rate=D("0.90"))
    customer = CustomerFactory(currency="EUR")
    contract = contract_create(customer=customer, start_date=date(2027, 1, 15), term_months=12, by=finance_user,
                               currency="EUR", lines=[LineSpec(seats, D(20), D("10.00"))])  # 200.00 EUR
    contract_amend(contract_id=contract.pk, effective_date=date(2027, 2, 20), by=finance_user,
                   changes=[{"line": contract.lines.get().pk, "quantity": "10"}])  # 100.00 EUR
    contract_terminate(contract_id=contract.pk, effective_date=date(2027, 3, 4), reason="budget", by=finance_user)
    deliver_pending()
    # new: 200 × 1.10 = 220.00; contraction: 100 × 1.20 = 120.00 after, so −100.00 (the FX move included);
    # churn: back to exactly zero, −120.00 — whatever the rate on the day (0.90 here).
    assert list(MrrMovement.objects.order_by("date").values_list("kind", "amount", "amount_reporting")) == [
        ("new", D("200.00"), D("220.00")), ("contraction", D("-100.00"), D("-100.00")),
        ("churn", D("-100.00"), D("-120.00"))]
    assert [kpis.mrr(day) for day in (date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31))] == [
        D("220.00"), D("120.00"), D("0.00")]
    assert kpis.mrr_by_customer(date(2027, 3, 31)) == {}


def test_retention_over_a_known_cohort(seats, finance_user):
    a, b, c = (CustomerFactory(currency="USD") for _ in range(3))
    for customer, qty in ((a, 10), (b, 10), (c, 10)):
        contract_create(customer=customer, start_date=date(2026, 1, 1), term_months=24, by=finance_user,
                        lines=[LineSpec(seats, D(qty), D("10.00"))])  # 100.00 each
    contracts = {x.customer_id: x for x in Contract.objects.all()}
    contract_amend(contract_id=contracts[a.pk].pk, effective_date=date(2026, 6, 1), by=finance_user,
                   changes=[{"line": contracts[a.pk].lines.get().pk, "quantity": "15"}])  # a: 150.00
    contract_terminate(contract_id=contracts[b.pk].pk, effective_date=date(2026, 8, 31), reason="gone", by=finance_user)
    deliver_pending()
    r = kpis.retention(date(2027, 1, 15))  # cohort of 2026-01-15: a, b, c at 100.00 each
    # NRR (150 + 0 + 100) / 300 = 83.33 %; GRR (100 + 0 + 100) / 300 = 66.67 %; 1 of 3 logos lost
    assert (r["nrr"], r["grr"], r["logo_churn"], r["cohort"]) == (D("83.33"), D("66.67"), D("33.33"), 3)


events = st.lists(st.tuples(st.sampled_from(["create", "amend", "terminate"]), st.integers(0, 3),
                            st.integers(1, 20), st.integers(0, 300)), min_size=1, max_size=12)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=events)
def test_the_rollup_matches_the_source_after_any_sequence_of_contract_events(seats, finance_user, steps):
    from revops.kernel.errors import DomainError

    customers = [CustomerFactory(currency="USD") for _ in range(4)]
    base = date(2027, 1, 1)
    for action, who, qty, offset in steps:
        customer = customers[who]
        day = date.fromordinal(base.toordinal() + offset)
        active = Contract.objects.filter(customer=customer, status="active").order_by("-id").first()
        try:
            if action == "create" or active is None:
                contract_create(customer=customer, start_date=day, term_months=12, by=finance_user,
                                lines=[LineSpec(seats, D(qty), D("10.00"))])
            elif action == "amend":
                line = active.lines.order_by("-version").first()
                contract_amend(contract_id=active.pk, effective_date=max(day, line.start_date), by=finance_user,
                               changes=[{"line": line.pk, "quantity": str(qty)}])
            else:
                contract_terminate(contract_id=active.pk, effective_date=max(day, active.start_date),
                                   reason="random", by=finance_user)
        except DomainError:
            pass  # refused steps (e.g. an amendment on the day a line already changes) change nothing
    deliver_pending()
    assert verify() == []
    for window in (kpis.movements(date(2027, 1, 1), date(2027, 12, 31)), kpis.movements(date(2027, 3, 1), date(2028, 6, 30))):
        assert window["ties"]


def test_the_kpi_api_gives_values_definitions_and_series(seats, finance_user, make_user, api_client_for):
    contract_create(customer=CustomerFactory(currency="USD", size="enterprise"), start_date=date(2027, 1, 1),
                    term_months=12, by=finance_user, lines=[LineSpec(seats, D(10), D("10.00"))])
    deliver_pending()
    client = api_client_for(make_user("sales_manager"))
    snap = client.get("/api/v1/kpis/?as_of=2027-02-10").json()
    assert (snap["values"]["mrr"], snap["values"]["arr"], snap["values"]["customers"]) == ("100.00", "1200.00", 1)
    assert "÷ months in the period" in snap["definitions"]["mrr"]
    assert client.get("/api/v1/kpis/?as_of=2027-02-10&size=smb").json()["values"]["mrr"] == "0.00"
    series = client.get("/api/v1/kpis/mrr/?from=2026-12&to=2027-02").json()["series"]
    assert series == [{"month": "2026-12", "mrr": "0.00"}, {"month": "2027-01", "mrr": "100.00"},
                      {"month": "2027-02", "mrr": "100.00"}]
    bad = client.get("/api/v1/kpis/mrr/?from=2027-13")
    assert (bad.status_code, bad.json()["error"]["fields"]) == (400, {"from": ["not a date"]})
    assert api_client_for(None).get("/api/v1/kpis/").status_code == 401


def test_cohort_retention_by_start_month(seats, finance_user):
    a, b = CustomerFactory(currency="USD"), CustomerFactory(currency="USD")
    for customer in (a, b):
        contract_create(customer=customer, start_date=date(2027, 1, 10), term_months=12, by=finance_user,
                        lines=[LineSpec(seats, D(10), D("10.00"))])  # 100.00 each from January
    ca = Contract.objects.get(customer=a)
    contract_amend(contract_id=ca.pk, effective_date=date(2027, 2, 15), by=finance_user,
                   changes=[{"line": ca.lines.get().pk, "quantity": "15"}])  # a: 150.00 from mid-February
    cb = Contract.objects.get(customer=b)
    contract_terminate(contract_id=cb.pk, effective_date=date(2027, 3, 20), reason="gone", by=finance_user)
    deliver_pending()
    (row,) = kpis.cohorts(date(2027, 1, 1), date(2027, 4, 30), months_after=3)
    # January cohort starts at 200.00; February 250.00 (125 %), March and April 150.00 (75 %)
    assert (row["cohort"], row["customers"], row["starting_mrr"]) == ("2027-01", 2, D("200.00"))
    assert row["retention"] == [D("125.0"), D("75.0"), D("75.0")]
