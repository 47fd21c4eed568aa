"""The journal through a quarter: invoice, payment, recognition, close, late items, FX, credit notes."""
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
import time_machine

from billing.models import Invoice
from billing.services import billrun, credit_notes, invoices, payments
from recognition.models import AccountingPeriod, FxRate, JournalEntry, JournalLine
from recognition.services import periods, reports
from recognition.services.journal import FxRateMissing
from recognition.services.posting import post_invoice, recognize_through
from revops.kernel.errors import PermissionDeniedError, ValidationFailed
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def bill_and_issue(as_of):
    run = billrun.bill_run_create(as_of=as_of)
    for chunk in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk)
    issued = [invoices.invoice_issue(invoice_id=i.pk, render_pdf=False)
              for i in Invoice.objects.filter(bill_run=run, status="approved")]
    deliver_pending()
    return issued


def balances(as_of):
    tb = reports.trial_balance(as_of=as_of)
    assert tb["balanced"], tb
    return {r["account"]: r["balance"] for r in tb["rows"]}


def test_a_month_of_billing_payment_and_recognition_ties_out(product, contract_of, finance_user, make_user):
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 1, 1)):
        contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")], customer=CustomerFactory(country="US"))
        deliver_pending()
        (invoice,) = bill_and_issue(date(2027, 1, 1))
    assert balances(date(2027, 1, 1)) == {"1100": D("100.00"), "2100": D("-100.00")}  # Dr AR / Cr Deferred
    with time_machine.travel(date(2027, 1, 10)):
        payments.payment_record(customer=contract.customer, amount="100.00", currency="USD", by=finance_user)
        deliver_pending()
    with time_machine.travel(date(2027, 2, 2)):
        assert recognize_through(day=date(2027, 2, 2)) == 1
    # January: 101.92 recognized by days, 100.00 from deferred and 1.92 unbilled (a contract asset)
    assert balances(date(2027, 1, 31)) == {"1000": D("100.00"), "1100": D("0.00"), "1200": D("1.92"),
                                           "2100": D("0.00"), "4010": D("-101.92")}
    roll = reports.deferred_rollforward(period=date(2027, 1, 1))["currencies"][0]
    assert (roll["opening"], roll["billings"], roll["recognized"], roll["closing"], roll["ties"]) == (
        D("0.00"), D("100.00"), D("100.00"), D("0.00"), True)

    with time_machine.travel(date(2027, 2, 3)):
        with pytest.raises(PermissionDeniedError):
            periods.period_close(month=date(2027, 1, 1), by=make_user("sales_rep"))
        january = periods.period_close(month=date(2027, 1, 1), by=finance_user)
        assert january.status == "closed" and all(c["ok"] for c in january.checklist.values())
        january_entries = list(JournalEntry.objects.filter(period=january).values_list("id", "memo"))
        # A payment received on 30 January, recorded after the close: posted into February, pointing back.
        late = payments.payment_record(customer=contract.customer, amount="5.00", currency="USD", by=finance_user,
                                       received_at=datetime(2027, 1, 30, 12, tzinfo=UTC))
        deliver_pending()
        entry = JournalEntry.objects.get(source_key=f"payment.received:{late.pk}")
        assert (entry.period.start, entry.corrects_period, entry.date) == (date(2027, 2, 1), january, date(2027, 2, 1))
        # and a credit note after the close reverses in February; January stays as it was
        credit_notes.credit_note_create(invoice_id=invoice.pk, by=finance_user, reason="goodwill",
                                        lines=[{"invoice_line": invoice.lines.get().pk, "amount": "10.00"}])
        deliver_pending()
    assert list(JournalEntry.objects.filter(period=january).values_list("id", "memo")) == january_entries
    note_entry = JournalEntry.objects.get(source="credit_note.issued")
    assert note_entry.period.start == date(2027, 2, 1)
    assert [(x.account.code, x.debit, x.credit) for x in note_entry.lines.order_by("id")] == [
        ("2100", D("10.00"), D("0.00")), ("2300", D("0.00"), D("10.00"))]  # invoice was paid: the credit is owed
    for e in JournalEntry.objects.prefetch_related("lines"):
        lines = list(e.lines.all())
        assert sum(x.debit for x in lines) == sum(x.credit for x in lines)


def test_closing_with_an_unissued_invoice_is_refused(product, contract_of, finance_user):
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 3, 5)):
        contract_of(date(2027, 3, 1), 12, [(sub, "1", "100.00")])
        run = billrun.bill_run_create(as_of=date(2027, 3, 5))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)
    with time_machine.travel(date(2027, 4, 2)), pytest.raises(ValidationFailed) as err:
        periods.period_close(month=date(2027, 3, 1), by=finance_user)
    assert "no_unissued_invoices" in err.value.fields
    assert not AccountingPeriod.objects.filter(start=date(2027, 3, 1), status="closed").exists()


def test_a_missing_fx_rate_posts_nothing_until_it_is_entered(product, contract_of):
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 1, 1)):
        contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")], currency="EUR",
                    customer=CustomerFactory(currency="EUR", country="IE"))
        run = billrun.bill_run_create(as_of=date(2027, 1, 1))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)
        invoice = invoices.invoice_issue(invoice_id=Invoice.objects.get().pk, render_pdf=False)
    before = (JournalEntry.objects.count(), JournalLine.objects.count())
    with pytest.raises(FxRateMissing) as err:
        post_invoice(invoice)
    assert "EUR" in err.value.message
    assert (JournalEntry.objects.count(), JournalLine.objects.count()) == before
    FxRate.objects.create(date=date(2026, 12, 31), currency="EUR", rate=D("1.0850"))
    entry = post_invoice(invoice)
    ar = entry.lines.get(account__code="1100")
    assert (ar.debit, ar.debit_reporting) == (D("100.00"), D("108.50"))


def test_reopening_needs_the_admin_role(finance_user, make_user):
    with time_machine.travel(date(2027, 6, 2)):
        periods.period_close(month=date(2027, 5, 1), by=finance_user)
        with pytest.raises(PermissionDeniedError):
            periods.period_reopen(month=date(2027, 5, 1), by=finance_user, reason="fix")
        reopened = periods.period_reopen(month=date(2027, 5, 1), by=make_user("admin"), reason="late invoice")
    assert reopened.status == "open" and reopened.checklist["reopened"]["reason"] == "late invoice"
