"""From quote to contract, renewals with uplift, renewal alerts (once, catching up), termination."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.core import mail

from contracts.models import Contract, ContractLine, ContractQuote, RenewalAlert
from contracts.services.creation import contract_create_from_quote
from contracts.services.renewals import contract_renew, contracts_daily, send_renewal_alerts
from contracts.services.termination import contract_terminate
from quotes.services import editing, lifecycle
from revops.kernel import events
from revops.kernel.errors import InvalidTransition, ValidationFailed
from revops.kernel.models import EventDelivery, Notification, OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _accepted_quote(products, rep, *, start=date(2027, 1, 1), term=12, django_capture_on_commit_callbacks=None):
    quote = editing.quote_create(customer=CustomerFactory(), owner=rep, start_date=start, term_months=term)
    editing.quote_line_add(quote_id=quote.pk, product_id=products["seats"].pk, quantity=10, by=rep)
    editing.quote_line_add(quote_id=quote.pk, product_id=products["setup"].pk, quantity=1, by=rep)
    lifecycle.quote_submit(quote_id=quote.pk, by=rep)
    quote = lifecycle.quote_send(quote_id=quote.pk, by=rep)
    return lifecycle.quote_accept(token=lifecycle.acceptance_token(quote), name="Buyer")


def test_an_accepted_quote_becomes_one_active_contract_even_when_the_event_is_replayed(
        products, sales_rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        quote = _accepted_quote(products, sales_rep)
    contract = Contract.objects.get()
    assert (contract.quote, contract.status, contract.start_date, contract.end_date) == (
        quote, "active", date(2027, 1, 1), date(2027, 12, 31))
    assert [(x.product.sku, x.quantity, x.unit_price, x.amount, x.period) for x in contract.lines.all()] == [
        ("SEATS", D(10), D("10.000000"), D("100.00"), "month"), ("SETUP", D(1), D("500.000000"), D("500.00"),
                                                                 "one_time")]
    assert (contract.tcv, contract.arr) == (D("1700.00"), D("1200.00"))  # 12 × 100.00 + 500.00 once
    delivery = EventDelivery.objects.get(subscriber="contracts.from_accepted_quote")
    events.redeliver([delivery.pk])
    events.deliver_pending()
    assert contract_create_from_quote(quote_id=quote.pk) == contract
    assert Contract.objects.count() == 1
    assert OutboxEvent.objects.filter(type="contract.activated").count() == 1


def test_renewal_uplifts_prices_into_a_new_term(make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1), lines=(("seats", "10", "10.00"), ("setup", "1", "500")),
                             renewal_uplift_percent=D("7"), renewal_term_months=24)
    renewal = contract_renew(contract_id=contract.pk, by=finance_user)
    contract.refresh_from_db()
    assert contract.status == "renewed"
    assert (renewal.start_date, renewal.end_date, renewal.renewed_from) == (date(2028, 1, 1), date(2029, 12, 31),
                                                                             contract)
    assert [(x.product.sku, x.unit_price, x.amount) for x in renewal.lines.all()] == [
        ("SEATS", D("10.700000"), D("107.00"))]  # the one-time setup is not renewed
    assert contract_renew(contract_id=contract.pk, by=finance_user) == renewal  # once only
    assert OutboxEvent.objects.filter(type="contract.renewed").count() == 1


def test_the_daily_task_auto_renews_expires_and_is_idempotent(make_contract):
    auto = make_contract(start=date(2027, 1, 1), auto_renew=True)
    manual = make_contract(start=date(2027, 1, 1), auto_renew=False, owner=None)
    day_after = date(2028, 1, 1)
    assert contracts_daily(today=day_after)["renewed"] == 1
    assert contracts_daily(today=day_after + timedelta(days=3)) == {"renewed": 0, "expired": 0,
                                                                    "renewal_quotes": 0, "alerts": 0}
    auto.refresh_from_db()
    manual.refresh_from_db()
    assert (auto.status, manual.status) == ("renewed", "expired")
    assert Contract.objects.get(renewed_from=auto).start_date == date(2028, 1, 1)


def test_a_renewal_quote_is_prepared_for_the_owner_before_the_end(make_contract, sales_rep):
    contract = make_contract(start=date(2027, 1, 1), owner=sales_rep, renewal_notice_days=60,
                             lines=(("seats", "10", "9.00"),), renewal_uplift_percent=D("5"))
    with time_machine.travel(date(2027, 10, 1)):
        assert contracts_daily(today=date(2027, 10, 1))["renewal_quotes"] == 0  # 91 days before the end
    with time_machine.travel(date(2027, 11, 2)):
        assert contracts_daily(today=date(2027, 11, 2))["renewal_quotes"] == 1
        assert contracts_daily(today=date(2027, 11, 2))["renewal_quotes"] == 0
    contract.refresh_from_db()
    quote = contract.renewal_quote
    assert (quote.status, quote.owner, quote.start_date) == ("draft", sales_rep, date(2028, 1, 1))
    line = quote.lines.get()
    # list 10.00, target 9.00 × 1.05 = 9.45 → a 5.5 % discount
    assert (line.quantity, line.discount_percent, line.net_unit_price) == (D(10), D("5.5000"), D("9.450000"))
    assert ContractQuote.objects.get(quote=quote).purpose == "renewal"


def test_renewal_alerts_go_once_each_and_catch_up_after_a_missed_day(make_contract, sales_rep, make_user):
    success = make_user("customer_success")
    with time_machine.travel(date(2027, 1, 1)):
        contract = make_contract(start=date(2027, 1, 1), owner=sales_rep)  # ends 2027-12-31
    assert send_renewal_alerts(today=date(2027, 10, 1)) == 0   # 91 days before
    assert send_renewal_alerts(today=date(2027, 10, 2)) == 1   # the 90-day alert
    assert send_renewal_alerts(today=date(2027, 10, 2)) == 0   # the same day again
    # The task did not run for weeks: the 60-day (11-01) and 30-day (12-01) alerts are both caught up.
    assert send_renewal_alerts(today=date(2027, 12, 5)) == 2
    assert send_renewal_alerts(today=date(2027, 12, 6)) == 0
    assert list(RenewalAlert.objects.filter(contract=contract).values_list("offset_days", "due_date")) == [
        (90, date(2027, 10, 2)), (60, date(2027, 11, 1)), (30, date(2027, 12, 1))]
    assert Notification.objects.filter(user=sales_rep, kind="renewal_alert").count() == 3
    assert Notification.objects.filter(user=success, kind="renewal_alert").count() == 3


def test_alerts_are_emailed_after_commit(make_contract, sales_rep, django_capture_on_commit_callbacks):
    with time_machine.travel(date(2027, 1, 1)):
        make_contract(start=date(2027, 1, 1), owner=sales_rep)
    with django_capture_on_commit_callbacks(execute=True):
        send_renewal_alerts(today=date(2027, 10, 2))
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [sales_rep.email]
    assert "Renewal in 90 days" in mail.outbox[0].subject


def test_no_alert_for_a_date_before_the_contract_existed(make_contract, sales_rep):
    with time_machine.travel(date(2027, 11, 15)):
        contract = make_contract(start=date(2027, 1, 1), owner=sales_rep)  # entered late: 46 days left
    assert send_renewal_alerts(today=date(2027, 11, 15)) == 0  # the 90- and 60-day dates were before it existed
    assert send_renewal_alerts(today=date(2027, 12, 1)) == 1
    assert list(contract.renewal_alerts.values_list("offset_days", flat=True)) == [30]


def test_termination_ends_the_lines_and_credits_the_unused_days(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "30.00"),))
    contract = contract_terminate(contract_id=contract.pk, effective_date=date(2027, 4, 25), reason="Closed down",
                                  by=finance_user)
    assert (contract.status, contract.terminated_on, contract.end_date) == ("terminated", date(2027, 4, 25),
                                                                            date(2027, 4, 25))
    assert list(ContractLine.objects.filter(contract=contract).values_list("end_date", flat=True)) == [
        date(2027, 4, 25)]
    credit = contract.proration_charges.get()
    assert (credit.remaining_days, credit.period_days, credit.amount) == (15, 30, D("-15.00"))
    with pytest.raises(InvalidTransition):
        contract_terminate(contract_id=contract.pk, effective_date=date(2027, 4, 26), reason="again",
                           by=finance_user)


def test_terminating_an_expired_contract_is_refused(make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1))
    contracts_daily(today=date(2028, 1, 2))
    with pytest.raises(InvalidTransition):
        contract_terminate(contract_id=contract.pk, effective_date=date(2027, 12, 1), reason="late", by=finance_user)
    contract.refresh_from_db()
    assert contract.status == "expired"


def test_a_renewal_term_of_zero_is_refused(make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1))
    with pytest.raises(ValidationFailed) as err:
        contract_renew(contract_id=contract.pk, by=finance_user, term_months=0)
    assert "renewal_term_months" in err.value.fields
    assert Contract.objects.count() == 1
    contract.refresh_from_db()
    assert contract.status == "active"


def test_an_accepted_amendment_quote_amends_the_contract_once(make_contract, products, sales_rep,
                                                              django_capture_on_commit_callbacks):
    from contracts.models import Amendment
    from contracts.services.quoting import amendment_quote_create

    contract = make_contract(start=date(2027, 1, 1), owner=sales_rep, lines=(("seats", "10", "9.00"),))
    quote = amendment_quote_create(contract_id=contract.pk, effective_date=date(2027, 7, 1), by=sales_rep)
    line = quote.lines.get()
    assert (quote.start_date, quote.term_months, line.quantity, line.net_unit_price) == (
        date(2027, 7, 1), 6, D(10), D("9.000000"))  # list 10.00 with a 10 % discount: the contract price
    editing.quote_line_update(line_id=line.pk, quantity=15, by=sales_rep)
    lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    quote = lifecycle.quote_send(quote_id=quote.pk, by=sales_rep)
    lifecycle.quote_accept(token=lifecycle.acceptance_token(quote), name="Buyer")
    events.deliver_pending()  # quote.accepted reaches the contracts subscriber (one test transaction)
    amendment = Amendment.objects.get(contract=contract)
    assert amendment.source_quote_id == quote.pk
    assert [(v.quantity, v.start_date, v.end_date) for v in contract.lines.order_by("version")] == [
        (D(10), date(2027, 1, 1), date(2027, 6, 30)), (D(15), date(2027, 7, 1), date(2027, 12, 31))]
    assert Contract.objects.count() == 1  # an amendment quote does not make a new contract
    # +5 seats × 9.00 for July: billing period 07-01 … 07-31 is fully remaining
    assert amendment.proration_total == D("45.00")
