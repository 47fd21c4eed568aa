"""Amendments: versions by effective date and proration by days, with worked examples."""
from datetime import date
from decimal import Decimal as D

import pytest

from contracts.models import Amendment, ContractLine, ProrationCharge
from contracts.services.amendments import contract_amend, plan_amendment
from contracts.services.periods import Period, billing_period_containing
from revops.kernel.errors import InvalidTransition, ValidationFailed
from revops.kernel.models import OutboxEvent

pytestmark = pytest.mark.django_db


def charges(amendment):
    return [(c.description.split(":")[0], c.remaining_days, c.period_days, c.amount)
            for c in amendment.charges.order_by("id")]


def test_a_plan_change_credits_the_old_price_and_charges_the_new_for_the_rest_of_the_period(make_contract,
                                                                                             finance_user):
    # 20.00/month billed in advance 04-11 → 05-10; on 04-26 the customer moves to the 30.00 plan.
    contract = make_contract(start=date(2027, 4, 11))
    line = contract.lines.get()
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 4, 26), by=finance_user,
                               changes=[{"line": line.pk, "unit_price": "30.00"}])
    assert charges(amendment) == [("Plan", 15, 30, D("-10.00")), ("Plan", 15, 30, D("15.00"))]
    assert amendment.proration_total == D("5.00")
    assert OutboxEvent.objects.filter(type="contract.amended").count() == 1


def test_a_ten_to_twenty_upgrade_halfway_nets_five(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "10.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 4, 26), by=finance_user,
                               changes=[{"line": contract.lines.get().pk, "unit_price": "20.00"}])
    assert amendment.proration_total == D("5.00")


def test_versions_keep_the_history_so_day_d_has_an_exact_answer(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("seats", "10", "10.00"),))
    first = contract.lines.get()
    contract_amend(contract_id=contract.pk, effective_date=date(2027, 6, 1), by=finance_user,
                   changes=[{"line": first.pk, "quantity": "15"}])
    first.refresh_from_db()
    assert (first.quantity, first.start_date, first.end_date) == (D(10), date(2027, 4, 11), date(2027, 5, 31))
    assert [(x.quantity, x.version) for x in ContractLine.objects.filter(contract=contract).active_on(date(2027, 5, 31))] \
        == [(D(10), 1)]
    assert [(x.quantity, x.version) for x in ContractLine.objects.filter(contract=contract).active_on(date(2027, 6, 1))] \
        == [(D(15), 2)]


def test_a_quantity_increase_in_the_middle_of_a_month(make_contract, finance_user):
    # Seats 10 → 15 at 10.00 on 06-01; billing period 05-11 … 06-10 (31 days), 10 days remain.
    contract = make_contract(start=date(2027, 4, 11), lines=(("seats", "10", "10.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 6, 1), by=finance_user,
                               changes=[{"line": contract.lines.get().pk, "quantity": "15"}])
    assert charges(amendment) == [("Seats", 10, 31, D("16.13"))]  # 10.00 × 5 × 10/31 = 16.129…


def test_a_decrease_is_a_credit(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "5", "20.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 4, 26), by=finance_user,
                               changes=[{"line": contract.lines.get().pk, "quantity": "3"}])
    assert charges(amendment) == [("Plan", 15, 30, D("-20.00"))]  # −2 × 20.00 × 15/30


def test_on_the_first_and_last_day_of_a_billing_period(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
    line = contract.lines.get()
    first_day = plan_amendment(contract, date(2027, 5, 11), [{"line": line.pk, "quantity": "2"}])
    assert [(c.remaining_days, c.period_days, c.amount) for c in first_day.charges] == [(31, 31, D("20.00"))]
    last_day = plan_amendment(contract, date(2027, 5, 10), [{"line": line.pk, "quantity": "2"}])
    assert [(c.remaining_days, c.period_days, c.amount) for c in last_day.charges] == [(1, 30, D("0.67"))]
    assert Amendment.objects.count() == 0  # planning writes nothing


def test_across_a_leap_day(make_contract, finance_user):
    # February 2028 has 29 days: 29.00/month, one more unit from 02-15 → 29.00 × 15/29 = 15.00.
    contract = make_contract(start=date(2028, 2, 1), lines=(("plan", "1", "29.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2028, 2, 15), by=finance_user,
                               changes=[{"line": contract.lines.get().pk, "quantity": "2"}])
    assert charges(amendment) == [("Plan", 15, 29, D("15.00"))]


def test_the_anchor_rule_for_a_contract_starting_on_the_31st():
    # Periods step from the anchor day, clamped to short months: Jan 31 → Feb 28 … → Feb 29 → Mar 30 …
    jan31 = date(2028, 1, 31)
    assert billing_period_containing(jan31, "month", date(2028, 2, 28)) == Period(jan31, date(2028, 2, 28))
    assert billing_period_containing(jan31, "month", date(2028, 2, 29)) == Period(date(2028, 2, 29), date(2028, 3, 30))
    assert billing_period_containing(jan31, "month", date(2028, 3, 31)) == Period(date(2028, 3, 31), date(2028, 4, 29))


def test_a_product_added_mid_term_is_co_termed_and_prorated(make_contract, products, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 7, 1), by=finance_user,
                               changes=[{"product": products["seats"].pk, "quantity": "3"}])
    added = contract.lines.get(product=products["seats"])
    assert (added.start_date, added.end_date, added.unit_price, added.amount) == (
        date(2027, 7, 1), contract.end_date, D("10.000000"), D("30.00"))
    # billing period 06-11 … 07-10 (30 days), 10 days remain: 30.00 × 10/30
    assert charges(amendment) == [("Seats", 10, 30, D("10.00"))]
    contract.refresh_from_db()
    assert contract.end_date == date(2028, 4, 10)


def test_quarterly_billing_prorates_over_the_quarter(make_contract, finance_user):
    # 20.00/month billed quarterly: 60.00 per quarter 04-11 … 07-10 (91 days); +1 unit from 06-10 (31 days left)
    contract = make_contract(start=date(2027, 4, 11), frequency="quarter", lines=(("plan", "1", "20.00"),))
    amendment = contract_amend(contract_id=contract.pk, effective_date=date(2027, 6, 10), by=finance_user,
                               changes=[{"line": contract.lines.get().pk, "quantity": "2"}])
    assert charges(amendment) == [("Plan", 31, 91, D("20.44"))]  # 60.00 × 31/91 = 20.439…


def test_tcv_and_arr_follow_the_amendment(make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1), lines=(("seats", "10", "10.00"),))
    assert (contract.tcv, contract.arr) == (D("1200.00"), D("1200.00"))
    contract_amend(contract_id=contract.pk, effective_date=date(2027, 7, 1), by=finance_user,
                   changes=[{"line": contract.lines.get().pk, "quantity": "20"}])
    contract.refresh_from_db()
    assert contract.tcv == D("1800.00")  # 6 months at 100.00 + 6 months at 200.00


@pytest.mark.parametrize(("effective", "change", "field"), [
    (date(2027, 4, 10), {"quantity": "2"}, "effective_date"),   # before the start
    (date(2028, 4, 11), {"quantity": "2"}, "effective_date"),   # after the end
    (date(2027, 5, 1), {"quantity": "-1"}, "changes[0].quantity"),
    (date(2027, 5, 1), {"unit_price": "abc"}, "changes[0].unit_price"),
])
def test_bad_amendments_are_refused_and_change_nothing(make_contract, finance_user, effective, change, field):
    contract = make_contract(start=date(2027, 4, 11))
    line = contract.lines.get()
    with pytest.raises(ValidationFailed) as err:
        contract_amend(contract_id=contract.pk, effective_date=effective, by=finance_user,
                       changes=[{"line": line.pk, **change}])
    assert field in err.value.fields
    assert (Amendment.objects.count(), ProrationCharge.objects.count(), ContractLine.objects.count()) == (0, 0, 1)
    line.refresh_from_db()
    assert line.end_date == contract.end_date


def test_an_inactive_contract_cannot_be_amended(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), activate=False)
    with pytest.raises(InvalidTransition):
        contract_amend(contract_id=contract.pk, effective_date=date(2027, 5, 1), by=finance_user,
                       changes=[{"line": contract.lines.get().pk, "quantity": "2"}])
