"""/api/v1/quotes/ and /api/v1/approval-rules/: nested create (all or nothing), exact totals, line
endpoints, actions, scoping by role, refusals that change nothing, filters and query counts.

Figures are worked out by hand from the catalog fixture: seats 50.00 per seat per month, onboarding
2,500.00 once, analytics 20.00 per unit per month, the growth bundle 0.00 with 5 seats + onboarding.
"""
from __future__ import annotations

import sys
from datetime import date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from quotes.models import ApprovalRule, ApprovalStep, Quote, QuoteLine
from quotes.services import editing, lifecycle
from revops.kernel.models import OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

QUOTES = "/api/v1/quotes/"
RULES = "/api/v1/approval-rules/"
YEAR = date.today().year


def url(quote_or_id, suffix: str = "") -> str:
    pk = getattr(quote_or_id, "pk", quote_or_id)
    return f"{QUOTES}{pk}/{suffix}"


def events(type_: str) -> int:
    return OutboxEvent.objects.filter(type=type_).count()


def error(response) -> dict:
    return response.json()["error"]


@pytest.fixture
def rep(sales_rep, api_client_for):
    return api_client_for(sales_rep)


@pytest.fixture
def manager(sales_manager, api_client_for):
    return api_client_for(sales_manager)


@pytest.fixture
def finance(finance_user, api_client_for):
    return api_client_for(finance_user)


def priced_quote(new_quote, catalog, owner, *, seats=10, discount=0, **kw) -> Quote:
    quote = new_quote(owner=owner, **kw)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=seats,
                           discount_percent=discount, by=owner)
    quote.refresh_from_db()
    return quote


def sent_quote(new_quote, catalog, owner) -> Quote:
    quote = priced_quote(new_quote, catalog, owner, seats=2)
    lifecycle.quote_submit(quote_id=quote.pk, by=owner)
    return lifecycle.quote_send(quote_id=quote.pk, by=owner)


# --- create ------------------------------------------------------------------------------------------

class TestCreate:
    def test_nested_lines_give_exact_totals_and_the_caller_owns_the_quote(self, rep, sales_rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "start_date": "2026-03-01", "term_months": 12,
                                     "lines": [{"product": catalog.seats.pk, "quantity": "10"}]}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        quote = Quote.objects.get()
        line = quote.lines.get()
        # 10 seats × 50.00 = 500.00 a month; × 12 = 6,000.00 ARR and TCV; no one-time, no discount
        assert body["totals"] == {"one_time": "0.00", "mrr": "500.00", "arr": "6000.00", "tcv": "6000.00",
                                  "discount": "0.00", "list_total": "6000.00"}
        assert {k: body[k] for k in ("id", "number", "version", "customer", "owner", "currency", "price_book",
                                     "status", "start_date", "term_months", "billing_frequency")} == {
            "id": quote.pk, "number": f"Q-{YEAR}-000001", "version": 1, "customer": customer.pk,
            "owner": sales_rep.pk, "currency": "USD", "price_book": catalog.book.pk, "status": "draft",
            "start_date": "2026-03-01", "term_months": 12, "billing_frequency": "month"}
        assert body["valid_until"] == (timezone.localdate() + timedelta(days=30)).isoformat()
        assert body["approvals"] == []
        assert body["lines"] == [{
            "id": line.pk, "product": catalog.seats.pk, "product_sku": "seats", "product_name": "Seats",
            "quantity": "10", "list_unit_price": "50.00", "discount_percent": "0", "discount_amount": "0.00",
            "effective_discount_percent": "0", "net_unit_price": "50.00", "amount": "6000.00", "mrr": "500.00",
            "recurring": True, "usage": False, "billing_period": "month", "parent_line": None,
            "position": line.position, "explanation": [{"step": "list", "detail": "per_unit price for 10",
                                                        "amount": "500.00"}]}]
        assert events("quote.created") == 1

    def test_discounts_one_time_lines_and_quote_terms(self, rep, catalog, customer):
        response = rep.post(QUOTES, {
            "customer": customer.pk, "term_months": 24, "payment_terms": "net_15", "notes": "Thanks!",
            "lines": [{"product": catalog.seats.pk, "quantity": "10", "discount_percent": "10"},
                      {"product": catalog.onboarding.pk, "quantity": 1}],
        }, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        # seats: 500.00 − 10 % = 450.00 a month → ARR 5,400.00, over 24 months 10,800.00;
        # onboarding 2,500.00 once. List 24 × 500.00 + 2,500.00 = 14,500.00; discount 1,200.00.
        assert body["totals"] == {"one_time": "2500.00", "mrr": "450.00", "arr": "5400.00", "tcv": "13300.00",
                                  "discount": "1200.00", "list_total": "14500.00"}
        seats, onboarding = body["lines"]
        assert (seats["net_unit_price"], seats["amount"], seats["discount_percent"]) == ("45.00", "10800.00", "10")
        assert (onboarding["recurring"], onboarding["amount"], onboarding["mrr"]) == (False, "2500.00", "0.00")
        assert (body["payment_terms"], body["notes"]) == ("net_15", "Thanks!")

    def test_a_bundle_with_options(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.bundle.pk, "quantity": 1,
             "options": [{"product": catalog.analytics.pk, "quantity": "2"}]}]}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        parent = body["lines"][0]
        assert [(x["product_sku"], x["quantity"], x["parent_line"]) for x in body["lines"]] == [
            ("growth-bundle", "1", None), ("seats", "5", parent["id"]), ("onboarding", "1", parent["id"]),
            ("analytics", "2", parent["id"])]
        # 5 × 50.00 + 2 × 20.00 = 290.00 a month × 12 + 2,500.00 once
        assert (body["totals"]["mrr"], body["totals"]["tcv"]) == ("290.00", "5980.00")

    def test_a_bad_nested_quantity_is_a_400_naming_the_line_and_nothing_is_saved(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.seats.pk, "quantity": "2"}, {"product": catalog.seats.pk, "quantity": "0"}]},
            format="json")

        assert response.status_code == 400
        assert error(response)["code"] == "validation_error"
        assert error(response)["fields"] == {"lines[1].quantity": ["must be greater than 0"]}
        assert (Quote.objects.count(), QuoteLine.objects.count(), events("quote.created")) == (0, 0, 0)

    def test_a_product_outside_the_price_book_rolls_back_the_quote_and_its_number(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.seats.pk, "quantity": 1}, {"product": catalog.onboarding.pk, "quantity": 1},
            {"product": catalog.unpriced.pk, "quantity": 1}]}, format="json")

        assert response.status_code == 400
        body = error(response)
        assert list(body["fields"]) == ["lines[2].product"]
        assert "unpriced has no active price in the USD list price book" in body["fields"]["lines[2].product"][0]
        assert body["message"].startswith("lines[2].product: unpriced has no active price")
        assert (Quote.objects.count(), QuoteLine.objects.count(), OutboxEvent.objects.count()) == (0, 0, 0)
        # the number taken inside the failed transaction was rolled back with it: no gap
        ok = rep.post(QUOTES, {"customer": customer.pk}, format="json")
        assert ok.json()["number"] == f"Q-{YEAR}-000001"

    def test_an_unknown_product_names_the_line(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [{"product": 999999, "quantity": 1}]},
                            format="json")

        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["lines[0].product"]
        assert Quote.objects.count() == 0

    def test_a_discount_over_100_percent_is_a_400(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.seats.pk, "quantity": 1, "discount_percent": "100.5"}]}, format="json")

        assert response.status_code == 400
        assert error(response)["fields"] == {"lines[0].discount_percent": ["must be between 0 and 100"]}
        assert Quote.objects.count() == 0

    def test_a_bundle_option_out_of_range_names_the_lines_options(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.bundle.pk, "quantity": 1,
             "options": [{"product": catalog.analytics.pk, "quantity": 11}]}]}, format="json")

        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["lines[0].options"]
        assert "analytics in this bundle takes between 1 and 10" in error(response)["fields"]["lines[0].options"][0]
        assert (Quote.objects.count(), QuoteLine.objects.count()) == (0, 0)

    def test_a_discount_amount_with_too_many_places_for_the_currency(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "lines": [
            {"product": catalog.seats.pk, "quantity": 1, "discount_amount": "1.005"}]}, format="json")

        assert response.status_code == 400
        assert error(response)["fields"] == {"lines[0].discount_amount": ["must have at most 2 decimal places in USD"]}
        assert Quote.objects.count() == 0

    def test_several_shape_errors_are_reported_together(self, rep, catalog, customer):
        response = rep.post(QUOTES, {"customer": customer.pk, "term_months": 0, "lines": [
            {"product": catalog.seats.pk}, {"product": catalog.seats.pk, "quantity": "abc"}]}, format="json")

        assert response.status_code == 400
        assert set(error(response)["fields"]) == {"term_months", "lines[0].quantity", "lines[1].quantity"}
        assert Quote.objects.count() == 0

    def test_a_currency_without_price_book_is_a_400_on_currency(self, rep, catalog):
        response = rep.post(QUOTES, {"customer": CustomerFactory(currency="JPY").pk}, format="json")

        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["currency"]
        assert Quote.objects.count() == 0

    def test_the_same_idempotency_key_twice_makes_one_quote(self, rep, catalog, customer):
        payload = {"customer": customer.pk, "lines": [{"product": catalog.seats.pk, "quantity": 3}]}

        first = rep.post(QUOTES, payload, format="json", HTTP_IDEMPOTENCY_KEY="create-q-1")
        again = rep.post(QUOTES, payload, format="json", HTTP_IDEMPOTENCY_KEY="create-q-1")
        other = rep.post(QUOTES, {**payload, "term_months": 24}, format="json", HTTP_IDEMPOTENCY_KEY="create-q-1")

        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert other.status_code == 409
        assert error(other)["code"] == "idempotency_key_reused"
        assert (Quote.objects.count(), events("quote.created")) == (1, 1)

    def test_finance_cannot_create_quotes(self, finance, catalog, customer):
        response = finance.post(QUOTES, {"customer": customer.pk}, format="json")

        assert response.status_code == 403
        assert error(response)["code"] == "permission_denied"
        assert Quote.objects.count() == 0

    def test_anonymous_is_401(self, api_client_for, catalog, customer):
        assert api_client_for(None).get(QUOTES).status_code == 401


# --- read, scope, filters ----------------------------------------------------------------------------

class TestReadAndScope:
    def test_reps_see_their_own_quotes_managers_and_finance_see_all(
            self, new_quote, catalog, sales_rep, make_user, api_client_for, manager, finance):
        other_rep = make_user("sales_rep")
        mine, theirs = new_quote(owner=sales_rep), new_quote(owner=other_rep)

        def ids(client):
            return {q["id"] for q in client.get(QUOTES).json()["results"]}

        assert ids(api_client_for(sales_rep)) == {mine.pk}
        assert ids(api_client_for(other_rep)) == {theirs.pk}
        assert ids(manager) == ids(finance) == {mine.pk, theirs.pk}
        response = api_client_for(sales_rep).get(url(theirs))
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"
        assert manager.get(url(theirs)).status_code == 200

    def test_another_rep_cannot_change_the_quote_and_nothing_changes(
            self, new_quote, catalog, sales_rep, make_user, api_client_for):
        quote = priced_quote(new_quote, catalog, sales_rep)
        line = quote.lines.get()
        intruder = api_client_for(make_user("sales_rep"))
        before = (Quote.objects.values().get(pk=quote.pk), list(QuoteLine.objects.values()),
                  OutboxEvent.objects.count())

        responses = [
            intruder.patch(url(quote), {"term_months": 24}, format="json"),
            intruder.post(url(quote, "lines/"), {"product": catalog.analytics.pk, "quantity": 1}, format="json"),
            intruder.patch(url(quote, f"lines/{line.pk}/"), {"quantity": 99}, format="json"),
            intruder.delete(url(quote, f"lines/{line.pk}/")),
            intruder.post(url(quote, "submit/")),
            intruder.post(url(quote, "revise/")),
        ]

        assert [r.status_code for r in responses] == [404] * 6
        assert (Quote.objects.values().get(pk=quote.pk), list(QuoteLine.objects.values()),
                OutboxEvent.objects.count()) == before

    def test_a_manager_may_change_a_reps_quote_finance_may_not(self, new_quote, catalog, sales_rep, manager,
                                                                finance):
        quote = priced_quote(new_quote, catalog, sales_rep)

        refused = finance.patch(url(quote), {"term_months": 24}, format="json")
        assert refused.status_code == 403
        quote.refresh_from_db()
        assert quote.term_months == 12

        response = manager.patch(url(quote), {"term_months": 24}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["totals"]["tcv"] == "12000.00"  # 500.00 × 24

    def test_filters(self, new_quote, catalog, sales_rep, manager, make_user):
        other_customer = CustomerFactory(currency="USD", name="Zebra Holdings")
        a = new_quote()
        b = editing.quote_create(customer=other_customer, owner=make_user("sales_rep"))
        Quote.objects.filter(pk=b.pk).update(status="sent", valid_until=date.today() + timedelta(days=60),
                                             created_at=timezone.now() - timedelta(days=10))

        def ids(query):
            response = manager.get(QUOTES + query)
            assert response.status_code == 200, response.content
            return [q["id"] for q in response.json()["results"]]

        assert ids("?status=sent") == [b.pk]
        assert ids("?status=sent&status=draft") == [a.pk, b.pk]
        assert ids(f"?customer={other_customer.pk}") == [b.pk]
        assert ids(f"?owner={sales_rep.pk}") == [a.pk]
        assert ids("?owner=me") == []
        assert ids(f"?number={b.number}") == [b.pk]
        assert ids("?q=zebra") == ids("?search=Zebra") == [b.pk]
        today = date.today()
        assert ids(f"?created_from={today}") == [a.pk]
        assert ids(f"?created_to={today - timedelta(days=5)}") == [b.pk]
        assert ids(f"?valid_until_from={today + timedelta(days=45)}") == [b.pk]
        assert ids(f"?valid_until_to={today + timedelta(days=45)}") == [a.pk]
        assert ids("?ordering=created_at") == [b.pk, a.pk]
        assert ids("?ordering=-valid_until") == [b.pk, a.pk]

    def test_the_list_costs_the_same_queries_for_one_quote_or_many(
            self, new_quote, catalog, sales_rep, sales_manager, manager, discount_rule, django_assert_num_queries):
        def quote_with_lines():
            quote = new_quote()
            for product, discount in ((catalog.seats, 25), (catalog.onboarding, 0), (catalog.analytics, 0)):
                editing.quote_line_add(quote_id=quote.pk, product_id=product.pk, quantity=2,
                                       discount_percent=discount, by=sales_rep)
            lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
            return quote

        first = quote_with_lines()
        lifecycle.quote_approve(quote_id=first.pk, by=sales_manager, comment="fine")
        manager.get(QUOTES)  # warm the token and the role caches the same way as below

        # token, user groups (role), model permissions (user + group) for the check, count, quotes, lines, steps
        with django_assert_num_queries(8):
            one = manager.get(QUOTES)
        for _ in range(4):
            quote_with_lines()
        with django_assert_num_queries(8):
            many = manager.get(QUOTES)

        assert (one.json()["count"], many.json()["count"]) == (1, 5)
        assert all(len(q["lines"]) == 3 and len(q["approvals"]) == 1 for q in many.json()["results"])
        step = one.json()["results"][0]["approvals"][0]
        assert {k: step[k] for k in ("group", "status", "reason", "decided_by", "decided_by_name", "comment")} == {
            "group": "sales_manager", "status": "approved", "reason": "seats has a 25% discount, above 20%",
            "decided_by": sales_manager.pk, "decided_by_name": sales_manager.username, "comment": "fine"}
        assert step["decided_at"] is not None


# --- editing -----------------------------------------------------------------------------------------

class TestEditing:
    def test_patch_changes_terms_and_reprices(self, rep, new_quote, catalog, sales_rep):
        quote = priced_quote(new_quote, catalog, sales_rep)

        response = rep.patch(url(quote), {"term_months": 6, "quote_discount_percent": "10", "notes": "Hi"},
                             format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        # 500.00 − 10 % = 450.00 a month × 6
        assert (body["term_months"], body["quote_discount_percent"], body["notes"]) == (6, "10", "Hi")
        assert (body["totals"]["mrr"], body["totals"]["tcv"], body["totals"]["discount"]) == (
            "450.00", "2700.00", "300.00")

    def test_patch_refuses_what_only_other_endpoints_change(self, rep, new_quote, catalog, sales_rep):
        quote = priced_quote(new_quote, catalog, sales_rep)

        response = rep.patch(url(quote), {"status": "approved", "customer": 1, "term_months": 24}, format="json")

        assert response.status_code == 400
        assert set(error(response)["fields"]) == {"status", "customer"}
        quote.refresh_from_db()
        assert (quote.status, quote.term_months) == ("draft", 12)

    def test_a_sent_quote_cannot_be_edited(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)

        response = rep.patch(url(quote), {"term_months": 24}, format="json")

        assert response.status_code == 409
        assert error(response)["code"] == "invalid_transition"
        quote.refresh_from_db()
        assert quote.term_months == 12

    def test_line_endpoints_add_change_and_remove(self, rep, new_quote, catalog, sales_rep):
        quote = priced_quote(new_quote, catalog, sales_rep)

        added = rep.post(url(quote, "lines/"), {"product": catalog.analytics.pk, "quantity": "3"}, format="json")
        assert added.status_code == 201, added.content
        assert added.json()["totals"]["mrr"] == "560.00"  # 500.00 + 3 × 20.00
        analytics_id = added.json()["lines"][1]["id"]

        changed = rep.patch(url(quote, f"lines/{analytics_id}/"), {"quantity": "5", "discount_percent": "50"},
                            format="json")
        assert changed.status_code == 200, changed.content
        assert changed.json()["totals"]["mrr"] == "550.00"  # 500.00 + 5 × 20.00 × 50 %

        removed = rep.delete(url(quote, f"lines/{analytics_id}/"))
        assert removed.status_code == 200, removed.content
        assert (len(removed.json()["lines"]), removed.json()["totals"]["mrr"]) == (1, "500.00")

    def test_line_refusals_change_nothing(self, rep, new_quote, catalog, sales_rep):
        quote = priced_quote(new_quote, catalog, sales_rep)
        other = priced_quote(new_quote, catalog, sales_rep)
        line = quote.lines.get()

        not_priced = rep.post(url(quote, "lines/"), {"product": catalog.unpriced.pk, "quantity": 1}, format="json")
        too_much = rep.patch(url(quote, f"lines/{line.pk}/"), {"discount_percent": "101"}, format="json")
        empty = rep.patch(url(quote, f"lines/{line.pk}/"), {}, format="json")
        elsewhere = rep.patch(url(other, f"lines/{line.pk}/"), {"quantity": 2}, format="json")

        assert (not_priced.status_code, too_much.status_code, empty.status_code, elsewhere.status_code) == (
            400, 400, 400, 404)
        assert list(error(not_priced)["fields"]) == ["product"]
        assert error(too_much)["fields"] == {"discount_percent": ["must be between 0 and 100"]}
        line.refresh_from_db()
        quote.refresh_from_db()
        assert (line.quantity, line.discount_percent, quote.lines.count(), quote.tcv) == (
            D(10), D(0), 1, D("6000.00"))

    def test_a_required_bundle_option_cannot_be_removed_alone(self, rep, new_quote, catalog, sales_rep):
        quote = new_quote()
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.bundle.pk, quantity=1, by=sales_rep)
        seats = quote.lines.get(product=catalog.seats)

        response = rep.delete(url(quote, f"lines/{seats.pk}/"))

        assert response.status_code == 400
        assert quote.lines.count() == 3


# --- approvals ---------------------------------------------------------------------------------------

class TestApprovals:
    def test_submit_without_a_triggered_rule_approves(self, rep, new_quote, catalog, sales_rep, discount_rule):
        quote = priced_quote(new_quote, catalog, sales_rep, discount=20)

        response = rep.post(url(quote, "submit/"))

        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["approvals"]) == ("approved", [])

    def test_submit_with_a_rule_waits_for_its_group(self, rep, new_quote, catalog, sales_rep, discount_rule):
        quote = priced_quote(new_quote, catalog, sales_rep, discount=25)

        response = rep.post(url(quote, "submit/"))

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "pending_approval"
        assert [(s["group"], s["status"], s["reason"], s["decided_by"]) for s in body["approvals"]] == [
            ("sales_manager", "pending", "seats has a 25% discount, above 20%", None)]

    def test_the_owner_cannot_approve_their_own_quote(self, new_quote, catalog, make_user, api_client_for,
                                                       discount_rule):
        owner = make_user("sales_rep", "sales_manager")
        quote = priced_quote(new_quote, catalog, owner, discount=25)
        lifecycle.quote_submit(quote_id=quote.pk, by=owner)

        response = api_client_for(owner).post(url(quote, "approve/"), {"comment": "me, myself"}, format="json")

        assert response.status_code == 403
        assert error(response)["code"] == "permission_denied"
        assert "your own quote" in error(response)["message"]
        step = ApprovalStep.objects.get()
        quote.refresh_from_db()
        assert (step.status, step.decided_by, quote.status) == ("pending", None, "pending_approval")

    def test_a_rep_has_no_approve_permission(self, rep, new_quote, catalog, sales_rep, discount_rule):
        quote = priced_quote(new_quote, catalog, sales_rep, discount=25)
        lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)

        response = rep.post(url(quote, "approve/"))

        assert response.status_code == 403
        assert ApprovalStep.objects.get().status == "pending"

    def test_a_manager_approves_then_approving_again_is_a_409(self, manager, sales_manager, new_quote, catalog,
                                                               sales_rep, discount_rule):
        quote = priced_quote(new_quote, catalog, sales_rep, discount=25)
        lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)

        response = manager.post(url(quote, "approve/"), {"comment": "ok for a logo"}, format="json")
        again = manager.post(url(quote, "approve/"), {"comment": "twice"}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == "approved"
        assert [(s["status"], s["decided_by"], s["comment"]) for s in body["approvals"]] == [
            ("approved", sales_manager.pk, "ok for a logo")]
        assert again.status_code == 409
        assert error(again)["code"] == "invalid_transition"
        assert ApprovalStep.objects.get().comment == "ok for a logo"
        assert events("quote.approved") == 1

    def test_reject_needs_a_comment_and_sends_the_quote_back_to_draft(self, manager, new_quote, catalog,
                                                                      sales_rep, discount_rule):
        quote = priced_quote(new_quote, catalog, sales_rep, discount=25)
        lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)

        silent = manager.post(url(quote, "reject/"), {"comment": " "}, format="json")
        assert silent.status_code == 400
        assert list(error(silent)["fields"]) == ["comment"]
        assert Quote.objects.get(pk=quote.pk).status == "pending_approval"

        response = manager.post(url(quote, "reject/"), {"comment": "20 % max"}, format="json")
        assert response.status_code == 200
        assert response.json()["status"] == "draft"
        assert response.json()["approvals"][0]["status"] == "rejected"


# --- sending, acceptance, versions --------------------------------------------------------------------

class TestSendAndAccept:
    def test_send_then_get_the_acceptance_link(self, rep, new_quote, catalog, sales_rep):
        quote = priced_quote(new_quote, catalog, sales_rep)
        assert rep.get(url(quote, "acceptance-link/")).status_code == 409  # a draft has no link
        lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)

        sent = rep.post(url(quote, "send/"))
        link = rep.get(url(quote, "acceptance-link/"))

        assert sent.status_code == 200
        assert sent.json()["status"] == "sent"
        assert link.status_code == 200, link.content
        body = link.json()
        assert body["url"].startswith("http://testserver/q/")
        token = body["url"].rstrip("/").rsplit("/", 1)[1]
        assert lifecycle.quote_from_token(token).pk == quote.pk
        quote.refresh_from_db()
        # the quote's validity ends first: the end of its last valid day
        assert datetime.fromisoformat(body["expires"]) == timezone.make_aware(
            datetime.combine(quote.valid_until + timedelta(days=1), datetime.min.time()))

    def test_accept_with_the_token_is_recorded_once(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)
        token = lifecycle.acceptance_token(quote)

        first = rep.post(url(quote, "accept/"), {"token": token, "name": "Dana Buyer", "title": "CFO"},
                         format="json")
        second = rep.post(url(quote, "accept/"), {"token": token, "name": "Someone Else"}, format="json")

        assert (first.status_code, second.status_code) == (200, 200)
        assert first.json()["status"] == second.json()["status"] == "accepted"
        assert (second.json()["accepted_by_name"], second.json()["accepted_by_title"]) == ("Dana Buyer", "CFO")
        assert Quote.objects.get(pk=quote.pk).accepted_ip == "127.0.0.1"
        assert events("quote.accepted") == 1

    def test_a_tampered_token_is_refused(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)
        token = lifecycle.acceptance_token(quote)
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

        response = rep.post(url(quote, "accept/"), {"token": tampered, "name": "Mallory"}, format="json")

        assert response.status_code == 400
        assert error(response)["code"] == "acceptance_link_invalid"
        quote.refresh_from_db()
        assert (quote.status, events("quote.accepted")) == ("sent", 0)

    def test_a_token_of_another_quote_is_refused(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)
        other = sent_quote(new_quote, catalog, sales_rep)

        response = rep.post(url(quote, "accept/"), {"token": lifecycle.acceptance_token(other), "name": "X"},
                            format="json")

        assert response.status_code == 400
        assert error(response)["code"] == "acceptance_link_invalid"
        assert set(Quote.objects.values_list("status", flat=True)) == {"sent"}

    def test_a_name_is_required_to_accept(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)

        response = rep.post(url(quote, "accept/"), {"token": lifecycle.acceptance_token(quote), "name": ""},
                            format="json")

        assert response.status_code == 400
        assert list(error(response)["fields"]) == ["name"]
        assert Quote.objects.get(pk=quote.pk).status == "sent"

    def test_decline_with_the_token(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)

        response = rep.post(url(quote, "decline/"), {"token": lifecycle.acceptance_token(quote),
                                                     "reason": "Budget moved to Q3"}, format="json")

        assert response.status_code == 200, response.content
        assert (response.json()["status"], response.json()["decline_reason"]) == ("rejected", "Budget moved to Q3")

    def test_revise_makes_version_2_and_supersedes_the_old_one(self, rep, new_quote, catalog, sales_rep):
        quote = sent_quote(new_quote, catalog, sales_rep)

        response = rep.post(url(quote, "revise/"))

        assert response.status_code == 201, response.content
        body = response.json()
        v2 = Quote.objects.get(number=quote.number, version=2)
        assert (body["id"], body["version"], body["number"], body["status"], body["previous_version"]) == (
            v2.pk, 2, quote.number, "draft", quote.pk)
        assert response["Location"] == f"http://testserver{url(v2)}"
        assert body["totals"]["tcv"] == "1200.00"  # 2 seats × 50.00 × 12, copied
        assert rep.get(url(quote)).json()["status"] == "superseded"
        assert rep.post(url(quote, "revise/")).status_code == 409
        assert Quote.objects.count() == 2


# --- previews and documents ---------------------------------------------------------------------------

class TestPreviews:
    def test_revenue_preview_months_sum_to_the_tcv(self, rep, new_quote, catalog, sales_rep):
        quote = new_quote(start_date=date(2026, 1, 15), term_months=3)
        seats = editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=2, by=sales_rep)[0]
        onboarding = editing.quote_line_add(quote_id=quote.pk, product_id=catalog.onboarding.pk, quantity=1,
                                            by=sales_rep)[0]

        response = rep.get(url(quote, "revenue-preview/"))

        assert response.status_code == 200, response.content
        body = response.json()
        # 300.00 of seats over 2026-01-15 … 2026-04-14 by days (17, 28, 31, 14 of 90); onboarding in January
        assert body == {"currency": "USD", "total": "2800.00", "months": [
            {"month": "2026-01", "amount": "2556.67", "lines": {str(seats.pk): "56.67", str(onboarding.pk): "2500.00"}},
            {"month": "2026-02", "amount": "93.33", "lines": {str(seats.pk): "93.33"}},
            {"month": "2026-03", "amount": "103.33", "lines": {str(seats.pk): "103.33"}},
            {"month": "2026-04", "amount": "46.67", "lines": {str(seats.pk): "46.67"}},
        ]}
        assert sum(D(m["amount"]) for m in body["months"]) == D(body["total"])
        assert body["total"] == rep.get(url(quote)).json()["totals"]["tcv"]

    def test_pdf_is_an_attachment(self, rep, new_quote, catalog, sales_rep, monkeypatch):
        import quotes.documents

        quote = priced_quote(new_quote, catalog, sales_rep)
        monkeypatch.setattr(quotes.documents, "render_quote_pdf", lambda q: b"%PDF-1.7 " + q.number.encode())

        response = rep.get(url(quote, "pdf/"), HTTP_ACCEPT="application/pdf")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["Content-Disposition"] == f'attachment; filename="{quote.number}-v1.pdf"'
        assert response.content == b"%PDF-1.7 " + quote.number.encode()

    def test_pdf_without_the_renderer_is_a_503_in_the_error_shape(self, rep, new_quote, catalog, sales_rep,
                                                                  monkeypatch):
        quote = new_quote()
        monkeypatch.setitem(sys.modules, "quotes.documents", None)

        response = rep.get(url(quote, "pdf/"))

        assert response.status_code == 503
        assert error(response)["code"] == "document_unavailable"

    def test_another_reps_pdf_is_a_404(self, new_quote, catalog, make_user, api_client_for):
        quote = new_quote()

        assert api_client_for(make_user("sales_rep")).get(url(quote, "pdf/")).status_code == 404


# --- approval rules -----------------------------------------------------------------------------------

class TestApprovalRules:
    RULE = {"name": "Big deals", "condition": "tcv_above", "threshold": "100000", "approver_group": "finance",
            "order": 2, "active": True}

    def test_admins_create_rules(self, admin_user_role, api_client_for, catalog):
        response = api_client_for(admin_user_role).post(RULES, self.RULE, format="json")

        assert response.status_code == 201, response.content
        rule = ApprovalRule.objects.get()
        assert response.json() == {"id": rule.pk, **self.RULE, "product": None}
        assert rule.approver_group == Group.objects.get(name="finance")

    def test_managers_and_finance_read_but_do_not_write(self, manager, finance, discount_rule):
        for client in (manager, finance):
            listed = client.get(RULES)
            assert listed.status_code == 200
            assert [r["approver_group"] for r in listed.json()["results"]] == ["sales_manager"]
            assert client.post(RULES, self.RULE, format="json").status_code == 403
            assert client.patch(f"{RULES}{discount_rule.pk}/", {"threshold": "50"}, format="json").status_code == 403
        discount_rule.refresh_from_db()
        assert (ApprovalRule.objects.count(), discount_rule.threshold) == (1, D(20))

    def test_rule_shape_is_checked(self, admin_user_role, api_client_for, catalog):
        client = api_client_for(admin_user_role)

        no_threshold = client.post(RULES, {**self.RULE, "threshold": None}, format="json")
        no_product = client.post(RULES, {**self.RULE, "condition": "product_included", "threshold": None},
                                 format="json")
        unapproving_group = client.post(RULES, {**self.RULE, "approver_group": "sales_rep"}, format="json")

        assert [r.status_code for r in (no_threshold, no_product, unapproving_group)] == [400, 400, 400]
        assert list(error(no_threshold)["fields"]) == ["threshold"]
        assert list(error(no_product)["fields"]) == ["product"]
        assert list(error(unapproving_group)["fields"]) == ["approver_group"]
        assert ApprovalRule.objects.count() == 0

    def test_a_rule_created_through_the_api_routes_the_next_submission(
            self, admin_user_role, api_client_for, rep, new_quote, catalog, sales_rep):
        api_client_for(admin_user_role).post(RULES, {**self.RULE, "threshold": "5000"}, format="json")
        quote = priced_quote(new_quote, catalog, sales_rep)  # TCV 6,000.00

        response = rep.post(url(quote, "submit/"))

        assert response.json()["status"] == "pending_approval"
        assert response.json()["approvals"][0]["group"] == "finance"


def test_the_real_pdf_renderer_through_the_api(rep, new_quote, catalog, sales_rep):
    quote = priced_quote(new_quote, catalog, sales_rep)

    response = rep.get(url(quote, "pdf/"))

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_a_200_line_quote_is_created_in_one_request_with_exact_totals(rep, catalog, customer):
    lines = [{"product": catalog.seats.pk, "quantity": 2}] * 200

    response = rep.post(QUOTES, {"customer": customer.pk, "term_months": 12, "lines": lines}, format="json")

    assert response.status_code == 201, response.content[:500]
    # 200 lines × 2 seats × 50.00 a month = 20,000.00 MRR, 240,000.00 over 12 months
    assert response.json()["totals"]["mrr"] == "20000.00"
    assert response.json()["totals"]["tcv"] == "240000.00"


def test_more_lines_than_one_request_takes_are_refused(rep, catalog, customer):
    lines = [{"product": catalog.seats.pk, "quantity": 1}] * 501

    response = rep.post(QUOTES, {"customer": customer.pk, "lines": lines}, format="json")

    assert response.status_code == 400
    assert list(error(response)["fields"]) == ["lines"]
    assert Quote.objects.count() == 0
