"""Recognition invariants over random contracts and changes, and the usage and termination cases."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recognition.models import JournalEntry, JournalLine, PerformanceObligation, ScheduleLine
from recognition.services import reports
from recognition.services.posting import recognize_through
from revops.kernel.events import deliver_pending

pytestmark = pytest.mark.django_db


def test_a_termination_stops_the_schedule_and_keeps_what_was_served(product, contract_of, finance_user):
    from contracts.services.termination import contract_terminate

    sub = product("SUB", ssp="100")
    contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")])
    deliver_pending()
    contract_terminate(contract_id=contract.pk, effective_date=date(2027, 3, 15), reason="closed", by=finance_user)
    deliver_pending()
    ob = PerformanceObligation.objects.get(contract=contract)
    lines = [(x.period.isoformat()[:7], x.amount) for x in ob.schedule.exclude(status="cancelled").order_by("period")]
    # served 2027-01-01 … 03-15 (74 days): January 101.92, February 92.05, March 1–15 of 101.92 by days
    assert lines == [("2027-01", D("101.92")), ("2027-02", D("92.05")), ("2027-03", D("49.32"))]
    assert (ob.status, ob.allocated_price) == ("ended", D("243.29"))


def test_usage_is_recognized_as_it_is_rated_on_the_invoice(product, contract_of):
    from billing.models import Invoice
    from billing.services import billrun, invoices
    from billing.services.usage import usage_ingest
    from catalog import models as cm

    meter = cm.Meter.objects.create(code="calls", name="Calls", aggregation="count")
    api = product("API", kind="usage", recognition="usage", ssp=None, family="Usage", meter=meter)
    book = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    cm.Price.objects.create(product=api, price_book=book, model="per_unit", currency="USD", unit_amount=D("0.10"))
    with time_machine.travel(date(2027, 2, 1)):
        contract = contract_of(date(2027, 1, 1), 12, [(api, "1", "0", "usage")])
        deliver_pending()
        usage_ingest([{"customer": contract.customer_id, "meter": "calls", "timestamp": "2027-01-20T10:00:00+00:00",
                       "idempotency_key": f"k{i}"} for i in range(30)])
        run = billrun.bill_run_create(as_of=date(2027, 2, 1))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)
        invoice = invoices.invoice_issue(invoice_id=Invoice.objects.get(contract=contract).pk, render_pdf=False)
        deliver_pending()
    entry = JournalEntry.objects.get(source_key=f"invoice.issued:{invoice.pk}")
    assert sorted((x.account.code, x.debit, x.credit) for x in entry.lines.all()) == [
        ("1100", D("3.00"), D("0.00")), ("4040", D("0.00"), D("3.00"))]  # 30 calls × 0.10, straight to revenue
    assert ScheduleLine.objects.filter(obligation__contract=contract).count() == 0  # nothing estimated up front


lines = st.lists(st.tuples(st.sampled_from(["SUB", "ADDON", "SETUP"]), st.integers(1, 50),
                           st.decimals(min_value=D("1"), max_value=D("500"), places=2)), min_size=1, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=lines, term=st.sampled_from([1, 7, 12, 24]), start_day=st.integers(0, 400),
       change=st.one_of(st.none(), st.tuples(st.integers(10, 300), st.integers(1, 80))))
def test_schedules_sum_to_allocations_and_the_journal_balances(product, contract_of, finance_user, specs, term,
                                                               start_day, change):
    from catalog.models import Product
    from contracts.services.amendments import contract_amend
    from revops.kernel.errors import DomainError

    made = {p.sku: p for p in Product.objects.all()}
    for sku, kind, rec, ssp in (("SUB", "recurring", "ratable", "40"), ("ADDON", "recurring", "ratable", "15"),
                                ("SETUP", "one_time", "point_in_time", "900")):
        if sku not in made:
            made[sku] = product(sku, kind=kind, recognition=rec, ssp=ssp)
    start = date(2027, 1, 1) + timedelta(days=start_day)
    contract = contract_of(start, term, [(made[sku], str(q), str(u)) for sku, q, u in specs])
    deliver_pending()
    price = sum((ob.allocated_price for ob in PerformanceObligation.objects.filter(contract=contract)), D(0))
    assert price == contract.tcv  # step 4: the allocation is the whole transaction price, exactly
    if change is not None:
        offset, qty = change
        line = contract.lines.order_by("item").first()
        try:
            contract_amend(contract_id=contract.pk, effective_date=start + timedelta(days=offset), by=finance_user,
                           changes=[{"line": line.pk, "quantity": str(qty)}])
        except DomainError:
            pass
        deliver_pending()
    recognize_through(day=start + timedelta(days=200))
    for ob in PerformanceObligation.objects.filter(contract=contract):
        status = reports.obligation_status(ob, as_of=start)
        assert status["recognized"] + status["remaining"] == status["allocated"] == ob.allocated_price
    for entry in JournalEntry.objects.filter(contract=contract):
        rows = list(JournalLine.objects.filter(entry=entry))
        assert sum(x.debit for x in rows) == sum(x.credit for x in rows)
    roll = reports.deferred_rollforward(period=start)
    assert all(row["ties"] for row in roll["currencies"])
