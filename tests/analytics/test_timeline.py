"""The customer timeline (analytics.services.timeline): one list, newest first, with a stable order at equal
instants; pagination; the role filter; a bounded number of queries; comments with @-mentions."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User

from analytics.models import Alert, AlertRule
from analytics.services import timeline
from billing.models import CreditNote, Invoice, InvoiceEvent, Payment
from contracts.models import Contract, ContractEvent
from customers.models import CustomerComment
from quotes.models import Quote, QuoteEvent
from revops.kernel import roles
from revops.kernel.errors import ValidationFailed
from revops.kernel.models import Notification, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db

T = datetime(2027, 1, 10, 12, 0, tzinfo=UTC)


def at(model, obj, when, field="at"):
    model.objects.filter(pk=obj.pk).update(**{field: when})


def quote_event(quote, kind, when, actor=None, detail=""):
    event = QuoteEvent.objects.create(quote=quote, kind=kind, actor=actor, detail=detail)
    at(QuoteEvent, event, when)
    return event


def contract_event(contract, kind, when, actor=None, detail=""):
    event = ContractEvent.objects.create(contract=contract, kind=kind, actor=actor, detail=detail)
    at(ContractEvent, event, when)
    return event


def invoice_event(invoice, kind, when, detail=""):
    event = InvoiceEvent.objects.create(invoice=invoice, kind=kind, detail=detail)
    at(InvoiceEvent, event, when)
    return event


def comment(customer, author, body, when):
    c = CustomerComment.objects.create(customer=customer, author=author, body=body)
    at(CustomerComment, c, when, "created_at")
    return c


@pytest.fixture
def history(finance_user):
    """One customer's history, with five things at exactly T (and two comments at T)."""
    customer = CustomerFactory(name="Acme")
    other = CustomerFactory(name="Other Co")
    quote = Quote.objects.create(number="Q-1", customer=customer, owner=finance_user, currency="USD",
                                 price_book=PriceBookFactory(), status="accepted", start_date=date(2027, 1, 1),
                                 valid_until=date(2027, 2, 1))
    contract = Contract.objects.create(number="C-1", customer=customer, quote=quote, currency="USD", status="active",
                                       start_date=date(2027, 1, 1), end_date=date(2027, 12, 31))
    invoice = Invoice.objects.create(number="INV-1", customer=customer, contract=contract, currency="USD",
                                     status="issued", issue_date=date(2027, 1, 1), due_date=date(2027, 1, 5),
                                     subtotal=D("100.00"), total=D("100.00"), amount_due=D("100.00"))
    rule = AlertRule.objects.create(name="Overdue AR above 50", kpi="overdue_ar", condition="above",
                                    threshold=D("50"), notify_group="finance")
    ids = {
        "quote.sent": quote_event(quote, "sent", T - timedelta(days=3), actor=finance_user).pk,
        "contract.created_from_quote": contract_event(contract, "created_from_quote", T - timedelta(days=2)).pk,
        "invoice.issued": invoice_event(invoice, "issued", T - timedelta(days=1), "INV-1").pk,
        "invoice.overdue": invoice_event(invoice, "dunning", T, "3 days overdue: $100.00").pk,
    }
    quote_event(quote, "line_added", T - timedelta(days=3))  # noise: not on the timeline
    invoice_event(invoice, "pdf_rendered", T - timedelta(days=1))
    payment = Payment.objects.create(customer=customer, amount=D("40.00"), currency="USD", received_at=T,
                                     reference="wire 7")
    note = CreditNote.objects.create(number="CN-1", invoice=invoice, customer=customer, currency="USD",
                                     reason="goodwill", total=D("10.00"))
    at(CreditNote, note, T, "issued_at")
    alert = Alert.objects.create(rule=rule, customer=customer, subject_key=f"customer:{customer.pk}", triggered_at=T,
                                 value=D("100"), message="Overdue 100.00 above 50", cleared_at=T + timedelta(hours=1))
    first = comment(customer, finance_user, "first at T", T)
    second = comment(customer, finance_user, "second at T", T)
    comment(other, finance_user, "not this customer", T + timedelta(days=1))
    QuoteEvent.objects.create(quote=Quote.objects.create(
        number="Q-9", customer=other, owner=finance_user, currency="USD", price_book=PriceBookFactory(),
        start_date=date(2027, 1, 1), valid_until=date(2027, 2, 1)), kind="sent")
    ids.update({"payment": payment.pk, "credit_note": note.pk, "alert": alert.pk, "first": first.pk,
                "second": second.pk})
    return customer, ids


EXPECTED = [  # (kind, source id key): newest first; at T the consequence above the cause, then the higher id
    ("alert.cleared", "alert"),
    ("comment", "second"), ("comment", "first"),
    ("alert.fired", "alert"),
    ("credit_note.issued", "credit_note"),
    ("payment.received", "payment"),
    ("invoice.overdue", "invoice.overdue"),
    ("invoice.issued", "invoice.issued"),
    ("contract.created_from_quote", "contract.created_from_quote"),
    ("quote.sent", "quote.sent"),
]


def test_the_timeline_orders_everything_newest_first_with_a_stable_tie_break(history):
    customer, ids = history

    page = timeline.customer_timeline(customer_id=customer.pk)

    assert [(i.kind, i.source_id) for i in page.items] == [(k, ids[key]) for k, key in EXPECTED]
    assert page.count == 10 and not page.has_more
    by_kind = {}
    for item in page.items:
        by_kind.setdefault(item.kind, item)  # the newest of each kind
    assert by_kind["quote.sent"].title == "Quote Q-1 sent to the customer"
    assert by_kind["quote.sent"].link == f"/quotes/{Quote.objects.get(number='Q-1').pk}/"
    assert by_kind["quote.sent"].actor == by_kind["comment"].actor != ""
    assert by_kind["invoice.overdue"].title == "Invoice INV-1 overdue: reminder sent"
    assert by_kind["invoice.overdue"].detail == "3 days overdue: $100.00"
    assert by_kind["payment.received"].amount == D("40.00") and by_kind["payment.received"].currency == "USD"
    assert by_kind["credit_note.issued"].title == "Credit note CN-1 issued"
    assert by_kind["alert.fired"].title == "Alert: Overdue AR above 50"
    assert by_kind["comment"].link == f"/customers/{customer.pk}/#comment-{ids['second']}"
    assert by_kind["contract.created_from_quote"].at == T - timedelta(days=2)


def test_pages_concatenate_to_the_whole_list_without_gaps_or_repeats(history):
    customer, ids = history
    whole = [(i.kind, i.source_id) for i in timeline.customer_timeline(customer_id=customer.pk).items]

    pages = [timeline.customer_timeline(customer_id=customer.pk, limit=3, offset=o) for o in (0, 3, 6, 9)]

    assert [len(p.items) for p in pages] == [3, 3, 3, 1]
    assert [p.count for p in pages] == [10, 10, 10, 10]
    assert [p.has_more for p in pages] == [True, True, True, False]
    assert [(i.kind, i.source_id) for p in pages for i in p.items] == whole


def test_roles_without_billing_see_no_payments_or_credit_notes_and_no_invoice_amounts(history):
    customer, _ = history

    page = timeline.customer_timeline(customer_id=customer.pk, sources=set(timeline.SOURCES) - {"payment", "credit_note"},
                                      invoice_amounts=False)

    kinds = [i.kind for i in page.items]
    assert "payment.received" not in kinds and "credit_note.issued" not in kinds
    overdue = next(i for i in page.items if i.kind == "invoice.overdue")
    assert overdue.title == "Invoice INV-1 overdue: reminder sent" and overdue.detail == ""
    assert page.count == 8


@pytest.mark.parametrize("events", [2, 30])
def test_the_timeline_costs_four_queries_whatever_the_history(finance_user, django_assert_num_queries, events):
    customer = CustomerFactory()
    quote = Quote.objects.create(number="Q-2", customer=customer, owner=finance_user, currency="USD",
                                 price_book=PriceBookFactory(), start_date=date(2027, 1, 1),
                                 valid_until=date(2027, 2, 1))
    for n in range(events):
        quote_event(quote, "sent", T + timedelta(minutes=n), actor=finance_user)
        c = comment(customer, finance_user, f"note {n} @{finance_user.username}", T + timedelta(minutes=n))
        c.mentions.add(finance_user)

    with django_assert_num_queries(4):  # the page, the total, the actors, the mentions
        page = timeline.customer_timeline(customer_id=customer.pk, limit=3)
    with django_assert_num_queries(3):  # without the total (the customer page)
        uncounted = timeline.customer_timeline(customer_id=customer.pk, limit=3, with_count=False)

    assert page.count == 2 * events and page.has_more
    assert page.items[0].mentions == [finance_user.username]
    assert uncounted.count is None and uncounted.has_more
    assert [(i.kind, i.source_id) for i in uncounted.items] == [(i.kind, i.source_id) for i in page.items]


# --- comments and mentions ----------------------------------------------------------------------------------


@pytest.fixture
def team(make_user):
    return {
        "author": make_user(roles.SALES_REP, username="riley"),
        "fiona": make_user(roles.FINANCE, username="fiona"),
        "casey": make_user(roles.CUSTOMER_SUCCESS, username="Casey"),
        "gone": make_user(roles.FINANCE, username="gone", is_active=False),
        "root": make_user(username="root", is_superuser=True),
    }


def test_mentions_are_parsed_in_order_once_each():
    assert timeline.mentioned_usernames("@fiona, see @Casey. Also @fiona and mail x@fiona.example @a.b-") == [
        "fiona", "Casey", "a.b"]
    assert timeline.mentioned_usernames("no mention here, just an email: ana@example.com") == []


def test_a_comment_notifies_each_mentioned_active_staff_user_once(team, make_user):
    customer = CustomerFactory(name="Acme")
    portal = make_user(username="buyer")
    ContactFactory(customer=customer, portal_user=portal)

    c = timeline.customer_comment_add(
        customer_id=customer.pk, author=team["author"],
        body="  @fiona can you check the overdue invoice? cc @casey @FIONA @gone @buyer @nobody @riley @root  ")

    assert c.body.startswith("@fiona can") and c.body.endswith("@root")  # trimmed
    assert sorted(u.username for u in c.mentions.all()) == ["Casey", "fiona", "riley", "root"]
    notes = Notification.objects.order_by("user__username")
    assert [n.user.username for n in notes] == ["Casey", "fiona", "root"]  # not the author, portal, inactive
    fiona = notes.get(user=team["fiona"])
    assert fiona.kind == "customer.mention"
    assert fiona.link == f"/customers/{customer.pk}/#comment-{c.pk}"
    assert fiona.message.startswith(f"{team['author'].username} mentioned you on Acme: @fiona can you check")
    assert fiona.dedupe_key == f"customer_comment:{c.pk}"
    event = OutboxEvent.objects.get(type="customer.commented")
    assert event.payload["comment"] == c.pk and sorted(event.payload["mentions"]) == sorted(
        u.pk for u in c.mentions.all())

    again = timeline.customer_comment_add(customer_id=customer.pk, author=team["author"], body="@fiona one more")

    assert Notification.objects.filter(user=team["fiona"]).count() == 2  # one per comment
    assert Notification.objects.get(user=team["fiona"], dedupe_key=f"customer_comment:{again.pk}")


@pytest.mark.parametrize("customer_id, body, field", [
    ("known", "", "body"),
    ("known", "   \n ", "body"),
    ("known", "x" * (timeline.COMMENT_MAX_LENGTH + 1), "body"),
    (999999, "hello @fiona", "customer"),
    ("abc", "hello", "customer"),
])
def test_bad_comments_are_refused_whole(team, customer_id, body, field):
    customer = CustomerFactory()
    before = (CustomerComment.objects.count(), Notification.objects.count(), OutboxEvent.objects.count())

    with pytest.raises(ValidationFailed) as refused:
        timeline.customer_comment_add(customer_id=customer.pk if customer_id == "known" else customer_id,
                                      author=team["author"], body=body)

    assert list(refused.value.fields) == [field]
    assert (CustomerComment.objects.count(), Notification.objects.count(), OutboxEvent.objects.count()) == before


def test_a_comment_of_exactly_the_maximum_length_is_kept(team):
    customer = CustomerFactory()

    c = timeline.customer_comment_add(customer_id=customer.pk, author=team["author"],
                                      body="y" * timeline.COMMENT_MAX_LENGTH)

    assert len(CustomerComment.objects.get(pk=c.pk).body) == timeline.COMMENT_MAX_LENGTH
    assert User.objects.filter(customer_mentions=c).count() == 0
