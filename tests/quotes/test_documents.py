"""The quote PDF: what a customer reads on it (read back with pypdf), money in each currency's own
minor units, and customer text that cannot make the renderer fetch anything."""
import io
import socket
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from pypdf import PdfReader

from catalog import models as cm
from quotes.documents import quote_pdf_context, quote_pdf_filename, render_quote_pdf
from quotes.models import Quote, QuoteLine
from quotes.services import editing
from revops.kernel.money import format_money
from revops.kernel.pdf import StaticOnlyURLFetcher, html_to_pdf, static_root
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

ISSUED = date(2026, 3, 2)
EVIL_NOTE = ('Thanks! <img src="http://example.com/x.png"> '
             '<link rel=stylesheet href="file:///etc/passwd">')


def pdf_text(pdf: bytes) -> tuple[str, int]:
    """All pages' text with whitespace runs collapsed (table cells wrap unpredictably), and the page count."""
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(page.extract_text() for page in reader.pages)
    return " ".join(text.split()), len(reader.pages)


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection during the test is recorded and refused."""
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def acme(db):
    return CustomerFactory(name="Acme Widgets GmbH", currency="USD", address="Hauptstrasse 5\n10115 Berlin",
                           tax_id="DE123456789", billing_email="ap@acme.example", country="DE")


@pytest.fixture
def quote(catalog, acme, sales_rep):
    """Issued 2 March 2026, 12 months from 1 April 2026: the growth bundle (seats 5 × $50/month,
    onboarding $2,500 once) and analytics 25 × $20/month at 20 % off."""
    with time_machine.travel(ISSUED, tick=False):
        quote = editing.quote_create(customer=acme, owner=sales_rep, start_date=date(2026, 4, 1), term_months=12,
                                     valid_until=date(2026, 4, 15), notes="Pricing held for 30 days.")
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.bundle.pk, quantity=1, by=sales_rep)
        editing.quote_line_add(quote_id=quote.pk, product_id=catalog.analytics.pk, quantity=25,
                               discount_percent="20", by=sales_rep)
    quote.refresh_from_db()
    return quote


def test_the_pdf_shows_the_quote_its_customer_its_lines_and_totals(quote):
    text, pages = pdf_text(render_quote_pdf(quote))

    assert pages == 1
    assert "Quote Q-2026-000001 · version 1" in text
    assert "Revops Demo Inc." in text and "billing@example.com" in text
    assert "Acme Widgets GmbH" in text
    assert "Hauptstrasse 5 10115 Berlin" in text
    assert "Tax ID: DE123456789" in text
    assert "Billing email: ap@acme.example" in text
    for name in ("Growth-Bundle", "Seats", "Onboarding", "Analytics"):
        assert name in text
    # analytics: 25 × $20.00 = $500.00 a month list, 20 % off → $400.00 a month, × 12 = $4,800.00
    assert "25 $20.00 20% −$1,200.00 $16.00 $4,800.00" in text
    assert "analytics · price per month" in text
    assert "$3,000.00" in text  # seats: 5 × $50.00 × 12
    assert "$2,500.00" in text  # onboarding, once
    assert "List total $11,500.00" in text
    assert "Total discount $1,200.00" in text
    assert "One-time $2,500.00" in text
    assert "MRR $650.00" in text  # 250.00 + 400.00
    assert "ARR $7,800.00" in text
    assert "Total contract value $10,300.00" in text  # 3,000 + 2,500 + 4,800
    assert "Valid until April 15, 2026" in text
    assert "Issued March 2, 2026" in text
    assert "Start date April 1, 2026" in text
    assert "Term 12 months, ending March 31, 2027" in text
    assert "Billing Monthly" in text
    assert "Payment terms Net 30" in text
    assert "Pricing held for 30 days." in text
    assert "Prices in USD" in text
    assert "DRAFT: NOT YET AN OFFER" in text


def test_bundle_options_follow_their_bundle_in_order(quote):
    names = [line.name for line in quote_pdf_context(quote)["lines"]]
    options = [line.option for line in quote_pdf_context(quote)["lines"]]

    assert names == ["Growth-Bundle", "Seats", "Onboarding", "Analytics"]
    assert options == [False, True, True, False]


def test_the_filename_names_the_quote_and_its_version(quote):
    assert quote_pdf_filename(quote) == "Q-2026-000001-v1.pdf"


def test_usage_lines_show_their_rates_and_no_amount(quote, sales_rep, catalog):
    meter = cm.Meter.objects.create(code="api-calls", name="API calls", unit="API calls")
    api = cm.Product.objects.create(sku="api", name="API Access", kind="usage", recognition="usage", meter=meter)
    price = cm.Price.objects.create(product=api, price_book=catalog.book, model="graduated", currency="USD")
    cm.PriceTier.objects.create(price=price, up_to=100_000, unit_amount=D("0"))
    cm.PriceTier.objects.create(price=price, up_to=None, unit_amount=D("0.0008"), flat_amount=D("10.00"))
    editing.quote_line_add(quote_id=quote.pk, product_id=api.pk, quantity=1, by=sales_rep)
    quote.refresh_from_db()

    text, _ = pdf_text(render_quote_pdf(quote))

    assert "API Access" in text
    assert "billed on usage" in text
    assert "1–100,000: $0.00" in text
    assert "above 100,000: $0.0008 + $10.00" in text
    assert "Total contract value $10,300.00" in text  # usage adds nothing to the quote's value


def test_a_yen_quote_has_no_decimals(sales_rep):
    book = cm.PriceBook.objects.create(name="JPY list", currency="JPY", is_default=True)
    seats = cm.Product.objects.create(sku="seats-jp", name="Seats JP", kind="recurring", recognition="ratable")
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="JPY", unit_amount=D("1500"))
    customer = CustomerFactory(name="Kabushiki Test", currency="JPY", country="JP")
    quote = editing.quote_create(customer=customer, owner=sales_rep, term_months=12)
    editing.quote_line_add(quote_id=quote.pk, product_id=seats.pk, quantity=3, by=sales_rep)
    quote.refresh_from_db()

    text, _ = pdf_text(render_quote_pdf(quote))

    # babel's en_US spelling of yen is U+00A5 "¥" (ja_JP would write the full-width "￥").
    assert format_money(D("54000"), "JPY") == "¥54,000"
    assert "Total contract value ¥54,000" in text  # 3 × ¥1,500 × 12
    assert "MRR ¥4,500" in text
    assert "3 ¥1,500 — ¥1,500 ¥54,000" in text
    assert "¥54,000.00" not in text and ".00" not in text
    assert "Prices in JPY" in text


def test_a_dinar_quote_shows_three_decimals(sales_rep):
    book = cm.PriceBook.objects.create(name="KWD list", currency="KWD", is_default=True)
    seats = cm.Product.objects.create(sku="seats-kw", name="Seats KW", kind="recurring", recognition="ratable")
    cm.Price.objects.create(product=seats, price_book=book, model="per_unit", currency="KWD", unit_amount=D("12.345"))
    customer = CustomerFactory(currency="KWD", country="KW")
    quote = editing.quote_create(customer=customer, owner=sales_rep, term_months=12)
    editing.quote_line_add(quote_id=quote.pk, product_id=seats.pk, quantity=2, by=sales_rep)
    quote.refresh_from_db()

    context = quote_pdf_context(quote)

    assert context["lines"][0].amount == "KWD296.280"  # 2 × 12.345 × 12
    assert context["totals"]["mrr"] == "KWD24.690"


def test_customer_markup_in_the_notes_is_printed_not_fetched(quote, no_network):
    Quote.objects.filter(pk=quote.pk).update(notes=EVIL_NOTE)
    quote.refresh_from_db()
    fetcher = StaticOnlyURLFetcher()

    text, pages = pdf_text(render_quote_pdf(quote, url_fetcher=fetcher))

    assert pages == 1
    assert fetcher.fetched == [] and fetcher.refused == []  # escaped into text: nothing was even asked for
    assert no_network == []
    assert '<img src="http://example.com/x.png">' in text
    assert '<link rel=stylesheet href="file:///etc/passwd">' in text


def test_markup_that_got_through_still_fetches_only_data_uris_and_static_files(no_network):
    """Defence in depth: were customer text ever rendered unescaped, the fetcher still says no."""
    fetcher = StaticOnlyURLFetcher()
    pixel = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
             "60e6kgAAAABJRU5ErkJggg==")
    html = ('<!doctype html><meta charset="utf-8">'
            '<link rel=stylesheet href="file:///etc/passwd">'
            '<link rel=stylesheet href="css/app.css">'
            '<link rel=stylesheet href="../quotes/models.py">'
            f'<p>Hello <img src="http://example.com/x.png"> <img src="https://example.com/y.png"> <img src="{pixel}"></p>')

    pdf = html_to_pdf(html, url_fetcher=fetcher)

    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert "http://example.com/x.png" in fetcher.refused
    assert "https://example.com/y.png" in fetcher.refused
    assert "file:///etc/passwd" in fetcher.refused
    assert (static_root().parent / "quotes" / "models.py").as_uri() in fetcher.refused  # no way out by ".."
    assert fetcher.fetched == [(static_root() / "css" / "app.css").as_uri(), pixel]  # base URL: static/
    assert no_network == []


@pytest.mark.parametrize(("url", "allowed"), [
    ("data:text/plain,hi", True),
    ("http://example.com/x.png", False),
    ("ftp://example.com/x", False),
    ("file:///etc/passwd", False),
    ("file://evil.example/share/x.css", False),
    ("file:///{static}/css/app.css", True),
    ("file:///{static}/css/../../quotes/models.py", False),
    ("file:///{static}/css/missing.css", False),
])
def test_the_fetcher_allows_only_data_and_existing_static_files(url, allowed):
    url = url.replace("/{static}", str(static_root()))

    assert StaticOnlyURLFetcher().allows(url) is allowed


def test_a_50_line_quote_renders_on_several_pages_with_bounded_queries(quote, catalog, django_assert_max_num_queries):
    lines = [QuoteLine(quote=quote, product=catalog.seats, price=catalog.seats.prices.get(), quantity=i,
                       position=1000 + i, billing_period="") for i in range(1, 47)]
    QuoteLine.objects.bulk_create(lines)
    editing.quote_reprice(quote=quote)
    fresh = Quote.objects.get(pk=quote.pk)
    assert fresh.lines.count() == 50

    with django_assert_max_num_queries(3):  # customer, lines with products and prices, price tiers
        pdf = render_quote_pdf(fresh)
    text, pages = pdf_text(pdf)

    assert pages >= 2
    assert f"Page 1 of {pages}" in text
    # 46 extra seat lines: Σ 1..46 = 1,081 seats × $50 × 12 = $648,600 on top of $10,300
    assert "Total contract value $658,900.00" in text
