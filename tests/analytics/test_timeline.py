"""The customer timeline (analytics.services.timeline): one list, newest first, with a stable order at equal
instants; pagination; the role filter; a bounded number of queries; overdue invoices (with or without a
dunning reminder, once each); comments with @-mentions."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.contrib.auth.models import User

from analytics.models import Alert, AlertRule
from analytics.services import timeline
from billing.models import CreditNote, DunningNotice, Invoice, InvoiceEvent, Payment
from billing.services.dunning import dunning_run
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
        overdue_invoice(customer, f"INV-Q-{n}", date(2026, 12, 1) + timedelta(days=n))  # no reminder: read as is

    with django_assert_num_queries(4):  # the page, the total, the actors, the mentions
        page = timeline.customer_timeline(customer_id=customer.pk, limit=3, today=TODAY)
    with django_assert_num_queries(3):  # without the total (the customer page)
        uncounted = timeline.customer_timeline(customer_id=customer.pk, limit=3, with_count=False, today=TODAY)

    assert page.count == 3 * events and page.has_more
    assert page.items[0].mentions == [finance_user.username]
    assert uncounted.count is None and uncounted.has_more
    assert [(i.kind, i.source_id) for i in uncounted.items] == [(i.kind, i.source_id) for i in page.items]
    last = timeline.customer_timeline(customer_id=customer.pk, limit=3, offset=3 * events - 1, today=TODAY)
    assert [i.title for i in last.items] == ["Invoice INV-Q-0 overdue: not paid by its due date"]  # the oldest


# --- overdue invoices -------------------------------------------------------------------------------------

TODAY = date(2027, 1, 10)  # the business day the tests look from (the invoice in `history` is due 2027-01-05)


def overdue_invoice(customer, number, due, *, status="issued", total="100.00", paid="0.00", credited="0.00",
                    currency="USD"):
    return Invoice.objects.create(number=number if status not in Invoice.UNISSUED else None, customer=customer,
                                  currency=currency, status=status, issue_date=due - timedelta(days=30),
                                  due_date=due, subtotal=D(total), total=D(total), amount_paid=D(paid),
                                  amount_credited=D(credited), amount_due=D(total) - D(paid) - D(credited))


def overdue_items(page):
    return [(i.title, i.at, i.source_id) for i in page.items if i.kind == "invoice.overdue"]


def test_an_unpaid_invoice_past_due_without_a_reminder_is_overdue_from_the_day_after_its_due_date(history):
    customer, ids = history
    late = overdue_invoice(customer, "INV-2", date(2027, 1, 7))
    invoice_event(late, "issued", datetime(2026, 12, 8, 9, 0, tzinfo=UTC), "INV-2")
    overdue_invoice(customer, "INV-3", TODAY)  # due today: not overdue yet
    overdue_invoice(customer, "INV-4", TODAY + timedelta(days=9))  # not due yet
    overdue_invoice(CustomerFactory(), "INV-OTHER", date(2027, 1, 2))  # another customer's
    before_quote = quote_event(Quote.objects.get(number="Q-1"), "sent", datetime(2027, 1, 7, 23, 59, tzinfo=UTC))
    after_quote = quote_event(Quote.objects.get(number="Q-1"), "sent", datetime(2027, 1, 8, 0, 1, tzinfo=UTC))

    page = timeline.customer_timeline(customer_id=customer.pk, today=TODAY)

    became_overdue = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)  # the business time zone is UTC here
    assert overdue_items(page) == [
        ("Invoice INV-1 overdue: reminder sent", T, ids["invoice.overdue"]),  # INV-1 has a reminder: its event only
        ("Invoice INV-2 overdue: not paid by its due date", became_overdue, late.pk),
    ]
    # (an item read from an invoice carries the invoice's id, which an invoice event may share: titles tell them apart)
    kinds = [(i.kind, i.source_id, i.title) for i in page.items]
    at_overdue = kinds.index(("invoice.overdue", late.pk, "Invoice INV-2 overdue: not paid by its due date"))
    assert [k[:2] for k in kinds[at_overdue - 1:at_overdue + 2]] == [
        ("quote.sent", after_quote.pk), ("invoice.overdue", late.pk), ("quote.sent", before_quote.pk)]
    item = page.items[at_overdue]
    assert item.detail == "Was due on 2027-01-07; no reminder sent yet."
    assert item.link == f"/billing/invoices/{late.pk}/" and item.source == "invoice"
    assert (item.actor, item.actor_id, item.amount, item.currency) == ("", None, None, "USD")
    assert page.count == 10 + 1 + 2 + 1  # the history, INV-2's issue, two quote events, INV-2 overdue


def test_an_invoice_is_overdue_the_day_after_its_due_date_in_the_business_time_zone(settings):
    settings.REVOPS_BUSINESS_TIME_ZONE = "America/New_York"
    customer = CustomerFactory()
    winter = overdue_invoice(customer, "INV-W", date(2027, 1, 5))
    spring = overdue_invoice(customer, "INV-S", date(2027, 3, 13))  # the day after is when New York moves to EDT

    page = timeline.customer_timeline(customer_id=customer.pk, today=date(2027, 3, 20))

    assert overdue_items(page) == [
        ("Invoice INV-S overdue: not paid by its due date", datetime(2027, 3, 14, 5, 0, tzinfo=UTC), spring.pk),
        ("Invoice INV-W overdue: not paid by its due date", datetime(2027, 1, 6, 5, 0, tzinfo=UTC), winter.pk),
    ]


@pytest.mark.parametrize("now, overdue", [
    (datetime(2027, 1, 6, 4, 59, tzinfo=UTC), False),  # 23:59 on the 5th in New York: still the due date
    (datetime(2027, 1, 6, 5, 0, tzinfo=UTC), True),  # midnight in New York: overdue
])
def test_by_default_today_is_the_business_time_zone_s(settings, now, overdue):
    settings.REVOPS_BUSINESS_TIME_ZONE = "America/New_York"
    customer = CustomerFactory()
    invoice = overdue_invoice(customer, "INV-NY", date(2027, 1, 5))

    with time_machine.travel(now, tick=False):
        page = timeline.customer_timeline(customer_id=customer.pk)

    assert overdue_items(page) == ([("Invoice INV-NY overdue: not paid by its due date",
                                     datetime(2027, 1, 6, 5, 0, tzinfo=UTC), invoice.pk)] if overdue else [])


def test_a_dunning_reminder_replaces_the_overdue_item_so_there_is_only_ever_one():
    customer = CustomerFactory()
    late = overdue_invoice(customer, "INV-2", date(2027, 1, 7))
    became_overdue = datetime(2027, 1, 8, 0, 0, tzinfo=UTC)
    title = "Invoice INV-2 overdue: not paid by its due date"
    assert [i for i in overdue_items(timeline.customer_timeline(customer_id=customer.pk, today=TODAY))
            if i[2] == late.pk] == [(title, became_overdue, late.pk)]

    assert dunning_run(today=date(2027, 1, 10)) == 1  # 3 days late: the first reminder
    reminder = InvoiceEvent.objects.get(invoice=late, kind="dunning")
    at(InvoiceEvent, reminder, datetime(2027, 1, 10, 6, 0, tzinfo=UTC))
    assert dunning_run(today=date(2027, 1, 17)) == 1  # 10 days late: a second reminder, a second event
    second = InvoiceEvent.objects.exclude(pk=reminder.pk).get(invoice=late, kind="dunning")
    at(InvoiceEvent, second, datetime(2027, 1, 17, 6, 0, tzinfo=UTC))

    page = timeline.customer_timeline(customer_id=customer.pk, today=date(2027, 1, 17))

    assert [(i.title, i.at, i.source_id) for i in page.items] == [
        ("Invoice INV-2 overdue: reminder sent", datetime(2027, 1, 17, 6, 0, tzinfo=UTC), second.pk),
        ("Invoice INV-2 overdue: reminder sent", datetime(2027, 1, 10, 6, 0, tzinfo=UTC), reminder.pk),
    ]  # each reminder is an event of its own, as before; no item read from the invoice any more
    assert page.items[1].detail == "3 days overdue: $100.00" and page.count == 2
    assert list(DunningNotice.objects.filter(invoice=late).values_list("days_after_due", flat=True)) == [3, 10]


@pytest.mark.parametrize("status, paid, credited, shown", [
    ("issued", "0.00", "0.00", True),
    ("partially_paid", "60.00", "0.00", True),  # 40.00 still owed
    ("partially_paid", "0.00", "30.00", True),  # credited in part
    ("paid", "100.00", "0.00", False),
    ("paid", "0.00", "100.00", False),  # credited in full
    ("issued", "0.00", "100.00", False),  # nothing owed, whatever the status says
    ("void", "0.00", "0.00", False),
    ("uncollectible", "0.00", "0.00", False),
    ("approved", "0.00", "0.00", False),  # not issued
    ("draft", "0.00", "0.00", False),
])
def test_only_invoices_still_owed_are_overdue(status, paid, credited, shown):
    customer = CustomerFactory()
    invoice = overdue_invoice(customer, "INV-9", date(2027, 1, 1), status=status, paid=paid, credited=credited)

    page = timeline.customer_timeline(customer_id=customer.pk, today=TODAY)

    assert [i[2] for i in overdue_items(page)] == ([invoice.pk] if shown else [])
    assert page.count == (1 if shown else 0)


def test_roles_without_billing_see_the_overdue_item_without_its_detail_and_without_invoices_none(history):
    customer, _ = history
    late = overdue_invoice(customer, "INV-2", date(2027, 1, 7))
    no_billing = {"sources": set(timeline.SOURCES) - timeline.BILLING_SOURCES, "invoice_amounts": False}

    page = timeline.customer_timeline(customer_id=customer.pk, today=TODAY, **no_billing)
    no_invoices = timeline.customer_timeline(customer_id=customer.pk, today=TODAY,
                                             sources=set(timeline.SOURCES) - {"invoice"})

    item = next(i for i in page.items if "INV-2" in i.title)
    assert (item.kind, item.source_id, item.link) == ("invoice.overdue", late.pk, f"/billing/invoices/{late.pk}/")
    assert (item.title, item.detail, item.amount, item.currency) == (
        "Invoice INV-2 overdue: not paid by its due date", "", None, "")
    assert page.count == 8 + 1
    assert not [i for i in no_invoices.items if i.source == "invoice"]
    assert no_invoices.count == 10 - 2


def test_pages_include_the_overdue_item_once_in_its_place(history):
    customer, _ = history
    late = overdue_invoice(customer, "INV-2", date(2027, 1, 7))
    whole = [(i.kind, i.source_id, i.title) for i in timeline.customer_timeline(customer_id=customer.pk,
                                                                                today=TODAY).items]

    pages = [timeline.customer_timeline(customer_id=customer.pk, limit=4, offset=o, today=TODAY) for o in (0, 4, 8)]

    assert [(i.kind, i.source_id, i.title) for p in pages for i in p.items] == whole
    assert [p.count for p in pages] == [11, 11, 11] and [p.has_more for p in pages] == [True, True, False]
    assert [t for _, source_id, t in whole if source_id == late.pk and "INV-2" in t] == [
        "Invoice INV-2 overdue: not paid by its due date"]
    # 2027-01-08 00:00: after Q-1 was sent (01-07 12:00), before C-1 was created from it (01-08 12:00)
    assert [t for _, _, t in whole[-3:]] == ["Contract C-1 created from the accepted quote",
                                             "Invoice INV-2 overdue: not paid by its due date",
                                             "Quote Q-1 sent to the customer"]


@pytest.fixture
def late_acme(finance_user):
    customer = CustomerFactory(name="Late Acme")
    invoice = overdue_invoice(customer, "INV-L", date(2027, 1, 7))
    return customer, invoice


@pytest.mark.parametrize("role, detail", [(roles.FINANCE, "Was due on 2027-01-07; no reminder sent yet."),
                                          (roles.SALES_REP, ""), (roles.CUSTOMER_SUCCESS,
                                                                  "Was due on 2027-01-07; no reminder sent yet.")])
def test_the_api_lists_the_overdue_item_as_the_role_may_see_it(api_client_for, make_user, late_acme, role, detail):
    customer, invoice = late_acme

    with time_machine.travel(datetime(2027, 1, 10, 12, 0, tzinfo=UTC), tick=False):
        response = api_client_for(make_user(role)).get(f"/api/v1/customers/{customer.pk}/timeline/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert body["results"] == [{
        "kind": "invoice.overdue", "at": "2027-01-08T00:00:00+00:00",
        "title": "Invoice INV-L overdue: not paid by its due date", "detail": detail,
        "link": f"/billing/invoices/{invoice.pk}/", "actor": None, "source": "invoice", "source_id": invoice.pk,
        "amount": None, "currency": "USD" if detail else None, "mentions": []}]


@pytest.mark.parametrize("who", ["portal", "no_role"])
def test_portal_and_roleless_users_get_no_overdue_item(api_client_for, make_user, late_acme, who):
    customer, _ = late_acme
    user = make_user(username="buyer") if who == "portal" else make_user()
    if who == "portal":
        ContactFactory(customer=customer, portal_user=user)

    with time_machine.travel(datetime(2027, 1, 10, 12, 0, tzinfo=UTC), tick=False):
        response = api_client_for(user).get(f"/api/v1/customers/{customer.pk}/timeline/")

    assert response.status_code == 403
    assert "INV-L" not in response.content.decode() and "results" not in response.json()


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
