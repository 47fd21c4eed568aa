"""Drill-downs: the exact records behind each number, their totals tying to the tiles, and the pages.

The data set (reporting currency USD; 1 EUR = 1.10 USD from 31 December 2026):
  A (USD, enterprise, North America): contract A1 from 2027-01-01, 100.00 a month; a second contract A2 from
    2027-03-01, 100.00 a month (expansion +100.00 on 1 March).
  B (EUR, SMB, EMEA): contract B1 from 2027-02-01, 200.00 EUR a month (new: 220.00 USD).
  Invoices (issued on their day, net 30): INV-A1 2027-01-01 100.00 + 10.00 tax (due 01-31); INV-B1 2027-02-01
    200.00 EUR (due 03-03); INV-A2 2027-03-01 100.00 + 10.00 (due 03-31).
  Payments: A 50.00 USD on 2027-01-10 (to INV-A1: 60.00 left); B 50.00 EUR on 2027-03-05 (150.00 EUR left).
  Quotes: accepted 300.00 USD (2027-02-03), 1,200.00 USD (2027-03-02), 1,000.00 EUR (2027-03-04); sent 5,000.00.
"""
from datetime import UTC, date, datetime
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
import time_machine

from analytics.services import drilldown as dd
from analytics.services import finance_kpis as fk
from billing.models import Invoice, InvoiceLine
from billing.services import invoices, payments
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from quotes.models import Quote
from recognition.models import FxRate
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db

MARCH = (date(2027, 3, 1), date(2027, 3, 10))
AS_OF = date(2027, 3, 10)


def issue(customer, contract, day, net, tax="0.00"):
    with time_machine.travel(day):
        invoice = Invoice.objects.create(customer=customer, contract=contract, currency=contract.currency,
                                         status="approved", period_start=day, subtotal=D(net), tax=D(tax),
                                         total=D(net) + D(tax), amount_due=D(net) + D(tax))
        InvoiceLine.objects.create(invoice=invoice, kind="recurring", description="Sub", quantity=D(1),
                                   unit_price=D(net), amount=D(net), tax_amount=D(tax), period_start=day)
        invoice = invoices.invoice_issue(invoice_id=invoice.pk, render_pdf=False)
        deliver_pending()
    return invoice


def pay(customer, day, amount, currency, by):
    with time_machine.travel(day):
        p = payments.payment_record(customer=customer, amount=amount, currency=currency, by=by,
                                    received_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
        deliver_pending()
    return p


def quote(customer, owner, currency, tcv, status, accepted_at=None):
    return Quote.objects.create(number=f"Q-{currency}-{tcv}", customer=customer, owner=owner, currency=currency,
                                price_book=PriceBookFactory(currency=currency), status=status,
                                start_date=date(2027, 1, 1), valid_until=date(2027, 4, 1), tcv=D(tcv),
                                accepted_at=accepted_at)


@pytest.fixture
def world(finance_user):
    FxRate.objects.create(date=date(2026, 12, 31), currency="EUR", rate=D("1.10"))
    sub = cm.Product.objects.create(sku="SUB", name="Sub", kind="recurring", recognition="ratable", ssp=D("100"))
    a = CustomerFactory(name="Alpha", currency="USD", country="US", size="enterprise", region="na")
    b = CustomerFactory(name="Beta", currency="EUR", country="DE", size="smb", region="emea")
    w = SimpleNamespace(a=a, b=b)
    with time_machine.travel(date(2027, 1, 1)):
        w.a1 = contract_create(customer=a, start_date=date(2027, 1, 1), term_months=12, by=finance_user,
                               lines=[LineSpec(sub, D(1), D("100.00"))])
        deliver_pending()
    w.inv_a1 = issue(a, w.a1, date(2027, 1, 1), "100.00", "10.00")
    w.pay_a = pay(a, date(2027, 1, 10), "50.00", "USD", finance_user)
    with time_machine.travel(date(2027, 2, 1)):
        w.b1 = contract_create(customer=b, start_date=date(2027, 2, 1), term_months=12, by=finance_user,
                               lines=[LineSpec(sub, D(2), D("100.00"))])
        deliver_pending()
    w.inv_b1 = issue(b, w.b1, date(2027, 2, 1), "200.00")
    with time_machine.travel(date(2027, 3, 1)):
        w.a2 = contract_create(customer=a, start_date=date(2027, 3, 1), term_months=12, by=finance_user,
                               lines=[LineSpec(sub, D(1), D("100.00"))])
        deliver_pending()
    w.inv_a2 = issue(a, w.a2, date(2027, 3, 1), "100.00", "10.00")
    w.pay_b = pay(b, date(2027, 3, 5), "50.00", "EUR", finance_user)
    w.q_feb = quote(a, finance_user, "USD", "300.00", "accepted", datetime(2027, 2, 3, 12, tzinfo=UTC))
    w.q_usd = quote(a, finance_user, "USD", "1200.00", "accepted", datetime(2027, 3, 2, 12, tzinfo=UTC))
    w.q_eur = quote(b, finance_user, "EUR", "1000.00", "accepted", datetime(2027, 3, 4, 12, tzinfo=UTC))
    w.q_open = quote(a, finance_user, "USD", "5000.00", "sent")
    return w


def test_this_months_expansion_is_the_second_contract_of_alpha(world):
    expansion = dd.drill("expansion", first=MARCH[0], last=MARCH[1])
    assert [(m.customer, m.date, m.amount) for m in expansion.records] == [(world.a, date(2027, 3, 1), D("100.00"))]
    assert expansion.total == D("100.00")
    new = dd.drill("new", first=date(2027, 2, 1), last=date(2027, 2, 28))
    assert [(m.customer, m.amount, m.amount_reporting) for m in new.records] == [(world.b, D("200.00"), D("220.00"))]
    assert dd.drill("churn", first=MARCH[0], last=MARCH[1]).records == []


def test_customers_and_mrr(world):
    mrr = dd.drill("mrr", first=MARCH[0], last=AS_OF)
    assert mrr.records == [world.a, world.b]  # by name
    assert [i.amount_reporting for i in mrr.items] == [D("200.00"), D("220.00")]
    assert mrr.total == D("420.00")
    assert dd.drill("arr", first=MARCH[0], last=AS_OF).total == D("5040.00")
    assert dd.drill("customers", first=MARCH[0], last=AS_OF, segment={"size": "smb"}).records == [world.b]


def test_the_61_to_90_bucket_and_the_others(world):
    # on 2027-04-10: INV-A1 (due 01-31) is 69 days late; INV-B1 (due 03-03) 38; INV-A2 (due 03-31) 10
    day = date(2027, 4, 10)
    assert dd.drill("aging", first=day, last=day, bucket="61-90").records == [world.inv_a1]
    assert dd.drill("aging", first=day, last=day, bucket="31-60").records == [world.inv_b1]
    assert dd.drill("aging", first=day, last=day, bucket="1-30").records == [world.inv_a2]
    assert dd.drill("aging", first=day, last=day, bucket="90+").records == []
    # 60.00 open of INV-A1, 150.00 EUR × 1.10 of INV-B1, 110.00 of INV-A2
    assert dd.aging_buckets(day) == {"current": D("0.00"), "1-30": D("110.00"), "31-60": D("165.00"),
                                     "61-90": D("60.00"), "90+": D("0.00")}
    assert dd.aging_buckets(AS_OF) == {"current": D("110.00"), "1-30": D("165.00"), "31-60": D("60.00"),
                                       "61-90": D("0.00"), "90+": D("0.00")}
    assert dd.aging(day, segment={"region": "emea"}).records == [world.inv_b1]


def test_bookings_billings_collections_tie_to_the_finance_kpis(world):
    bookings = dd.drill("bookings", first=MARCH[0], last=MARCH[1])
    assert bookings.records == [world.q_usd, world.q_eur]
    assert bookings.total == D("2300.00") == fk.bookings(*MARCH)  # 1,200.00 + 1,000.00 × 1.10
    billings = dd.drill("billings", first=date(2027, 1, 1), last=MARCH[1])
    assert billings.records == [world.inv_a1, world.inv_b1, world.inv_a2]
    assert billings.total == D("420.00") == fk.billings(date(2027, 1, 1), MARCH[1])  # 100 + 220 + 100
    collections = dd.drill("collections", first=date(2027, 1, 1), last=MARCH[1])
    assert collections.records == [world.pay_a, world.pay_b]
    assert collections.total == D("105.00") == fk.collections(date(2027, 1, 1), MARCH[1])  # 50 + 50 × 1.10
    assert dd.drill("collections", first=date(2027, 1, 1), last=MARCH[1], segment={"size": "smb"}).records == [
        world.pay_b]
    receivables = dd.drill("dso", first=MARCH[0], last=AS_OF)
    assert receivables.records == [world.inv_a1, world.inv_b1, world.inv_a2]
    assert receivables.total == D("335.00") == fk.receivables(AS_OF)  # 60.00 + 165.00 + 110.00


def test_deferred_revenue_is_behind_the_three_contracts(world):
    deferred = dd.drill("deferred", first=MARCH[0], last=AS_OF)
    assert deferred.records == [world.a1, world.b1, world.a2]
    assert [i.amount_reporting for i in deferred.items] == [D("100.00"), D("220.00"), D("100.00")]
    assert deferred.total == D("420.00") == fk.deferred_revenue(AS_OF)
    assert dd.drill("deferred", first=MARCH[0], last=AS_OF, segment={"size": "enterprise"}).records == [
        world.a1, world.a2]


def test_pipeline_and_retention(world):
    assert dd.drill("pipeline", first=MARCH[0], last=AS_OF).records == [world.q_open]
    # the base: MRR on 2027-01-15, Alpha's 100.00 (A1); on 2028-01-15 A1 has ended, A2 runs: 100.00
    cohort = dd.drill("retention", first=MARCH[0], last=date(2028, 1, 15))
    assert cohort.records == [world.a] and cohort.total == D("100.00")


def test_the_drill_page_lists_the_records_with_links(client, make_user, world):
    with time_machine.travel(date(2027, 4, 10)):
        client.force_login(make_user("finance"))
        page = client.get("/analytics/drill/aging/?from=2027-04&to=2027-04&bucket=61-90")
        deferred = client.get("/analytics/drill/deferred/?from=2027-03&to=2027-03")
        dashboard = client.get("/analytics/?audience=finance").text
    assert page.status_code == 200
    assert f'href="/billing/invoices/{world.inv_a1.pk}/"' in page.text and world.inv_a1.number in page.text
    assert world.inv_b1.number not in page.text and "$60.00" in page.text
    assert f'href="/revenue/contracts/{world.b1.pk}/"' in deferred.text  # the contract's schedule
    assert "/analytics/drill/aging/?from=2026-05&amp;to=2027-04&amp;bucket=61-90" in dashboard


def test_drill_pages_are_for_staff_only(client, make_user):
    assert client.get("/analytics/drill/mrr/").status_code == 302
    client.force_login(make_user())
    assert client.get("/analytics/drill/mrr/").status_code == 403
    client.force_login(make_user("sales_rep"))
    assert client.get("/analytics/drill/nonsense/").status_code == 404


def test_the_finance_tiles_under_a_segment_tie_to_their_drill_downs(client, make_user, world):
    from tests.analytics.test_dashboard import tile

    with time_machine.travel(AS_OF):
        client.force_login(make_user("finance"))
        emea = client.get("/analytics/tiles/?audience=finance&region=emea").text
        everyone = client.get("/analytics/tiles/?audience=finance").text
    # EMEA is Beta: nothing billed in March, 50.00 EUR collected (55.00), INV-B1's 220.00 deferred;
    # DSO = 165.00 open ÷ 220.00 billed in 90 days × 90 = 67.50
    assert [tile(emea, k) for k in ("mrr", "billings", "collections", "deferred", "dso")] == [
        "$220.00", "$0.00", "$55.00", "$220.00", "67.50 days"]
    assert dd.drill("collections", first=MARCH[0], last=AS_OF, segment={"region": "emea"}).total == D("55.00")
    assert dd.drill("deferred", first=MARCH[0], last=AS_OF, segment={"region": "emea"}).total == D("220.00")
    # everyone: 335.00 ÷ 420.00 × 90 = 71.79
    assert [tile(everyone, k) for k in ("billings", "collections", "deferred", "dso")] == [
        "$100.00", "$55.00", "$420.00", "71.79 days"]


def test_a_drill_page_does_not_query_per_record(client, make_user, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with time_machine.travel(date(2027, 4, 10)), CaptureQueriesContext(connection) as ctx:
            assert client.get("/analytics/drill/aging/?from=2027-04&to=2027-04").status_code == 200
        return len(ctx.captured_queries)

    with time_machine.travel(date(2027, 4, 10)):
        client.force_login(make_user("finance"))
    before = queries()
    for day in (date(2027, 3, 2), date(2027, 3, 3), date(2027, 3, 4)):
        issue(world.a, world.a2, day, "10.00")
    assert queries() == before
