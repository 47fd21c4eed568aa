"""Recognition: schedules for 10,000 contracts, a month-end recognition run, and the deferred revenue
waterfall.

PostgreSQL only. The benchmark creates a scratch database, BENCH_REC_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/revops_bench_rec: dropped and created again, dropped at the end
unless BENCH_KEEP_DB=1), and skips with the reason printed when PostgreSQL is not reachable. Under
`python -m bench` the figures are taken in a child process (`python -m bench.bench_recognition`) that
owns the scratch database.

Data (written directly with bulk_create: a data builder, not the contract services): BENCH_CONTRACTS
(10,000) active contracts starting on days spread over one month, for 12, 24 or 36 months, in USD, EUR,
GBP and JPY (FX rates entered), each with one to four ratable lines (monthly and yearly prices, some
with a EUR-priced SSP) and, one in three, a one-time setup line recognized at a point in time; half
of the contracts have an invoice-like entry (Dr AR · Cr Deferred revenue) so the recognition run splits
between deferred revenue and the unbilled receivable.

Figures:
- obligations (steps 1-5, schedules by days): `obligations_for_contract` one contract at a time (the
  contract.activated path) for the first BENCH_ONE_BY_ONE (1,000), `obligations_for_contracts` in
  batches of BENCH_OBLIGATION_BATCH (500) for the rest (a backfill), contracts/s each, and the total
  (the first contract or batch of each is untimed: its query count is printed instead);
- waterfall: `reports.waterfall` over the first 12 months by contract and by customer, median of 3
  (target under 1 s);
- recognition: `recognize_through` at the end of each of the first BENCH_MONTHS (3) months (each a
  whole month of schedule lines; the first also has the point-in-time lines), lines/s, and the median;
- target: schedules for every contract plus one month's recognition under 60 s.
BENCH_PROFILE=1 adds a cProfile of 300 more contracts' obligations and of the next month's run.
"""
from __future__ import annotations

import os
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from bench.scratch import main_for

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/revops_bench_rec"
CONTRACTS = int(os.environ.get("BENCH_CONTRACTS", "10000"))
ONE_BY_ONE = int(os.environ.get("BENCH_ONE_BY_ONE", "1000"))  # the rest are built in batches
OBLIGATION_BATCH = int(os.environ.get("BENCH_OBLIGATION_BATCH", "500"))
MONTHS = int(os.environ.get("BENCH_MONTHS", "3"))  # month-end runs timed
FIRST_MONTH = date(2026, 1, 1)
TARGET_TOTAL_S = 60.0
TARGET_WATERFALL_S = 1.0
# Units of the currency per USD for prices (JPY has no minor unit), and the FX rates to USD.
PRICE_FACTOR = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "JPY": Decimal("150")}
FX_TO_USD = {"EUR": Decimal("1.0850"), "GBP": Decimal("1.2700"), "JPY": Decimal("0.0066667")}


def _target(ok: bool, text: str) -> str:
    return "" if ok else f"  OVER the {text} target"


# --- scratch data ----------------------------------------------------------------------------------

def _catalog() -> dict[str, object]:
    from catalog import models as cm
    from recognition.models import FxRate

    def product(sku, name, family, ssp, kind="recurring", recognition="ratable", currency="USD"):
        return cm.Product.objects.create(sku=sku, name=name, kind=kind, recognition=recognition, family=family,
                                         currency=currency, ssp=Decimal(ssp))

    products = {
        "platform": product("REC-PLATFORM", "Platform seats", "Platform", "30"),
        "analytics": product("REC-ANALYTICS", "Analytics add-on", "Add-ons", "12"),
        "support": product("REC-SUPPORT", "Premium support", "Add-ons", "200"),
        "storage": product("REC-STORAGE", "EU storage pack", "Add-ons", "45", currency="EUR"),
        "setup": product("REC-SETUP", "Onboarding", "Services", "2500", kind="one_time",
                         recognition="point_in_time"),
    }
    from revops.kernel.dates import add_months

    # A rate on the first of each month around the run: lookups take the latest on or before the day.
    FxRate.objects.bulk_create(
        FxRate(date=add_months(FIRST_MONTH, k), currency=currency, rate=rate * (1 + Decimal(k) / 1000))
        for k in range(-2, 16) for currency, rate in FX_TO_USD.items())
    return products


def _contracts(n: int, products: dict, prefix: str = "REC") -> list[int]:
    """n active contracts written directly (bulk): 12/24/36 months, a few currencies, ratable lines and
    (one in three) a one-time setup line."""
    from contracts.models import Contract, ContractLine
    from customers.models import Customer
    from revops.kernel import money
    from revops.kernel.dates import term_end

    currencies = ["USD"] * 6 + ["EUR"] * 2 + ["GBP", "JPY"]
    n_customers = max(1, n * 2 // 5)  # some customers hold several contracts (the by-customer waterfall)
    customers = Customer.objects.bulk_create(
        [Customer(name=f"{prefix} customer {i:05d}", external_id=f"{prefix}-{i:06d}", currency=currencies[i % len(currencies)],
                  country="US") for i in range(n_customers)], batch_size=2000)
    rows, specs = [], []
    for i in range(n):
        customer = customers[i % n_customers]
        currency = customer.currency
        start = FIRST_MONTH + timedelta(days=i % 28)
        term = (12, 24, 36)[i % 3]
        rows.append(Contract(number=f"{prefix}-C-{i:06d}", customer=customer, currency=currency, status="active",
                             start_date=start, end_date=term_end(start, term), billing_frequency="month"))
        f = PRICE_FACTOR[currency]
        lines = [(products["platform"], 5 + i % 50, Decimal("27.50") * f, "month")]
        if i % 2 == 0:
            lines.append((products["analytics"], 5 + i % 50, Decimal("10.00") * f, "month"))
        if i % 5 == 0:
            lines.append((products["support"], 1, Decimal("2200.00") * f, "year"))
        if i % 7 == 3:
            lines.append((products["storage"], 1 + i % 4, Decimal("45.00") * f, "month"))
        if i % 3 == 1:
            lines.append((products["setup"], 1, Decimal("2000.00") * f, "one_time"))
        specs.append(lines)
    contracts = Contract.objects.bulk_create(rows, batch_size=2000)
    lines = []
    for contract, spec in zip(contracts, specs, strict=True):
        for item, (product, qty, unit, period) in enumerate(spec, start=1):
            unit = money.quantize_unit_price(unit)
            lines.append(ContractLine(contract=contract, item=item, product=product, quantity=Decimal(qty),
                                      unit_price=unit, amount=money.quantize(unit * qty, contract.currency),
                                      period=period, billing_frequency="month", start_date=contract.start_date,
                                      end_date=contract.end_date))
    ContractLine.objects.bulk_create(lines, batch_size=5000)
    return [c.pk for c in contracts]


def _billed(contract_ids: list[int]) -> int:
    """Invoice-like entries (Dr AR · Cr Deferred revenue, two months of the first line) for every other
    contract, written directly, so recognition draws on a deferred balance for some contracts and on the
    unbilled receivable for the others."""
    from contracts.models import Contract
    from recognition.models import Account, JournalEntry, JournalLine
    from recognition.services.journal import fx_rate, period_for
    from revops.kernel import money

    ar = Account.objects.get(role="receivable", family="")
    deferred = Account.objects.get(role="deferred", family="")
    period = period_for(FIRST_MONTH)
    contracts = list(Contract.objects.filter(pk__in=contract_ids[::2]).prefetch_related("lines"))
    entries, amounts = [], []
    for c in contracts:
        amount = money.quantize(min(x.amount for x in c.lines.all() if x.item == 1) * 2, c.currency)
        rate = fx_rate(c.currency, FIRST_MONTH)
        entries.append(JournalEntry(date=c.start_date, period=period, memo=f"Bench invoice {c.number}",
                                    source="invoice.issued", source_key=f"bench.invoice:{c.pk}", currency=c.currency,
                                    reporting_currency="USD", fx_rate=rate, customer_id=c.customer_id,
                                    contract_id=c.pk))
        amounts.append((amount, money.quantize(amount * rate, "USD")))
    entries = JournalEntry.objects.bulk_create(entries, batch_size=2000)
    lines = []
    for e, (amount, rep) in zip(entries, amounts, strict=True):
        lines.append(JournalLine(entry=e, account=ar, debit=amount, debit_reporting=rep, contract_id=e.contract_id))
        lines.append(JournalLine(entry=e, account=deferred, credit=amount, credit_reporting=rep,
                                 contract_id=e.contract_id))
    JournalLine.objects.bulk_create(lines, batch_size=5000)
    return len(entries)


# --- measurements ----------------------------------------------------------------------------------

def _profile(label: str, fn) -> None:
    import cProfile
    import pstats

    print(f"\n   --- cProfile: {label} ---")
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def _counted_queries(fn) -> tuple[object, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        result = fn()
    return result, len(ctx.captured_queries)


def _obligations(contract_ids: list[int]) -> float:
    """The first ONE_BY_ONE contracts one at a time (the contract.activated path), the rest in batches;
    returns the seconds for all of them."""
    from recognition.models import PerformanceObligation, ScheduleLine
    from recognition.services.obligations import obligations_for_contract

    single, batched = contract_ids[:ONE_BY_ONE], contract_ids[ONE_BY_ONE:]
    total = 0.0
    if single:
        _, queries = _counted_queries(lambda: obligations_for_contract(contract_id=single[0]))
        started = time.perf_counter()
        for pk in single[1:]:
            obligations_for_contract(contract_id=pk)
        seconds = time.perf_counter() - started
        n = max(1, len(single) - 1)
        total += seconds * len(single) / n
        print(f"recognition: obligations_for_contract, one at a time, {n:,} contracts: {seconds:.1f} s "
              f"({n / seconds:,.0f}/s; {queries} queries for one contract)")
    if batched:
        from recognition.services.obligations import obligations_for_contracts

        first = batched[:OBLIGATION_BATCH]
        _, queries = _counted_queries(lambda: obligations_for_contracts(contracts=dict.fromkeys(first)))
        started = time.perf_counter()
        for i in range(len(first), len(batched), OBLIGATION_BATCH):
            obligations_for_contracts(contracts=dict.fromkeys(batched[i:i + OBLIGATION_BATCH]))
        seconds = time.perf_counter() - started
        n = max(1, len(batched) - len(first))
        total += seconds * len(batched) / n
        print(f"recognition: obligations_for_contracts, batches of {OBLIGATION_BATCH:,}, {n:,} contracts: "
              f"{seconds:.1f} s ({n / seconds:,.0f}/s; {queries} queries for a batch)")
    obligations = PerformanceObligation.objects.count()
    lines = ScheduleLine.objects.count()
    print(f"recognition: obligations for {len(contract_ids):,} contracts: {total:.1f} s "
          f"({len(contract_ids) / total:,.0f}/s; {obligations:,} obligations, {lines:,} schedule lines)")
    return total


def _waterfall() -> None:
    from recognition.services import reports

    last = date(FIRST_MONTH.year, 12, 31) if FIRST_MONTH.month == 1 else FIRST_MONTH + timedelta(days=364)
    for by in ("contract", "customer"):
        durations, rows = [], 0
        for _ in range(3):
            started = time.perf_counter()
            table = reports.waterfall(first=FIRST_MONTH, last=last, by=by)
            durations.append(time.perf_counter() - started)
            rows = len(table["rows"])
        seconds = statistics.median(durations)
        print(f"recognition: waterfall by {by}, 12 months: {seconds * 1000:,.0f} ms median of 3 ({rows:,} rows)"
              f"{_target(seconds < TARGET_WATERFALL_S, '1 s')}")


def _month_end(month: date) -> date:
    from revops.kernel.dates import add_months

    return add_months(month, 1) - timedelta(days=1)


def _recognize(months: int) -> list[float]:
    from recognition.models import JournalLine
    from recognition.services.posting import recognize_through
    from revops.kernel.dates import add_months

    durations = []
    for k in range(months):
        day = _month_end(add_months(FIRST_MONTH, k))
        started = time.perf_counter()
        posted = recognize_through(day=day)
        seconds = time.perf_counter() - started
        durations.append(seconds)
        print(f"recognition: recognize_through({day}): {posted:,} lines in {seconds:.1f} s ({posted / seconds:,.0f} "
              f"lines/s)")
    split = JournalLine.objects.filter(entry__source="revenue.recognized")
    from_deferred = split.filter(account__role="deferred").count()
    from_unbilled = split.filter(account__role="unbilled").count()
    print(f"   journal lines of the runs: {from_deferred:,} from deferred revenue, {from_unbilled:,} to unbilled "
          f"receivable")
    return durations


def _tie_out() -> None:
    """The run's invariants, checked on the whole data set (not timed)."""
    from django.db.models import Sum

    from recognition.models import JournalLine, ScheduleLine
    from recognition.services import reports

    tb = reports.trial_balance(as_of=date(2099, 12, 31))
    recognized = ScheduleLine.objects.filter(status="recognized").aggregate(s=Sum("amount"))["s"] or 0
    revenue = JournalLine.objects.filter(account__role="revenue").aggregate(c=Sum("credit"), d=Sum("debit"))
    ok = tb["balanced"] and recognized == (revenue["c"] or 0) - (revenue["d"] or 0)
    print(f"   checks: trial balance {'balanced' if tb['balanced'] else 'NOT BALANCED'}, recognized schedule lines "
          f"{'equal' if ok else 'DO NOT EQUAL'} revenue credits (transaction currencies summed)")


def _bench() -> None:
    from django.db import connection

    from revops.kernel.dates import add_months

    print(f"scratch database: {connection.vendor} ({connection.settings_dict['NAME']})")
    started = time.perf_counter()
    products = _catalog()
    contract_ids = _contracts(CONTRACTS, products)
    billed = _billed(contract_ids)
    print(f"   (built {len(contract_ids):,} contracts and {billed:,} invoice entries in "
          f"{time.perf_counter() - started:.1f} s)")
    # No ANALYZE before the obligations: statistics taken on the empty obligation tables make this
    # connection's cached foreign-key check plans scan those tables, which then grow (every COMMIT slows).
    obligations_s = _obligations(contract_ids)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    _waterfall()
    durations = _recognize(MONTHS)
    month = statistics.median(durations)
    total = obligations_s + month
    print(f"recognition: schedules for {CONTRACTS:,} contracts + a month's recognition (median of {MONTHS} months, "
          f"{month:.1f} s): {total:.1f} s{_target(total < TARGET_TOTAL_S, f'{TARGET_TOTAL_S:.0f} s')}")
    _tie_out()

    if os.environ.get("BENCH_PROFILE"):
        from recognition.services.obligations import obligations_for_contract
        from recognition.services.posting import recognize_through

        extra = _contracts(300, products, prefix="PROF")
        _profile("obligations_for_contract × 300", lambda: [obligations_for_contract(contract_id=pk) for pk in extra])
        _profile("recognize_through, the month after", lambda: recognize_through(day=_month_end(add_months(FIRST_MONTH, MONTHS))))


# --- entry points ----------------------------------------------------------------------------------

def main() -> None:
    main_for("bench.bench_recognition", os.environ.get("BENCH_REC_DATABASE_URL", DEFAULT_URL), _bench)


run = main  # `python -m bench` calls run()

if __name__ == "__main__":
    main()
