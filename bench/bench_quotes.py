"""Quotes: repricing a saved 200-line quote, the pure pricing of 200 lines, and the quote PDF.

Runs on a scratch database it creates and migrates itself: a temporary SQLite file (or the throwaway
database named by BENCH_DATABASE_URL, e.g. a PostgreSQL database made for the purpose; it is
migrated and filled). Under `python -m bench` Django is already set up on the configured database,
so the figures are taken in a child process (`python -m bench.bench_quotes`) that owns the scratch
database; nothing global changes in the caller.

Figures (median of several runs, after a warm-up):
- quote reprice: `quotes.services.editing.quote_reprice` on a saved quote whose term changes before
  each run (12/24/36 months: every line's term discount and amount change, so every row is written),
  in its own transaction, commit included; with its query count at 20 and 200 lines
  (target: under 50 ms at 200 lines, queries not growing with the lines);
- price_quote: the pure pricing of the same 200 lines (no database);
- quote PDF: `quotes.documents.render_quote_pdf` for a 10-line and a 50-line quote (target for 50
  lines: under 800 ms), and the first render of the process (fonts loaded) apart.
BENCH_PROFILE=1 adds a cProfile of one reprice.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

REPRICE_RUNS = 10
PDF_RUNS = 5
ROOT = Path(__file__).resolve().parent.parent


def _median_ms(fn: Callable[[], object], runs: int, before: Callable[[int], object] | None = None) -> float:
    durations = []
    for i in range(runs):
        if before is not None:
            before(i)
        started = time.perf_counter()
        fn()
        durations.append((time.perf_counter() - started) * 1000)
    return statistics.median(durations)


# --- scratch data ----------------------------------------------------------------------------------

def _catalog():
    """20 priced products (graduated and volume tiers, per unit, one-time, usage), a bundle, and
    volume and term discount schedules (catalogue-wide and per product)."""
    from catalog import models as cm

    book = cm.PriceBook.objects.create(name="Bench USD", currency="USD", is_default=True)
    meter = cm.Meter.objects.create(code="bench-api-calls", name="API calls", unit="API calls")
    products = []

    def product(sku, name, kind="recurring", **price):
        p = cm.Product.objects.create(sku=sku, name=name, kind=kind,
                                      recognition={"recurring": "ratable", "one_time": "point_in_time",
                                                   "usage": "usage"}[kind],
                                      meter=meter if kind == "usage" else None, ssp=Decimal("10"))
        tiers = price.pop("tiers", ())
        pr = cm.Price.objects.create(product=p, price_book=book, currency="USD", **price)
        cm.PriceTier.objects.bulk_create(cm.PriceTier(price=pr, up_to=up, unit_amount=Decimal(u),
                                                      flat_amount=Decimal(f)) for up, u, f in tiers)
        products.append(p)
        return p

    graduated = [(10, "50", "0"), (50, "45", "0"), (100, "40", "0"), (500, "35", "25"), (None, "30", "0")]
    volume = [(25, "20", "0"), (100, "18", "0"), (1000, "15", "50"), (None, "12", "100")]
    for i in range(6):
        product(f"seats-{i}", f"Platform seats, edition {i}", model="graduated", tiers=graduated)
    for i in range(6):
        product(f"storage-{i}", f"Storage pack {i}", model="volume", tiers=volume,
                billing_period="quarter" if i % 2 else "month")
    for i in range(4):
        product(f"addon-{i}", f"Add-on module {i}", model="per_unit", unit_amount=Decimal("12.50"),
                billing_period="year" if i % 2 else "month")
    for i in range(2):
        product(f"services-{i}", f"Professional services {i}", kind="one_time", model="flat",
                flat_amount=Decimal("2500.00"), billing_period="one_time")
    for i in range(2):
        product(f"api-{i}", f"API calls {i}", kind="usage", model="graduated",
                tiers=[(100_000, "0", "0"), (1_000_000, "0.0008", "0"), (None, "0.0005", "10")])
    bundle = product("bench-bundle", "Growth bundle", model="flat", flat_amount=Decimal("0.00"))
    b = cm.Bundle.objects.create(product=bundle)
    for pos, option in enumerate(products[:3], start=1):
        cm.BundleOption.objects.create(bundle=b, product=option, required=True, default_quantity=5,
                                       min_quantity=1, position=pos)

    schedules = [
        ("Volume (all products)", "volume", None, [("10", "5"), ("100", "10"), ("1000", "15")]),
        ("Term (all products)", "term", None, [("12", "5"), ("24", "10"), ("36", "15")]),
        ("Seats volume", "volume", products[0], [("20", "8"), ("200", "12")]),
    ]
    for name, kind, prod, tiers in schedules:
        s = cm.DiscountSchedule.objects.create(name=name, kind=kind, product=prod)
        cm.DiscountTier.objects.bulk_create(cm.DiscountTier(schedule=s, from_value=Decimal(f),
                                                            discount_percent=Decimal(d)) for f, d in tiers)
    return book, products[:-1], bundle


def _quote(customer, owner, products, bundle, n_lines: int, *, with_bundle: bool = False):
    """A saved, priced quote of `n_lines` lines cycling over the products (optionally a bundle first)."""
    from quotes.models import QuoteLine
    from quotes.services.editing import quote_create, quote_reprice

    quote = quote_create(customer=customer, owner=owner, term_months=12,
                         notes="Prices held until the date above. Volume and term discounts applied.")
    lines, position = [], 10
    if with_bundle:
        parent = QuoteLine.objects.create(quote=quote, product=bundle, price=bundle.prices.get(), quantity=1,
                                          position=position, billing_period="")
        for i, option in enumerate(products[:3], start=1):
            lines.append(QuoteLine(quote=quote, product=option, price=option.prices.get(), quantity=5,
                                   parent_line=parent, position=position + i, billing_period=""))
        position += 10
    prices = {p.pk: p.prices.get() for p in products}
    while len(lines) + with_bundle < n_lines:
        i = len(lines)
        p = products[i % len(products)]
        lines.append(QuoteLine(quote=quote, product=p, price=prices[p.pk], quantity=Decimal(1 + (i * 37) % 300),
                               discount_percent=Decimal(i % 4 * 5), position=position + i * 10, billing_period=""))
    QuoteLine.objects.bulk_create(lines)
    quote_reprice(quote=quote)
    return quote


# --- measurements ----------------------------------------------------------------------------------

def _bench() -> None:
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer
    from quotes.documents import render_quote_pdf
    from quotes.models import Quote
    from quotes.services import editing, pricing

    _, products, bundle = _catalog()
    owner = User.objects.create_user("bench-owner", password=None)
    customer = Customer.objects.create(name="Bench Customer Ltd", currency="USD", address="1 Bench Road\nLondon",
                                       tax_id="GB123456789", billing_email="ap@bench.example", country="GB")
    quotes = {n: _quote(customer, owner, products, bundle, n) for n in (20, 200)}
    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")

    terms = (12, 24, 36)

    def set_term(quote: Quote, i: int) -> None:
        quote.term_months = terms[i % len(terms)]
        Quote.objects.filter(pk=quote.pk).update(term_months=quote.term_months)

    def reprice(quote: Quote) -> None:
        with transaction.atomic():
            editing.quote_reprice(quote=quote)

    queries = {}
    for n, quote in quotes.items():
        set_term(quote, 1)
        with CaptureQueriesContext(connection) as ctx:
            reprice(quote)
        queries[n] = len(ctx.captured_queries)
    q200 = quotes[200]
    reprice(q200)  # warm-up
    ms = _median_ms(lambda: reprice(q200), REPRICE_RUNS, before=lambda i: set_term(q200, i))
    print(f"quote reprice, 200 lines: {ms:.1f} ms median of {REPRICE_RUNS}, {queries[200]} queries "
          f"(20 lines: {queries[20]} queries){'' if ms < 50 else '  OVER the 50 ms target'}")
    kinds: dict[str, int] = {}
    for q in ctx.captured_queries:
        words = q["sql"].split()
        # Django logs an executemany once, as "<n> times: <sql>"
        kind = f"{words[2].upper()} × {words[0]} rows (executemany)" if words[1:2] == ["times:"] else words[0].upper()
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"   queries at 200 lines by kind: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}")

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        set_term(q200, 0)
        profiler = cProfile.Profile()
        profiler.runcall(reprice, q200)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)

    lines = editing.quote_lines(q200)
    inputs = [editing._line_input(line) for line in lines]
    schedules = editing.load_schedules()

    def price_only() -> None:
        pricing.price_quote(lines=inputs, currency="USD", term_months=24, schedules=schedules)

    price_only()
    ms = _median_ms(price_only, REPRICE_RUNS)
    print(f"price_quote (pure), 200 lines: {ms:.1f} ms median of {REPRICE_RUNS}")

    for n in (10, 50):
        quote = _quote(customer, owner, products, bundle, n, with_bundle=True)
        started = time.perf_counter()
        pdf = render_quote_pdf(quote)
        first = (time.perf_counter() - started) * 1000
        ms = _median_ms(lambda quote=quote: render_quote_pdf(quote), PDF_RUNS)
        with CaptureQueriesContext(connection) as ctx:
            render_quote_pdf(quote)
        target = "" if n != 50 or ms < 800 else "  OVER the 800 ms target"
        print(f"quote PDF, {n} lines: {ms:.0f} ms median of {PDF_RUNS} (first render {first:.0f} ms), "
              f"{_pages(pdf)} page(s), {len(pdf) / 1024:.0f} KiB, {len(ctx.captured_queries)} queries{target}")


def _pages(pdf: bytes) -> str:
    try:
        import io

        from pypdf import PdfReader
    except ImportError:  # pypdf is a dev dependency
        return "?"
    return str(len(PdfReader(io.BytesIO(pdf)).pages))


# --- entry points ----------------------------------------------------------------------------------

def _scratch_run() -> None:
    """Set Django up on a scratch database in this (fresh) process, migrate it and measure."""
    import django
    from django.core.management import call_command

    with tempfile.TemporaryDirectory(prefix="revops-bench-quotes-") as tmp:
        os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "revops.settings.dev")
        os.environ.setdefault("DEBUG", "0")  # time what production runs, not the debug cursor
        os.environ.setdefault("LOG_LEVEL", "WARNING")  # WeasyPrint logs each step at INFO
        django.setup()
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"   (scratch database migrated in {time.perf_counter() - started:.1f} s)")
        _bench()


def main() -> None:
    from django.apps import apps

    if apps.ready:  # Django already runs on the configured database: measure in a child process
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", "bench.bench_quotes"], cwd=ROOT, check=True)
    else:
        _scratch_run()


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
