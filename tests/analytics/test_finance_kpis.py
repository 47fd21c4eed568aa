"""Finance KPIs on a small hand-computed data set: one USD subscription of 100.00 a month (unit cost 30.00)
billed with 10 % tax, a partial payment, quotes in USD and EUR, and recognition through the months."""
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
import time_machine

from analytics.services import finance_kpis as fk
from billing.models import Invoice, Payment, TaxRate
from billing.services import billrun, invoices, payments
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from quotes.models import Quote
from recognition.models import FxRate
from recognition.services.posting import recognize_through
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db


def bill_and_issue(as_of):
    run = billrun.bill_run_create(as_of=as_of)
    for chunk in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk)
    issued = [invoices.invoice_issue(invoice_id=i.pk, render_pdf=False)
              for i in Invoice.objects.filter(bill_run=run, status="approved")]
    deliver_pending()
    return issued


def quote(customer, owner, currency, tcv, status, accepted_at=None):
    return Quote.objects.create(number=f"Q-{currency}-{tcv}", customer=customer, owner=owner, currency=currency,
                                price_book=PriceBookFactory(currency=currency), status=status,
                                start_date=date(2027, 1, 1), valid_until=date(2027, 3, 1), tcv=D(tcv),
                                accepted_at=accepted_at)


@pytest.fixture
def books(finance_user):
    """January 2027: invoice 100.00 + 10.00 tax issued on the 1st, 50.00 paid on the 10th."""
    FxRate.objects.create(date=date(2026, 12, 31), currency="EUR", rate=D("1.10"))
    TaxRate.objects.create(name="US test tax", country="US", percent=D("10"))
    sub = cm.Product.objects.create(sku="SUB", name="Sub", kind="recurring", recognition="ratable", ssp=D("100"),
                                    unit_cost=D("30.00"))
    customer = CustomerFactory(currency="USD", country="US")
    with time_machine.travel(date(2027, 1, 1)):
        contract = contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12, by=finance_user,
                                   lines=[LineSpec(sub, D(1), D("100.00"))])
        deliver_pending()
        (invoice,) = bill_and_issue(date(2027, 1, 1))
    with time_machine.travel(date(2027, 1, 10)):
        payments.payment_record(customer=customer, amount="50.00", currency="USD", by=finance_user,
                                received_at=datetime(2027, 1, 10, 12, tzinfo=UTC))
        deliver_pending()
    # not collections: a refund; not billings: a void invoice
    Payment.objects.create(customer=customer, amount=D("-7.00"), currency="USD", source="refund",
                           received_at=datetime(2027, 1, 12, 12, tzinfo=UTC))
    Invoice.objects.create(customer=customer, currency="USD", status="void", issue_date=date(2027, 1, 5),
                           subtotal=D("999.00"), total=D("999.00"))
    # bookings: 1,200.00 USD + 1,000.00 EUR × 1.10 in January; a sent quote and a February one do not count
    quote(customer, finance_user, "USD", "1200.00", "accepted", datetime(2027, 1, 5, 12, tzinfo=UTC))
    quote(customer, finance_user, "EUR", "1000.00", "accepted", datetime(2027, 1, 20, 12, tzinfo=UTC))
    quote(customer, finance_user, "USD", "5000.00", "sent")
    quote(customer, finance_user, "USD", "300.00", "accepted", datetime(2027, 2, 3, 12, tzinfo=UTC))
    return contract, invoice


def test_bookings_billings_collections_and_dso(books):
    _, invoice = books
    assert (invoice.subtotal, invoice.total) == (D("100.00"), D("110.00"))
    jan = (date(2027, 1, 1), date(2027, 1, 31))
    assert fk.bookings(*jan) == D("2300.00")
    assert fk.bookings(date(2027, 2, 1), date(2027, 2, 28)) == D("300.00")
    assert fk.billings(*jan) == D("100.00")
    assert fk.collections(*jan) == D("50.00")
    assert fk.collections(date(2027, 1, 1), date(2027, 1, 9)) == D("0.00")
    assert fk.receivables(date(2027, 1, 9)) == D("110.00")
    assert fk.receivables(date(2027, 1, 31)) == D("60.00")
    assert fk.dso(date(2027, 1, 31)) == D("54.00")  # 60.00 ÷ 100.00 × 90
    assert fk.dso(date(2026, 12, 31)) is None


def test_deferred_rpo_revenue_to_date_and_margin(books):
    with time_machine.travel(date(2027, 2, 2)):
        assert recognize_through(day=date(2027, 2, 2)) == 1
    # January by days: 1,200.00 × 31 / 365 = 101.92 recognized, 100.00 of it from deferred
    assert fk.deferred_revenue(date(2027, 1, 15)) == D("100.00")
    assert fk.deferred_revenue(date(2027, 1, 31)) == D("0.00")
    assert fk.rpo(date(2027, 1, 15)) == D("1200.00")
    assert fk.rpo(date(2027, 2, 1)) == D("1098.08")
    assert fk.revenue_to_date(date(2027, 1, 31)) == {"revenue_mtd": D("101.92"), "revenue_qtd": D("101.92"),
                                                     "revenue_ytd": D("101.92")}
    assert fk.revenue_to_date(date(2027, 2, 15))["revenue_mtd"] == D("0.00")
    margin = fk.gross_margin(date(2027, 1, 1), date(2027, 1, 31))
    # 101.92 − 30.00 × 1 × 1 month = 71.92; 71.92 ÷ 101.92 = 70.57 %
    assert (margin["revenue"], margin["cost_of_goods"], margin["gross_margin"], margin["margin_percent"]) == (
        D("101.92"), D("30.00"), D("71.92"), D("70.57"))
    # half a month of service: 30.00 × 15 / 31 = 14.52
    assert fk.cost_of_goods(date(2027, 1, 1), date(2027, 1, 15)) == D("14.52")


def test_revenue_quarter_and_year_to_date(books):
    with time_machine.travel(date(2027, 6, 2)):
        recognize_through(day=date(2027, 6, 2))
    # by days of 365: Jan 101.92, Feb 92.05, Mar 101.92, Apr 98.63, May 101.92
    assert fk.revenue_to_date(date(2027, 5, 31)) == {"revenue_mtd": D("101.92"), "revenue_qtd": D("200.55"),
                                                     "revenue_ytd": D("496.44")}


def test_cost_of_goods_in_eur_is_converted(finance_user):
    FxRate.objects.create(date=date(2026, 12, 31), currency="EUR", rate=D("1.10"))
    addon = cm.Product.objects.create(sku="ADD", name="Add", kind="recurring", recognition="ratable", ssp=D("5"),
                                      currency="EUR", unit_cost=D("10.00"))
    contract_create(customer=CustomerFactory(currency="USD"), start_date=date(2027, 1, 1), term_months=12,
                    by=finance_user, lines=[LineSpec(addon, D(2), D("5.00"))])
    # 10.00 EUR × 2 × 2 months × 1.10 = 44.00
    assert fk.cost_of_goods(date(2027, 1, 1), date(2027, 2, 28)) == D("44.00")


def test_the_kpi_api_carries_the_finance_kpis(books, make_user, api_client_for):
    snap = api_client_for(make_user("sales_manager")).get("/api/v1/kpis/?as_of=2027-01-31").json()
    values = snap["values"]
    assert (values["mrr"], values["bookings_mtd"], values["billings_mtd"], values["collections_mtd"],
            values["dso"], values["deferred_revenue"]) == ("100.00", "2300.00", "100.00", "50.00", "54.00", "100.00")
    assert values["gross_margin_mtd"]["cost_of_goods"] == "30.00"
    assert "÷ months in the period" in snap["definitions"]["mrr"]
    assert "× 90" in snap["definitions"]["dso"]
    assert set(fk.FINANCE_DEFINITIONS) <= set(snap["definitions"])


def test_cost_of_goods_counts_usage_at_each_meters_unit_cost():
    from billing.services.usage import usage_ingest

    FxRate.objects.create(date=date(2026, 9, 30), currency="EUR", rate=D("1.10"))
    cm.Meter.objects.create(code="calls", name="Calls", aggregation="count", currency="USD", unit_cost=D("0.002"))
    cm.Meter.objects.create(code="storage", name="Storage", aggregation="sum", field="gb", currency="EUR",
                            unit_cost=D("0.50"))
    cm.Meter.objects.create(code="free", name="Free", aggregation="count")  # no unit cost: no cost
    x, y = CustomerFactory(currency="USD", size="smb"), CustomerFactory(currency="EUR", size="enterprise")
    ts = datetime(2026, 10, 10, 12, tzinfo=UTC).isoformat()
    events = [{"customer": x.pk, "meter": "calls", "timestamp": ts, "idempotency_key": f"c{i}"} for i in range(1500)]
    events += [{"customer": y.pk, "meter": "storage", "timestamp": ts, "value": v, "idempotency_key": f"s{v}"}
               for v in ("4", "6")]
    events += [{"customer": x.pk, "meter": "free", "timestamp": ts, "idempotency_key": "f"}]
    assert usage_ingest(events).accepted == 1503
    # 1,500 calls × 0.002 = 3.00; 10 GB × 0.50 EUR × 1.10 = 5.50
    assert fk.cost_of_goods(date(2026, 10, 1), date(2026, 10, 31)) == D("8.50")
    assert fk.cost_of_goods(date(2026, 10, 1), date(2026, 10, 31), segment={"size": "smb"}) == D("3.00")
    assert fk.cost_of_goods(date(2026, 10, 1), date(2026, 10, 31), currency="EUR") == D("5.50")
    assert fk.cost_of_goods(date(2026, 11, 1), date(2026, 11, 30)) == D("0.00")
