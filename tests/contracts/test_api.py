"""/api/v1/contracts/ and /api/v1/renewal-alerts/: fields and money strings, line versions as of a day,
amendment preview and application, renewals, termination, renewal settings, permissions by role,
refusals that change nothing, idempotency and query counts.

Figures are worked out by hand from the products fixture (plan 20.00/month, seats 10.00/month, setup
500.00 once) and the periods.py worked example: 20.00/month billed 04-11 → 05-10 (30 days), moved to
30.00 on 04-26 with 15 days left → credit 20.00 × 15/30 = 10.00, charge 30.00 × 15/30 = 15.00.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
import time_machine

from contracts.models import Amendment, Contract, ContractEvent, ContractLine, ProrationCharge, RenewalAlert
from contracts.services.amendments import contract_amend
from contracts.services.renewals import contracts_daily, send_renewal_alerts
from contracts.services.termination import contract_terminate
from quotes.models import Quote
from revops.kernel import audit
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CONTRACTS = "/api/v1/contracts/"
ALERTS = "/api/v1/renewal-alerts/"


def url(contract_or_id, suffix: str = "") -> str:
    pk = getattr(contract_or_id, "pk", contract_or_id)
    return f"{CONTRACTS}{pk}/{suffix}"


def error(response) -> dict:
    return response.json()["error"]


def footprint(contract: Contract) -> tuple:
    """Everything an amendment, renewal or termination would touch, to assert that nothing changed."""
    contract.refresh_from_db()
    lines = list(ContractLine.objects.filter(contract=contract).values_list("pk", "quantity", "unit_price",
                                                                             "start_date", "end_date"))
    return (contract.status, contract.end_date, contract.tcv, contract.arr, lines, Amendment.objects.count(),
            ProrationCharge.objects.count(), Contract.objects.count(), ContractEvent.objects.count(),
            OutboxEvent.objects.count(), Quote.objects.count())


@pytest.fixture
def finance(finance_user, api_client_for):
    return api_client_for(finance_user)


@pytest.fixture
def success(success_user, api_client_for):
    return api_client_for(success_user)


@pytest.fixture
def rep(sales_rep, api_client_for):
    return api_client_for(sales_rep)


# --- read --------------------------------------------------------------------------------------------

class TestRead:
    def test_the_list_has_the_contract_fields_lines_and_money_as_strings(self, rep, make_contract, finance_user):
        contract = make_contract(start=date(2027, 4, 11),
                                 lines=(("plan", "1", "20.00"), ("seats", "3", "10.00"), ("setup", "1", "500")),
                                 auto_renew=True, renewal_uplift_percent=D("5"))

        response = rep.get(CONTRACTS)

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == 1
        row = body["results"][0]
        assert {k: row[k] for k in ("id", "number", "customer", "quote", "owner", "currency", "status",
                                    "start_date", "end_date", "billing_frequency", "auto_renew",
                                    "renewal_term_months", "renewal_uplift_percent", "renewal_notice_days",
                                    "renewal_alert_offsets", "tcv", "arr", "mrr", "terminated_on",
                                    "renewed_from", "renewed_by")} == {
            "id": contract.pk, "number": contract.number, "customer": contract.customer_id, "quote": None,
            "owner": finance_user.pk, "currency": "USD", "status": "active", "start_date": "2027-04-11",
            "end_date": "2028-04-10", "billing_frequency": "month", "auto_renew": True, "renewal_term_months": 12,
            "renewal_uplift_percent": "5", "renewal_notice_days": 60, "renewal_alert_offsets": [90, 60, 30],
            # 12 × (20.00 + 30.00) + 500.00 once; ARR 12 × 50.00
            "tcv": "1100.00", "arr": "600.00", "mrr": "50.00", "terminated_on": None, "renewed_from": None,
            "renewed_by": None,
        }
        assert [{k: line[k] for k in ("product_sku", "item", "version", "quantity", "unit_price", "amount",
                                      "period", "billing_frequency", "start_date", "end_date")}
                for line in row["lines"]] == [
            {"product_sku": "PLAN", "item": 1, "version": 1, "quantity": "1", "unit_price": "20.00",
             "amount": "20.00", "period": "month", "billing_frequency": "month", "start_date": "2027-04-11",
             "end_date": "2028-04-10"},
            {"product_sku": "SEATS", "item": 2, "version": 1, "quantity": "3", "unit_price": "10.00",
             "amount": "30.00", "period": "month", "billing_frequency": "month", "start_date": "2027-04-11",
             "end_date": "2028-04-10"},
            {"product_sku": "SETUP", "item": 3, "version": 1, "quantity": "1", "unit_price": "500.00",
             "amount": "500.00", "period": "one_time", "billing_frequency": "month", "start_date": "2027-04-11",
             "end_date": "2028-04-10"},
        ]
        assert set(row["lines"][0]) >= {"id", "product", "quantity", "unit_price", "start_date", "end_date",
                                         "billing_frequency"}  # API.md's names

    def test_every_staff_role_sees_every_contract(self, make_contract, make_user, api_client_for):
        contracts = {make_contract().pk, make_contract(owner=make_user("sales_rep")).pk}
        for role in ("sales_rep", "sales_manager", "finance", "customer_success", "admin"):
            response = api_client_for(make_user(role)).get(CONTRACTS)
            assert {row["id"] for row in response.json()["results"]} == contracts, role

    def test_as_of_returns_the_line_versions_active_that_day(self, rep, make_contract, finance_user):
        contract = make_contract(start=date(2027, 4, 11), lines=(("seats", "10", "10.00"),))
        first = contract.lines.get()
        contract_amend(contract_id=contract.pk, effective_date=date(2027, 6, 1), by=finance_user,
                       changes=[{"line": first.pk, "quantity": "15"}])

        def lines(query=""):
            response = rep.get(url(contract) + query)
            assert response.status_code == 200, response.content
            return [(x["item"], x["version"], x["quantity"], x["start_date"], x["end_date"])
                    for x in response.json()["lines"]]

        assert lines("?as_of=2027-05-31") == [(1, 1, "10", "2027-04-11", "2027-05-31")]
        assert lines("?as_of=2027-06-01") == [(1, 2, "15", "2027-06-01", "2028-04-10")]
        assert lines("?as_of=2028-04-11") == []  # after the end
        assert lines() == [(1, 1, "10", "2027-04-11", "2027-05-31"), (1, 2, "15", "2027-06-01", "2028-04-10")]

    def test_a_bad_as_of_is_a_400_naming_it(self, rep, make_contract):
        response = rep.get(url(make_contract()) + "?as_of=2027-13-01")
        assert response.status_code == 400
        assert error(response)["fields"] == {"as_of": ["must be a date, YYYY-MM-DD"]}

    def test_an_unknown_contract_is_a_404(self, rep):
        assert rep.get(url(999999)).status_code == 404
        assert rep.get(url(999999, "timeline/")).status_code == 404

    def test_filters(self, rep, make_contract, products, sales_rep):
        customer = CustomerFactory(currency="USD")
        mine = make_contract(start=date(2027, 1, 1), customer=customer, owner=sales_rep)
        later = make_contract(start=date(2027, 6, 1))
        draft = make_contract(start=date(2027, 3, 1), activate=False)

        def ids(query):
            response = rep.get(CONTRACTS + query)
            assert response.status_code == 200, response.content
            return {row["id"] for row in response.json()["results"]}

        assert ids(f"?customer={customer.pk}") == {mine.pk}
        assert ids("?owner=me") == {mine.pk}
        assert ids(f"?owner={sales_rep.pk}") == {mine.pk}
        assert ids("?status=draft") == {draft.pk}
        assert ids("?status=active&status=draft") == {mine.pk, later.pk, draft.pk}
        assert ids("?end_date_from=2028-01-01&end_date_to=2028-03-31") == {draft.pk}  # ends 2028-02-29
        assert ids("?start_date_from=2027-02-01") == {later.pk, draft.pk}
        assert ids("?start_date_to=2027-02-01") == {mine.pk}
        assert ids(f"?q={mine.number}") == {mine.pk}
        assert [row["id"] for row in rep.get(CONTRACTS + "?ordering=start_date").json()["results"]] == [
            mine.pk, draft.pk, later.pk]

    def test_the_list_costs_the_same_queries_for_one_contract_or_many(self, rep, make_contract,
                                                                      django_assert_num_queries):
        lines = (("plan", "1", "20.00"), ("seats", "5", "10.00"), ("setup", "1", "500"))
        make_contract(lines=lines)
        # token + roles + 2 permission checks, count, contracts (with customer and renewal), lines with products
        with django_assert_num_queries(7):
            assert len(rep.get(CONTRACTS).json()["results"]) == 1
        for _ in range(5):
            make_contract(lines=lines)
        with django_assert_num_queries(7):
            response = rep.get(CONTRACTS)
        assert len(response.json()["results"]) == 6
        assert all(len(row["lines"]) == 3 for row in response.json()["results"])

    def test_unauthenticated_is_401(self, api_client_for, make_contract):
        contract = make_contract()
        assert api_client_for(None).get(CONTRACTS).status_code == 401
        response = api_client_for(None).post(url(contract, "amend/"), {}, format="json")
        assert response.status_code == 401
        assert error(response)["code"] == "not_authenticated"


# --- amend -------------------------------------------------------------------------------------------

class TestAmend:
    def test_the_preview_is_the_worked_example_and_writes_nothing(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
        line = contract.lines.get()
        before = footprint(contract)
        audits = AuditEntry.objects.count()

        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-04-26", "preview": True,
            "changes": [{"line": line.pk, "unit_price": "30.00"}]}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert [(c["amount"], c["remaining_days"], c["period_days"], c["period_start"], c["period_end"])
                for c in body["charges"]] == [("-10.00", 15, 30, "2027-04-26", "2027-05-10"),
                                              ("15.00", 15, 30, "2027-04-26", "2027-05-10")]
        assert all(c["description"].startswith("Plan: ") for c in body["charges"])
        assert body["total"] == "5.00"
        assert (body["preview"], body["contract"], body["effective_date"], body["currency"]) == (
            True, contract.pk, "2027-04-26", "USD")
        assert [(v["item"], v["version"], v["quantity"], v["unit_price"], v["amount"], v["start_date"],
                 v["end_date"], v["replaces"]) for v in body["versions"]] == [
            (1, 2, "1", "30.00", "30.00", "2027-04-26", "2028-04-10", line.pk)]
        assert [(c["line"], c["end_date"], c["removed"]) for c in body["closes"]] == [(line.pk, "2027-04-25", False)]
        assert footprint(contract) == before
        assert AuditEntry.objects.count() == audits

    def test_amend_for_real_versions_the_line_and_records_the_charges(self, finance, make_contract, finance_user):
        contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
        line = contract.lines.get()

        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-04-26", "reason": "Upgrade to the bigger plan",
            "changes": [{"line": line.pk, "unit_price": "30.00"}]}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert [(x["version"], x["unit_price"], x["start_date"], x["end_date"]) for x in body["lines"]] == [
            (1, "20.00", "2027-04-11", "2027-04-25"), (2, "30.00", "2027-04-26", "2028-04-10")]
        # 15/30 of a month at 20.00 = 10.00, then 11 whole months at 30.00 and 16/31 of the last = 345.48
        assert body["tcv"] == "355.48"
        amendment = Amendment.objects.get()
        assert (amendment.proration_total, amendment.created_by, amendment.reason) == (
            D("5.00"), finance_user, "Upgrade to the bigger plan")
        assert OutboxEvent.objects.filter(type="contract.amended").count() == 1

        listed = finance.get(url(contract, "amendments/")).json()
        assert listed["count"] == 1
        row = listed["results"][0]
        assert (row["number"], row["kind"], row["effective_date"], row["proration_total"], row["currency"]) == (
            1, "amend", "2027-04-26", "5.00", "USD")
        assert row["changes"] == [{"line": line.pk, "unit_price": "30.00"}]
        assert [(c["amount"], c["remaining_days"], c["period_days"], c["billed"]) for c in row["charges"]] == [
            ("-10.00", 15, 30, False), ("15.00", 15, 30, False)]

    def test_adding_a_product_uses_its_list_price(self, finance, make_contract, products):
        contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-07-01", "changes": [{"product": products["seats"].pk, "quantity": "3"}]},
            format="json")
        assert response.status_code == 200, response.content
        added = [x for x in response.json()["lines"] if x["product"] == products["seats"].pk]
        assert [(x["item"], x["quantity"], x["unit_price"], x["amount"], x["start_date"]) for x in added] == [
            (2, "3", "10.00", "30.00", "2027-07-01")]

    def test_an_effective_date_before_the_start_is_a_400_naming_it_and_nothing_changes(self, finance,
                                                                                       make_contract):
        contract = make_contract(start=date(2027, 4, 11))
        line = contract.lines.get()
        before = footprint(contract)

        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-04-10", "changes": [{"line": line.pk, "quantity": "2"}]}, format="json")

        assert response.status_code == 400
        assert error(response)["code"] == "validation_error"
        assert "effective_date" in error(response)["fields"]
        assert footprint(contract) == before

    @pytest.mark.parametrize(("change", "field"), [
        ({"quantity": "-1"}, "changes[0].quantity"),
        ({"quantity": "abc"}, "changes[0].quantity"),
        ({"unit_price": "-5"}, "changes[0].unit_price"),
        ({"quantity": "1.1234567"}, "changes[0].quantity"),
    ])
    def test_a_bad_change_is_a_400_naming_its_path_and_nothing_changes(self, finance, make_contract, change, field):
        contract = make_contract(start=date(2027, 4, 11))
        line = contract.lines.get()
        before = footprint(contract)

        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-05-01", "changes": [{"line": line.pk, **change}]}, format="json")

        assert response.status_code == 400, response.content
        assert field in error(response)["fields"]
        assert footprint(contract) == before

    def test_the_second_change_is_named_by_its_index(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"), ("seats", "2", "10.00")))
        plan = contract.lines.get(item=1)
        other = make_contract().lines.get()
        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-05-01",
            "changes": [{"line": plan.pk, "quantity": "2"}, {"line": other.pk, "quantity": "3"}]}, format="json")
        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["changes[1].line"]  # a line of another contract
        assert Amendment.objects.count() == 0

    def test_an_inactive_contract_is_a_409(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11), activate=False)
        response = finance.post(url(contract, "amend/"), {
            "effective_date": "2027-05-01", "changes": [{"line": contract.lines.get().pk, "quantity": "2"}]},
            format="json")
        assert response.status_code == 409
        assert Amendment.objects.count() == 0

    def test_the_same_idempotency_key_twice_makes_one_amendment(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11))
        body = {"effective_date": "2027-05-01", "changes": [{"line": contract.lines.get().pk, "quantity": "2"}]}

        first = finance.post(url(contract, "amend/"), body, format="json", HTTP_IDEMPOTENCY_KEY="amend-1")
        again = finance.post(url(contract, "amend/"), body, format="json", HTTP_IDEMPOTENCY_KEY="amend-1")

        assert (first.status_code, again.status_code) == (200, 200)
        assert again["Idempotent-Replayed"] == "true"
        assert again.json() == first.json()
        assert Amendment.objects.count() == 1
        assert ContractLine.objects.filter(contract=contract).count() == 2
        other = finance.post(url(contract, "amend/"), {**body, "effective_date": "2027-06-01"}, format="json",
                             HTTP_IDEMPOTENCY_KEY="amend-1")
        assert other.status_code == 409
        assert Amendment.objects.count() == 1


# --- permissions -------------------------------------------------------------------------------------

class TestPermissions:
    @pytest.mark.parametrize("role", ["sales_rep", "sales_manager", "customer_success"])
    def test_only_finance_and_admins_amend_and_nothing_changes(self, make_user, api_client_for, make_contract,
                                                               role):
        contract = make_contract(start=date(2027, 4, 11))
        line = contract.lines.get()
        before = footprint(contract)
        client = api_client_for(make_user(role))

        for path, body in [("amend/", {"effective_date": "2027-05-01", "changes": [{"line": line.pk,
                                                                                   "quantity": "2"}]}),
                           ("amend/", {"effective_date": "2027-05-01", "preview": True,
                                       "changes": [{"line": line.pk, "quantity": "2"}]}),
                           ("terminate/", {"effective_date": "2027-05-01", "reason": "no"})]:
            response = client.post(url(contract, path), body, format="json")
            assert response.status_code == 403, (role, path)
            assert error(response)["code"] == "permission_denied"
        assert footprint(contract) == before

    def test_sales_reps_cannot_create_renew_or_change_renewal_settings(self, rep, make_contract, products):
        contract = make_contract(start=date(2027, 4, 11))
        before = footprint(contract)
        assert rep.post(url(contract, "renew/"), {}, format="json").status_code == 403
        assert rep.post(url(contract, "renewal-quote/"), {}, format="json").status_code == 403
        assert rep.patch(url(contract), {"auto_renew": True}, format="json").status_code == 403
        assert rep.post(CONTRACTS, {"customer": contract.customer_id, "start_date": "2027-01-01",
                                    "term_months": 12, "lines": []}, format="json").status_code == 403
        assert footprint(contract) == before
        assert contract.auto_renew is False

    def test_customer_success_renews_and_edits_renewal_settings_but_does_not_create(self, success, make_contract):
        contract = make_contract(start=date(2027, 1, 1))
        assert success.patch(url(contract), {"auto_renew": True}, format="json").status_code == 200
        assert success.post(url(contract, "renew/"), {}, format="json").status_code == 201
        assert success.post(CONTRACTS, {}, format="json").status_code == 403

    def test_every_staff_role_reads_amendments_timeline_and_alerts(self, rep, make_contract):
        contract = make_contract()
        for path in (url(contract, "amendments/"), url(contract, "timeline/"), ALERTS):
            assert rep.get(path).status_code == 200, path


# --- create and renewal settings ---------------------------------------------------------------------

class TestCreateAndUpdate:
    def test_finance_enters_a_contract_with_lines(self, finance, finance_user, products):
        customer = CustomerFactory(currency="USD")
        response = finance.post(CONTRACTS, {
            "customer": customer.pk, "start_date": "2027-02-01", "term_months": 12, "billing_frequency": "quarter",
            "payment_terms": "net_45", "renewal_alert_offsets": [30, 90], "renewal_uplift_percent": "3.5",
            "lines": [{"product": products["seats"].pk, "quantity": "10", "unit_price": "9.50"},
                      {"product": products["setup"].pk, "quantity": "1", "unit_price": "400"}]},
            format="json", HTTP_IDEMPOTENCY_KEY="create-1")

        assert response.status_code == 201, response.content
        body = response.json()
        contract = Contract.objects.get()
        assert response["Location"].endswith(url(contract))
        assert (body["status"], body["owner"], body["end_date"], body["billing_frequency"], body["payment_terms"],
                body["renewal_alert_offsets"], body["renewal_uplift_percent"]) == (
            "active", finance_user.pk, "2028-01-31", "quarter", "net_45", [90, 30], "3.5")
        assert [(x["product_sku"], x["quantity"], x["unit_price"], x["amount"], x["period"])
                for x in body["lines"]] == [("SEATS", "10", "9.50", "95.00", "month"),
                                            ("SETUP", "1", "400.00", "400.00", "one_time")]
        assert (body["tcv"], body["arr"]) == ("1540.00", "1140.00")  # 12 × 95.00 + 400.00; 12 × 95.00
        assert OutboxEvent.objects.filter(type="contract.created").count() == 1

    def test_a_bad_line_is_a_400_naming_it_and_nothing_is_saved(self, finance, products):
        customer = CustomerFactory(currency="USD")
        response = finance.post(CONTRACTS, {
            "customer": customer.pk, "start_date": "2027-02-01", "term_months": 12,
            "lines": [{"product": products["seats"].pk, "quantity": "10", "unit_price": "9.50"},
                      {"product": products["plan"].pk, "quantity": "1", "unit_price": "-1"}]}, format="json")
        assert response.status_code == 400
        assert error(response)["fields"] == {"lines[1].unit_price": ["must not be negative"]}
        assert (Contract.objects.count(), ContractLine.objects.count()) == (0, 0)

    def test_patch_changes_renewal_settings_audited_and_recorded(self, success, success_user, make_contract,
                                                                 sales_rep):
        contract = make_contract(start=date(2027, 1, 1))

        response = success.patch(url(contract), {
            "auto_renew": True, "renewal_term_months": 24, "renewal_uplift_percent": "4.25",
            "renewal_notice_days": 45, "renewal_alert_offsets": [30, 120, 60, 30], "owner": sales_rep.pk},
            format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["auto_renew"], body["renewal_term_months"], body["renewal_uplift_percent"],
                body["renewal_notice_days"], body["renewal_alert_offsets"], body["owner"]) == (
            True, 24, "4.25", 45, [120, 60, 30], sales_rep.pk)
        event = OutboxEvent.objects.get(type="contract.updated")
        assert event.payload["changed"] == ["auto_renew", "renewal_term_months", "renewal_uplift_percent",
                                            "renewal_notice_days", "renewal_alert_offsets", "owner"]
        change = audit.history(contract).first()
        assert (change.action, change.actor, change.changes["renewal_term_months"]) == ("update", success_user,
                                                                                        [12, 24])
        assert "terms_updated" in [e["kind"] for e in success.get(url(contract, "timeline/")).json()["results"]]

    @pytest.mark.parametrize(("patch", "field"), [
        ({"renewal_term_months": 0}, "renewal_term_months"),
        ({"renewal_uplift_percent": "-101"}, "renewal_uplift_percent"),
        ({"renewal_notice_days": -1}, "renewal_notice_days"),
        ({"renewal_alert_offsets": [90, 0]}, "renewal_alert_offsets[1]"),
        ({"end_date": "2029-01-01"}, "end_date"),
        ({}, "non_field_errors"),
    ])
    def test_bad_renewal_settings_are_a_400_naming_the_field_and_nothing_changes(self, finance, make_contract,
                                                                                 patch, field):
        contract = make_contract(start=date(2027, 1, 1))
        before = footprint(contract)
        response = finance.patch(url(contract), {**patch, "auto_renew": True} if patch else {}, format="json")
        assert response.status_code == 400, response.content
        assert field in error(response)["fields"]
        assert footprint(contract) == before
        assert contract.auto_renew is False

    def test_an_ended_contracts_settings_cannot_change(self, finance, make_contract):
        contract = make_contract(start=date(2027, 1, 1))
        contracts_daily(today=date(2028, 1, 2))  # expires
        response = finance.patch(url(contract), {"auto_renew": True}, format="json")
        assert response.status_code == 409
        contract.refresh_from_db()
        assert contract.auto_renew is False


# --- renew, renewal quotes, terminate ----------------------------------------------------------------

class TestLifecycle:
    def test_renew_answers_the_new_contract_with_uplifted_prices(self, finance, make_contract):
        contract = make_contract(start=date(2027, 1, 1), lines=(("seats", "10", "10.00"), ("setup", "1", "500")),
                                 renewal_uplift_percent=D("7"), renewal_term_months=24)

        response = finance.post(url(contract, "renew/"), {}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        renewal = Contract.objects.get(renewed_from=contract)
        assert response["Location"].endswith(url(renewal))
        assert (body["id"], body["renewed_from"], body["status"], body["start_date"], body["end_date"]) == (
            renewal.pk, contract.pk, "active", "2028-01-01", "2029-12-31")
        assert [(x["product_sku"], x["quantity"], x["unit_price"], x["amount"]) for x in body["lines"]] == [
            ("SEATS", "10", "10.70", "107.00")]  # 10.00 × 1.07; the one-time setup is not renewed
        assert (body["tcv"], body["arr"]) == ("2568.00", "1284.00")
        assert finance.get(url(contract)).json()["status"] == "renewed"
        assert finance.get(url(contract)).json()["renewed_by"] == renewal.pk
        again = finance.post(url(contract, "renew/"), {}, format="json")
        assert (again.status_code, again.json()["id"]) == (200, renewal.pk)
        assert Contract.objects.count() == 2

    def test_renew_with_a_term_and_uplift_of_its_own(self, finance, make_contract):
        contract = make_contract(start=date(2027, 1, 1), lines=(("seats", "10", "10.00"),))
        response = finance.post(url(contract, "renew/"), {"term_months": 6, "uplift_percent": "12.5"},
                                format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["end_date"], body["lines"][0]["unit_price"], body["lines"][0]["amount"]) == (
            "2028-06-30", "11.25", "112.50")

    @pytest.mark.parametrize(("payload", "field"), [({"term_months": 0}, "term_months"),
                                                    ({"uplift_percent": "-150"}, "uplift_percent")])
    def test_a_bad_renewal_is_a_400_and_nothing_changes(self, finance, make_contract, payload, field):
        contract = make_contract(start=date(2027, 1, 1))
        before = footprint(contract)
        response = finance.post(url(contract, "renew/"), payload, format="json")
        assert response.status_code == 400
        assert field in error(response)["fields"]
        assert footprint(contract) == before

    def test_terminate_ends_the_lines_and_credits_the_unused_days(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "30.00"),))
        response = finance.post(url(contract, "terminate/"), {"effective_date": "2027-04-25",
                                                               "reason": "Closed down"}, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["status"], body["terminated_on"], body["end_date"], body["termination_reason"]) == (
            "terminated", "2027-04-25", "2027-04-25", "Closed down")
        assert [x["end_date"] for x in body["lines"]] == ["2027-04-25"]
        row = finance.get(url(contract, "amendments/")).json()["results"][0]
        assert (row["kind"], [(c["amount"], c["remaining_days"], c["period_days"]) for c in row["charges"]]) == (
            "terminate", [("-15.00", 15, 30)])

    def test_terminate_needs_a_reason(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11))
        before = footprint(contract)
        response = finance.post(url(contract, "terminate/"), {"effective_date": "2027-05-01", "reason": " "},
                                format="json")
        assert response.status_code == 400
        assert "reason" in error(response)["fields"]
        assert footprint(contract) == before

    def test_terminating_an_expired_contract_is_a_409_and_nothing_changes(self, finance, make_contract):
        contract = make_contract(start=date(2027, 1, 1))
        contracts_daily(today=date(2028, 1, 2))
        before = footprint(contract)
        response = finance.post(url(contract, "terminate/"), {"effective_date": "2027-12-01", "reason": "late"},
                                format="json")
        assert response.status_code == 409
        assert error(response)["code"] == "invalid_transition"
        assert footprint(contract) == before
        assert before[0] == "expired"

    def test_the_renewal_quote_is_made_once(self, success, make_contract, sales_rep):
        contract = make_contract(start=date(2027, 1, 1), owner=sales_rep, lines=(("seats", "10", "9.00"),),
                                 renewal_uplift_percent=D("5"))
        response = success.post(url(contract, "renewal-quote/"), format="json")
        assert response.status_code == 201, response.content
        quote = Quote.objects.get(pk=response.json()["quote"])
        assert (quote.status, quote.owner, quote.start_date, quote.customer_id) == (
            "draft", sales_rep, date(2028, 1, 1), contract.customer_id)
        assert quote.lines.get().net_unit_price == D("9.450000")  # 9.00 × 1.05
        again = success.post(url(contract, "renewal-quote/"), format="json")
        assert (again.status_code, again.json()) == (200, {"quote": quote.pk})
        assert Quote.objects.count() == 1

    def test_a_terminated_contract_gets_no_renewal_quote(self, success, make_contract, sales_rep, finance_user):
        contract = make_contract(start=date(2027, 1, 1), owner=sales_rep)
        contract_terminate(contract_id=contract.pk, effective_date=date(2027, 3, 1), reason="gone",
                           by=finance_user)
        response = success.post(url(contract, "renewal-quote/"), format="json")
        assert response.status_code == 409
        assert Quote.objects.count() == 0

    def test_the_timeline_lists_what_happened(self, finance, make_contract):
        contract = make_contract(start=date(2027, 4, 11))
        finance.post(url(contract, "amend/"), {"effective_date": "2027-05-01",
                                               "changes": [{"line": contract.lines.get().pk, "quantity": "2"}]},
                     format="json")
        rows = finance.get(url(contract, "timeline/")).json()["results"]
        assert [row["kind"] for row in rows] == ["created", "activated", "amended"]
        assert rows[-1]["actor_name"] is not None


# --- renewal alerts ----------------------------------------------------------------------------------

class TestRenewalAlerts:
    def test_alerts_are_listed_after_they_are_sent_and_filter(self, rep, make_contract, sales_rep):
        with time_machine.travel(date(2027, 1, 1)):
            contract = make_contract(start=date(2027, 1, 1), owner=sales_rep, lines=(("seats", "2", "10.00"),))
            other = make_contract(start=date(2027, 2, 1))
        assert send_renewal_alerts(today=date(2027, 11, 5)) == 3  # 90 and 60 days for the first, 90 for the other

        response = rep.get(ALERTS + f"?contract={contract.pk}")

        assert response.status_code == 200, response.content
        rows = response.json()["results"]
        assert [{k: row[k] for k in ("contract", "customer", "offset_days", "due_date", "arr_at_risk", "currency",
                                     "end_date")} for row in sorted(rows, key=lambda r: -r["offset_days"])] == [
            {"contract": contract.pk, "customer": contract.customer_id, "offset_days": offset, "due_date": due,
             "arr_at_risk": "240.00", "currency": "USD", "end_date": "2027-12-31"}
            for offset, due in ((90, "2027-10-02"), (60, "2027-11-01"))]
        assert all(row["sent_at"] for row in rows)

        def ids(query):
            return {(row["contract"], row["offset_days"]) for row in rep.get(ALERTS + query).json()["results"]}

        assert ids(f"?customer={other.customer_id}") == {(other.pk, 90)}
        assert ids("?due_from=2027-10-15&due_to=2027-11-30") == {(contract.pk, 60), (other.pk, 90)}
        assert ids("?due_to=2027-10-02") == {(contract.pk, 90)}
        assert RenewalAlert.objects.count() == 3
