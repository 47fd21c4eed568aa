"""The customer portal, pages and API: a customer sees exactly its own issued invoices, payments, sent
quotes and usage; another customer's record (or a draft) is a 404 everywhere; staff get 403; anonymous
visitors are sent to the login page (pages) or get 401 (API). Figures are worked out by hand here."""
from __future__ import annotations

import io
import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from billing.models import Invoice
from billing.services.usage import usage_ingest
from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from contracts.services.periods import billing_anchor, billing_period_containing
from quotes.services.lifecycle import acceptance_url
from revops.kernel.dates import add_months

from .factories import PASSWORD, make_invoice

pytestmark = pytest.mark.django_db

HOME = reverse("portal:home")
INVOICES = reverse("portal:invoices")
API_INVOICES = "/api/v1/portal/invoices/"


def signed_in(client, user):
    client.force_login(user)
    return client


def numbers_on(html: str) -> set[str]:
    return set(re.findall(r'data-number="([^"]+)"', html))


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


# --- invoices: exactly the customer's issued ones ----------------------------------------------------------

def test_the_invoice_page_lists_exactly_the_customers_issued_invoices(client, world):
    response = signed_in(client, world.user_a).get(INVOICES)

    assert response.status_code == 200
    html = response.content.decode()
    assert numbers_on(html) == {world.a_partly_paid.number, world.a_open.number, world.a_void.number}
    assert world.b_issued.number not in html
    assert "3 invoices" in html
    for hidden in (world.a_draft, world.a_pending, world.a_approved):
        assert reverse("portal:invoice", args=[hidden.pk]) not in html
    assert not {"$1,098.90", "$976.80", "$854.70"} & set(re.findall(r"\$[\d,]+\.\d\d", html))  # their totals
    assert "Globex" not in html


def test_the_invoice_api_lists_exactly_the_customers_issued_invoices(api_client_for, world):
    response = api_client_for(world.user_a).get(API_INVOICES)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert {r["number"] for r in body["results"]} == {world.a_partly_paid.number, world.a_open.number,
                                                      world.a_void.number}
    assert {r["customer"] for r in body["results"]} == {world.acme.pk}
    first = next(r for r in body["results"] if r["number"] == world.a_partly_paid.number)
    assert (first["total"], first["amount_paid"], first["amount_due"], first["status"]) == (
        "110.00", "50.00", "60.00", "partially_paid")
    assert first["lines"][0]["amount"] == "100.00" and first["lines"][0]["tax_amount"] == "10.00"
    assert first["payments"][0]["amount"] == "50.00" and first["payments"][0]["reference"] == "WIRE-1001"
    assert first["pdf_url"].endswith(f"/api/v1/portal/invoices/{world.a_partly_paid.pk}/pdf/")


def test_the_invoice_api_filters_by_status_inside_the_customers_invoices(api_client_for, world):
    client = api_client_for(world.user_a)

    assert [r["number"] for r in client.get(API_INVOICES, {"status": "void"}).json()["results"]] == [
        world.a_void.number]
    assert client.get(API_INVOICES, {"status": "draft"}).status_code == 400  # not a portal status at all


def test_the_invoice_detail_shows_lines_totals_and_payments(client, world):
    response = signed_in(client, world.user_a).get(reverse("portal:invoice", args=[world.a_partly_paid.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"Invoice {world.a_partly_paid.number}" in html
    assert "Seats, line 1" in html
    assert "$110.00" in html  # total
    assert re.search(r'data-total="amount_due">\$60\.00<', html)
    assert "WIRE-1001" in html and "$50.00" in html
    assert "Partially paid" in html


@pytest.mark.parametrize("which", ["b_issued", "a_draft", "a_pending", "a_approved"])
def test_another_customers_or_an_unissued_invoice_is_404_on_the_page_the_pdf_and_the_api(
        client, api_client_for, world, which):
    invoice = getattr(world, which)
    signed_in(client, world.user_a)

    page = client.get(reverse("portal:invoice", args=[invoice.pk]))
    pdf = client.get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    api = api_client_for(world.user_a).get(f"{API_INVOICES}{invoice.pk}/")
    api_pdf = api_client_for(world.user_a).get(f"{API_INVOICES}{invoice.pk}/pdf/")

    assert (page.status_code, pdf.status_code, api.status_code, api_pdf.status_code) == (404, 404, 404, 404)
    assert "Not found" in page.content.decode() and "Acme Corp" in page.content.decode()  # the portal's page
    assert api.json() == {"error": {"code": "not_found", "message": "No invoice with this id.", "fields": {}}}
    assert api_pdf.json()["error"]["code"] == "not_found"
    invoice.refresh_from_db()
    assert (invoice.pdf_status, bool(invoice.pdf)) == ("none", False)  # nothing rendered for the asker


def test_the_invoice_pdf_is_rendered_once_stored_and_then_served_from_the_file(client, api_client_for, world):
    invoice = world.a_open
    assert invoice.pdf_status == "none"  # issued without rendering (render_pdf=False)
    signed_in(client, world.user_a)

    first = client.get(reverse("portal:invoice_pdf", args=[invoice.pk]))

    assert first.status_code == 200
    assert first["Content-Type"] == "application/pdf"
    assert first["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert first.content.startswith(b"%PDF")
    text = pdf_text(first.content)
    assert invoice.number in text and "Acme Corp" in text and "275.00" in text
    invoice.refresh_from_db()
    assert invoice.pdf_status == "rendered" and invoice.pdf.name.endswith(f"{invoice.number}.pdf")
    with invoice.pdf.open("rb") as stored:
        assert stored.read() == first.content

    again = client.get(reverse("portal:invoice_pdf", args=[invoice.pk]))
    api = api_client_for(world.user_a).get(f"{API_INVOICES}{invoice.pk}/pdf/", HTTP_ACCEPT="application/pdf")
    assert again.content == first.content  # the stored file, not a second render
    assert api.status_code == 200 and api.content == first.content


# --- overview and payments -----------------------------------------------------------------------------

def test_the_overview_shows_balance_due_credit_next_due_date_and_recent_invoices(client, world):
    response = signed_in(client, world.user_a).get(HOME)

    assert response.status_code == 200
    html = response.content.decode()
    # Open: 110.00 − 50.00 paid = 60.00, and 275.00; the void invoice owes nothing.
    assert re.search(r'id="balance-due">.*?\$335\.00', html, re.S)
    assert re.search(r'id="credit-balance">.*?\$30\.00', html, re.S)  # 80.00 received − 50.00 applied
    due = world.a_open.due_date
    assert re.search(rf'id="next-due">.*?{due:%b} {due.day}, {due.year}', html, re.S)
    assert numbers_on(html) == {world.a_partly_paid.number, world.a_open.number, world.a_void.number}
    assert 'id="portal-customer">Acme Corp<' in html
    for label in ("Overview", "Invoices", "Payments", "Usage", "Quotes"):
        assert f">{label}</a>" in html
    assert "/customers/" not in html and "/quotes/" not in html.replace("/portal/quotes/", "")  # no staff nav


def test_the_payments_page_shows_the_customers_payments_with_allocations(client, api_client_for, world):
    html = signed_in(client, world.user_a).get(reverse("portal:payments")).content.decode()

    assert "WIRE-1001" in html and "$80.00" in html
    assert world.a_partly_paid.number in html  # where 50.00 of it went
    assert "$30.00" in html  # unapplied
    assert "GLOBEX-WIRE" not in html
    body = api_client_for(world.user_a).get("/api/v1/portal/payments/").json()
    assert body["count"] == 1
    (payment,) = body["results"]
    assert (payment["amount"], payment["unallocated"], payment["currency"]) == ("80.00", "30.00", "USD")
    assert payment["allocations"] == [{"invoice": world.a_partly_paid.pk, "invoice_number": world.a_partly_paid.number,
                                       "amount": "50.00"}]


# --- usage ---------------------------------------------------------------------------------------------

@pytest.fixture
def metered(world, finance_user):
    """Acme's active contract with a token meter (sum) priced in graduated tiers:
    1–1,000 at 0.01; 1,001–5,000 at 0.008 plus 2.00 for reaching the tier; above 5,000 at 0.005."""
    book = cm.PriceBook.objects.create(name="USD list", currency="USD", is_default=True)
    meter = cm.Meter.objects.create(code="tokens", name="Tokens", aggregation="sum", field="tokens", unit="tokens")
    product = cm.Product.objects.create(sku="TOK", name="AI tokens", kind="usage", recognition="usage", meter=meter)
    price = cm.Price.objects.create(product=product, price_book=book, model="graduated", currency="USD")
    cm.PriceTier.objects.create(price=price, up_to=1000, unit_amount=D("0.01"))
    cm.PriceTier.objects.create(price=price, up_to=5000, unit_amount=D("0.008"), flat_amount=D("2.00"))
    cm.PriceTier.objects.create(price=price, up_to=None, unit_amount=D("0.005"))
    today = timezone.localdate()
    contract = contract_create(customer=world.acme, start_date=add_months(today.replace(day=1), -2), term_months=12,
                               lines=[LineSpec(product, D(1), D(0), period="usage")], by=finance_user,
                               billing_anchor_day=1)
    return {"contract": contract, "price": price,
            "period": billing_period_containing(billing_anchor(contract), "month", today)}


def _event(customer, value, ts, key):
    return {"customer": customer.pk, "meter": "tokens", "value": value, "timestamp": ts.isoformat(),
            "idempotency_key": key}


def test_usage_shows_this_periods_quantity_and_the_exact_estimated_charge(client, api_client_for, world, metered):
    now = timezone.now()
    before_period = datetime.combine(metered["period"].start - timedelta(days=1), time(12), tzinfo=UTC)
    result = usage_ingest([
        _event(world.acme, 2500, now, "a1"), _event(world.acme, 3000, now, "a2"), _event(world.acme, 701, now, "a3"),
        _event(world.acme, 9999, before_period, "last-period"),  # billed with the previous period
        _event(world.globex, 5000, now, "other-customer"),
    ])
    assert (result.accepted, result.rejected) == (5, [])

    html = signed_in(client, world.user_a).get(reverse("portal:usage")).content.decode()

    # 6,201 tokens: 1,000 × 0.01 = 10.00; 4,000 × 0.008 + 2.00 = 34.00; 1,201 × 0.005 = 6.005;
    # 50.005 in all, rounded once half-up to 50.01 (half-even would say 50.00).
    assert "6,201 tokens" in html
    assert re.search(r"data-estimate>\$50\.01<", html)
    assert re.search(r'data-total="usage">\$50\.01<', html)
    period = metered["period"]
    assert f"{period.start:%b} {period.start.day}, {period.start.year}" in html
    body = api_client_for(world.user_a).get("/api/v1/portal/usage/").json()
    assert body["count"] == 1
    (row,) = body["results"]
    assert (row["meter"], row["quantity"], row["estimated_amount"], row["currency"]) == (
        "tokens", "6201", "50.01", "USD")
    assert (row["period_start"], row["period_end"], row["contract"]) == (
        period.start.isoformat(), period.end.isoformat(), metered["contract"].number)
    assert api_client_for(world.user_b).get("/api/v1/portal/usage/").json()["count"] == 0  # no usage contract


def test_usage_of_a_customer_without_metered_contracts_is_empty(client, world):
    html = signed_in(client, world.user_b).get(reverse("portal:usage")).content.decode()
    assert "None of your active contracts is billed on usage." in html


# --- quotes --------------------------------------------------------------------------------------------

def test_quotes_list_shows_sent_and_accepted_quotes_but_not_drafts_or_other_customers(
        client, api_client_for, world, make_quote):
    sent = make_quote(world.acme, "sent")
    accepted = make_quote(world.acme, "accepted", accepted_at=timezone.now())
    hidden = [make_quote(world.acme, s) for s in ("draft", "pending_approval", "approved", "superseded")]
    other = make_quote(world.globex, "sent")

    html = signed_in(client, world.user_a).get(reverse("portal:quotes")).content.decode()

    assert numbers_on(html) == {sent.number, accepted.number}
    assert acceptance_url(sent) in html  # the signed link for the one awaiting a decision
    assert acceptance_url(other) not in html
    assert all(q.number not in html for q in hidden)
    body = api_client_for(world.user_a).get("/api/v1/portal/quotes/").json()
    assert {(q["number"], q["status"]) for q in body["results"]} == {(sent.number, "sent"),
                                                                     (accepted.number, "accepted")}
    by_status = {q["status"]: q for q in body["results"]}
    assert by_status["sent"]["acceptance_url"] == f"http://testserver{acceptance_url(sent)}"
    assert by_status["accepted"]["acceptance_url"] is None
    assert by_status["sent"]["totals"] == {"one_time": "0.00", "mrr": "400.00", "arr": "4800.00", "tcv": "4800.00",
                                           "discount": "0.00"}
    assert "approvals" not in by_status["sent"] and "owner" not in by_status["sent"]


def test_a_quote_pdf_downloads_for_the_customer_and_is_404_for_another(client, api_client_for, world, make_quote):
    mine, theirs = make_quote(world.acme, "sent"), make_quote(world.globex, "sent")
    draft = make_quote(world.acme, "draft")
    signed_in(client, world.user_a)

    response = client.get(reverse("portal:quote_pdf", args=[mine.pk]))

    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert mine.number in pdf_text(response.content)
    assert client.get(reverse("portal:quote_pdf", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("portal:quote_pdf", args=[draft.pk])).status_code == 404
    assert api_client_for(world.user_a).get(f"/api/v1/portal/quotes/{theirs.pk}/").status_code == 404


# --- who may enter -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url", [HOME, INVOICES, reverse("portal:usage"), reverse("portal:quotes")])
def test_staff_get_403_on_portal_pages(client, finance_user, world, url):
    response = signed_in(client, finance_user).get(url)
    assert response.status_code == 403


@pytest.mark.parametrize("url", [API_INVOICES, "/api/v1/portal/quotes/", "/api/v1/portal/usage/",
                                 "/api/v1/portal/payments/"])
def test_staff_tokens_get_403_and_no_credentials_401_on_the_portal_api(api_client_for, finance_user, world, url):
    staff = api_client_for(finance_user).get(url)
    anonymous = api_client_for(None).get(url)

    assert staff.status_code == 403 and staff.json()["error"]["code"] == "permission_denied"
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"


def test_staff_with_every_model_permission_still_get_403_on_portal_invoices(api_client_for, admin_user_role, world):
    assert api_client_for(admin_user_role).get(f"{API_INVOICES}{world.a_open.pk}/").status_code == 403


def test_anonymous_visitors_are_sent_to_the_login_page(client, world):
    response = client.get(reverse("portal:invoice", args=[world.a_open.pk]))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next=/portal/invoices/{world.a_open.pk}/"


def test_a_portal_user_signs_in_through_the_normal_login_page_and_lands_on_the_portal(client, world):
    response = client.post(reverse("login"), {"username": "ap@acme.example", "password": PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == HOME
    assert response.status_code == 200 and "Balance due" in response.content.decode()


def test_portal_users_cannot_use_staff_endpoints(api_client_for, world):
    assert api_client_for(world.user_a).get("/api/v1/customers/").status_code == 403


# --- queries do not grow with the rows -----------------------------------------------------------------

def test_the_invoice_list_page_and_api_take_a_fixed_number_of_queries(client, api_client_for, world,
                                                                      django_assert_num_queries):
    signed_in(client, world.user_a)
    api = api_client_for(world.user_a)
    # session, user, contact, customer (layout), the user's groups (navigation), count, page of invoices
    with django_assert_num_queries(7):
        assert client.get(INVOICES).status_code == 200
    # token+user, contact, count, invoices, lines, allocations with payments
    with django_assert_num_queries(6):
        assert api.get(API_INVOICES).status_code == 200

    for _ in range(10):
        make_invoice(world.acme, "12.00")
    assert Invoice.objects.filter(customer=world.acme, number__isnull=False).count() == 13
    with django_assert_num_queries(7):
        assert client.get(INVOICES).status_code == 200
    with django_assert_num_queries(6):
        assert api.get(API_INVOICES).json()["count"] == 13
