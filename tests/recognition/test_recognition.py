"""ASC 606 worked examples with exact figures, the journal, periods, and the invariants."""
from datetime import date
from decimal import Decimal as D

import pytest

from recognition.models import JournalEntry, JournalLine, PerformanceObligation, ScheduleLine
from recognition.services import obligations
from recognition.services.posting import recognize_through
from revops.kernel import money
from revops.kernel.dates import days_by_month
from revops.kernel.events import deliver_pending

pytestmark = pytest.mark.django_db


def schedule(ob):
    return [(x.period.isoformat()[:7], x.amount) for x in ob.schedule.exclude(status="cancelled").order_by("period")]


def build(contract):
    return {ob.product.sku: ob for ob in obligations.obligations_for_contract(contract_id=contract.pk)}


def test_ratable_by_days_public_example_and_the_months_basis_for_comparison(product, contract_of):
    sub = product("SUB", ssp="100")
    contract = contract_of(date(2023, 1, 1), 12, [(sub, "1", "100.00")])
    ob = build(contract)["SUB"]
    assert ob.allocated_price == D("1200.00")
    months = dict(schedule(ob))
    # revops recognizes by days: January 1,200.00 × 31/365, February × 28/365
    assert (months["2023-01"], months["2023-02"]) == (D("101.92"), D("92.05"))
    assert sum(months.values()) == D("1200.00")
    # a months basis would give 100.00 a month and 800.00 by the end of August
    by_months = money.allocate(D("1200.00"), [1] * 12, "USD")
    assert by_months[0] == D("100.00") and sum(by_months[:8]) == D("800.00")
    # by days, January … August is 1,200 × 243/365 = 798.904…; the months, each rounded, sum to 798.91
    assert sum(list(months.values())[:8]) == D("798.91")


def test_subscription_with_setup_fee_and_a_discount_allocates_by_ssp(product, contract_of):
    sub = product("SUB", ssp="100")
    setup = product("SETUP", kind="one_time", recognition="point_in_time", ssp="1000", family="Services")
    # 20 % off the subscription only: 80.00/month × 12 = 960.00, setup at list 1,000.00 → price 1,960.00
    contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "80.00"), (setup, "1", "1000.00")])
    obs = build(contract)
    # SSPs 1,200.00 and 1,000.00: 1,960 × 12/22 = 1,069.09 and 1,960 × 10/22 = 890.91 — the discount spreads
    assert (obs["SUB"].allocated_price, obs["SETUP"].allocated_price) == (D("1069.09"), D("890.91"))
    assert schedule(obs["SETUP"]) == [("2027-01", D("890.91"))]  # point in time: the start month
    assert sum(a for _, a in schedule(obs["SUB"])) == D("1069.09")


def test_a_bundle_with_a_residual_product(product, contract_of):
    a, b = product("A", ssp="50"), product("B", ssp="30")
    c = product("C", ssp=None, ssp_residual=True)
    contract = contract_of(date(2027, 1, 1), 12, [(a, "1", "45.00"), (b, "1", "27.00"), (c, "1", "20.00")])
    obs = build(contract)
    # price 540 + 324 + 240 = 1,104.00; A and B at SSP (600, 360); C the residual 144.00
    assert [(k, obs[k].allocated_price) for k in "ABC"] == [("A", D("600.00")), ("B", D("360.00")),
                                                            ("C", D("144.00"))]


def test_a_discounted_bundle_spreads_the_discount_when_the_residual_would_get_nothing(product, contract_of):
    a, b = product("A", ssp="50"), product("B", ssp="30")
    c = product("C", ssp=None, ssp_residual=True)
    contract = contract_of(date(2027, 1, 1), 12, [(a, "1", "35.00"), (b, "1", "20.00"), (c, "1", "10.00")])
    obs = build(contract)
    # price 420 + 240 + 120 = 780.00 < the observable SSPs 600 + 360: relative SSP with C weighted by its
    # price 120: A 780 × 600/1080 = 433.33, B 260.00, C 86.666… → 86.67 (largest remainder)
    assert [(k, obs[k].allocated_price) for k in "ABC"] == [("A", D("433.33")), ("B", D("260.00")),
                                                            ("C", D("86.67"))]


def test_missing_ssp_is_a_clear_error_and_nothing_is_built(product, contract_of):
    sub = product("SUB", ssp=None)
    contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "80.00")])
    with pytest.raises(obligations.SspMissing) as err:
        obligations.obligations_for_contract(contract_id=contract.pk)
    assert "SUB" in err.value.message
    assert PerformanceObligation.objects.count() == 0 and ScheduleLine.objects.count() == 0


def test_a_mid_term_upsell_is_prospective(product, contract_of, finance_user):
    from contracts.services.amendments import contract_amend

    seats = product("SEATS", ssp="10")
    contract = contract_of(date(2027, 1, 1), 12, [(seats, "10", "10.00")])  # 100.00 a month, 1,200.00
    contract_amend(contract_id=contract.pk, effective_date=date(2027, 7, 1), by=finance_user,
                   changes=[{"line": contract.lines.get().pk, "quantity": "20", "unit_price": "9.00"}])
    deliver_pending()  # the contract events reach recognition (the test runs in one transaction)
    obs = PerformanceObligation.objects.filter(contract=contract).order_by("version")
    old, new = list(obs)
    kept = sum(a for _, a in schedule(old))
    assert (old.status, old.allocated_price, kept) == ("replaced", kept, D("595.07"))  # 1,200 × 181/365
    # what was not recognized (604.93) + the new consideration (180 × 6 = 1,080) − the old terms' rest (600)
    assert new.allocated_price == D("1084.93")
    assert kept + new.allocated_price == D("1680.00")  # 600 + 1,080: the whole contract, exactly
    assert schedule(new)[0][0] == "2027-07"


def _all_invariants(as_of):
    for ob in PerformanceObligation.objects.all():
        lines = ob.schedule.exclude(status="cancelled")
        assert sum((x.amount for x in lines), D(0)) == ob.allocated_price, ob
    for entry in JournalEntry.objects.prefetch_related("lines"):
        lines = list(entry.lines.all())
        assert sum(x.debit for x in lines) == sum(x.credit for x in lines), entry
        assert sum(x.debit_reporting for x in lines) == sum(x.credit_reporting for x in lines), entry


def test_recognition_run_posts_balanced_entries_once(product, contract_of, django_capture_on_commit_callbacks):
    sub = product("SUB", ssp="100")
    with django_capture_on_commit_callbacks(execute=True):
        contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")])
    assert PerformanceObligation.objects.filter(contract=contract).count() == 1  # built from the event
    assert recognize_through(day=date(2027, 3, 15)) == 2  # January and February have ended
    assert recognize_through(day=date(2027, 3, 15)) == 0
    revenue = JournalLine.objects.filter(account__role="revenue").order_by("entry__date")
    assert [(x.entry.date, x.credit) for x in revenue] == [(date(2027, 1, 31), D("101.92")),
                                                           (date(2027, 2, 28), D("92.05"))]
    _all_invariants(date(2027, 3, 15))
    # One outbox event per contract and month recognized, for webhooks and the live dashboards; none again.
    from revops.kernel.models import OutboxEvent

    events = OutboxEvent.objects.filter(type="revenue.recognized").order_by("id")
    assert [(e.aggregate_id, e.payload["period"], e.payload["amount"], e.payload["customer"]) for e in events] == [
        (str(contract.pk), "2027-01", "101.92", contract.customer_id),
        (str(contract.pk), "2027-02", "92.05", contract.customer_id)]


def test_days_by_month_covers_every_day_once():
    spans = list(days_by_month(date(2024, 1, 15), date(2025, 1, 14)))
    assert sum(d for _, d in spans) == 366
