"""The billing and usage API: usage batches, customer usage, bill runs, the invoice lifecycle, payments
(recorded and by signed webhook), credit notes, tax rates, approval rules, AR aging — with exact figures,
refusals that change nothing, permissions by role and query counts.

Figures from the billing fixtures: 10 seats × 10.00 = 100.00 a month billed in advance, US tax 10 %
→ 110.00; a setup fee of 500.00 once; API calls graduated 1,000 × 0.01 then 0.005 (1,500 calls = 12.50).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.contrib.auth.models import Permission, User

from billing.models import (
    BillRun,
    BillRunError,
    CreditNote,
    FinanceApprovalRule,
    Invoice,
    InvoiceEvent,
    Payment,
    TaxRate,
    UsageEvent,
)
from billing.services import billrun
from billing.services.invoices import invoice_issue
from revops.kernel.models import OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

USAGE = "/api/v1/usage-events/"
INVOICES = "/api/v1/invoices/"
PAYMENTS = "/api/v1/payments/"
CREDIT_NOTES = "/api/v1/credit-notes/"
BILL_RUNS = "/api/v1/bill-runs/"
TAX_RATES = "/api/v1/tax-rates/"
RULES = "/api/v1/finance-approval-rules/"
AGING = "/api/v1/reports/ar-aging/"
YEAR = date.today().year


def error(response) -> dict:
    return response.json()["error"]


def run(as_of: date) -> BillRun:
    """A bill run processed inline (what the Celery tasks do after commit)."""
    r = billrun.bill_run_create(as_of=as_of)
    for chunk_id in billrun.bill_run_plan(run_id=r.pk):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    r.refresh_from_db()
    return r


def footprint(invoice: Invoice) -> tuple:
    invoice.refresh_from_db()
    return (invoice.status, invoice.number, invoice.amount_paid, invoice.amount_credited, invoice.amount_due,
            Payment.objects.count(), CreditNote.objects.count(), InvoiceEvent.objects.count(),
            OutboxEvent.objects.count())


@pytest.fixture
def finance(finance_user, api_client_for):
    return api_client_for(finance_user)


@pytest.fixture
def rep(sales_rep, api_client_for):
    return api_client_for(sales_rep)


@pytest.fixture
def us_tax(db):
    return TaxRate.objects.create(name="US", country="US", percent=D("10"))


@pytest.fixture
def billed(subscription, us_tax):
    """billed(**subscription kwargs) -> the contract's first invoice (approved unless a rule holds it)."""

    def make(**kw) -> Invoice:
        contract = subscription(start=date(2027, 1, 1), **kw)
        run(date(2027, 1, 1))
        return Invoice.objects.get(contract=contract)

    return make


@pytest.fixture
def issued(billed, finance_user):
    def make(**kw) -> Invoice:
        return invoice_issue(invoice_id=billed(**kw).pk, by=finance_user)

    return make


# --- usage -----------------------------------------------------------------------------------------------

def event(customer, key: str, day: date = date(2026, 6, 10), **extra) -> dict:
    return {"customer": customer.pk, "meter": "api-calls", "timestamp": f"{day.isoformat()}T12:00:00+00:00",
            "idempotency_key": key, **extra}


class TestUsageIngest:
    def test_a_batch_keeps_the_good_events_and_rejects_the_bad_ones_by_index(self, finance, catalog):
        customer = CustomerFactory(external_id="ACME-1")
        batch = [
            event(customer, "a"),
            event(customer, "b", meter="no-such-meter"),
            {"customer_external_id": "ACME-1", "meter": "api-calls", "timestamp": "2026-06-10T13:00:00Z",
             "idempotency_key": "c"},
            {**event(customer, "d"), "idempotency_key": ""},
            event(customer, "e", timestamp="2026-06-10T12:00:00"),  # naive: no offset
            {**event(customer, "f"), "customer": 999_999},
            event(customer, "g", properties={"region": "eu"}),
        ]

        response = finance.post(USAGE, batch, format="json")

        assert response.status_code == 200, response.content
        assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": [
            {"index": 1, "error": "unknown meter 'no-such-meter'"},
            {"index": 3, "error": "idempotency_key is required (a string of 1–255 characters)"},
            {"index": 4, "error": "timestamp must be ISO 8601 with an offset"},
            {"index": 5, "error": "unknown customer"},
        ]}
        assert sorted(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["a", "c", "g"]

        again = finance.post(USAGE, batch, format="json")

        assert again.status_code == 200
        assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
        assert [r["index"] for r in again.json()["rejected"]] == [1, 3, 4, 5]
        assert UsageEvent.objects.count() == 3

    def test_one_event_object_is_a_batch_of_one(self, finance, catalog):
        customer = CustomerFactory()

        response = finance.post(USAGE, event(customer, "single"), format="json")

        assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}

    def test_more_than_10000_events_is_a_400_and_nothing_is_stored(self, finance, catalog):
        customer = CustomerFactory()
        batch = [event(customer, f"k{i}") for i in range(10_001)]

        response = finance.post(USAGE, batch, format="json")

        assert response.status_code == 400
        assert error(response)["code"] == "validation_error"
        assert "events" in error(response)["fields"]
        assert UsageEvent.objects.count() == 0

    @pytest.mark.parametrize("body", ["[1, 2", '"just a string"', "{}"])
    def test_a_body_that_is_not_events_is_a_400(self, finance, catalog, body):
        response = finance.generic("POST", USAGE, body, content_type="application/json")

        assert response.status_code == 400
        assert error(response)["code"] in ("parse_error", "validation_error")

    def test_machines_need_only_the_add_usageevent_permission(self, make_user, api_client_for, catalog, rep,
                                                              success_user):
        customer = CustomerFactory()
        machine = make_user()  # no role group
        machine.user_permissions.add(Permission.objects.get(codename="add_usageevent"))
        machine = User.objects.get(pk=machine.pk)  # fresh permission cache

        assert api_client_for(machine).post(USAGE, [event(customer, "m")], format="json").json()["accepted"] == 1
        assert rep.post(USAGE, [event(customer, "r")], format="json").status_code == 403
        assert api_client_for(success_user).post(USAGE, [event(customer, "s")], format="json").status_code == 403
        assert api_client_for(None).post(USAGE, [event(customer, "n")], format="json").status_code == 401
        assert UsageEvent.objects.count() == 1


class TestCustomerUsage:
    def test_window_totals_and_the_running_period_estimate(self, finance, subscription):
        contract = subscription(start=date(2027, 1, 1), usage=True)
        customer = contract.customer
        with time_machine.travel(datetime(2027, 3, 20, 12, tzinfo=UTC), tick=False):
            batch = ([event(customer, f"mar-{i}", date(2027, 3, 10)) for i in range(1500)]
                     + [event(customer, f"feb-{i}", date(2027, 2, 15)) for i in range(200)])
            assert finance.post(USAGE, batch, format="json").json()["accepted"] == 1700

            response = finance.get(f"/api/v1/customers/{customer.pk}/usage/?from=2027-02-01&to=2027-03-31")
            default_window = finance.get(f"/api/v1/customers/{customer.pk}/usage/?meter=api-calls")

        assert response.status_code == 200, response.content
        assert response.json() == {
            "customer": customer.pk, "from": "2027-02-01", "to": "2027-03-31",
            "meters": [{"meter": "api-calls", "name": "API calls", "aggregation": "count", "unit": "calls",
                        "total": "1700"}],
            "current_period": [{
                "contract": contract.pk, "contract_number": contract.number,
                "contract_line": contract.lines.get(period="usage").pk, "product": contract.lines.get(
                    period="usage").product_id, "product_name": "API calls", "meter": "api-calls",
                "currency": "USD", "period_start": "2027-03-01", "period_end": "2027-03-31",
                "usage_through": "2027-03-20", "quantity": "1500",
                "estimated_charge": "12.50",  # 1,000 × 0.01 + 500 × 0.005
            }],
        }
        # default window: the 1st of this month to today
        assert (default_window.json()["from"], default_window.json()["to"]) == ("2027-03-01", "2027-03-20")
        assert default_window.json()["meters"][0]["total"] == "1500"

    def test_refusals(self, finance, rep, catalog):
        customer = CustomerFactory()
        base = f"/api/v1/customers/{customer.pk}/usage/"

        assert finance.get("/api/v1/customers/999999/usage/").status_code == 404
        assert error(finance.get(base + "?meter=nope"))["fields"] == {"meter": ["unknown meter 'nope'"]}
        assert "to" in error(finance.get(base + "?from=2027-03-02&to=2027-03-01"))["fields"]
        assert "from" in error(finance.get(base + "?from=2027-02-30"))["fields"]
        assert rep.get(base).status_code == 403


# --- bill runs ---------------------------------------------------------------------------------------------

class TestBillRuns:
    def test_a_bill_run_creates_the_invoices_with_exact_totals(self, finance, subscription, us_tax,
                                                              django_capture_on_commit_callbacks):
        seats_only = subscription(start=date(2027, 1, 1))
        with_setup = subscription(start=date(2027, 1, 1), setup="500.00")

        with django_capture_on_commit_callbacks(execute=True):
            response = finance.post(BILL_RUNS, {"as_of": "2027-01-01"}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        assert {"id", "status", "invoices_created", "errors"} <= set(body)
        assert (body["as_of"], body["dry_run"]) == ("2027-01-01", False)
        assert response["Location"].endswith(f"{BILL_RUNS}{body['id']}/")
        done = finance.get(f"{BILL_RUNS}{body['id']}/").json()
        assert (done["status"], done["invoices_created"], done["lines_created"], done["contracts_total"],
                done["errors"]) == ("done", 2, 3, 2, [])
        totals = {row["contract"]: (row["subtotal"], row["tax"], row["total"], row["status"])
                  for row in finance.get(INVOICES).json()["results"]}
        assert totals == {seats_only.pk: ("100.00", "10.00", "110.00", "approved"),
                          with_setup.pk: ("600.00", "60.00", "660.00", "approved")}

    def test_a_dry_run_writes_no_invoice_and_previews_them(self, finance, subscription,
                                                           django_capture_on_commit_callbacks):
        contract = subscription(start=date(2027, 1, 1))

        with django_capture_on_commit_callbacks(execute=True):
            response = finance.post(BILL_RUNS, {"as_of": "2027-01-01", "dry_run": True}, format="json")

        assert response.status_code == 201
        run_id = response.json()["id"]
        detail = finance.get(f"{BILL_RUNS}{run_id}/").json()
        assert (detail["status"], detail["dry_run"], detail["invoices_created"]) == ("done", True, 0)
        assert [(p["contract"], p["lines"], p["subtotal"]) for p in detail["preview"]] == [(contract.pk, 1,
                                                                                             "100.00")]
        assert Invoice.objects.count() == 0
        assert "preview" not in finance.get(BILL_RUNS).json()["results"][0]

    def test_errors_name_contract_and_customer(self, finance, subscription):
        contract = subscription(start=date(2027, 1, 1))
        r = BillRun.objects.create(as_of=date(2027, 1, 1), status=BillRun.Status.DONE_WITH_ERRORS)
        BillRunError.objects.create(bill_run=r, contract=contract, customer=contract.customer, message="boom")

        errors = finance.get(f"{BILL_RUNS}{r.pk}/").json()["errors"]

        assert [(e["contract"], e["customer"], e["message"]) for e in errors] == [
            (contract.pk, contract.customer_id, "boom")]

    def test_only_finance_and_admins_start_runs(self, rep, make_user, api_client_for, subscription):
        subscription(start=date(2027, 1, 1))
        for client in (rep, api_client_for(make_user("customer_success"))):
            assert client.post(BILL_RUNS, {"as_of": "2027-01-01"}, format="json").status_code == 403
        assert BillRun.objects.count() == 0


# --- invoices ----------------------------------------------------------------------------------------------

class TestInvoices:
    def test_the_invoice_fields_lines_and_money_strings(self, rep, billed):
        invoice = billed()

        response = rep.get(f"{INVOICES}{invoice.pk}/")

        assert response.status_code == 200
        body = response.json()
        assert {k: body[k] for k in ("id", "number", "customer", "contract", "currency", "status", "issue_date",
                                     "due_date", "period_start", "period_end", "subtotal", "tax", "total",
                                     "amount_paid", "amount_credited", "amount_due", "pdf_status",
                                     "approval_reasons")} == {
            "id": invoice.pk, "number": None, "customer": invoice.customer_id, "contract": invoice.contract_id,
            "currency": "USD", "status": "approved", "issue_date": None, "due_date": None,
            "period_start": "2027-01-01", "period_end": "2027-01-31", "subtotal": "100.00", "tax": "10.00",
            "total": "110.00", "amount_paid": "0.00", "amount_credited": "0.00", "amount_due": "110.00",
            "pdf_status": "none", "approval_reasons": [],
        }
        (line,) = body["lines"]
        assert {k: line[k] for k in ("kind", "description", "quantity", "unit_price", "amount", "period_start",
                                     "period_end", "tax_percent", "tax_amount")} == {
            "kind": "recurring", "description": "Seats (2027-01-01 – 2027-01-31)", "quantity": "10",
            "unit_price": "10.00", "amount": "100.00", "period_start": "2027-01-01", "period_end": "2027-01-31",
            "tax_percent": "10", "tax_amount": "10.00"}
        assert line["tax_rate"] == TaxRate.objects.get().pk and "product" in line

    def test_approve_then_issue_numbers_the_invoice(self, finance, billed, finance_user):
        FinanceApprovalRule.objects.create(name="First invoice", condition="first_invoice")
        invoice = billed()
        assert (invoice.status, invoice.approval_reasons) == ("pending_approval", ["the customer's first invoice"])

        approved = finance.post(f"{INVOICES}{invoice.pk}/approve/")
        issued = finance.post(f"{INVOICES}{invoice.pk}/issue/")

        assert approved.status_code == 200, approved.content
        assert (approved.json()["status"], approved.json()["approved_by"]) == ("approved", finance_user.pk)
        assert issued.status_code == 200, issued.content
        today = date.today()
        assert {k: issued.json()[k] for k in ("number", "status", "issue_date", "due_date", "amount_due")} == {
            "number": f"INV-{YEAR}-000001", "status": "issued", "issue_date": today.isoformat(),
            "due_date": (today + timedelta(days=30)).isoformat(), "amount_due": "110.00"}

    def test_approving_an_issued_invoice_is_a_409_and_changes_nothing(self, finance, issued):
        invoice = issued()
        before = footprint(invoice)

        response = finance.post(f"{INVOICES}{invoice.pk}/approve/")

        assert response.status_code == 409
        assert error(response)["code"] == "invalid_transition"
        assert "only an invoice pending approval can be approved" in error(response)["message"]
        assert footprint(invoice) == before

    def test_a_sales_rep_may_read_but_not_approve(self, rep, billed):
        FinanceApprovalRule.objects.create(name="First invoice", condition="first_invoice")
        invoice = billed()
        before = footprint(invoice)

        assert rep.get(INVOICES).status_code == 200
        for act in ("approve", "issue", "void", "mark_uncollectible"):
            response = rep.post(f"{INVOICES}{invoice.pk}/{act}/", {"reason": "x"}, format="json")
            assert response.status_code == 403, act
            assert error(response)["code"] == "permission_denied"
        assert footprint(invoice) == before

    def test_voiding_a_paid_invoice_is_a_409(self, finance, issued):
        invoice = issued()
        assert finance.post(PAYMENTS, {"customer": invoice.customer_id, "amount": "110.00", "currency": "USD"},
                            format="json").status_code == 201
        before = footprint(invoice)

        response = finance.post(f"{INVOICES}{invoice.pk}/void/", {"reason": "wrong"}, format="json")

        assert response.status_code == 409
        assert error(response)["code"] == "invalid_transition"
        assert footprint(invoice) == before
        assert before[0] == "paid"

    def test_void_needs_a_reason_and_voids_an_unpaid_invoice(self, finance, issued):
        invoice = issued()

        missing = finance.post(f"{INVOICES}{invoice.pk}/void/", {"reason": " "}, format="json")
        voided = finance.post(f"{INVOICES}{invoice.pk}/void/", {"reason": "billed twice"}, format="json")

        assert (missing.status_code, list(error(missing)["fields"])) == (400, ["reason"])
        assert (voided.status_code, voided.json()["status"], voided.json()["amount_due"]) == (200, "void", "0.00")

    def test_mark_uncollectible(self, finance, issued):
        invoice = issued()

        response = finance.post(f"{INVOICES}{invoice.pk}/mark_uncollectible/", {"reason": "gone"}, format="json")

        assert (response.status_code, response.json()["status"]) == (200, "uncollectible")

    def test_bulk_approve_reports_refusals(self, finance, billed, subscription):
        FinanceApprovalRule.objects.create(name="First invoice", condition="first_invoice")
        pending = billed()
        approved_already = billed()
        Invoice.objects.filter(pk=approved_already.pk).update(status="approved")

        response = finance.post(f"{INVOICES}bulk-approve/", {"ids": [pending.pk, approved_already.pk, 999999]},
                                format="json")

        assert response.status_code == 200
        assert response.json()["approved"] == [pending.pk]
        assert [r["invoice"] for r in response.json()["refused"]] == [approved_already.pk, 999999]

    def test_filters(self, finance, billed, finance_user):
        first, second = billed(), billed()
        invoice_issue(invoice_id=second.pk, by=finance_user)

        def ids(query: str) -> set[int]:
            return {row["id"] for row in finance.get(INVOICES + query).json()["results"]}

        assert ids("?status=issued") == {second.pk}
        assert ids("?status=approved&status=issued") == {first.pk, second.pk}
        assert ids(f"?customer={first.customer_id}") == {first.pk}
        assert ids(f"?contract={second.contract_id}") == {second.pk}
        assert ids(f"?number=INV-{YEAR}-000001") == {second.pk}
        today = date.today().isoformat()
        assert ids(f"?issue_date_from={today}&issue_date_to={today}") == {second.pk}
        assert ids(f"?due_date_from={(date.today() + timedelta(days=30)).isoformat()}") == {second.pk}
        assert ids("?due_date_to=2000-01-01") == set()

    def test_the_list_costs_the_same_queries_for_one_invoice_or_many(self, rep, billed,
                                                                      django_assert_num_queries):
        billed(setup="500.00")
        # token, roles, 2 permission checks, count, invoices with customers, their lines
        with django_assert_num_queries(7):
            assert len(rep.get(INVOICES).json()["results"]) == 1
        for _ in range(4):
            billed(setup="500.00")
        with django_assert_num_queries(7):
            response = rep.get(INVOICES)
        assert [len(row["lines"]) for row in response.json()["results"]] == [2] * 5


class TestInvoicePdf:
    def test_a_draft_is_rendered_on_the_fly(self, rep, billed):
        invoice = billed()

        response = rep.get(f"{INVOICES}{invoice.pk}/pdf/")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="draft-{invoice.pk}.pdf"'
        assert response.content.startswith(b"%PDF")
        invoice.refresh_from_db()
        assert (invoice.pdf_status, invoice.pdf.name) == ("none", "")  # nothing stored for drafts

    def test_an_issued_invoice_answers_its_stored_pdf(self, rep, issued, settings, tmp_path):
        settings.MEDIA_ROOT = tmp_path
        invoice = issued()

        first = rep.get(f"{INVOICES}{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
        invoice.refresh_from_db()
        second = rep.get(f"{INVOICES}{invoice.pk}/pdf/")

        assert first.status_code == 200
        assert first["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
        assert first.content.startswith(b"%PDF")
        assert invoice.pdf_status == "rendered"
        assert hashlib.sha256(second.content).hexdigest() == invoice.pdf_sha256


# --- payments ----------------------------------------------------------------------------------------------

class TestPayments:
    def test_a_partial_payment_then_an_overpayment_leaves_credit(self, finance, issued):
        invoice = issued()  # 110.00
        customer = invoice.customer

        partial = finance.post(PAYMENTS, {"customer": customer.pk, "amount": "50.00", "currency": "USD",
                                          "reference": "wire 1"}, format="json")
        after_partial = finance.get(f"{INVOICES}{invoice.pk}/").json()
        over = finance.post(PAYMENTS, {"customer": customer.pk, "amount": "80.00", "currency": "USD",
                                       "received_at": "2027-02-03T10:00:00+00:00"}, format="json")
        after_over = finance.get(f"{INVOICES}{invoice.pk}/").json()

        assert partial.status_code == 201, partial.content
        assert {k: partial.json()[k] for k in ("customer", "amount", "currency", "reference", "source",
                                               "amount_allocated", "unallocated", "allocations")} == {
            "customer": customer.pk, "amount": "50.00", "currency": "USD", "reference": "wire 1",
            "source": "manual", "amount_allocated": "50.00", "unallocated": "0.00",
            "allocations": [{"invoice": invoice.pk, "invoice_number": invoice.number, "amount": "50.00"}]}
        assert (after_partial["status"], after_partial["amount_paid"], after_partial["amount_due"]) == (
            "partially_paid", "50.00", "60.00")
        assert over.status_code == 201
        assert (over.json()["amount_allocated"], over.json()["unallocated"], over.json()["received_at"]) == (
            "60.00", "20.00", "2027-02-03T10:00:00Z")
        assert (after_over["status"], after_over["amount_paid"], after_over["amount_due"]) == ("paid", "110.00",
                                                                                              "0.00")
        listed = finance.get(f"{PAYMENTS}?customer={customer.pk}&invoice={invoice.pk}").json()
        assert listed["count"] == 2

    def test_allocations_name_the_invoices(self, finance, issued):
        invoice = issued()

        response = finance.post(PAYMENTS, {"customer": invoice.customer_id, "amount": "30.00", "currency": "USD",
                                           "allocations": [{"invoice": invoice.pk, "amount": "200.00"}]},
                                format="json")

        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["allocations[0].amount"]
        assert Payment.objects.count() == 0

    @pytest.mark.parametrize(("amount", "currency", "field"), [
        ("-5.00", "USD", "amount"), ("0", "USD", "amount"), ("abc", "USD", "amount"), ("10.001", "USD", "amount"),
        ("10.00", "EUR", "currency"), ("10.00", "EURO", "currency")])
    def test_bad_payments_are_a_400_naming_the_field_and_save_nothing(self, finance, issued, amount, currency,
                                                                      field):
        invoice = issued()
        before = footprint(invoice)

        response = finance.post(PAYMENTS, {"customer": invoice.customer_id, "amount": amount,
                                           "currency": currency}, format="json")

        assert response.status_code == 400, response.content
        assert field in error(response)["fields"]
        assert footprint(invoice) == before
        assert Payment.objects.count() == 0

    def test_an_idempotency_key_records_one_payment(self, finance, issued):
        invoice = issued()
        body = {"customer": invoice.customer_id, "amount": "10.00", "currency": "USD"}

        first = finance.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
        again = finance.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")

        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert Payment.objects.count() == 1

    def test_sales_reps_cannot_see_or_record_payments(self, rep, issued):
        invoice = issued()

        assert rep.get(PAYMENTS).status_code == 403
        assert rep.post(PAYMENTS, {"customer": invoice.customer_id, "amount": "1.00", "currency": "USD"},
                        format="json").status_code == 403
        assert Payment.objects.count() == 0


def signed(body: bytes, *, secret: str = "demo-webhook-secret", at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


class TestPaymentWebhook:
    URL = f"{PAYMENTS}webhook/demo/"

    def body(self, invoice: Invoice, **extra) -> bytes:
        return json.dumps({"id": "evt_1", "type": "payment.succeeded", "customer": invoice.customer_id,
                           "amount": "110.00", "currency": "USD", "created": "2027-02-01T09:00:00+00:00",
                           "reference": "ch_1", "invoice": invoice.pk, **extra}).encode()

    def post(self, client, body: bytes, signature: str):
        return client.generic("POST", self.URL, body, content_type="application/json",
                              HTTP_REVOPS_SIGNATURE=signature)

    def test_a_signed_event_records_the_payment_once(self, api_client_for, issued):
        invoice = issued()
        anonymous = api_client_for(None)
        body = self.body(invoice)

        first = self.post(anonymous, body, signed(body))
        again = self.post(anonymous, body, signed(body))  # the provider redelivers

        assert first.status_code == 201, first.content
        assert {k: first.json()[k] for k in ("amount", "currency", "source", "provider", "provider_event_id",
                                             "reference", "amount_allocated")} == {
            "amount": "110.00", "currency": "USD", "source": "webhook", "provider": "demo",
            "provider_event_id": "evt_1", "reference": "ch_1", "amount_allocated": "110.00"}
        assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
        assert Payment.objects.count() == 1
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == ("paid", D("0.00"))

    def test_a_tampered_body_is_a_400_and_saves_nothing(self, api_client_for, issued):
        invoice = issued()
        body = self.body(invoice)
        signature = signed(body)
        before = footprint(invoice)

        response = self.post(api_client_for(None), self.body(invoice, amount="1100.00"), signature)

        assert response.status_code == 400
        assert error(response)["code"] == "bad_signature"
        assert footprint(invoice) == before
        assert Payment.objects.count() == 0

    def test_an_old_timestamp_or_a_missing_signature_is_a_400(self, api_client_for, issued):
        invoice = issued()
        body = self.body(invoice)
        anonymous = api_client_for(None)

        old = self.post(anonymous, body, signed(body, at=int(time.time()) - 3600))
        missing = anonymous.generic("POST", self.URL, body, content_type="application/json")
        wrong_secret = self.post(anonymous, body, signed(body, secret="guess"))

        assert [(r.status_code, error(r)["code"]) for r in (old, missing, wrong_secret)] == [
            (400, "bad_signature")] * 3
        assert Payment.objects.count() == 0

    def test_an_event_for_an_invoice_paid_meanwhile_is_kept_as_credit(self, api_client_for, finance, issued):
        invoice = issued()
        assert finance.post(PAYMENTS, {"customer": invoice.customer_id, "amount": "100.00", "currency": "USD"},
                            format="json").status_code == 201  # 10.00 left to pay
        body = self.body(invoice)

        response = self.post(api_client_for(None), body, signed(body))

        assert response.status_code == 201, response.content
        assert (response.json()["amount_allocated"], response.json()["unallocated"]) == ("10.00", "100.00")
        invoice.refresh_from_db()
        assert (invoice.status, invoice.amount_due) == ("paid", D("0.00"))
        paid_again = self.body(invoice, id="evt_2")
        response = self.post(api_client_for(None), paid_again, signed(paid_again))
        assert (response.status_code, response.json()["unallocated"]) == (201, "110.00")  # all credit

    def test_other_event_types_are_acknowledged_and_ignored(self, api_client_for, issued):
        invoice = issued()
        body = self.body(invoice, type="charge.refunded")

        response = self.post(api_client_for(None), body, signed(body))

        assert (response.status_code, response.json()["ignored"]) == (202, True)
        assert Payment.objects.count() == 0


# --- credit notes ------------------------------------------------------------------------------------------

class TestCreditNotes:
    def test_a_credit_note_reduces_the_amount_due_exactly(self, finance, issued):
        invoice = issued()  # 100.00 + 10.00 tax
        line = invoice.lines.get()

        response = finance.post(CREDIT_NOTES, {"invoice": invoice.pk, "reason": "3 seats unused",
                                               "lines": [{"invoice_line": line.pk, "amount": "30.00"}]},
                                format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        assert {k: body[k] for k in ("invoice", "invoice_number", "customer", "currency", "reason", "subtotal",
                                     "tax", "total", "applied_to_invoice", "refund")} == {
            "invoice": invoice.pk, "invoice_number": invoice.number, "customer": invoice.customer_id,
            "currency": "USD", "reason": "3 seats unused", "subtotal": "30.00", "tax": "3.00", "total": "33.00",
            "applied_to_invoice": "33.00", "refund": False}
        assert body["number"] == f"CN-{YEAR}-000001"
        assert [(x["invoice_line"], x["amount"], x["tax_amount"]) for x in body["lines"]] == [(line.pk, "30.00",
                                                                                               "3.00")]
        after = finance.get(f"{INVOICES}{invoice.pk}/").json()
        assert (after["amount_credited"], after["amount_due"], after["status"]) == ("33.00", "77.00",
                                                                                   "partially_paid")
        assert finance.get(f"{CREDIT_NOTES}?invoice={invoice.pk}").json()["count"] == 1

    def test_refusals_save_nothing(self, finance, issued, billed):
        invoice = issued()
        line = invoice.lines.get()
        before = footprint(invoice)

        too_much = finance.post(CREDIT_NOTES, {"invoice": invoice.pk, "reason": "x",
                                               "lines": [{"invoice_line": line.pk, "amount": "100.01"}]},
                                format="json")
        no_reason = finance.post(CREDIT_NOTES, {"invoice": invoice.pk, "reason": "",
                                                "lines": [{"invoice_line": line.pk, "amount": "1.00"}]},
                                 format="json")
        unknown = finance.post(CREDIT_NOTES, {"invoice": 999999, "reason": "x", "lines": []}, format="json")

        assert (too_much.status_code, list(error(too_much)["fields"])) == (400, ["lines[0].amount"])
        assert (no_reason.status_code, list(error(no_reason)["fields"])) == (400, ["reason"])
        assert (unknown.status_code, "invoice" in error(unknown)["fields"]) == (400, True)
        assert footprint(invoice) == before

        draft = billed()
        response = finance.post(CREDIT_NOTES, {"invoice": draft.pk, "reason": "x",
                                               "lines": [{"invoice_line": draft.lines.get().pk, "amount": "1.00"}]},
                                format="json")
        assert response.status_code == 409
        assert CreditNote.objects.count() == 0


# --- tax rates, approval rules, reports -------------------------------------------------------------------

class TestTaxRates:
    def test_finance_manages_rates_and_others_read(self, finance, make_user, api_client_for, rep):
        created = finance.post(TAX_RATES, {"name": "DE VAT", "country": "DE", "percent": "19",
                                           "inclusive": True}, format="json")

        assert created.status_code == 201, created.content
        assert {k: created.json()[k] for k in ("country", "region", "percent", "inclusive", "active")} == {
            "country": "DE", "region": "", "percent": "19", "inclusive": True, "active": True}
        success = api_client_for(make_user("customer_success"))
        assert success.get(TAX_RATES).json()["count"] == 1
        assert success.post(TAX_RATES, {"name": "x", "country": "FR", "percent": "20"},
                            format="json").status_code == 403
        assert rep.get(TAX_RATES).status_code == 403

    def test_bad_rates_are_refused(self, finance, us_tax):
        over = finance.post(TAX_RATES, {"name": "x", "country": "FR", "percent": "150"}, format="json")
        lower = finance.post(TAX_RATES, {"name": "x", "country": "fr", "percent": "20"}, format="json")
        twice = finance.post(TAX_RATES, {"name": "US again", "country": "US", "percent": "8"}, format="json")

        assert [(r.status_code, list(error(r)["fields"])) for r in (over, lower, twice)] == [
            (400, ["percent"]), (400, ["country"]), (400, ["active"])]
        assert TaxRate.objects.count() == 1

    def test_a_rate_on_invoices_is_not_deleted_or_changed(self, finance, billed, us_tax):
        billed()

        deleted = finance.delete(f"{TAX_RATES}{us_tax.pk}/")
        changed = finance.patch(f"{TAX_RATES}{us_tax.pk}/", {"percent": "12"}, format="json")
        deactivated = finance.patch(f"{TAX_RATES}{us_tax.pk}/", {"active": False}, format="json")

        assert (deleted.status_code, changed.status_code, deactivated.status_code) == (409, 409, 200)
        us_tax.refresh_from_db()
        assert (us_tax.percent, us_tax.active) == (D("10"), False)


class TestFinanceApprovalRules:
    def test_finance_creates_rules_that_hold_new_invoices(self, finance, billed, rep):
        missing = finance.post(RULES, {"name": "Big", "condition": "total_above"}, format="json")
        created = finance.post(RULES, {"name": "Big", "condition": "total_above", "threshold": "100"},
                               format="json")

        assert (missing.status_code, list(error(missing)["fields"])) == (400, ["threshold"])
        assert created.status_code == 201
        assert created.json()["threshold"] == "100"
        assert billed().status == "pending_approval"  # 110.00 > 100
        assert rep.get(RULES).status_code == 403


def test_the_api_root_lists_the_billing_resources(finance):
    response = finance.get("/api/v1/")

    assert response.status_code == 200
    assert {"invoices", "payments", "credit-notes", "tax-rates", "bill-runs", "finance-approval-rules",
            "reports/ar-aging"} <= set(response.json())


class TestArAging:
    def test_open_amounts_by_days_past_due(self, finance, issued, rep):
        invoice = issued()
        finance.post(PAYMENTS, {"customer": invoice.customer_id, "amount": "10.00", "currency": "USD"},
                     format="json")
        as_of = invoice.due_date + timedelta(days=10)

        response = finance.get(f"{AGING}?as_of={as_of.isoformat()}")

        assert response.status_code == 200, response.content
        assert response.json() == {
            "as_of": as_of.isoformat(), "buckets": ["current", "1-30", "31-60", "61-90", "90+"],
            "rows": [{"customer": invoice.customer_id, "customer_name": invoice.customer.name, "currency": "USD",
                      "buckets": {"current": "0.00", "1-30": "100.00", "31-60": "0.00", "61-90": "0.00",
                                  "90+": "0.00"}, "total": "100.00"}],
            "totals": [{"currency": "USD", "buckets": {"current": "0.00", "1-30": "100.00", "31-60": "0.00",
                                                       "61-90": "0.00", "90+": "0.00"}, "total": "100.00"}],
        }
        assert finance.get(f"{AGING}?customer=999999").json()["rows"] == []
        assert "as_of" in error(finance.get(f"{AGING}?as_of=soon"))["fields"]
        assert rep.get(AGING).status_code == 403
