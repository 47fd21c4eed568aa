"""Quote lifecycle: building, approvals, sending, acceptance, versions, expiry — and every refusal
leaves the quote as it was."""
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.contrib.auth.models import Group

from quotes.models import ApprovalRule, Quote, QuoteLine
from quotes.revenue import project_revenue
from quotes.services import editing, lifecycle
from revops.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from revops.kernel.models import OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def events(type_):
    return OutboxEvent.objects.filter(type=type_).count()


def test_a_new_quote_gets_a_number_and_the_customers_default_price_book(new_quote, catalog):
    quote = new_quote()
    assert quote.number == f"Q-{date.today().year}-000001"
    assert (quote.version, quote.status, quote.currency, quote.price_book) == (1, "draft", "USD", catalog.book)
    assert new_quote().number == f"Q-{date.today().year}-000002"
    assert events("quote.created") == 2


def test_a_currency_without_a_price_book_is_refused(catalog, sales_rep):
    yen_customer = CustomerFactory(currency="JPY")
    with pytest.raises(ValidationFailed) as err:
        editing.quote_create(customer=yen_customer, owner=sales_rep)
    assert "no active price book in JPY" in err.value.fields["currency"][0]
    assert Quote.objects.count() == 0


def test_adding_a_product_prices_the_quote(new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity="10", by=sales_rep)
    quote.refresh_from_db()
    assert (quote.mrr, quote.arr, quote.tcv) == (D("500.00"), D("6000.00"), D("6000.00"))


def test_a_product_missing_from_the_price_book_is_refused(new_quote, catalog, sales_rep):
    quote = new_quote()
    with pytest.raises(ValidationFailed) as err:
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.unpriced.pk, quantity=1, by=sales_rep)
    assert "has no active price in the USD list price book" in err.value.fields["product"][0]
    assert QuoteLine.objects.count() == 0


@pytest.mark.parametrize("quantity", ["0", "-1", "abc"])
def test_bad_quantities_are_refused(new_quote, catalog, sales_rep, quantity):
    quote = new_quote()
    with pytest.raises(ValidationFailed) as err:
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=quantity, by=sales_rep)
    assert "quantity" in err.value.fields
    assert QuoteLine.objects.count() == 0


def test_a_discount_over_100_percent_is_refused(new_quote, catalog, sales_rep):
    quote = new_quote()
    with pytest.raises(ValidationFailed) as err:
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=1, discount_percent="101",
                               by=sales_rep)
    assert err.value.fields == {"discount_percent": ["must be between 0 and 100"]}
    assert QuoteLine.objects.count() == 0


def test_a_bundle_adds_its_required_options_and_chosen_optional_ones(new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    added = editing.quote_line_add(quote_id=quote.pk, product_id=catalog.bundle.pk, quantity=1, by=sales_rep,
                                   options={catalog.analytics.pk: D(2)})
    assert [(line.product.sku, line.quantity) for line in added] == [
        ("growth-bundle", D(1)), ("seats", D(5)), ("onboarding", D(1)), ("analytics", D(2))]
    assert all(line.parent_line_id == added[0].pk for line in added[1:])
    quote.refresh_from_db()
    # seats 5 × 50.00 + analytics 2 × 20.00 = 290.00 a month × 12, plus onboarding 2,500.00 once
    assert (quote.mrr, quote.one_time_total, quote.tcv) == (D("290.00"), D("2500.00"), D("5980.00"))


def test_bundle_option_quantities_stay_within_min_and_max(new_quote, catalog, sales_rep):
    quote = new_quote()
    with pytest.raises(ValidationFailed):
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.bundle.pk, quantity=1, by=sales_rep,
                               options={catalog.analytics.pk: D(11)})
    assert QuoteLine.objects.count() == 0
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.bundle.pk, quantity=1, by=sales_rep)
    seats = QuoteLine.objects.get(product=catalog.seats)
    with pytest.raises(ValidationFailed):
        editing.quote_line_update(line_id=seats.pk, quantity=4, by=sales_rep)  # min 5
    seats.refresh_from_db()
    assert seats.quantity == D(5)
    with pytest.raises(ValidationFailed):
        editing.quote_line_remove(line_id=seats.pk, by=sales_rep)  # required by the bundle
    assert QuoteLine.objects.count() == 3


def test_a_broken_requires_rule_blocks_submission_with_its_message(new_quote, catalog, sales_rep):
    quote = new_quote()
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.support.pk, quantity=1, by=sales_rep)
    assert editing.rule_violations(quote) == ["Support needs a seat subscription"]
    with pytest.raises(ValidationFailed) as err:
        lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    assert err.value.code == "product_rule_violation"
    quote.refresh_from_db()
    assert quote.status == "draft"


def test_a_quote_no_rule_catches_is_approved_on_submit(new_quote, catalog, sales_rep, discount_rule):
    quote = new_quote()
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=1, discount_percent=20,
                           by=sales_rep)
    quote = lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    assert quote.status == "approved"
    assert events("quote.submitted") == events("quote.approved") == 1


def test_approval_chain_owner_cannot_approve_own_quote_and_steps_go_in_order(
        new_quote, catalog, make_user, discount_rule):
    ApprovalRule.objects.create(name="Big deals", condition="tcv_above", threshold=D("1000"),
                                approver_group=Group.objects.get(name="finance"), order=2)
    owner = make_user("sales_rep", "sales_manager")  # a manager who sells
    other_rep = make_user("sales_rep")
    manager = make_user("sales_manager")
    finance = make_user("finance")
    quote = new_quote(owner=owner)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=10, discount_percent=25,
                           by=owner)
    quote = lifecycle.quote_submit(quote_id=quote.pk, by=owner)
    assert quote.status == "pending_approval"
    steps = list(quote.approval_steps.order_by("order"))
    assert [(s.approver_group.name, s.reason) for s in steps] == [
        ("sales_manager", "seats has a 25% discount, above 20%"),
        ("finance", "TCV $4,500.00 is above 1000"),
    ]
    for who in (owner, other_rep, finance):  # finance is the second step, not this one
        with pytest.raises(PermissionDeniedError):
            lifecycle.quote_approve(quote_id=quote.pk, by=who)
    assert quote.approval_steps.filter(status="pending").count() == 2
    lifecycle.quote_approve(quote_id=quote.pk, by=manager, comment="ok for a logo")
    quote.refresh_from_db()
    assert quote.status == "pending_approval"
    lifecycle.quote_approve(quote_id=quote.pk, by=finance)
    quote.refresh_from_db()
    assert quote.status == "approved"
    assert [s.status for s in quote.approval_steps.order_by("order")] == ["approved", "approved"]
    assert [h.kind for h in quote.history.all()][-3:] == ["approval_step_approved", "approval_step_approved",
                                                          "approved"]


def test_a_rejection_sends_the_quote_back_to_draft_with_the_comment(new_quote, catalog, sales_rep, sales_manager,
                                                                    discount_rule):
    quote = new_quote()
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=1, discount_percent=30,
                           by=sales_rep)
    lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    with pytest.raises(ValidationFailed):
        lifecycle.quote_reject(quote_id=quote.pk, by=sales_manager, comment=" ")
    quote = lifecycle.quote_reject(quote_id=quote.pk, by=sales_manager, comment="Too deep; 20 % max")
    assert quote.status == "draft"
    step = quote.approval_steps.get()
    assert (step.status, step.comment, step.decided_by) == ("rejected", "Too deep; 20 % max", sales_manager)


def test_changing_a_line_after_approval_sends_the_quote_back_to_draft(new_quote, catalog, sales_rep):
    quote = new_quote()
    line = editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=1, by=sales_rep)[0]
    lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    editing.quote_line_update(line_id=line.pk, quantity=2, by=sales_rep)
    quote.refresh_from_db()
    assert quote.status == "draft"
    assert events("quote.returned_to_draft") == 1


def test_a_rep_cannot_change_another_reps_quote(new_quote, catalog, make_user):
    owner, other = make_user("sales_rep"), make_user("sales_rep")
    quote = new_quote(owner=owner)
    with pytest.raises(PermissionDeniedError):
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=1, by=other)
    with pytest.raises(PermissionDeniedError):
        editing.quote_update(quote_id=quote.pk, by=other, term_months=24)
    quote.refresh_from_db()
    assert (quote.lines.count(), quote.term_months) == (0, 12)


def _sent_quote(new_quote, catalog, rep):
    quote = new_quote()
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=2, by=rep)
    lifecycle.quote_submit(quote_id=quote.pk, by=rep)
    return lifecycle.quote_send(quote_id=quote.pk, by=rep)


def test_acceptance_is_recorded_once_however_often_the_customer_clicks(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    token = lifecycle.acceptance_token(quote)
    accepted = lifecycle.quote_accept(token=token, name="Dana Buyer", title="CFO", ip="203.0.113.9")
    assert (accepted.status, accepted.accepted_by_name, accepted.accepted_ip) == ("accepted", "Dana Buyer",
                                                                                 "203.0.113.9")
    again = lifecycle.quote_accept(token=token, name="Someone Else")
    assert again.accepted_by_name == "Dana Buyer"
    assert events("quote.accepted") == 1


def test_a_tampered_or_replaced_link_is_refused(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    token = lifecycle.acceptance_token(quote)
    with pytest.raises(lifecycle.AcceptanceLinkInvalid):
        lifecycle.quote_accept(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"), name="X")
    lifecycle.quote_send(quote_id=quote.pk, by=sales_rep)  # re-sent: a new link, the old one dies
    with pytest.raises(lifecycle.AcceptanceLinkInvalid):
        lifecycle.quote_accept(token=token, name="X")
    quote.refresh_from_db()
    assert quote.status == "sent"


def test_an_expired_quote_or_link_cannot_be_accepted(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    token = lifecycle.acceptance_token(quote)
    with time_machine.travel(quote.valid_until + timedelta(days=1)), \
            pytest.raises(InvalidTransition, match="expired"):
        lifecycle.quote_accept(token=token, name="Late Larry")
    link_dead = date.today() + timedelta(days=lifecycle.ACCEPTANCE_MAX_AGE // 86400 + 1)
    with time_machine.travel(link_dead), pytest.raises(lifecycle.AcceptanceLinkInvalid, match="expired"):
        lifecycle.quote_accept(token=token, name="Late Larry")
    quote.refresh_from_db()
    assert quote.status == "sent"


def test_revising_supersedes_the_old_version_and_its_link(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    token = lifecycle.acceptance_token(quote)
    v2 = lifecycle.quote_revise(quote_id=quote.pk, by=sales_rep)
    quote.refresh_from_db()
    assert (quote.status, v2.status, v2.version, v2.number) == ("superseded", "draft", 2, quote.number)
    assert [(line.product_id, line.quantity) for line in v2.lines.all()] == [(catalog.seats.pk, D(2))]
    assert v2.tcv == quote.tcv
    with pytest.raises(lifecycle.AcceptanceLinkInvalid):
        lifecycle.quote_accept(token=token, name="X")
    with pytest.raises(InvalidTransition):
        lifecycle.quote_revise(quote_id=quote.pk, by=sales_rep)


def test_declining_records_the_reason(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    declined = lifecycle.quote_decline(token=lifecycle.acceptance_token(quote), reason="Budget moved to Q3")
    assert (declined.status, declined.decline_reason) == ("rejected", "Budget moved to Q3")
    assert events("quote.rejected") == 1


def test_expiry_is_idempotent(new_quote, catalog, sales_rep):
    quote = _sent_quote(new_quote, catalog, sales_rep)
    later = quote.valid_until + timedelta(days=1)
    assert lifecycle.quotes_expire(today=later) == 1
    assert lifecycle.quotes_expire(today=later) == 0
    quote.refresh_from_db()
    assert quote.status == "expired"
    assert events("quote.expired") == 1


def test_revenue_projection_spreads_ratable_lines_by_day_and_sums_to_tcv(new_quote, catalog, sales_rep):
    quote = new_quote(start_date=date(2026, 1, 15), term_months=3)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=2, by=sales_rep)  # 100/month
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.onboarding.pk, quantity=1, by=sales_rep)
    quote.refresh_from_db()
    months = project_revenue(quote)
    # 300.00 over 2026-01-15 … 2026-04-14 (90 days): Jan 17, Feb 28, Mar 31, Apr 14 days
    assert [(m.month, m.amount) for m in months] == [
        (date(2026, 1, 1), D("56.67") + D("2500.00")),
        (date(2026, 2, 1), D("93.33")),
        (date(2026, 3, 1), D("103.33")),
        (date(2026, 4, 1), D("46.67")),
    ]
    assert sum(m.amount for m in months) == quote.tcv == D("2800.00")


def test_the_preview_allocates_a_discount_across_lines_by_ssp(new_quote, catalog, sales_rep):
    """The recognition engine, not each line's own price: a discounted subscription sold with a
    full-price service shares the discount with it (ASC 606 step 4)."""
    quote = new_quote(start_date=date(2026, 1, 1), term_months=1)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.seats.pk, quantity=10, discount_percent=50,
                           by=sales_rep)  # 250.00 for January (SSP 500.00)
    editing.quote_line_add(quote_id=quote.pk, product_id=catalog.onboarding.pk, quantity=1, by=sales_rep)  # 2,500.00
    quote.refresh_from_db()
    months = project_revenue(quote)
    seats_line, onboarding_line = quote.lines.order_by("position")
    # TCV 2,750.00 by SSP 500 : 2,500 → 458.33 and 2,291.67
    assert months[0].by_line == {seats_line.pk: D("458.33"), onboarding_line.pk: D("2291.67")}
    assert months[0].amount == quote.tcv == D("2750.00")
