"""Billing worked examples: proration, usage, tax, payments — and idempotency, immutability, refusals."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import BillRun, Invoice, InvoiceFrozen, InvoiceLine, Payment, TaxRate
from billing.services import billrun, invoices, payments
from billing.services.usage import usage_ingest
from contracts.services.amendments import contract_amend
from revops.kernel.errors import InvalidTransition, ValidationFailed
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def run(as_of: date) -> BillRun:
    r = billrun.bill_run_create(as_of=as_of)
    for chunk_id in billrun.bill_run_plan(run_id=r.pk):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    r.refresh_from_db()
    return r


def lines_of(contract):
    return [(x.kind, x.description, x.amount) for x in
            InvoiceLine.objects.filter(invoice__contract=contract).order_by("invoice_id", "position")]


def test_a_failing_contract_is_recorded_once_per_run_even_when_its_chunk_is_redelivered(subscription, monkeypatch):
    from billing.models import BillRunChunk, BillRunError

    broken = subscription(start=date(2027, 1, 1))
    healthy = subscription(start=date(2027, 1, 1))
    real = billrun.bill_contract

    def fails_for_broken(contract, **kw):
        if contract.pk == broken.pk:
            raise ValueError("no price for SEATS")  # a data problem: recorded on the run, the others go on
        return real(contract, **kw)

    monkeypatch.setattr(billrun, "bill_contract", fails_for_broken)
    r = billrun.bill_run_create(as_of=date(2027, 1, 1))
    (chunk_id,) = billrun.bill_run_plan(run_id=r.pk)
    billrun.bill_run_chunk(chunk_id=chunk_id)
    # The worker died after its work but before the broker saw the ack: the chunk runs again.
    BillRunChunk.objects.filter(pk=chunk_id).update(done=False)
    billrun.bill_run_chunk(chunk_id=chunk_id)
    errors = list(BillRunError.objects.filter(bill_run=r).values_list("contract_id", "message"))
    assert errors == [(broken.pk, "ValueError: no price for SEATS")]
    assert Invoice.objects.filter(contract=healthy).count() == 1


def test_the_first_period_is_prorated_from_the_start_to_the_billing_anchor(subscription):
    contract = subscription(start=date(2027, 1, 15), billing_anchor_day=1)  # 10 seats × 10.00 = 100.00/month
    run(date(2027, 1, 15))
    assert lines_of(contract) == [("recurring", "Seats (2027-01-15 – 2027-01-31), 17/31 days", D("54.84"))]
    run(date(2027, 2, 1))
    assert lines_of(contract)[1:] == [("recurring", "Seats (2027-02-01 – 2027-02-28)", D("100.00"))]


def test_a_bill_run_twice_bills_nothing_twice(subscription):
    contract = subscription(start=date(2027, 1, 1), setup="500.00")
    first = run(date(2027, 3, 1))
    second = run(date(2027, 3, 1))
    assert (first.invoices_created, first.status) == (1, "done")
    assert (second.invoices_created, second.status) == (0, "done")
    # January, February and March in advance, the setup once
    assert sorted(a for _, _, a in lines_of(contract)) == [D("100.00")] * 3 + [D("500.00")]


def test_a_chunk_redelivered_after_a_crash_bills_the_rest_once(subscription, monkeypatch):
    contracts = [subscription(start=date(2027, 1, 1)) for _ in range(5)]
    r = billrun.bill_run_create(as_of=date(2027, 1, 1))
    (chunk_id,) = billrun.bill_run_plan(run_id=r.pk)
    real = billrun.bill_contract
    calls = {"n": 0}

    def dies_on_the_fourth(contract, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise SystemExit("worker killed")  # not an Exception: like a dying worker, it escapes the chunk
        return real(contract, **kw)

    monkeypatch.setattr(billrun, "bill_contract", dies_on_the_fourth)
    with pytest.raises(SystemExit):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    assert Invoice.objects.count() == 3
    monkeypatch.setattr(billrun, "bill_contract", real)
    billrun.bill_run_chunk(chunk_id=chunk_id)  # the broker redelivers the unacknowledged task
    billrun.bill_run_chunk(chunk_id=chunk_id)  # and once more, for good measure
    assert [Invoice.objects.filter(contract=c).count() for c in contracts] == [1, 1, 1, 1, 1]
    r.refresh_from_db()
    assert (r.status, r.chunks_done) == ("done", 1)


def test_an_amendment_is_billed_as_credit_and_charge_matching_the_contracts_proration(subscription, finance_user):
    contract = subscription(start=date(2027, 4, 11), seats="2")  # 20.00/month billed in advance
    run(date(2027, 4, 11))
    contract_amend(contract_id=contract.pk, effective_date=date(2027, 4, 26), by=finance_user,
                   changes=[{"line": contract.lines.get().pk, "unit_price": "15.00"}])  # 30.00/month
    run(date(2027, 4, 26))
    assert lines_of(contract) == [
        ("recurring", "Seats (2027-04-11 – 2027-05-10)", D("20.00")),
        ("adjustment", "Adjustment: Seats (2027-04-11 – 2027-04-25), 15/30 days", D("-10.00")),
        ("recurring", "Seats (2027-04-26 – 2027-05-10), 15/30 days", D("15.00")),
    ]


def _events(customer, n, day, prefix):
    ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return [{"customer": customer.pk, "meter": "api-calls", "timestamp": ts.isoformat(),
             "idempotency_key": f"{prefix}-{i}"} for i in range(n)]


def test_graduated_usage_in_arrears_and_late_usage_as_an_adjustment(subscription):
    contract = subscription(start=date(2026, 6, 1), usage=True)
    result = usage_ingest(_events(contract.customer, 1500, date(2026, 6, 10), "june"))
    assert (result.accepted, result.duplicates, result.rejected) == (1500, 0, [])
    run(date(2026, 7, 1))
    usage = [x for x in lines_of(contract) if x[0] == "usage"]
    # 1,000 calls at 0.01 + 500 at 0.005 = 12.50
    assert usage == [("usage", "API calls: 1500 calls (2026-06-01 – 2026-06-30)", D("12.50"))]
    late = usage_ingest(_events(contract.customer, 100, date(2026, 6, 20), "june-late"))
    assert late.accepted == 100
    run(date(2026, 7, 2))
    assert lines_of(contract)[-1] == ("adjustment", "Late usage: API calls: 1600 calls (2026-06-01 – 2026-06-30)",
                                      D("0.50"))


def test_a_retried_usage_batch_is_counted_once(subscription):
    contract = subscription(start=date(2026, 6, 1), usage=True)
    batch = _events(contract.customer, 50, date(2026, 6, 10), "k")
    assert usage_ingest(batch).accepted == 50
    again = usage_ingest(batch + _events(contract.customer, 1, date(2026, 6, 10), "new"))
    assert (again.accepted, again.duplicates) == (1, 50)


def test_bad_usage_events_are_rejected_by_index_and_the_good_ones_kept(subscription):
    contract = subscription(start=date(2026, 6, 1), usage=True)
    good = _events(contract.customer, 1, date(2026, 6, 10), "ok")[0]
    future = {**good, "idempotency_key": "f", "timestamp": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    result = usage_ingest([
        good, {**good, "idempotency_key": "m", "meter": "nope"}, {**good, "idempotency_key": "c", "customer": 999999},
        {**good, "idempotency_key": "v", "value": "abc"}, future, {**good, "idempotency_key": ""},
    ])
    assert result.accepted == 1
    assert [(r["index"], r["error"]) for r in result.rejected] == [
        (1, "unknown meter 'nope'"), (2, "unknown customer"), (3, "value must be a number"),
        (4, "timestamp is in the future"), (5, "idempotency_key is required (a string of 1–255 characters)")]


def test_tax_exclusive_in_yen_and_inclusive_in_dinars(catalog, finance_user):
    from billing.services.tax import line_tax

    jp = TaxRate.objects.create(name="JP consumption", country="JP", percent=D("10"))
    kw = TaxRate.objects.create(name="KW VAT incl.", country="KW", percent=D("5"), inclusive=True)
    assert (lambda t: (t.net, t.tax))(line_tax(D("12345"), jp, "JPY")) == (D("12345"), D("1235"))  # 1234.5 → up
    assert (lambda t: (t.net, t.tax))(line_tax(D("10.500"), kw, "KWD")) == (D("10.000"), D("0.500"))
    assert (lambda t: (t.net, t.tax))(line_tax(D("1.000"), kw, "KWD")) == (D("0.952"), D("0.048"))


def test_an_invoice_in_yen_with_tax(subscription):
    TaxRate.objects.create(name="JP consumption", country="JP", percent=D("10"))
    customer = CustomerFactory(currency="JPY", country="JP")
    contract = subscription(start=date(2027, 1, 1), customer=customer, currency="JPY", seats="3")
    contract.lines.update(unit_price=D("1234"), amount=D("3702"))
    run(date(2027, 1, 1))
    invoice = Invoice.objects.get(contract=contract)
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("3702"), D("370"), D("4072"))  # 370.2 → 370
    assert invoice.tax_rule == "per_line_half_up"


def _issued(subscription, **kw) -> Invoice:
    TaxRate.objects.get_or_create(name="US", country="US", defaults={"percent": D("10")})
    contract = subscription(start=date(2027, 1, 1), **kw)
    run(date(2027, 1, 1))
    invoice = Invoice.objects.get(contract=contract)
    return invoices.invoice_issue(invoice_id=invoice.pk)


def test_issuing_numbers_invoices_gaplessly_and_freezes_them(subscription, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = _issued(subscription)
        second = _issued(subscription)
    year = date.today().year
    assert (first.number, second.number) == (f"INV-{year}-000001", f"INV-{year}-000002")
    assert (first.total, first.status, first.customer_snapshot["name"]) == (D("110.00"), "issued",
                                                                             first.customer.name)
    first.refresh_from_db()
    first.total = D("1.00")
    with pytest.raises(InvoiceFrozen):
        first.save()
    line = first.lines.get()
    line.amount = D("1.00")
    with pytest.raises(InvoiceFrozen):
        line.save()
    with pytest.raises(InvalidTransition):
        invoices.invoice_issue(invoice_id=first.pk)


def test_partial_payment_then_overpayment_leaves_credit_for_the_next_invoice(subscription, finance_user,
                                                                             django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        invoice = _issued(subscription)  # 110.00
        customer = invoice.customer
        payments.payment_record(customer=customer, amount="50.00", currency="USD", by=finance_user)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_paid, invoice.amount_due) == ("partially_paid", D("50.00"), D("60.00"))
        payments.payment_record(customer=customer, amount="80.00", currency="USD", by=finance_user)
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == ("paid", D("0.00"))
        assert payments.credit_balance(customer) == D("20.00")
        nxt = _issued(subscription, customer=customer)
    assert (nxt.amount_paid, nxt.amount_due, nxt.status) == (D("20.00"), D("90.00"), "partially_paid")
    assert payments.credit_balance(customer) == D("0.00")


@pytest.mark.parametrize(("amount", "currency", "field"), [("-5.00", "USD", "amount"), ("0", "USD", "amount"),
                                                          ("abc", "USD", "amount"), ("10.001", "USD", "amount"),
                                                          ("10.00", "EUR", "currency")])
def test_bad_payments_are_refused_and_change_nothing(subscription, finance_user, amount, currency, field,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        invoice = _issued(subscription)
    with pytest.raises(ValidationFailed) as err:
        payments.payment_record(customer=invoice.customer, amount=amount, currency=currency, by=finance_user)
    assert field in err.value.fields
    assert Payment.objects.count() == 0
    invoice.refresh_from_db()
    assert invoice.amount_due == D("110.00")


def test_a_paid_invoice_cannot_be_voided(subscription, finance_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        invoice = _issued(subscription)
    payments.payment_record(customer=invoice.customer, amount="110.00", currency="USD", by=finance_user)
    with pytest.raises(InvalidTransition):
        invoices.invoice_void(invoice_id=invoice.pk, by=finance_user, reason="oops")
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_a_termination_credits_what_was_billed_beyond_the_end(subscription, finance_user):
    from contracts.services.termination import contract_terminate

    contract = subscription(start=date(2027, 4, 11), seats="3")  # 30.00 a month
    run(date(2027, 4, 11))
    contract_terminate(contract_id=contract.pk, effective_date=date(2027, 4, 25), reason="closed", by=finance_user)
    run(date(2027, 4, 26))
    assert lines_of(contract)[-1] == ("adjustment", "Adjustment: Seats (2027-04-11 – 2027-04-25), 15/30 days",
                                      D("-15.00"))


amounts = st.decimals(min_value=D("-100000"), max_value=D("100000"), places=3)


@given(values=st.lists(amounts, min_size=1, max_size=30), percent=st.decimals(min_value=0, max_value=30, places=3),
       inclusive=st.booleans(), currency=st.sampled_from(["USD", "JPY", "KWD"]))
def test_invoice_lines_plus_tax_equal_the_total(values, percent, inclusive, currency):
    from billing.services.tax import line_tax
    from revops.kernel import money

    rate = TaxRate(name="t", country="XX", percent=percent, inclusive=inclusive)
    splits = [line_tax(v, rate, currency) for v in values]
    subtotal = sum((s.net for s in splits), D(0))
    tax = sum((s.tax for s in splits), D(0))
    for v, s in zip(values, splits, strict=True):
        assert s.net == money.quantize(s.net, currency) and s.tax == money.quantize(s.tax, currency)
        if inclusive:
            assert s.net + s.tax == money.quantize(v, currency)  # the gross, exactly
        else:
            assert s.net == money.quantize(v, currency)
    assert subtotal + tax == sum((s.net + s.tax for s in splits), D(0))
