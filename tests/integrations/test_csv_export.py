"""`?format=csv` on the lists finance and sales read: invoices, payments, contracts, revenue schedules, quotes."""
import csv
import io
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from django.http import StreamingHttpResponse

from billing.models import Invoice
from billing.services import billrun, invoices, payments
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from quotes.services import editing
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content[:300]
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def books(db, finance_user, sales_rep):
    """One contract (12 × 100.00/month from 2027-01-01), its January invoice paid, and a draft quote."""
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    sub = cm.Product.objects.create(sku="SUB", name="Subscription", kind="recurring", recognition="ratable",
                                    ssp=D("100"))
    cm.Price.objects.create(product=sub, price_book=book, model="per_unit", currency="USD", unit_amount=D("100.00"))
    customer = CustomerFactory(name="Acme, Inc.", country="US")
    with time_machine.travel(date(2027, 1, 1)):
        contract = contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12,
                                   lines=[LineSpec(sub, D(1), D("100.00"))], by=finance_user, currency="USD")
        deliver_pending()
        run = billrun.bill_run_create(as_of=date(2027, 1, 1))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)
        invoice = invoices.invoice_issue(invoice_id=Invoice.objects.get(bill_run=run).pk, render_pdf=False)
        deliver_pending()
    with time_machine.travel(date(2027, 1, 10)):
        payment = payments.payment_record(customer=customer, amount="100.00", currency="USD", by=finance_user,
                                          reference="WIRE-77")
        deliver_pending()
    with time_machine.travel(date(2027, 1, 5)):
        quote = editing.quote_create(customer=customer, owner=sales_rep, start_date=date(2027, 2, 1), term_months=12)
        editing.quote_line_add(quote_id=quote.pk, product_id=sub.pk, quantity=3, by=sales_rep)
    return {"customer": customer, "contract": contract, "invoice": invoice, "payment": payment, "quote": quote}


def test_invoices_csv_has_a_header_and_one_row_per_invoice_with_plain_amounts(books, finance_user, api_client_for):
    rows = _rows(api_client_for(finance_user).get("/api/v1/invoices/?format=csv"))
    invoice = books["invoice"]
    assert rows[0] == ["id", "number", "status", "customer_id", "customer", "contract_id", "currency", "issue_date",
                       "due_date", "period_start", "period_end", "subtotal", "tax", "total", "amount_paid",
                       "amount_due"]
    assert rows[1:] == [[str(invoice.pk), invoice.number, "paid", str(books["customer"].pk), "Acme, Inc.",
                         str(books["contract"].pk), "USD", "2027-01-01", invoice.due_date.isoformat(), "2027-01-01",
                         "2027-01-31", "100.00", "0.00", "100.00", "100.00", "0.00"]]


def test_the_csv_follows_the_lists_filters(books, finance_user, api_client_for):
    api = api_client_for(finance_user)
    assert len(_rows(api.get("/api/v1/invoices/?format=csv&status=draft"))) == 1  # the header only
    assert len(_rows(api.get(f"/api/v1/invoices/?format=csv&customer={books['customer'].pk}"))) == 2
    bad = api.get("/api/v1/invoices/?format=csv&status=nonsense")
    assert (bad.status_code, bad["Content-Type"]) == (400, "application/json")
    assert bad.json()["error"]["code"] == "validation_error"
    assert api.get("/api/v1/invoices/").json()["count"] == 1  # JSON stays the default


def test_payments_csv(books, finance_user, api_client_for):
    rows = _rows(api_client_for(finance_user).get("/api/v1/payments/?format=csv"))
    assert rows[0] == ["id", "customer_id", "customer", "received_at", "currency", "amount", "amount_allocated",
                       "reference", "source", "provider"]
    payment = books["payment"]
    assert rows[1] == [str(payment.pk), str(books["customer"].pk), "Acme, Inc.", payment.received_at.isoformat(),
                       "USD", "100.00", "100.00", "WIRE-77", "manual", ""]


def test_contracts_csv(books, sales_rep, api_client_for):
    rows = _rows(api_client_for(sales_rep).get("/api/v1/contracts/?format=csv"))
    contract = books["contract"]
    assert rows[0] == ["id", "number", "status", "customer_id", "customer", "quote_id", "currency", "start_date",
                       "end_date", "billing_frequency", "auto_renew", "mrr", "arr", "tcv"]
    assert rows[1] == [str(contract.pk), contract.number, "active", str(books["customer"].pk), "Acme, Inc.", "", "USD",
                       "2027-01-01", "2027-12-31", "month", "false", "100.00", "1200.00", "1200.00"]


def test_revenue_schedules_csv_has_one_row_per_month(books, finance_user, api_client_for):
    rows = _rows(api_client_for(finance_user).get("/api/v1/revenue-schedules/?format=csv"))
    assert rows[0] == ["obligation_id", "contract_id", "contract", "customer_id", "customer", "product", "period",
                       "currency", "amount", "status"]
    assert len(rows) == 1 + 12
    assert rows[1][1:] == [str(books["contract"].pk), books["contract"].number, str(books["customer"].pk),
                           "Acme, Inc.", "SUB", "2027-01", "USD", rows[1][8], "planned"]
    assert sum(D(r[8]) for r in rows[1:]) == D("1200.00")  # the schedule adds up to the allocated price


def test_quotes_csv_shows_what_the_caller_may_see(books, sales_rep, make_user, api_client_for):
    rows = _rows(api_client_for(sales_rep).get("/api/v1/quotes/?format=csv"))
    quote = books["quote"]
    assert rows[0][:6] == ["id", "number", "version", "status", "customer_id", "customer"]
    assert rows[1][:4] == [str(quote.pk), quote.number, "1", "draft"]
    assert rows[1][rows[0].index("mrr")] == "300.00" and rows[1][rows[0].index("tcv")] == "3600.00"
    other_rep = api_client_for(make_user("sales_rep"))
    assert len(_rows(other_rep.get("/api/v1/quotes/?format=csv"))) == 1  # another rep's quote: not theirs


def test_csv_exports_refuse_the_roles_that_cannot_read_the_list(books, make_user, api_client_for):
    assert api_client_for(make_user("sales_rep")).get("/api/v1/payments/?format=csv").status_code == 403
    assert api_client_for(make_user("sales_rep")).get("/api/v1/revenue-schedules/?format=csv").status_code == 403
    assert api_client_for(None).get("/api/v1/invoices/?format=csv").status_code == 401
    denied = api_client_for(make_user()).get("/api/v1/contracts/?format=csv")  # no role: a portal-like user
    assert (denied.status_code, denied["Content-Type"]) == (403, "application/json")


def test_the_list_pages_link_their_csv_export(books, client, finance_user):
    client.force_login(finance_user)
    for url, api in (("/billing/invoices/", "/api/v1/invoices/?format=csv"),
                     ("/billing/payments/", "/api/v1/payments/?format=csv"),
                     ("/contracts/", "/api/v1/contracts/?format=csv"), ("/quotes/", "/api/v1/quotes/?format=csv"),
                     ("/revenue/", "/api/v1/revenue-schedules/?format=csv")):
        page = client.get(url)
        assert page.status_code == 200, url
        assert f'href="{api}' in page.content.decode(), url
