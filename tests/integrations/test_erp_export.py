"""ERP export: a period's journal lines and invoices, balanced, recorded, incremental or a flagged full re-export."""
import csv
import io
import json
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import Invoice
from billing.services import billrun, invoices, payments
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from integrations.models import ErpExport, ErpExportItem
from integrations.services import erp_export
from recognition.services.posting import recognize_through
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/erp-exports/"
JANUARY = {"period_start": "2027-01-01", "period_end": "2027-01-31"}


def _bill_and_issue(as_of):
    run = billrun.bill_run_create(as_of=as_of)
    for chunk in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk)
    issued = [invoices.invoice_issue(invoice_id=i.pk, render_pdf=False)
              for i in Invoice.objects.filter(bill_run=run, status="approved")]
    deliver_pending()
    return issued


@pytest.fixture
def january(db, finance_user):
    """January 2027: an invoice of 100.00 (Dr AR / Cr Deferred), its payment (Dr Cash / Cr AR) and the month's
    revenue (Dr Deferred 100.00, Dr Unbilled 1.92 / Cr Revenue 101.92): 3 entries, 7 lines, 301.92 a side."""
    sub = cm.Product.objects.create(sku="SUB", name="Subscription", kind="recurring", recognition="ratable",
                                    family="Platform", ssp=D("100"))
    customer = CustomerFactory(country="US", name="=HYPERLINK(evil)")
    with time_machine.travel(date(2027, 1, 1)):
        contract = contract_create(customer=customer, start_date=date(2027, 1, 1), term_months=12,
                                   lines=[LineSpec(sub, D(1), D("100.00"))], by=finance_user, currency="USD")
        deliver_pending()
        (invoice,) = _bill_and_issue(date(2027, 1, 1))
    with time_machine.travel(date(2027, 1, 10)):
        payments.payment_record(customer=customer, amount="100.00", currency="USD", by=finance_user)
        deliver_pending()
    with time_machine.travel(date(2027, 2, 2)):
        recognize_through(day=date(2027, 2, 2))
    return {"customer": customer, "contract": contract, "invoice": invoice}


def _csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _download(api, export_id, part=None):
    return api.get(f"{URL}{export_id}/download/" + (f"?part={part}" if part else ""))


def test_a_period_export_balances_and_names_each_lines_source_document(january, finance_user, api_client_for):
    api = api_client_for(finance_user)
    created = api.post(URL, {**JANUARY, "format": "csv"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["journal_entries"], body["journal_lines"], body["invoices"], body["full"], body["mode"]) == (
        3, 7, 1, False, "incremental")
    assert body["download_url"].endswith(f"/api/v1/erp-exports/{body['id']}/download/")

    response = _download(api, body["id"])
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Revops-Export-Mode"] == "incremental"
    rows = _csv(response)
    assert list(rows[0].keys()) == erp_export.JOURNAL_COLUMNS
    assert len(rows) == 7
    assert sum(D(r["debit"]) for r in rows) == sum(D(r["credit"]) for r in rows) == D("301.92")
    assert sum(D(r["debit_reporting"]) for r in rows) == sum(D(r["credit_reporting"]) for r in rows) == D("301.92")
    invoice = january["invoice"]
    ar_debit = next(r for r in rows if r["source"] == "invoice.issued" and r["debit"] != "0.00")
    assert {k: ar_debit[k] for k in ("date", "account_code", "debit", "credit", "currency", "reporting_currency",
                                     "fx_rate", "document_type", "document_id", "document_number", "export_mode")} == {
        "date": "2027-01-01", "account_code": "1100", "debit": "100.00", "credit": "0.00", "currency": "USD",
        "reporting_currency": "USD", "fx_rate": "1", "document_type": "invoice", "document_id": str(invoice.pk),
        "document_number": invoice.number, "export_mode": "incremental"}
    revenue = next(r for r in rows if r["source"] == "revenue.recognized" and r["credit"] != "0.00")
    assert (revenue["credit"], revenue["document_type"], revenue["document_number"]) == (
        "101.92", "revenue_schedule_line", january["contract"].number)

    invoice_rows = _csv(_download(api, body["id"], "invoices"))
    assert list(invoice_rows[0].keys()) == erp_export.INVOICE_COLUMNS
    assert [(r["number"], r["total"], r["total_reporting"], r["customer_name"], r["status"]) for r in invoice_rows] == [
        (invoice.number, "100.00", "100.00", "'=HYPERLINK(evil)", "paid")]  # a formula is defused


def test_the_next_export_of_the_period_sends_only_what_is_new_and_a_full_one_everything_flagged(
        january, finance_user, api_client_for):
    api = api_client_for(finance_user)
    first = api.post(URL, {**JANUARY, "format": "csv"}, format="json").json()
    second = api.post(URL, {**JANUARY, "format": "csv"}, format="json").json()
    assert (second["journal_entries"], second["journal_lines"], second["invoices"]) == (0, 0, 0)
    assert _csv(_download(api, second["id"])) == []  # the header only

    with time_machine.travel(date(2027, 1, 20)):
        payments.payment_record(customer=january["customer"], amount="30.00", currency="USD", by=finance_user)
        deliver_pending()
    third = api.post(URL, {**JANUARY, "format": "json"}, format="json").json()
    assert (third["journal_entries"], third["invoices"], third["mode"]) == (1, 0, "incremental")
    new = json.loads(b"".join(_download(api, third["id"]).streaming_content))
    assert {r["source"] for r in new["journal_lines"]} == {"payment.received"}
    assert sum(D(r["debit"]) for r in new["journal_lines"]) == D("30.00")

    full = api.post(URL, {**JANUARY, "format": "json", "full": True}, format="json")
    assert full.status_code == 201
    assert (full.json()["full"], full.json()["mode"], full.json()["journal_entries"], full.json()["invoices"]) == (
        True, "full", 4, 1)
    assert full.json()["note"].startswith("FULL RE-EXPORT")
    response = _download(api, full.json()["id"])
    assert response["Revops-Export-Mode"] == "full" and "-full.json" in response["Content-Disposition"]
    document = json.loads(b"".join(response.streaming_content))
    assert (document["export"]["full"], document["export"]["mode"]) == (True, "full")
    assert len(document["journal_lines"]) == 9 and len(document["invoices"]) == 1
    lines = document["journal_lines"]
    assert sum(D(r["debit"]) for r in lines) == sum(D(r["credit"]) for r in lines) == D("331.92")
    # What each export included is recorded: 3 + 1 new entries once, then all 4 again in the full one.
    assert ErpExportItem.objects.filter(journal_entry__isnull=False).count() == 3 + 0 + 1 + 4
    assert ErpExport.objects.get(pk=first["id"]).items.filter(invoice__isnull=False).count() == 1


def test_bad_requests_and_role_denials(january, finance_user, make_user, api_client_for):
    api = api_client_for(finance_user)
    bad = api.post(URL, {"period_start": "2027-02-01", "period_end": "2027-01-01", "format": "csv"}, format="json")
    assert (bad.status_code, list(bad.json()["error"]["fields"])) == (400, ["period_end"])
    assert api.post(URL, {**JANUARY, "format": "xml"}, format="json").status_code == 400
    for role in ("sales_rep", "sales_manager", "customer_success"):
        other = api_client_for(make_user(role))
        assert other.get(URL).status_code == 403
        assert other.post(URL, {**JANUARY, "format": "csv"}, format="json").status_code == 403
    export = erp_export.erp_export_create(period_start=date(2027, 1, 1), period_end=date(2027, 1, 31), format="csv")
    assert api_client_for(make_user("sales_rep")).get(f"{URL}{export.pk}/download/").status_code == 403
    assert api_client_for(make_user("admin")).get(f"{URL}{export.pk}/download/").status_code == 200
    assert ErpExport.objects.count() == 1


def test_the_erp_exports_page_for_finance_and_admins_only(january, client, finance_user, make_user):
    client.force_login(finance_user)
    page = client.get("/integrations/erp-exports/")
    assert page.status_code == 200 and b"erp-export-form" in page.content
    posted = client.post("/integrations/erp-exports/", {**JANUARY, "format": "csv", "full": "on"})
    assert posted.status_code == 302
    export = ErpExport.objects.get()
    assert (export.full, export.journal_entries, export.invoices, export.created_by) == (True, 3, 1, finance_user)
    listing = client.get("/integrations/erp-exports/").content.decode()
    assert "full re-export" in listing
    download = client.get(f"/integrations/erp-exports/{export.pk}/download/?part=journal")
    assert len(_csv(download)) == 7
    for role in ("sales_rep", "customer_success"):
        client.force_login(make_user(role))
        assert client.get("/integrations/erp-exports/").status_code == 403
        assert client.post("/integrations/erp-exports/", {**JANUARY, "format": "csv"}).status_code == 403
    assert ErpExport.objects.count() == 1


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.one_of(
    st.tuples(st.just("post"), st.integers(1, 28), st.integers(1, 10**7), st.sampled_from(["USD", "EUR"])),
    st.tuples(st.just("export"), st.booleans())), min_size=1, max_size=12))
def test_incremental_exports_send_every_entry_exactly_once_and_always_balance(db, steps):
    """Whatever the order of postings and exports: every export balances (both currencies), incremental
    exports together hold each entry once, and a full export holds every entry of the period."""
    from recognition.models import FxRate, JournalEntry
    from recognition.services.journal import Leg, account, post

    ErpExportItem.objects.all().delete()
    ErpExport.objects.all().delete()
    FxRate.objects.get_or_create(date=date(2026, 12, 31), currency="EUR", defaults={"rate": D("1.0837")})
    period = {"period_start": date(2027, 1, 1), "period_end": date(2027, 1, 31)}
    cash, ar, credit = account("cash"), account("receivable"), account("credit")
    incremental_ids = []
    for i, step in enumerate(steps):
        if step[0] == "post":
            _, day, cents, currency = step
            amount = D(cents) / 100
            part = (amount / 3).quantize(D("0.01"))
            post(source="test", source_key=f"hyp:{JournalEntry.objects.count()}:{i}", day=date(2027, 1, day),
                 currency=currency, memo="hypothesis", legs=[Leg(cash, amount), Leg(ar, -part),
                                                             Leg(credit, part - amount)])
            continue
        export = erp_export.erp_export_create(**period, format="json", full=step[1])
        lines = list(erp_export.journal_rows(export))
        for side in ("", "_reporting"):
            assert sum(D(r["debit" + side]) for r in lines) == sum(D(r["credit" + side]) for r in lines)
        ids = {r["entry_id"] for r in lines}
        if export.full:
            assert ids == set(JournalEntry.objects.values_list("id", flat=True))
        else:
            incremental_ids += sorted(ids)
    assert len(incremental_ids) == len(set(incremental_ids))  # never sent twice by incremental exports
