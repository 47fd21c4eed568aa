"""Customer 360 in headless Chromium: a finance user reads one customer's figures, sections and timeline,
comments with an @-mention; the colleague follows the in-app notification back to the customer. A sales
rep does not see costs or margins; a portal user is refused (403)."""
from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from analytics.services import customer360, timeline
from analytics.services.cost_allocation import service_cost_create
from billing.models import Invoice
from billing.services.credit_notes import credit_note_create
from billing.services.payments import payment_record
from contracts.services.creation import LineSpec, contract_create
from customers.models import CustomerComment
from recognition.services.posting import recognize_through
from revops.kernel import money, roles
from revops.kernel.dates import add_months
from revops.kernel.events import deliver_pending
from tests.factories import ContactFactory, CustomerFactory, ProductFactory
from tests.portal.factories import make_invoice

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(make_user, finance_user):
    """Acme since the first of last month: 10 seats × 10.00 = 100.00 MRR (no unit cost), last month
    recognized (100.00 revenue), 30.00 of support entered for it last month; an invoice of 100.00 + 10 %
    tax = 110.00 due 20 days ago, 40.00 of it paid."""
    today = customer360.business_today()
    last_month = add_months(today.replace(day=1), -1)
    owner = make_user(roles.SALES_REP, username="riley", first_name="Riley", last_name="Park")
    customer = CustomerFactory(name="Acme Corp", currency="USD", owner=owner)
    seats = ProductFactory(sku="SEATS", name="Seats", unit_cost=D("0"))
    contract = contract_create(customer=customer, start_date=last_month, term_months=12, by=finance_user,
                               lines=[LineSpec(seats, D(10), D("10.00"))])
    deliver_pending()
    recognize_through(day=today.replace(day=1) - timedelta(days=1))
    service_cost_create(period=last_month, category="support", amount="30.00", currency="USD",
                        customer_id=customer.pk, by=finance_user)
    invoice = make_invoice(customer, "100.00")
    Invoice.objects.filter(pk=invoice.pk).update(due_date=today - timedelta(days=20))  # an older invoice
    payment_record(customer=customer, amount="40.00", currency="USD", reference="wire 7", by=finance_user)
    deliver_pending()
    invoice.refresh_from_db()
    return {"customer": customer, "contract": contract, "invoice": invoice, "today": today}


def _revenue_last_month(today) -> D:
    """Ratable recognition: 1,200.00 split over the term's months by days, largest remainder (the first month
    is last month: for a term from 2026-11-01, 30 of 365 days → 98.63)."""
    last_month = add_months(today.replace(day=1), -1)
    months = [date(m.year, m.month, 1) for m in (add_months(last_month, k) for k in range(12))]
    days = [calendar.monthrange(m.year, m.month)[1] for m in months]
    return money.allocate(D("1200.00"), days, "USD")[0]


def _usd(amount: D) -> str:
    return f"${amount:,.2f}"


def test_finance_reads_the_360_comments_and_the_colleague_follows_the_notification(
        page, login, make_user, acme, browser, live_server, screenshot_dir):
    customer, invoice = acme["customer"], acme["invoice"]
    revenue = _revenue_last_month(acme["today"])
    contribution = revenue - D("30.00")
    margin_pct = (contribution / revenue * 100).quantize(D("0.01"), rounding=ROUND_HALF_UP)
    sam = make_user(roles.CUSTOMER_SUCCESS, username="sam", first_name="Sam", last_name="Success")
    login(make_user(roles.FINANCE, username="fiona", first_name="Fiona", last_name="Finch"))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator("h1")).to_have_text("Acme Corp")
    expect(page.locator(".segment")).to_contain_text("Owner: Riley Park")
    figures = page.locator("#c360-figures")
    expect(figures.locator('[data-figure="mrr"] .tile-value')).to_have_text("$100.00")
    expect(figures.locator('[data-figure="arr"] .tile-value')).to_have_text("$1,200.00")
    # CLV: MRR 100.00 × gross margin 100 % (no cost of goods) × 60 months (the cap: no churn) = 6,000.00
    expect(figures.locator('[data-figure="clv"] .tile-value')).to_have_text("$6,000.00")
    margin = figures.locator('[data-figure="margin"]')
    expect(margin.locator(".tile-value")).to_have_text(f"{_usd(contribution)} ({margin_pct} %)")
    expect(margin).to_contain_text(f"Revenue {_usd(revenue)} − cost of goods $0.00 − cost to serve $30.00")
    expect(figures.locator('[data-figure="health"] .tile-value')).to_have_text("Medium · 30/100")

    contracts = page.locator("#contracts tbody tr")
    expect(contracts).to_have_count(1)
    expect(contracts).to_contain_text(acme["contract"].number)
    expect(contracts.locator("td.num")).to_have_text(["$100.00", "$1,200.00"])
    invoices = page.locator("#invoices table").first.locator("tbody tr")
    expect(invoices).to_have_count(1)
    expect(invoices).to_contain_text(invoice.number)
    expect(invoices).to_contain_text("Partially paid 20 days overdue")
    expect(invoices.locator("td.num")).to_have_text(["$110.00", "$70.00"])
    aging = page.locator("#invoices h3#ar-aging + table tbody tr")
    expect(aging.locator("[data-bucket]")).to_have_text(["$0.00", "$70.00", "$0.00", "$0.00", "$0.00"])
    expect(aging.locator('[data-bucket="1-30"]')).to_have_text("$70.00")
    expect(page.locator("#payments + table tbody tr")).to_contain_text("$40.00")
    expect(page.locator("#payments + table tbody tr")).to_contain_text("wire 7")

    # The timeline, newest first (a payment and the invoice event it makes share their instant: payment first);
    # the invoice, due 20 days ago and still owed, became overdue the day after: the oldest item.
    kinds = ["invoice.payment_applied", "payment.received", "invoice.issued", "contract.activated",
             "contract.created", "invoice.overdue"]
    items = page.locator("#timeline-items > li.timeline-item")
    expect(items).to_have_count(6)
    assert [items.nth(i).get_attribute("data-kind") for i in range(6)] == kinds
    expect(items.nth(5)).to_contain_text(f"Invoice {invoice.number} overdue")
    expect(items.nth(1)).to_contain_text("Payment received $40.00")
    expect(items.nth(2)).to_contain_text(f"Invoice {invoice.number} issued")
    expect(items.nth(4)).to_contain_text(f"Contract {acme['contract'].number} created")

    # An empty comment is refused beside the field; nothing is written.
    with page.expect_navigation():
        page.get_by_role("button", name="Add comment").click()
    expect(page.locator("#id_body_errors")).to_have_text("write something: a comment cannot be empty")
    assert not CustomerComment.objects.exists()

    # A comment through the form: at the top of the timeline, sam mentioned.
    page.get_by_label("Comment").fill("@sam please check the overdue invoice")
    with page.expect_navigation():
        page.get_by_role("button", name="Add comment").click()
    expect(page.locator(".message-success")).to_have_text("Comment added. Mentioned: @sam.")
    comment = CustomerComment.objects.get()
    assert page.url.endswith(f"/customers/{customer.pk}/#comment-{comment.pk}")
    expect(page.locator("#id_body_errors")).to_have_count(0)
    expect(page.locator("#timeline .alert-error")).to_have_count(0)
    expect(items).to_have_count(7)
    top = items.first
    expect(top).to_have_attribute("id", f"comment-{comment.pk}")
    expect(top).to_have_attribute("data-kind", "comment")
    expect(top.locator(".timeline-detail")).to_have_text("@sam please check the overdue invoice")
    expect(top).to_contain_text("Fiona Finch")
    expect(top).to_contain_text("Mentioned: @sam")
    page.screenshot(path=str(screenshot_dir / "customer-360.png"), full_page=True)
    assert errors == []

    # Sam signs in elsewhere: one unread notification, whose link opens the comment on the customer page.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        other = context.new_page()
        other.goto("/accounts/login/")
        other.get_by_label("Username").fill(sam.username)
        other.get_by_label("Password").fill("pw-for-tests-1")
        with other.expect_navigation():
            other.get_by_role("button", name="Sign in").click()
        expect(other.locator(".bell-count")).to_have_text("1 unread")
        other.goto("/notifications/")
        notes = other.locator("#notifications li.notification")
        expect(notes).to_have_count(1)
        expect(notes.first).to_have_class("notification unread")
        link = notes.first.get_by_role("link")
        expect(link).to_have_text("Fiona Finch mentioned you on Acme Corp: @sam please check the overdue invoice")
        with other.expect_navigation():
            link.click()
        assert other.url.endswith(f"/customers/{customer.pk}/#comment-{comment.pk}")
        expect(other.locator("h1")).to_have_text("Acme Corp")
        expect(other.locator(f"#comment-{comment.pk} .timeline-detail")).to_have_text(
            "@sam please check the overdue invoice")
    finally:
        context.close()


def test_a_rep_sees_no_costs_and_a_portal_user_is_refused(page, login, make_user, acme):
    customer = acme["customer"]
    login(make_user(roles.SALES_REP, username="rob"))
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator("h1")).to_have_text("Acme Corp")
    figures = page.locator("#c360-figures")
    expect(figures.locator('[data-figure="mrr"] .tile-value')).to_have_text("$100.00")
    for hidden in ("clv", "margin"):
        expect(figures.locator(f'[data-figure="{hidden}"]')).to_have_count(0)
    body = page.locator("body")
    contribution = _revenue_last_month(acme["today"]) - D("30.00")
    for text in ("Contribution margin", "CLV", "cost of goods", "$30.00", "$6,000.00", _usd(contribution)):
        expect(body).not_to_contain_text(text)
    # invoice numbers and statuses, but no amounts, aging, payments or revenue
    invoices = page.locator("#invoices table tbody tr")
    expect(invoices).to_contain_text(acme["invoice"].number)
    expect(invoices.locator("td.num")).to_have_count(0)
    for section in ("#ar-aging", "#payments", "#revenue"):
        expect(page.locator(section)).to_have_count(0)
    expect(body).not_to_contain_text("$110.00")
    expect(body).not_to_contain_text("$70.00")
    kinds = [k for k in page.locator("#timeline-items > li.timeline-item").evaluate_all(
        "items => items.map(i => i.dataset.kind)")]
    assert kinds == ["invoice.payment_applied", "invoice.issued", "contract.activated", "contract.created",
                     "invoice.overdue"]

    page.context.clear_cookies()
    portal = make_user(username="pat")
    ContactFactory(customer=customer, name="Pat Portal", email="pat@example.com", portal_user=portal)
    login(portal)
    response = page.goto(f"/customers/{customer.pk}/")
    assert response.status == 403
    expect(page.locator("body")).not_to_contain_text("Acme Corp")
    expect(page.locator("body")).not_to_contain_text("$100.00")


def test_show_older_loads_the_rest_of_the_timeline_in_place(page, login, make_user):
    author = make_user(roles.CUSTOMER_SUCCESS, username="cass")
    customer = CustomerFactory(name="Chatty Co", currency="USD")
    for n in range(1, 23):  # 22 comments: a page of 20, then 2 more
        timeline.customer_comment_add(customer_id=customer.pk, author=author, body=f"note {n}")
    login(author)
    page.goto(f"/customers/{customer.pk}/")
    page.evaluate("window.__sameDocument = 'yes'")
    details = page.locator("#timeline-items > li.timeline-item .timeline-detail")
    expect(details).to_have_count(20)
    expect(details.first).to_have_text("note 22")
    expect(details.last).to_have_text("note 3")
    page.get_by_role("button", name="Show older").click()
    expect(details).to_have_count(22)
    expect(details.nth(20)).to_have_text("note 2")
    expect(details.nth(21)).to_have_text("note 1")
    expect(page.get_by_role("button", name="Show older")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") == "yes"


def test_a_credit_note_shows_in_the_timeline_for_finance_only(page, login, make_user, finance_user):
    customer = CustomerFactory(name="Credited Co", currency="USD")
    invoice = make_invoice(customer, "100.00")
    note = credit_note_create(invoice_id=invoice.pk, reason="goodwill", by=finance_user,
                              lines=[{"invoice_line": invoice.lines.get().pk, "amount": "20.00"}])
    login(make_user(roles.FINANCE, username="flo"))
    page.goto(f"/customers/{customer.pk}/")
    item = page.locator('#timeline-items > li[data-kind="credit_note.issued"]')
    expect(item.locator(".badge")).to_have_text("Credit note")
    expect(item).to_contain_text(f"Credit note {note.number} issued $22.00")  # 20.00 + 10 % tax
    expect(item.locator(".timeline-detail")).to_have_text("goodwill")

    page.context.clear_cookies()
    login(make_user(roles.SALES_REP, username="ray"))
    page.goto(f"/customers/{customer.pk}/")
    expect(page.locator('#timeline-items > li[data-kind="invoice.issued"]')).to_have_count(1)
    expect(page.locator('#timeline-items > li[data-kind="credit_note.issued"]')).to_have_count(0)
