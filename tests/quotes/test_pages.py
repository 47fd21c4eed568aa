"""Quote pages (Django test client): the list and its filters, the new-quote form, the builder's htmx
edits (exact totals back in place, errors beside the input and nothing saved), the approvals inbox and
the customer's acceptance page. Access: reps see only their own quotes (another rep's is a 404), users
without a staff role get 403. Expected amounts are worked out by hand (see tests/quotes/conftest.py:
seats 50.00/month per seat, onboarding 2,500.00 once, analytics 20.00/month, support 15 % of the rest).
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from quotes.models import ApprovalRule, ApprovalStep, Quote, QuoteEvent, QuoteLine
from quotes.services import editing, lifecycle
from revops.kernel import roles
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

LIST = reverse("quotes:list")
NEW = reverse("quotes:create")
INBOX = reverse("quotes:approvals")
HTMX = {"HTTP_HX_REQUEST": "true"}


def _client(client, user):
    client.force_login(user)
    return client


def detail(quote) -> str:
    return reverse("quotes:detail", args=[quote.pk])


def line_url(quote, line) -> str:
    return reverse("quotes:line_update", args=[quote.pk, line.pk])


def add(quote, product, quantity, by, **kw):
    return editing.quote_line_add(quote_id=quote.pk, product_id=product.pk, quantity=quantity, by=by, **kw)


def region(html: str, name: str) -> str:
    """The markup of one region (`<… id="quote-<name>" …>` up to the next region) of a page or answer."""
    start = html.index(f'id="quote-{name}"')
    following = [html.find('id="quote-', start + 1)]
    end = min([i for i in following if i != -1], default=len(html))
    return html[start:end]


def row(html: str, line) -> str:
    start = html.index(f'id="line-{line.pk}"')
    end = html.find("</tr>", start)
    return html[start:end]


def quote_state(quote) -> tuple:
    quote.refresh_from_db()
    return (quote.status, quote.tcv, quote.mrr, quote.term_months, quote.history.count(),
            [(line.product_id, line.quantity, line.discount_percent, line.discount_amount)
             for line in quote.lines.order_by("position", "id")])


@pytest.fixture
def portal_user(make_user):
    user = make_user(username="portal@client.example")
    ContactFactory(portal_user=user)
    return user


# --- access -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["no_role", "portal"])
def test_users_without_a_staff_role_get_403_on_every_quote_page(client, make_user, portal_user, new_quote, catalog,
                                                               who):
    quote = new_quote()
    user = portal_user if who == "portal" else make_user()
    c = _client(client, user)
    for url in (LIST, NEW, INBOX, detail(quote), reverse("quotes:pdf", args=[quote.pk])):
        assert c.get(url).status_code == 403, url
    response = c.post(reverse("quotes:line_add", args=[quote.pk]), {"product": catalog.seats.pk, "quantity": 1},
                      **HTMX)
    assert response.status_code == 403
    assert quote.lines.count() == 0


def test_anonymous_visitors_are_sent_to_the_login_page(client, new_quote):
    response = client.get(detail(new_quote()))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# --- the list ---------------------------------------------------------------------------------------

@pytest.fixture
def three_quotes(catalog, make_user):
    """Rita's draft for Acme (created 2026-01-10) and sent quote for Globex (2026-02-20); Sam's draft."""
    rita = make_user(roles.SALES_REP, username="rita", first_name="Rita", last_name="Rep")
    sam = make_user(roles.SALES_REP, username="sam", first_name="Sam", last_name="Seller")
    acme, globex = CustomerFactory(name="Acme Corp"), CustomerFactory(name="Globex")
    with time_machine.travel(date(2026, 1, 10)):
        draft = editing.quote_create(customer=acme, owner=rita)
        add(draft, catalog.seats, 10, rita)
        sams = editing.quote_create(customer=acme, owner=sam)
    with time_machine.travel(date(2026, 2, 20)):
        sent = editing.quote_create(customer=globex, owner=rita)
        add(sent, catalog.seats, 2, rita)
        lifecycle.quote_submit(quote_id=sent.pk, by=rita)
        lifecycle.quote_send(quote_id=sent.pk, by=rita)
    return {"rita": rita, "sam": sam, "draft": draft, "sent": sent, "sams": sams, "acme": acme, "globex": globex}


def numbers(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr data-quote="(\d+)"', response.text)]


def test_a_rep_sees_only_their_own_quotes_with_totals_and_status(client, three_quotes):
    q = three_quotes
    with time_machine.travel(date(2026, 2, 21)):
        response = _client(client, q["rita"]).get(LIST)
    assert response.status_code == 200
    assert numbers(response) == [q["sent"].pk, q["draft"].pk]  # newest first; Sam's is not listed
    html = response.text
    assert "$6,000.00" in html and "$500.00" in html  # the draft: TCV and MRR of 10 seats × 50.00 × 12
    assert 'status-sent">Sent<' in html and 'status-draft">Draft<' in html
    assert 'name="scope"' not in html  # no "all quotes" toggle for reps
    assert 'name="owner"' not in html


def test_the_list_filters_by_status_customer_and_created_dates(client, three_quotes):
    q = three_quotes
    c = _client(client, q["rita"])
    assert numbers(c.get(LIST, {"status": "sent"})) == [q["sent"].pk]
    assert numbers(c.get(LIST, {"customer": q["acme"].pk})) == [q["draft"].pk]
    assert numbers(c.get(LIST, {"created_from": "2026-02-01"})) == [q["sent"].pk]
    assert numbers(c.get(LIST, {"created_to": "2026-01-31"})) == [q["draft"].pk]
    assert numbers(c.get(LIST, {"created_from": "2026-01-11", "created_to": "2026-02-19"})) == []
    # the filter bar sends its empty choices too: they filter nothing
    assert numbers(c.get(LIST, {"status": "", "owner": "", "customer": q["acme"].pk, "created_from": "",
                                "created_to": ""})) == [q["draft"].pk]
    partial = c.get(LIST, {"status": "draft"}, **HTMX)
    assert partial.text.lstrip().startswith('<div id="quote-results"')
    assert "1 quote of yours matches" in partial.text


def test_managers_see_every_quote_and_can_narrow_to_their_own_or_an_owner(client, three_quotes, make_user):
    q = three_quotes
    manager = make_user(roles.SALES_MANAGER)
    mine = editing.quote_create(customer=q["globex"], owner=manager)
    c = _client(client, manager)
    everything = c.get(LIST)
    assert set(numbers(everything)) == {q["draft"].pk, q["sent"].pk, q["sams"].pk, mine.pk}
    assert 'id="scope-all" checked' in everything.text
    assert numbers(c.get(LIST, {"scope": "mine"})) == [mine.pk]
    assert numbers(c.get(LIST, {"owner": q["sam"].pk})) == [q["sams"].pk]


def test_the_list_pages_by_25(client, catalog, customer, sales_rep):
    for _ in range(27):
        editing.quote_create(customer=customer, owner=sales_rep)
    c = _client(client, sales_rep)
    assert len(numbers(c.get(LIST))) == 25
    second = c.get(LIST, {"page": 2})
    assert len(numbers(second)) == 2
    assert "Page 2 of 2" in second.text


def test_the_list_costs_the_same_queries_for_3_or_30_quotes(client, catalog, customer, make_user,
                                                            django_assert_max_num_queries,
                                                            django_assert_num_queries):
    manager = make_user(roles.SALES_MANAGER)
    rep = make_user(roles.SALES_REP)
    for i in range(3):
        editing.quote_create(customer=customer, owner=rep if i % 2 else manager)
    c = _client(client, manager)
    # session, user, roles, 2 × permissions, count, page (customer and owner joined), owners, customers
    # (+ whatever the base layout's context processors read)
    with django_assert_max_num_queries(11) as small:
        small_page = c.get(LIST)
    for i in range(27):
        editing.quote_create(customer=CustomerFactory(), owner=rep if i % 2 else manager)
    with django_assert_num_queries(len(small.captured_queries)):
        big = c.get(LIST)
    assert small_page.status_code == big.status_code == 200
    assert len(numbers(big)) == 25


# --- create -----------------------------------------------------------------------------------------

def test_a_rep_creates_a_quote_through_the_form(client, catalog, customer, sales_rep):
    c = _client(client, sales_rep)
    form = c.get(NEW)
    assert form.status_code == 200
    assert customer.name in form.text
    start, until = timezone.localdate() + timedelta(days=7), timezone.localdate() + timedelta(days=20)
    response = c.post(NEW, {"customer": customer.pk, "start_date": start.isoformat(), "term_months": 24,
                            "billing_frequency": "year", "payment_terms": "net_45",
                            "valid_until": until.isoformat()})
    quote = Quote.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail(quote)
    assert (quote.owner, quote.customer, quote.start_date, quote.term_months, quote.billing_frequency,
            quote.payment_terms, quote.valid_until, quote.price_book) == (
        sales_rep, customer, start, 24, "year", "net_45", until, catalog.book)
    page = c.get(response["Location"])
    assert f"Quote {quote.number} created" in page.text


def test_a_customer_whose_currency_has_no_price_book_is_refused_beside_the_customer_field(client, catalog,
                                                                                      sales_rep):
    yen = CustomerFactory(name="Tokyo KK", currency="JPY")
    c = _client(client, sales_rep)
    today = timezone.localdate()
    response = c.post(NEW, {"customer": yen.pk, "start_date": today.isoformat(), "term_months": 12,
                            "billing_frequency": "month", "payment_terms": "net_30",
                            "valid_until": (today + timedelta(days=30)).isoformat()})
    assert response.status_code == 200
    assert "no active price book in JPY" in region_of_field(response.text, "customer")
    assert Quote.objects.count() == 0


def region_of_field(html: str, name: str) -> str:
    start = html.index(f'id="id_{name}"')
    return html[start:html.find('<div class="field', start)]


def test_finance_cannot_create_quotes(client, finance_user, catalog, customer):
    c = _client(client, finance_user)
    assert c.get(NEW).status_code == 403
    assert "New quote" not in c.get(LIST).text


# --- the builder ------------------------------------------------------------------------------------

def test_the_builder_shows_lines_grouped_by_bundle_totals_why_revenue_and_history(client, new_quote, catalog,
                                                                                   sales_rep):
    quote = new_quote(start_date=date(2026, 1, 1), term_months=12)
    bundle, seats, onboarding, analytics = add(quote, catalog.bundle, 1, sales_rep,
                                               options={catalog.analytics.pk: D(2)})
    plain = add(quote, catalog.seats, 30, sales_rep, discount_percent=10)[0]
    response = _client(client, sales_rep).get(detail(quote))
    html = response.text
    assert response.status_code == 200
    # the bundle, then its options indented under it, then the next product
    order = [int(pk) for pk in re.findall(r'<tr id="line-(\d+)"', html)]
    assert order == [bundle.pk, seats.pk, onboarding.pk, analytics.pk, plain.pk]
    assert 'class="line-option' in row(html, seats) and 'class="line-top' in row(html, plain)
    # required options cannot be removed alone; the optional one and the bundle can
    assert "Remove Seats" not in row(html, seats)
    assert "Remove Analytics" in row(html, analytics) and "Remove Growth-Bundle" in row(html, bundle)
    # totals: bundle 5 seats + 2 analytics = 290.00/month, onboarding 2,500.00; 30 seats at 45.00 = 1,350.00
    totals = region(html, "totals")
    assert 'data-total="mrr">$1,640.00<' in totals
    assert 'data-total="arr">$19,680.00<' in totals
    assert 'data-total="one_time">$2,500.00<' in totals
    assert 'data-total="tcv">$22,180.00<' in totals
    assert 'data-total="discount">$1,800.00' in totals  # 150.00 off a month × 12
    # why: the discounted line explains its steps
    why = row(html, plain)
    assert "List price" in why and "$1,500.00" in why and "Manual discount" in why and "manual 10%" in why
    # revenue: 2026 by month, summing to the TCV
    revenue = region(html, "revenue")
    assert "<th scope=\"row\">2026</th>" in revenue
    assert 'data-total="revenue"><strong>$22,180.00<' in revenue
    assert "Line added" in region(html, "history")
    # inputs are there for the owner
    assert f'id="line-{plain.pk}-quantity"' in html and 'id="quote-add"' in html


def test_adding_a_line_through_htmx_answers_the_regions_with_the_new_exact_totals(client, new_quote, catalog,
                                                                                   sales_rep):
    quote = new_quote(term_months=12)
    c = _client(client, sales_rep)
    response = c.post(reverse("quotes:line_add", args=[quote.pk]),
                      {"product": catalog.seats.pk, "quantity": "10", "discount_percent": "", "discount_amount": ""},
                      **HTMX)
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html  # a fragment, not a page
    for name in ("header", "alerts", "rules", "lines", "totals", "revenue", "approvals", "history", "add"):
        assert f'id="quote-{name}"' in region(html, name) and 'hx-swap-oob="true"' in region(html, name)[:200]
    assert "quote-terms" not in html  # the terms form is left as the user has it
    totals = region(html, "totals")
    assert 'data-total="mrr">$500.00<' in totals and 'data-total="tcv">$6,000.00<' in totals
    line = quote.lines.get()
    assert (line.product, line.quantity) == (catalog.seats, D(10))
    assert 'value="10"' in row(html, line)
    assert "Added Seats." in region(html, "alerts")


def test_adding_a_bundle_with_a_chosen_option(client, new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    c = _client(client, sales_rep)
    fragment = c.get(reverse("quotes:bundle_options", args=[quote.pk]), {"product": catalog.bundle.pk}, **HTMX)
    assert f'name="option_{catalog.analytics.pk}"' in fragment.text
    assert f'name="include_{catalog.analytics.pk}"' in fragment.text  # optional: a box to tick
    assert f'name="include_{catalog.seats.pk}"' not in fragment.text  # required: always in
    assert 'max="100"' in fragment.text  # seats 5–100
    assert c.get(reverse("quotes:bundle_options", args=[quote.pk]), {"product": catalog.seats.pk},
                 **HTMX).text.strip() == ""
    response = c.post(reverse("quotes:line_add", args=[quote.pk]), {
        "product": catalog.bundle.pk, "quantity": "1",
        f"option_{catalog.seats.pk}": "5", f"option_{catalog.onboarding.pk}": "1",
        f"optional_{catalog.analytics.pk}": "1", f"include_{catalog.analytics.pk}": "1",
        f"option_{catalog.analytics.pk}": "2"}, **HTMX)
    assert 'data-total="tcv">$5,980.00<' in region(response.text, "totals")
    assert [(line.product.sku, line.quantity) for line in quote.lines.order_by("position")] == [
        ("growth-bundle", D(1)), ("seats", D(5)), ("onboarding", D(1)), ("analytics", D(2))]


def test_an_option_outside_its_range_is_refused_in_the_options_box(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    response = _client(client, sales_rep).post(reverse("quotes:line_add", args=[quote.pk]), {
        "product": catalog.bundle.pk, "quantity": "1", f"option_{catalog.seats.pk}": "500"}, **HTMX)
    assert response.status_code == 200
    box = region(response.text, "add")
    assert "seats in this bundle takes between 5 and 100" in box
    assert f'name="option_{catalog.seats.pk}" id="option_{catalog.seats.pk}" value="500"' in box  # kept as typed
    assert quote.lines.count() == 0


def test_a_product_without_a_price_in_the_book_is_not_offered(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    c = _client(client, sales_rep)
    html = c.get(detail(quote)).text
    assert f'<option value="{catalog.seats.pk}"' in html
    assert f'<option value="{catalog.unpriced.pk}"' not in html
    response = c.post(reverse("quotes:line_add", args=[quote.pk]), {"product": catalog.unpriced.pk, "quantity": 1},
                      **HTMX)
    assert "Select a valid choice" in region(response.text, "add")
    assert quote.lines.count() == 0


def test_changing_a_quantity_in_the_table_reprices_in_place(client, new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    line = add(quote, catalog.seats, 10, sales_rep)[0]
    response = _client(client, sales_rep).post(line_url(quote, line), {
        "quantity": "12", "discount_percent": "0", "discount_amount": "0"}, **HTMX)
    assert response.status_code == 200
    # 12 × 50.00 = 600.00 a month, 7,200.00 over 12 months
    totals = region(response.text, "totals")
    assert 'data-total="mrr">$600.00<' in totals and 'data-total="tcv">$7,200.00<' in totals
    line.refresh_from_db()
    assert line.quantity == D(12)
    assert "Line changed" in region(response.text, "history")


def test_a_zero_quantity_is_refused_beside_the_line_and_nothing_changes(client, new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    line = add(quote, catalog.seats, 10, sales_rep)[0]
    before = quote_state(quote)
    response = _client(client, sales_rep).post(line_url(quote, line), {
        "quantity": "0", "discount_percent": "0", "discount_amount": "0"}, **HTMX)
    assert response.status_code == 200
    cells = row(response.text, line)
    assert f'id="line-{line.pk}-quantity"' in cells and 'value="0"' in cells  # as typed
    assert 'aria-invalid="true"' in cells
    assert f'id="line-{line.pk}-quantity-errors"' in cells and "must be greater than 0" in cells
    assert 'data-total="tcv">$6,000.00<' in region(response.text, "totals")  # the saved figures
    assert quote_state(quote) == before


def test_an_amount_off_larger_than_the_price_names_that_lines_input(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    add(quote, catalog.onboarding, 1, sales_rep)
    seats = add(quote, catalog.seats, 2, sales_rep)[0]  # 100.00 a month
    before = quote_state(quote)
    response = _client(client, sales_rep).post(line_url(quote, seats), {
        "quantity": "2", "discount_percent": "0", "discount_amount": "150"}, **HTMX)
    cells = row(response.text, seats)
    assert f'id="line-{seats.pk}-discount_amount-errors"' in cells
    assert "must not exceed the discounted price 100.00" in cells
    assert quote_state(quote) == before


def test_a_required_bundle_option_cannot_be_removed_and_an_optional_line_can(client, new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    bundle, seats, onboarding = add(quote, catalog.bundle, 1, sales_rep)
    c = _client(client, sales_rep)
    before = quote_state(quote)
    refused = c.post(reverse("quotes:line_remove", args=[quote.pk, seats.pk]), **HTMX)
    assert "is required by growth-bundle; remove the bundle instead" in region(refused.text, "alerts")
    assert quote_state(quote) == before
    removed = c.post(reverse("quotes:line_remove", args=[quote.pk, bundle.pk]), **HTMX)
    assert "Removed Growth-Bundle." in region(removed.text, "alerts")
    assert quote.lines.count() == 0
    assert 'data-total="tcv">$0.00<' in region(removed.text, "totals")


def test_the_terms_form_reprices_and_shows_service_errors_beside_the_field(client, new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    add(quote, catalog.seats, 10, sales_rep)
    c = _client(client, sales_rep)
    terms = {"start_date": quote.start_date.isoformat(), "term_months": "24", "billing_frequency": "month",
             "payment_terms": "net_30", "quote_discount_percent": "10", "valid_until": quote.valid_until.isoformat(),
             "notes": "Includes onboarding workshop."}
    response = c.post(reverse("quotes:terms", args=[quote.pk]), terms, **HTMX)
    # 500.00 a month less 10 % = 450.00 × 24 = 10,800.00
    assert 'data-total="tcv">$10,800.00<' in region(response.text, "totals")
    assert "Terms saved." in region(response.text, "alerts")
    quote.refresh_from_db()
    assert (quote.term_months, quote.quote_discount_percent, quote.notes) == (24, D(10), "Includes onboarding workshop.")
    before = quote_state(quote)
    past = (timezone.localdate() - timedelta(days=1)).isoformat()
    refused = c.post(reverse("quotes:terms", args=[quote.pk]), {**terms, "valid_until": past, "term_months": "36"},
                     **HTMX)
    assert "must not be in the past" in region_of_field(region(refused.text, "terms"), "valid_until")
    assert 'value="36"' in region(refused.text, "terms")  # the form keeps what was typed
    assert quote_state(quote) == before


def test_editing_an_approved_quote_sends_it_back_to_draft_and_says_so(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    line = add(quote, catalog.seats, 1, sales_rep)[0]
    lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    response = _client(client, sales_rep).post(line_url(quote, line), {"quantity": "2"}, **HTMX)
    assert "back in draft" in region(response.text, "alerts")
    assert 'status-draft">Draft<' in region(response.text, "header")
    quote.refresh_from_db()
    assert quote.status == "draft"


def test_product_rule_violations_are_shown_in_a_warning_box(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    c = _client(client, sales_rep)
    response = c.post(reverse("quotes:line_add", args=[quote.pk]), {"product": catalog.support.pk, "quantity": 1},
                      **HTMX)
    assert "Support needs a seat subscription" in region(response.text, "rules")
    fixed = c.post(reverse("quotes:line_add", args=[quote.pk]), {"product": catalog.seats.pk, "quantity": 1}, **HTMX)
    assert "Support needs" not in region(fixed.text, "rules")


def test_another_rep_cannot_see_or_change_a_quote(client, new_quote, catalog, make_user, sales_rep):
    quote = new_quote()
    line = add(quote, catalog.seats, 3, sales_rep)[0]
    before = quote_state(quote)
    c = _client(client, make_user(roles.SALES_REP))
    assert c.get(detail(quote)).status_code == 404
    assert c.post(line_url(quote, line), {"quantity": "9"}, **HTMX).status_code == 404
    assert c.post(reverse("quotes:line_add", args=[quote.pk]), {"product": catalog.seats.pk, "quantity": 1},
                  **HTMX).status_code == 404
    assert c.post(reverse("quotes:submit", args=[quote.pk])).status_code == 404
    assert quote_state(quote) == before


def test_finance_reads_a_quote_without_controls_and_cannot_post_changes(client, new_quote, catalog, sales_rep,
                                                                         finance_user):
    quote = new_quote()
    line = add(quote, catalog.seats, 3, sales_rep)[0]
    before = quote_state(quote)
    c = _client(client, finance_user)
    page = c.get(detail(quote))
    assert page.status_code == 200
    assert f'id="line-{line.pk}-quantity"' not in page.text and 'id="quote-add"' not in page.text
    assert "Submit</button>" not in page.text
    assert c.post(line_url(quote, line), {"quantity": "9"}, **HTMX).status_code == 403
    assert quote_state(quote) == before


def test_a_line_of_another_quote_is_a_404(client, new_quote, catalog, sales_rep):
    mine, other = new_quote(), new_quote()
    line = add(other, catalog.seats, 1, sales_rep)[0]
    response = _client(client, sales_rep).post(line_url(mine, line), {"quantity": "5"}, **HTMX)
    assert response.status_code == 404
    line.refresh_from_db()
    assert line.quantity == D(1)


def test_submit_send_and_revise_from_the_page(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    add(quote, catalog.seats, 2, sales_rep)
    c = _client(client, sales_rep)
    page = c.post(reverse("quotes:submit", args=[quote.pk]), follow=True)
    assert "Submitted: the quote is approved." in page.text
    assert "Send to customer</button>" in page.text
    page = c.post(reverse("quotes:send", args=[quote.pk]), follow=True)
    quote.refresh_from_db()
    assert quote.status == "sent"
    link = re.search(r'id="acceptance-url" value="([^"]+)"', page.text).group(1)
    assert link == "http://testserver" + lifecycle.acceptance_url(quote)
    page = c.post(reverse("quotes:revise", args=[quote.pk]), follow=True)
    v2 = Quote.objects.get(number=quote.number, version=2)
    assert page.redirect_chain[-1][0] == detail(v2)
    assert "Version 2 is a new draft." in page.text
    old = c.get(detail(quote)).text
    assert "replaced by" in old and f'href="{detail(v2)}"' in old


def test_a_submit_that_breaks_a_product_rule_is_refused_with_the_message(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    add(quote, catalog.support, 1, sales_rep)
    before = quote_state(quote)
    page = _client(client, sales_rep).post(reverse("quotes:submit", args=[quote.pk]), follow=True)
    assert "The quote breaks product rules: Support needs a seat subscription" in page.text
    assert quote_state(quote) == before


def test_the_pdf_downloads_with_its_file_name(client, new_quote, catalog, sales_rep):
    quote = new_quote()
    add(quote, catalog.seats, 2, sales_rep)
    response = _client(client, sales_rep).get(reverse("quotes:pdf", args=[quote.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{quote.number}-v1.pdf"'
    assert response.content.startswith(b"%PDF")


def test_the_builder_costs_the_same_queries_for_2_or_20_lines(client, new_quote, catalog, sales_rep,
                                                              django_assert_max_num_queries,
                                                              django_assert_num_queries):
    quote = new_quote()
    add(quote, catalog.bundle, 1, sales_rep, options={catalog.analytics.pk: D(1)})
    c = _client(client, sales_rep)
    c.get(detail(quote))  # warm the content-type cache
    # session, user, roles, quote, lines, bundle options, 2 × permissions, approval steps, product rules
    # (2), addable products, revenue (none: lines loaded), history (+ the base layout's context processors)
    with django_assert_max_num_queries(15) as small:
        c.get(detail(quote))
    for i in range(16):
        add(quote, catalog.seats if i % 2 else catalog.analytics, i + 1, sales_rep)
    assert quote.lines.count() == 20
    with django_assert_num_queries(len(small.captured_queries)):
        big = c.get(detail(quote))
    assert big.text.count('<tr id="line-') == 20


# --- approvals --------------------------------------------------------------------------------------

@pytest.fixture
def approval_setup(catalog, customer, make_user, discount_rule):
    """Two quotes wait for sales managers (one is Mia's own), one waits for finance."""
    ApprovalRule.objects.create(name="Big deals", condition="tcv_above", threshold=D("100000"),
                                approver_group=Group.objects.get(name="finance"), order=2)
    rep = make_user(roles.SALES_REP, username="rita")
    mia = make_user(roles.SALES_REP, roles.SALES_MANAGER, username="mia")  # a manager who sells
    max_ = make_user(roles.SALES_MANAGER, username="max")
    finance = make_user(roles.FINANCE, username="fin")

    def pending(owner, quantity, discount):
        quote = editing.quote_create(customer=customer, owner=owner)
        add(quote, catalog.seats, quantity, owner, discount_percent=discount)
        return lifecycle.quote_submit(quote_id=quote.pk, by=owner)

    rita_quote = pending(rep, 5, 25)  # waits for sales managers
    mias_quote = pending(mia, 5, 30)  # waits for sales managers; Mia may not approve it
    big = pending(rep, 500, 0)  # 500 × 50 × 12 = 300,000: waits for finance only
    assert [q.status for q in (rita_quote, mias_quote, big)] == ["pending_approval"] * 3
    return {"rep": rep, "mia": mia, "max": max_, "finance": finance, "rita_quote": rita_quote,
            "mias_quote": mias_quote, "big": big}


def inbox_quotes(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="card approval[^"]*" data-quote="(\d+)"', response.text)]


def test_the_inbox_lists_only_quotes_waiting_for_the_users_groups(client, approval_setup):
    s = approval_setup
    mia_inbox = _client(client, s["mia"]).get(INBOX)
    assert set(inbox_quotes(mia_inbox)) == {s["rita_quote"].pk, s["mias_quote"].pk}
    own = mia_inbox.text[mia_inbox.text.index(f'data-quote="{s["mias_quote"].pk}"'):]
    assert own.index("your own quote") < own.index("</section>")
    assert 'class="card approval approval-own"' in mia_inbox.text
    assert "seats has a 30% discount, above 20%" in mia_inbox.text
    assert inbox_quotes(_client(client, s["finance"]).get(INBOX)) == [s["big"].pk]
    assert _client(client, s["rep"]).get(INBOX).status_code == 403


def test_approving_your_own_quote_through_the_page_is_refused_and_changes_nothing(client, approval_setup):
    s = approval_setup
    quote = s["mias_quote"]
    before = (quote_state(quote), list(quote.approval_steps.values_list("status", flat=True)))
    page = _client(client, s["mia"]).post(reverse("quotes:approve", args=[quote.pk]), {"next": INBOX}, follow=True)
    assert page.redirect_chain[-1][0] == INBOX
    assert "Could not approve" in page.text and "you cannot approve or reject your own quote" in page.text
    assert (quote_state(quote), list(quote.approval_steps.values_list("status", flat=True))) == before


def test_an_approver_approves_and_rejection_needs_a_comment(client, approval_setup):
    s = approval_setup
    c = _client(client, s["max"])
    page = c.post(reverse("quotes:approve", args=[s["rita_quote"].pk]), {"comment": "ok for a logo", "next": INBOX},
                  follow=True)
    assert f"Approved {s['rita_quote']} — it is now fully approved." in page.text
    step = s["rita_quote"].approval_steps.get()
    assert (step.status, step.decided_by, step.comment) == ("approved", s["max"], "ok for a logo")
    assert s["rita_quote"].pk not in inbox_quotes(page)

    quote = s["mias_quote"]
    before = quote_state(quote)
    page = c.post(reverse("quotes:reject", args=[quote.pk]), {"comment": "  ", "next": INBOX}, follow=True)
    assert "Could not reject" in page.text and "say why the quote is rejected" in page.text
    assert quote_state(quote) == before
    c.post(reverse("quotes:reject", args=[quote.pk]), {"comment": "20 % max", "next": INBOX})
    quote.refresh_from_db()
    assert quote.status == "draft"
    assert quote.approval_steps.get().comment == "20 % max"


def test_the_builder_offers_approve_to_the_waiting_group_and_shows_the_steps(client, approval_setup):
    s = approval_setup
    html = _client(client, s["max"]).get(detail(s["rita_quote"])).text
    approvals = region(html, "approvals")
    assert "seats has a 25% discount, above 20%" in approvals and ">Waiting<" in approvals
    assert reverse("quotes:approve", args=[s["rita_quote"].pk]) in approvals
    finance_view = _client(client, s["finance"]).get(detail(s["rita_quote"])).text
    assert reverse("quotes:approve", args=[s["rita_quote"].pk]) not in finance_view


def test_an_offsite_next_is_ignored(client, approval_setup):
    s = approval_setup
    response = _client(client, s["max"]).post(reverse("quotes:approve", args=[s["rita_quote"].pk]),
                                              {"next": "https://evil.example/"})
    assert response["Location"] == INBOX


# --- the customer's acceptance page ------------------------------------------------------------------

@pytest.fixture
def sent_quote(new_quote, catalog, sales_rep):
    quote = new_quote(term_months=12)
    add(quote, catalog.seats, 2, sales_rep)
    lifecycle.quote_submit(quote_id=quote.pk, by=sales_rep)
    return lifecycle.quote_send(quote_id=quote.pk, by=sales_rep)


def link(quote, suffix: str = "") -> str:
    return lifecycle.acceptance_url(quote) + suffix


def test_a_valid_link_shows_the_quote_without_login_or_staff_navigation(client, sent_quote):
    response = client.get(link(sent_quote))
    assert response.status_code == 200
    html = response.text
    assert "Revops Demo Inc." in html and sent_quote.number in html and "version 1" in html
    assert sent_quote.customer.name in html
    assert 'data-total="tcv">$1,200.00<' in html  # 2 × 50.00 × 12
    # the accept form posts to a signed link of this quote (signed when the page rendered: the same signed
    # value, its timestamp perhaps a second later than the link made here)
    actions = re.findall(r'action="(/q/[^"]+/accept/)"', html)
    assert [a.split(":")[0] for a in actions] == [link(sent_quote, "accept/").split(":")[0]]
    assert 'class="mainnav"' not in html and "Log out" not in html
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "same-origin"  # "no-referrer" makes the forms fail CSRF


def test_accepting_records_name_title_and_ip_once(client, sent_quote):
    response = client.post(link(sent_quote, "accept/"), {"name": "Dana Buyer", "title": "CFO"},
                           REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.1")
    # Back to the quote's page by a freshly signed link: the same signed value, perhaps stamped a second later.
    assert response.status_code == 302
    assert response["Location"].split(":")[0] == link(sent_quote).split(":")[0]
    sent_quote.refresh_from_db()
    assert (sent_quote.status, sent_quote.accepted_by_name, sent_quote.accepted_by_title, sent_quote.accepted_ip) == (
        "accepted", "Dana Buyer", "CFO", "203.0.113.9")
    page = client.get(link(sent_quote))
    assert "Accepted by Dana Buyer, CFO" in page.text and not re.search(r'action="/q/[^"]+/accept/"', page.text)
    before = (quote_state(sent_quote), sent_quote.accepted_at)
    again = client.post(link(sent_quote, "accept/"), {"name": "Someone Else", "title": ""}, REMOTE_ADDR="192.0.2.1",
                        follow=True)
    assert "Accepted by Dana Buyer, CFO" in again.text
    sent_quote.refresh_from_db()
    assert (quote_state(sent_quote), sent_quote.accepted_at) == before
    assert sent_quote.accepted_ip == "203.0.113.9"
    assert QuoteEvent.objects.filter(quote=sent_quote, kind="accepted").count() == 1


def test_accepting_needs_a_full_name(client, sent_quote):
    before = quote_state(sent_quote)
    response = client.post(link(sent_quote, "accept/"), {"name": "", "title": "CFO"})
    assert response.status_code == 200
    assert "This field is required." in region_of_field(response.text, "name")
    assert quote_state(sent_quote) == before


def test_a_tampered_link_is_a_400_and_changes_nothing(client, sent_quote):
    token = lifecycle.acceptance_token(sent_quote)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    before = quote_state(sent_quote)
    for url in (reverse("quote_acceptance", args=[tampered]), reverse("quote_acceptance_pdf", args=[tampered])):
        response = client.get(url)
        assert response.status_code == 400
        assert "This link is not valid" in response.text and sent_quote.number not in response.text
    response = client.post(reverse("quote_acceptance_accept", args=[tampered]), {"name": "Mallory"})
    assert response.status_code == 400
    assert quote_state(sent_quote) == before


def test_a_link_replaced_by_a_new_send_is_a_410(client, sent_quote, sales_rep):
    old = link(sent_quote)
    lifecycle.quote_send(quote_id=sent_quote.pk, by=sales_rep)
    before = quote_state(sent_quote)
    response = client.post(old + "accept/", {"name": "Dana"})
    assert response.status_code == 410
    assert "This link no longer works" in response.text and "a newer one was sent" in response.text
    assert quote_state(sent_quote) == before


def test_a_superseded_quote_says_so(client, sent_quote, sales_rep):
    old = link(sent_quote)
    lifecycle.quote_revise(quote_id=sent_quote.pk, by=sales_rep)
    response = client.get(old)
    assert response.status_code == 410
    assert "This quote was replaced" in response.text


def test_an_expired_quote_says_so_and_cannot_be_accepted(client, sent_quote):
    url = link(sent_quote)
    before = quote_state(sent_quote)
    with time_machine.travel(sent_quote.valid_until + timedelta(days=1)):
        page = client.get(url)
        assert page.status_code == 410
        assert "This quote expired on" in page.text and 'action="' + url + 'accept/"' not in page.text
        refused = client.post(url + "accept/", {"name": "Late Larry"})
        assert refused.status_code == 409
        assert "expired" in refused.text
    assert quote_state(sent_quote) == before


def test_declining_needs_a_reason_then_records_it(client, sent_quote):
    before = quote_state(sent_quote)
    response = client.post(link(sent_quote, "decline/"), {"reason": ""})
    assert response.status_code == 200
    assert "This field is required." in region_of_field(response.text, "reason")
    assert '<details id="decline" open>' in response.text
    assert quote_state(sent_quote) == before
    client.post(link(sent_quote, "decline/"), {"reason": "Budget moved to Q3"})
    sent_quote.refresh_from_db()
    assert (sent_quote.status, sent_quote.decline_reason) == ("rejected", "Budget moved to Q3")
    page = client.get(link(sent_quote))
    assert "You declined this quote" in page.text and "Budget moved to Q3" in page.text
    # an accept after the decline changes nothing
    client.post(link(sent_quote, "accept/"), {"name": "Changed Mind"})
    sent_quote.refresh_from_db()
    assert (sent_quote.status, sent_quote.accepted_by_name) == ("rejected", "")


def test_the_customer_downloads_the_pdf(client, sent_quote):
    response = client.get(link(sent_quote, "pdf/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{sent_quote.number}-v1.pdf"'
    assert response.content.startswith(b"%PDF")
    assert ApprovalStep.objects.count() == 0 and QuoteLine.objects.count() == 1
