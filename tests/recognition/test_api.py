"""The revenue API: obligations and schedules, the journal, closing and reopening months, the recognition
run, reports (waterfall JSON and CSV, roll-forward, revenue by period, trial balance, GL export), FX rates
and the chart — with exact figures, refusals that change nothing, permissions by role and query counts.

Figures: a 1,200.00 ratable contract for 2023 recognizes by days (January 1,200 × 31/365 = 101.92,
February × 28/365 = 92.05, March 101.92); a 100.00-a-month contract from 2027-01-01 is invoiced 100.00
(no tax), paid on 10 January and recognizes 101.92 in January (100.00 from deferred, 1.92 unbilled).
"""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from billing.models import Invoice
from billing.services import billrun, invoices, payments
from recognition.models import Account, AccountingPeriod, FxRate, JournalEntry, JournalLine
from recognition.services.reports import GL_COLUMNS
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

OBLIGATIONS = "/api/v1/performance-obligations/"
SCHEDULES = "/api/v1/revenue-schedules/"
ENTRIES = "/api/v1/journal-entries/"
PERIODS = "/api/v1/accounting-periods/"
FX = "/api/v1/fx-rates/"
ACCOUNTS = "/api/v1/accounts/"
RECOGNIZE = "/api/v1/revenue/recognize/"
WATERFALL = "/api/v1/revenue/waterfall/"
ROLLFORWARD = "/api/v1/revenue/deferred-rollforward/"
BY_PERIOD = "/api/v1/revenue/by-period/"
TRIAL_BALANCE = "/api/v1/revenue/trial-balance/"
GL = "/api/v1/revenue/gl-export/"


def error(response) -> dict:
    return response.json()["error"]


def bill_and_issue(as_of: date) -> list[Invoice]:
    run = billrun.bill_run_create(as_of=as_of)
    for chunk in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk)
    issued = [invoices.invoice_issue(invoice_id=i.pk, render_pdf=False)
              for i in Invoice.objects.filter(bill_run=run, status="approved")]
    deliver_pending()
    return issued


@pytest.fixture
def finance(finance_user, api_client_for):
    return api_client_for(finance_user)


@pytest.fixture
def ratable_2023(product, contract_of):
    """1,200.00 over 2023 (100.00 a month), its obligation built from the contract.activated event."""
    contract = contract_of(date(2023, 1, 1), 12, [(product("SUB", ssp="100"), "1", "100.00")])
    deliver_pending()
    return contract


@pytest.fixture
def january(product, contract_of, finance_user):
    """January 2027: invoiced 100.00 on the 1st, paid on the 10th; revenue not yet recognized."""
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 1, 1)):
        contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")], customer=CustomerFactory(country="US"))
        deliver_pending()
        (invoice,) = bill_and_issue(date(2027, 1, 1))
    with time_machine.travel(date(2027, 1, 10)):
        payment = payments.payment_record(customer=contract.customer, amount="100.00", currency="USD", by=finance_user)
        deliver_pending()
    return {"contract": contract, "invoice": invoice, "payment": payment}


def recognize_january(client) -> None:
    with time_machine.travel(date(2027, 2, 2)):
        response = client.post(RECOGNIZE, {"through": "2027-02-01"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"through": "2027-02-01", "posted": 1}


# --- obligations and schedules ---------------------------------------------------------------------------

def test_obligation_and_schedule_of_a_ratable_contract(ratable_2023, finance):
    contract = ratable_2023
    response = finance.get(OBLIGATIONS, {"contract": contract.pk})
    assert response.status_code == 200
    (ob,) = response.json()["results"]
    assert {k: v for k, v in ob.items() if k != "id"} == {
        "contract": contract.pk, "contract_number": contract.number, "customer": contract.customer_id,
        "contract_line": 1, "product": ob["product"], "product_name": "Sub", "pattern": "ratable", "quantity": "1",
        "currency": "USD", "ssp": "1200.00", "allocated_price": "1200.00", "recognized_to_date": "0.00",
        "remaining": "1200.00", "start_date": "2023-01-01", "end_date": "2023-12-31", "status": "active",
        "version": 1, "allocation_note": "relative SSP"}

    schedule = finance.get(SCHEDULES, {"contract": contract.pk}).json()["results"]
    assert len(schedule) == 1 and schedule[0]["obligation"] == ob["id"] and schedule[0]["currency"] == "USD"
    lines = schedule[0]["lines"]
    assert [x["period"] for x in lines] == [f"2023-{m:02d}" for m in range(1, 13)]
    assert lines[:2] == [{"period": "2023-01", "amount": "101.92", "status": "planned"},
                         {"period": "2023-02", "amount": "92.05", "status": "planned"}]
    assert sum(D(x["amount"]) for x in lines) == D("1200.00")

    # the month-end run through the API: January and February have ended on 28 February
    response = finance.post(RECOGNIZE, {"through": "2023-02-28"}, format="json")
    assert response.json() == {"through": "2023-02-28", "posted": 2}
    assert finance.post(RECOGNIZE, {"through": "2023-02-28"}, format="json").json()["posted"] == 0  # idempotent
    lines = finance.get(f"{SCHEDULES}{ob['id']}/").json()["lines"]
    assert [x["status"] for x in lines[:3]] == ["recognized", "recognized", "planned"]
    ob = finance.get(f"{OBLIGATIONS}{ob['id']}/").json()
    assert (ob["recognized_to_date"], ob["remaining"]) == ("193.97", "1006.03")

    # filters
    assert finance.get(OBLIGATIONS, {"customer": contract.customer_id}).json()["count"] == 1
    assert finance.get(OBLIGATIONS, {"status": "ended"}).json()["count"] == 0
    assert finance.get(OBLIGATIONS, {"active_on": "2024-01-01"}).json()["count"] == 0
    assert finance.get(SCHEDULES, {"contract": contract.pk + 1000}).json()["count"] == 0


def test_recognize_refuses_a_day_after_today_and_other_roles(ratable_2023, finance, sales_rep, api_client_for):
    with time_machine.travel(date(2023, 3, 5)):
        response = finance.post(RECOGNIZE, {"through": "2023-03-31"}, format="json")
        assert response.status_code == 400 and "through" in error(response)["fields"]
        assert finance.post(RECOGNIZE, {"through": "31/03/2023"}, format="json").status_code == 400
        assert api_client_for(sales_rep).post(RECOGNIZE, {"through": "2023-02-28"}, format="json").status_code == 403
    assert not JournalEntry.objects.exists()


# --- the journal ---------------------------------------------------------------------------------------------

def test_journal_entries_after_an_invoice_and_a_payment(january, finance):
    contract, invoice, payment = january["contract"], january["invoice"], january["payment"]
    response = finance.get(ENTRIES, {"ordering": "date"})
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    inv, pay = body["results"]
    assert {k: inv[k] for k in ("date", "period", "corrects_period", "memo", "source", "source_key", "currency",
                                "reporting_currency", "fx_rate", "customer", "contract")} == {
        "date": "2027-01-01", "period": "2027-01", "corrects_period": None, "memo": f"Invoice {invoice.number}",
        "source": "invoice.issued", "source_key": f"invoice.issued:{invoice.pk}", "currency": "USD",
        "reporting_currency": "USD", "fx_rate": "1", "customer": contract.customer_id, "contract": contract.pk}
    assert inv["lines"] == [
        {"account": "1100", "account_name": "Accounts Receivable", "debit": "100.00", "credit": "0.00",
         "debit_reporting": "100.00", "credit_reporting": "0.00", "contract": contract.pk, "product": None},
        {"account": "2100", "account_name": "Deferred Revenue (contract liability)", "debit": "0.00",
         "credit": "100.00", "debit_reporting": "0.00", "credit_reporting": "100.00", "contract": contract.pk,
         "product": inv["lines"][1]["product"]},
    ]
    assert (pay["source"], pay["source_key"], pay["date"], pay["contract"]) == (
        "payment.received", f"payment.received:{payment.pk}", "2027-01-10", None)
    assert [(x["account"], x["debit"], x["credit"]) for x in pay["lines"]] == [
        ("1000", "100.00", "0.00"), ("1100", "0.00", "100.00")]

    def ids(**params):
        return [e["id"] for e in finance.get(ENTRIES, params).json()["results"]]

    assert ids(source="payment.received") == [pay["id"]]
    assert ids(contract=contract.pk) == [inv["id"]]
    assert ids(customer=contract.customer_id, ordering="date") == [inv["id"], pay["id"]]
    assert ids(period="2027-01", ordering="date") == [inv["id"], pay["id"]]
    assert ids(period="2027-02") == []
    assert ids(date_from="2027-01-02") == [pay["id"]]
    assert ids(account="1000") == [pay["id"]]
    response = finance.get(ENTRIES, {"period": "2027-13"})
    assert response.status_code == 400 and "period" in error(response)["fields"]


def test_the_journal_list_costs_a_fixed_number_of_queries(january, finance, product, contract_of,
                                                          django_assert_num_queries):
    finance.get(ENTRIES)  # token and permission caches warm
    with django_assert_num_queries(7):  # token, roles, user and group permissions, count, entries, lines
        assert finance.get(ENTRIES).json()["count"] == 2
    recognize_january(finance)
    with time_machine.travel(date(2027, 2, 1)):
        bill_and_issue(date(2027, 2, 1))
    assert JournalEntry.objects.count() == 4
    with django_assert_num_queries(7):
        assert finance.get(ENTRIES).json()["count"] == 4


def test_sales_and_success_get_403_on_revenue_records(january, sales_rep, success_user, api_client_for):
    for user in (sales_rep, success_user):
        client = api_client_for(user)
        for url in (ENTRIES, PERIODS, OBLIGATIONS, SCHEDULES, FX, ACCOUNTS, WATERFALL, ROLLFORWARD, TRIAL_BALANCE,
                    GL, BY_PERIOD):
            response = client.get(url)
            assert response.status_code == 403, (user, url)
            assert error(response)["code"] == "permission_denied"


# --- periods -------------------------------------------------------------------------------------------------

def test_closing_january_through_the_api_after_the_run(january, finance, finance_user):
    recognize_january(finance)
    period = AccountingPeriod.objects.get(start=date(2027, 1, 1))
    with time_machine.travel(date(2027, 2, 3)):
        checklist = finance.get(f"{PERIODS}{period.pk}/checklist/").json()
        assert checklist["ready"] is True and checklist["status"] == "open"
        assert set(checklist["checks"]) == {"no_unissued_invoices", "recognition_complete", "deferred_ties_out"}
        response = finance.post(f"{PERIODS}{period.pk}/close/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["id"], body["period"], body["status"], body["closed_by"]) == (
        period.pk, "2027-01", "closed", finance_user.pk)
    assert all(check["ok"] for check in body["checklist"].values())
    # closing it again is a state conflict
    with time_machine.travel(date(2027, 2, 3)):
        again = finance.post(PERIODS + "close/", {"period": "2027-01"}, format="json")
    assert again.status_code == 409
    assert finance.get(PERIODS, {"status": "closed"}).json()["count"] == 1


def test_closing_a_month_without_a_row_then_reopening_needs_the_admin_role(finance, make_user, api_client_for):
    admin = api_client_for(make_user("admin"))
    assert not AccountingPeriod.objects.filter(start=date(2027, 5, 1)).exists()
    with time_machine.travel(date(2027, 6, 2)):
        response = finance.post(PERIODS + "close/", {"period": "2027-05"}, format="json")
    assert response.status_code == 201, response.content
    period = response.json()
    assert (period["period"], period["start"], period["end"], period["status"]) == (
        "2027-05", "2027-05-01", "2027-05-31", "closed")

    with time_machine.travel(date(2027, 6, 3)):
        refused = finance.post(f"{PERIODS}{period['id']}/reopen/", {"reason": "fix"}, format="json")
        assert refused.status_code == 403 and error(refused)["code"] == "permission_denied"
        assert AccountingPeriod.objects.get(pk=period["id"]).status == "closed"
        no_reason = admin.post(f"{PERIODS}{period['id']}/reopen/", {}, format="json")
        assert no_reason.status_code == 400 and "reason" in error(no_reason)["fields"]
        assert AccountingPeriod.objects.get(pk=period["id"]).status == "closed"
        reopened = admin.post(f"{PERIODS}{period['id']}/reopen/", {"reason": "late invoice"}, format="json")
    assert reopened.status_code == 200, reopened.content
    assert reopened.json()["status"] == "open"
    assert reopened.json()["checklist"]["reopened"]["reason"] == "late invoice"
    # by month on the collection: a month never closed is a 409
    assert admin.post(PERIODS + "reopen/", {"period": "2027-04", "reason": "x"}, format="json").status_code == 409


def test_closing_is_refused_with_the_failed_checks_and_bad_months(product, contract_of, finance, sales_rep,
                                                                  api_client_for):
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 3, 5)):
        contract_of(date(2027, 3, 1), 12, [(sub, "1", "100.00")])
        run = billrun.bill_run_create(as_of=date(2027, 3, 5))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)  # an invoice created in March, never issued
    with time_machine.travel(date(2027, 4, 2)):
        checklist = finance.get(PERIODS + "checklist/", {"period": "2027-03"}).json()
        assert checklist["ready"] is False and checklist["checks"]["no_unissued_invoices"]["ok"] is False
        response = finance.post(PERIODS + "close/", {"period": "2027-03"}, format="json")
        assert response.status_code == 400
        assert error(response)["code"] == "close_checklist_failed"
        assert "no_unissued_invoices" in error(response)["fields"]
        assert not AccountingPeriod.objects.filter(start=date(2027, 3, 1), status="closed").exists()

        bad = finance.post(PERIODS + "close/", {"period": "2027-13"}, format="json")
        assert bad.status_code == 400 and list(error(bad)["fields"]) == ["period"]
        assert finance.post(PERIODS + "close/", {}, format="json").status_code == 400
        not_ended = finance.post(PERIODS + "close/", {"period": "2027-04"}, format="json")
        assert not_ended.status_code == 400 and "period" in error(not_ended)["fields"]
        assert api_client_for(sales_rep).post(PERIODS + "close/", {"period": "2027-02"},
                                              format="json").status_code == 403
    assert not AccountingPeriod.objects.filter(status="closed").exists()


# --- reports -------------------------------------------------------------------------------------------------

def test_waterfall_json_and_csv(ratable_2023, finance):
    contract = ratable_2023
    response = finance.get(WATERFALL, {"from": "2023-01", "to": "2023-03"})
    assert response.status_code == 200
    months = {"2023-01": "101.92", "2023-02": "92.05", "2023-03": "101.92"}
    assert response.json() == {
        "from": "2023-01", "to": "2023-03", "by": "contract", "months": ["2023-01", "2023-02", "2023-03"],
        "rows": [{"id": contract.pk, "label": contract.number, "currency": "USD", "months": months,
                  "total": "295.89"}],
        "totals": [{"currency": "USD", "months": months, "total": "295.89"}]}

    # December has January's 31 days but gives up the odd cent (largest remainder, earlier months first)
    by_product = finance.get(WATERFALL, {"from": "2023-12", "to": "2024-01", "by": "product"}).json()
    assert [(r["label"], r["months"], r["total"]) for r in by_product["rows"]] == [
        ("Sub", {"2023-12": "101.91", "2024-01": "0.00"}, "101.91")]

    response = finance.get(WATERFALL, {"from": "2023-01", "to": "2023-03", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["contract_id", "contract", "currency", "2023-01", "2023-02", "2023-03", "total"],
        [str(contract.pk), contract.number, "USD", "101.92", "92.05", "101.92", "295.89"],
        ["", "Total", "USD", "101.92", "92.05", "101.92", "295.89"],
    ]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "2027-13", "to": "2027-12"}, "from"),
    ({"from": "2027-01", "to": "2027-00"}, "to"),
    ({"from": "2027-06", "to": "2027-01"}, "to"),
    ({"from": "2027-01", "to": "2027-03", "by": "region"}, "by"),
    ({"from": "2017-01", "to": "2027-03"}, "to"),
    ({"from": "2027-13", "to": "2027-12", "format": "csv"}, "from"),
    ({"from": "2027-01", "to": "2027-03", "format": "xml"}, "format"),
])
def test_waterfall_bad_input_is_a_400_naming_the_parameter(finance, params, field):
    response = finance.get(WATERFALL, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert list(error(response)["fields"]) == [field]


def test_rollforward_trial_balance_revenue_by_period_and_gl_export_tie_out(january, finance):
    recognize_january(finance)
    roll = finance.get(ROLLFORWARD, {"period": "2027-01"}).json()
    assert roll == {"period": "2027-01", "ties": True, "currencies": [
        {"currency": "USD", "opening": "0.00", "billings": "100.00", "recognized": "100.00", "adjustments": "0.00",
         "closing": "0.00", "ledger_balance": "0.00", "ties": True}]}
    assert error(finance.get(ROLLFORWARD, {"period": "2027-1"}))["fields"] == {
        "period": ["must be a month, YYYY-MM (e.g. 2027-01)"]}

    tb = finance.get(TRIAL_BALANCE, {"as_of": "2027-01-31"}).json()
    assert (tb["balanced"], tb["total_debit"], tb["total_credit"], tb["currency"]) == (True, "301.92", "301.92", "USD")
    assert {r["account"]: r["balance"] for r in tb["rows"]} == {
        "1000": "100.00", "1100": "0.00", "1200": "1.92", "2100": "0.00", "4010": "-101.92"}
    assert finance.get(TRIAL_BALANCE, {"as_of": "2027-02-30"}).status_code == 400

    by = finance.get(BY_PERIOD, {"from": "2027-01", "to": "2027-02", "dimension": "product"}).json()
    assert (by["rows"], by["totals"], by["total"]) == (
        [{"month": "2027-01", "label": "Sub", "amount": "101.92"}], {"2027-01": "101.92"}, "101.92")
    segment = finance.get(BY_PERIOD, {"from": "2027-01", "to": "2027-01", "dimension": "segment"}).json()
    assert segment["rows"] == [{"month": "2027-01", "label": "smb", "amount": "101.92"}]
    assert list(error(finance.get(BY_PERIOD, {"dimension": "region"}))["fields"]) == ["dimension"]

    response = finance.get(GL, {"from": "2027-01-01", "to": "2027-01-31", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == GL_COLUMNS
    body = [dict(zip(GL_COLUMNS, r, strict=True)) for r in rows[1:]]
    assert len(body) == JournalLine.objects.count() == 7
    assert sum(D(r["debit"]) for r in body) == sum(D(r["credit"]) for r in body) == D("301.92")
    assert [r["source"] for r in body].count("revenue.recognized") == 3
    assert {(r["account"], r["debit"], r["credit"]) for r in body if r["source"] == "revenue.recognized"} == {
        ("2100", "100.00", "0.00"), ("1200", "1.92", "0.00"), ("4010", "0.00", "101.92")}

    page = finance.get(GL, {"from": "2027-01-01", "to": "2027-01-31", "limit": 1}).json()
    assert page["columns"] == GL_COLUMNS and len(page["rows"]) == 2  # the whole first entry
    assert page["next_after"] == page["rows"][0]["entry_id"]
    rest = finance.get(GL, {"from": "2027-01-01", "to": "2027-01-31", "after": page["next_after"]}).json()
    assert len(rest["rows"]) == 5 and rest["next_after"] is None
    bad = finance.get(GL, {"from": "2027-02-01", "to": "2027-01-01", "format": "csv"})
    assert bad.status_code == 400 and list(error(bad)["fields"]) == ["to"]


# --- FX rates and accounts -------------------------------------------------------------------------------------

def test_fx_rates_create_and_refusals(finance, sales_rep, api_client_for):
    response = finance.post(FX, {"date": "2027-01-01", "currency": "EUR", "rate": "1.0850"}, format="json")
    assert response.status_code == 201, response.content
    assert {k: v for k, v in response.json().items() if k != "id"} == {
        "date": "2027-01-01", "currency": "EUR", "rate": "1.085"}
    for rate in ("0", "-1.2", "abc"):
        refused = finance.post(FX, {"date": "2027-01-02", "currency": "EUR", "rate": rate}, format="json")
        assert refused.status_code == 400 and list(error(refused)["fields"]) == ["rate"], rate
    twice = finance.post(FX, {"date": "2027-01-01", "currency": "EUR", "rate": "1.09"}, format="json")
    assert twice.status_code == 400 and list(error(twice)["fields"]) == ["date"]
    reporting = finance.post(FX, {"date": "2027-01-01", "currency": "USD", "rate": "1"}, format="json")
    assert reporting.status_code == 400 and list(error(reporting)["fields"]) == ["currency"]
    assert api_client_for(sales_rep).post(FX, {"date": "2027-01-03", "currency": "GBP", "rate": "1.2"},
                                          format="json").status_code == 403
    assert list(FxRate.objects.values_list("currency", "rate")) == [("EUR", D("1.0850000000"))]
    assert finance.get(FX, {"currency": "EUR"}).json()["count"] == 1


def test_the_chart_of_accounts_is_edited_by_admins(january, finance, make_user, api_client_for):
    admin = api_client_for(make_user("admin"))
    cash = Account.objects.get(code="1000")
    assert finance.get(ACCOUNTS, {"role": "cash"}).json()["results"][0]["code"] == "1000"
    refused = finance.patch(f"{ACCOUNTS}{cash.pk}/", {"name": "Bank"}, format="json")
    assert refused.status_code == 403
    assert admin.patch(f"{ACCOUNTS}{cash.pk}/", {"name": "Bank"}, format="json").json()["name"] == "Bank"
    posted = admin.patch(f"{ACCOUNTS}{cash.pk}/", {"role": "other"}, format="json")
    assert posted.status_code == 409 and list(error(posted)["fields"]) == ["role"]
    assert admin.delete(f"{ACCOUNTS}{cash.pk}/").status_code == 409
    clash = admin.post(ACCOUNTS, {"code": "1001", "name": "Cash 2", "kind": "asset", "role": "cash"}, format="json")
    assert clash.status_code == 400 and list(error(clash)["fields"]) == ["role"]
    cash.refresh_from_db()
    assert (cash.name, cash.role) == ("Bank", "cash")
