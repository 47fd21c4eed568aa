"""The insights API and pages: shapes, 400s for bad parameters, and who may see what — managers see
everything, a sales rep only its own customers and no pricing, portal users nothing."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.utils import timezone

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from quotes.services.editing import quote_create
from tests.factories import CustomerFactory
from tests.portal.factories import portal_user

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()  # the pages and the suggestions use today's holdings
DAY = TODAY.isoformat()


@pytest.fixture
def data(finance_user, sales_rep, make_user):
    """Rep-owned SMB customers: T holds A; s1, s2, s3 hold A and B (B 100.00 a month each). Another rep's
    customer F (same segment) holds A. Similar to T: s1, s2, s3, F; lift of B for T: (3/4) ÷ (3/5) = 1.25."""
    other_rep = make_user("sales_rep")
    a = cm.Product.objects.create(sku="A", name="Platform", kind="recurring", recognition="ratable")
    b = cm.Product.objects.create(sku="B", name="Analytics", kind="recurring", recognition="ratable")
    cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)

    def customer(name, owner, *products):
        c = CustomerFactory(name=name, owner=owner, size="smb", industry="software")
        contract_create(customer=c, start_date=TODAY - timedelta(days=60), term_months=12, by=finance_user,
                        lines=[LineSpec(p, D(1), D("100.00"), period="month") for p in products])
        return c

    t = customer("Target", sales_rep, a)
    for i in range(3):
        customer(f"Peer {i}", sales_rep, a, b)
    foreign = customer("Foreign", other_rep, a)
    return {"t": t, "foreign": foreign, "rep": sales_rep, "other_rep": other_rep}


def test_recommendations_for_a_customer_as_strings(data, api_client_for, sales_manager):
    body = api_client_for(sales_manager).get(f"/api/v1/recommendations/?customer={data['t'].pk}&as_of={DAY}").json()
    assert (body["customer"], body["currency"], body["upsell"]) == (data["t"].pk, "USD", [])
    [offer] = body["results"]
    assert (offer["code"], offer["lift"], offer["expected_mrr"]) == ("B", "1.25", "100.00")
    top = api_client_for(sales_manager).get(f"/api/v1/recommendations/?as_of={DAY}").json()["results"]
    assert {(o["customer_name"], o["code"]) for o in top} == {("Target", "B"), ("Foreign", "B")}


def test_a_rep_sees_only_its_own_customers(data, api_client_for):
    rep = api_client_for(data["rep"])
    assert rep.get(f"/api/v1/recommendations/?customer={data['t'].pk}&as_of={DAY}").status_code == 200
    denied = rep.get(f"/api/v1/recommendations/?customer={data['foreign'].pk}&as_of={DAY}")
    assert (denied.status_code, denied.json()["error"]["code"]) == (404, "not_found")
    top = rep.get(f"/api/v1/recommendations/?as_of={DAY}").json()["results"]
    assert [o["customer_name"] for o in top] == ["Target"]
    assert rep.get(f"/api/v1/churn-risk/?customer={data['foreign'].pk}").status_code == 404
    assert rep.get(f"/api/v1/churn-risk/?customer={data['t'].pk}").json()["score"] == 0
    from billing.models import Invoice

    for n, customer in enumerate((data["t"], data["foreign"])):
        Invoice.objects.create(customer=customer, currency="USD", status="issued", number=f"INV-API-{n}",
                               due_date=TODAY - timedelta(days=3), subtotal=D(10), tax=D(0), total=D(10),
                               amount_due=D(10))
    assert [r["customer_name"] for r in rep.get("/api/v1/churn-risk/").json()["results"]] == ["Target"]
    pricing = rep.get("/api/v1/pricing-insights/")
    assert (pricing.status_code, pricing.json()["error"]["code"]) == (403, "permission_denied")


def test_portal_users_and_anonymous_callers_are_refused(data, api_client_for):
    portal = api_client_for(portal_user(data["t"], "buyer@example.com"))
    for url in ("/api/v1/recommendations/", f"/api/v1/recommendations/?customer={data['t'].pk}",
                "/api/v1/pricing-insights/", "/api/v1/churn-risk/"):
        assert portal.get(url).status_code == 403
        assert api_client_for(None).get(url).status_code == 401


def test_pricing_insights_shape(data, api_client_for, finance_user):
    body = api_client_for(finance_user).get("/api/v1/pricing-insights/?from=2027-01&to=2027-02&by=rep").json()
    assert (body["from"], body["to"], body["by"], body["rows"]) == ("2027-01-01", "2027-02-28", "rep", [])
    assert [m["month"] for m in body["leakage"]] == ["2027-01", "2027-02"]
    assert body["leakage"][0]["leakage"] == "0.00"
    bands = api_client_for(finance_user).get("/api/v1/pricing-insights/").json()["rows"]
    assert [b["key"] for b in bands] == ["0-5", "5-10", "10-20", "20-30", "30+"]


@pytest.fixture
def priced(make_user):
    """Decided quotes of January–February 2026 (USD unless noted), discount = (list − net) ÷ list:
    q1 software  accepted 10 Jan  1,000 → 1,000  (0 %)   band 0–5
    q2 software  rejected 20 Jan  1,000 →   970  (3 %)   band 0–5
    q3 retail    accepted  5 Feb  1,000 →   880  (12 %)  band 10–20
    q4 retail    expired  15 Feb  1,000 →   750  (25 %)  band 20–30
    q5 retail    accepted 20 Feb  no lines (no discount) band 0–5
    q6 retail    accepted 10 Feb  EUR 1,000 → 650 (35 %) band 30+, no EUR rate: left out of the amounts
    plus a sent quote (open: out). software = SMB, North America; retail = enterprise, EMEA; EUR one APAC."""
    from quotes.models import Quote, QuoteLine

    owner = make_user("sales_manager", username="mgr")
    software = CustomerFactory(size="smb", industry="software", region="na")
    retail = CustomerFactory(size="enterprise", industry="retail", region="emea")
    retail_eur = CustomerFactory(size="enterprise", industry="retail", region="apac", currency="EUR")
    books = {cur: cm.PriceBook.objects.create(name=cur, currency=cur, is_default=True) for cur in ("USD", "EUR")}
    product = cm.Product.objects.create(sku="P1", name="Seats", kind="recurring", recognition="ratable")
    prices = {cur: cm.Price.objects.create(product=product, price_book=book, model="per_unit", currency=cur,
                                           unit_amount=D(1)) for cur, book in books.items()}

    def quote(n, status, customer, lines, day, **stamps):
        q = Quote.objects.create(number=f"Q-API-{n}", customer=customer, owner=owner, currency=customer.currency,
                                 price_book=books[customer.currency], status=status, start_date=day,
                                 valid_until=stamps.pop("valid_until", day + timedelta(days=90)), **stamps)
        for lst, net in lines:
            QuoteLine.objects.create(quote=q, product=product, price=prices[customer.currency], quantity=D(1),
                                     billing_period="month", list_amount=D(lst), amount=D(net))

    def at(day):
        return datetime.fromisoformat(f"{day}T12:00:00").replace(tzinfo=UTC)

    quote(1, "accepted", software, [("1000", "1000")], date(2026, 1, 2), accepted_at=at("2026-01-10"))
    quote(2, "rejected", software, [("1000", "970")], date(2026, 1, 2), declined_at=at("2026-01-20"))
    quote(3, "accepted", retail, [("1000", "880")], date(2026, 2, 1), accepted_at=at("2026-02-05"))
    quote(4, "expired", retail, [("1000", "750")], date(2026, 1, 5), valid_until=date(2026, 2, 15))
    quote(5, "accepted", retail, [], date(2026, 2, 1), accepted_at=at("2026-02-20"))
    quote(6, "accepted", retail_eur, [("1000", "650")], date(2026, 2, 1), accepted_at=at("2026-02-10"))
    quote(7, "sent", software, [("1000", "500")], date(2026, 2, 1))
    return owner


PRICED = "/api/v1/pricing-insights/?from=2026-01&to=2026-02"


def _rows(body, *keys):
    return [tuple(r[k] for k in keys) for r in body["rows"]]


def test_pricing_win_rate_by_discount_band_on_real_quotes(priced, api_client_for, finance_user):
    body = api_client_for(finance_user).get(PRICED).json()
    assert (body["by"], body["segment_field"], body["currency"]) == ("band", "size", "USD")
    # 0–5 %: q1, q2 and the empty q5 → 2 won of 3; discount 30 ÷ 2,000 (q5 weighs nothing). 30+ %: only the
    # EUR quote, won, with no amount in USD: no average discount, list 0.00, one quote left out.
    assert _rows(body, "key", "quotes", "won", "rejected", "expired", "win_rate", "avg_discount", "list_total",
                 "fx_missing") == [
        ("0-5", 3, 2, 1, 0, "66.7", "1.5", "2000.00", 0),
        ("5-10", 0, 0, 0, 0, None, None, "0.00", 0),
        ("10-20", 1, 1, 0, 0, "100.0", "12.0", "1000.00", 0),
        ("20-30", 1, 0, 0, 1, "0.0", "25.0", "1000.00", 0),
        ("30+", 1, 1, 0, 0, "100.0", None, "0.00", 1),
    ]
    # February: q3, q5 and q6 accepted; only q3 has amounts in USD (1,000 → 880).
    assert [(m["month"], m["accepted_quotes"], m["list_total"], m["leakage"], m["fx_missing"])
            for m in body["leakage"]] == [("2026-01", 1, "1000.00", "0.00", 0), ("2026-02", 3, "1000.00", "120.00", 1)]
    assert (body["fx_missing"]["quotes"], body["fx_missing"]["rates"]) == (
        1, [{"currency": "EUR", "date": "2026-02-28", "quotes": 1}])
    assert "no FX rate to USD for EUR on or before 2026-02-28" in body["fx_missing"]["message"]


def test_pricing_win_rate_by_the_chosen_segment_field(priced, api_client_for, success_user):
    client = api_client_for(success_user)  # customer success may see pricing (PRICING_ROLES)
    body = client.get(f"{PRICED}&by=segment&segment_field=industry").json()
    # retail: q3, q4, q5, q6 → 3 won of 4; in USD only q3 and q4: 370 of 2,000 = 18.5 %. software: q1, q2.
    assert (body["by"], body["segment_field"]) == ("segment", "industry")
    assert _rows(body, "label", "quotes", "won", "win_rate", "avg_discount", "discount_total", "fx_missing") == [
        ("retail", 4, 3, "75.0", "18.5", "370.00", 1), ("software", 2, 1, "50.0", "1.5", "30.00", 0)]
    by_region = client.get(f"{PRICED}&by=segment&segment_field=region").json()
    assert _rows(by_region, "key", "label", "quotes", "won", "win_rate") == [
        ("emea", "EMEA", 3, 2, "66.7"), ("na", "North America", 2, 1, "50.0"), ("apac", "APAC", 1, 1, "100.0")]
    by_size = client.get(f"{PRICED}&by=segment").json()  # size stays the default
    assert _rows(by_size, "label", "quotes", "won") == [("Enterprise", 4, 3), ("SMB", 2, 1)]


def test_a_role_that_may_not_see_pricing_is_denied_the_figures(priced, api_client_for, sales_rep):
    denied = api_client_for(sales_rep).get(f"{PRICED}&by=segment&segment_field=industry")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert "rows" not in denied.json() and "retail" not in denied.content.decode()
    bad_and_denied = api_client_for(sales_rep).get(f"{PRICED}&segment_field=colour")
    assert bad_and_denied.status_code == 403  # the role is checked before any parameter


def test_the_pricing_page_offers_the_segment_field_and_says_what_was_left_out(priced, sales_manager):
    page = _client(sales_manager).get("/analytics/insights/?tab=pricing&by=segment&segment_field=industry"
                                      "&from=2026-01&to=2026-02")
    html = page.content.decode()
    assert page.status_code == 200
    assert '<option value="industry" selected>Industry</option>' in html
    assert "By segment (industry)" in html and "<td>retail</td>" in html
    assert 'id="fx-missing"' in html and "1 quote left out of the amounts" in html
    fallback = _client(sales_manager).get("/analytics/insights/?tab=pricing&by=segment&segment_field=colour"
                                          "&from=2026-01&to=2026-02").content.decode()
    assert "By segment (size)" in fallback and "<td>Enterprise</td>" in fallback


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/pricing-insights/?segment_field=colour", "segment_field"),
    ("/api/v1/pricing-insights/?by=segment&segment_field=owner", "segment_field"),
    ("/api/v1/recommendations/?customer=abc", "customer"),
    ("/api/v1/recommendations/?customer=1&limit=0", "limit"),
    ("/api/v1/recommendations/?as_of=2027-13-01", "as_of"),
    ("/api/v1/pricing-insights/?by=colour", "by"),
    ("/api/v1/pricing-insights/?from=2027-03&to=2027-01", "from"),
    ("/api/v1/pricing-insights/?from=yesterday", "from"),
    ("/api/v1/churn-risk/?limit=501", "limit"),
    ("/api/v1/churn-risk/?as_of=soon", "as_of"),
])
def test_bad_parameters_are_400s(api_client_for, sales_manager, url, field):
    response = api_client_for(sales_manager).get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert list(response.json()["error"]["fields"]) == [field]


def test_unknown_customer_is_404(api_client_for, sales_manager):
    assert api_client_for(sales_manager).get("/api/v1/churn-risk/?customer=987654").status_code == 404


# --- pages ------------------------------------------------------------------------------------------

def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_pages_render_for_the_roles_that_see_everything(data, sales_manager, finance_user, success_user,
                                                        admin_user_role):
    for user in (sales_manager, finance_user, success_user, admin_user_role):
        c = _client(user)
        for tab, marker in (("recommendations", "offers-table"), ("pricing", "win-rate-table"),
                            ("churn", "risk-table")):
            response = c.get(f"/analytics/insights/?tab={tab}")
            assert response.status_code == 200
            assert marker in response.content.decode()
    product_view = _client(sales_manager).get("/analytics/insights/?tab=pricing&by=product&from=2027-01&to=2027-02")
    assert "By product" in product_view.content.decode()


def test_a_rep_gets_no_pricing_tab_and_only_its_customers(data):
    rep = _client(data["rep"])
    page = rep.get("/analytics/insights/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "?tab=pricing" not in html
    assert ">Target</a>" in html and "Foreign" not in html  # the other rep's customer has an offer too
    assert "Foreign" in _client(data["other_rep"]).get("/analytics/insights/").content.decode()
    assert rep.get("/analytics/insights/?tab=pricing").status_code == 403
    assert rep.get("/analytics/insights/?tab=churn").status_code == 200


def test_portal_users_never_see_the_pages(data):
    portal = _client(portal_user(data["t"], "buyer@example.com"))
    assert portal.get("/analytics/insights/").status_code == 403
    assert portal.get("/analytics/insights/suggestions/?quote=1").status_code == 403


def test_the_quote_builder_loads_suggestions(data):
    quote = quote_create(customer=data["t"], owner=data["rep"])
    rep = _client(data["rep"])
    builder = rep.get(f"/quotes/{quote.pk}/").content.decode()
    assert f"/analytics/insights/suggestions/?quote={quote.pk}" in builder
    fragment = rep.get(f"/analytics/insights/suggestions/?quote={quote.pk}").content.decode()
    assert "<strong>B</strong> Analytics — lift 1.25, expected MRR $100.00" in fragment
    other = _client(data["other_rep"]).get(f"/analytics/insights/suggestions/?quote={quote.pk}")
    assert (other.status_code, other.content.decode().strip()) == (200, "")
    assert rep.get("/analytics/insights/suggestions/?quote=nope").status_code == 200
