"""Churn risk on constructed customers: each factor's points and reasons computed by hand, the table
agreeing with the one-customer score, and the table's query count not growing with customers."""
from datetime import date, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.models import ServiceCost
from analytics.services.churn_risk import DEFINITIONS, _support_window, customer_risk, level_of, risk_table
from billing.models import Invoice
from billing.services.usage import usage_ingest
from catalog import models as cm
from contracts.models import Contract
from contracts.services.creation import LineSpec, contract_create
from quotes.models import Quote
from recognition.models import Account, JournalEntry, JournalLine
from recognition.services.journal import period_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()  # tests start cold (the support shares read the stored cost split: no cache of their own)


@pytest.fixture
def today():
    return timezone.localdate()


def _usage(customer, days_ago: list[int], today) -> None:
    tz = ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE)
    usage_ingest([{"customer": customer.pk, "meter": "api-calls", "idempotency_key": f"{customer.pk}-{i}",
                   "timestamp": datetime.combine(today - timedelta(days=d), time(12), tzinfo=tz).isoformat()}
                  for i, d in enumerate(days_ago)])


def _overdue(customer, amount: str, due, n=[0]) -> Invoice:  # noqa: B006 - a counter for invoice numbers
    n[0] += 1
    return Invoice.objects.create(customer=customer, currency="USD", status="issued", number=f"INV-T-{n[0]}",
                                  issue_date=due - timedelta(days=30), due_date=due, subtotal=D(amount), tax=D(0),
                                  total=D(amount), amount_due=D(amount))


def _ending(customer, by, today, days: int, **terms) -> Contract:
    seats = cm.Product.objects.get_or_create(sku="SEATS", defaults={"name": "Seats", "kind": "recurring",
                                                                   "recognition": "ratable"})[0]
    contract = contract_create(customer=customer, start_date=today - timedelta(days=300), term_months=12, by=by,
                               lines=[LineSpec(seats, D(10), D("10.00"), period="month")], **terms)
    Contract.objects.filter(pk=contract.pk).update(end_date=today + timedelta(days=days))
    contract.lines.update(end_date=today + timedelta(days=days))
    contract.refresh_from_db()
    return contract


def _revenue(customer, amount: str, today) -> None:
    revenue, receivable = Account.objects.filter(role="revenue").first(), Account.objects.filter(role="receivable").first()
    entry = JournalEntry.objects.create(date=today, period=period_for(today), memo="test revenue", source="test",
                                        source_key=f"test-revenue-{customer.pk}", currency="USD",
                                        reporting_currency="USD", customer=customer)
    JournalLine.objects.create(entry=entry, account=receivable, debit=D(amount), debit_reporting=D(amount))
    JournalLine.objects.create(entry=entry, account=revenue, credit=D(amount), credit_reporting=D(amount))


@pytest.fixture
def book(finance_user, today, sales_rep):
    cm.Meter.objects.create(code="api-calls", name="API calls")
    x, y, z, calm = (CustomerFactory(name=n) for n in ("X at risk", "Y late payer", "Z renewing", "Calm"))
    # X: 90 events over the 90 days before the last 30 (1 a day), 12 in the last 30 (0.4 a day): down 60 % → +25.
    _usage(x, list(range(30, 120)) + list(range(0, 24, 2)), today)
    # X: two invoices overdue, USD 3,000.00 (45 days) and 1,120.00 (10 days): oldest 31–60 → 20, +5 for two.
    _overdue(x, "3000.00", today - timedelta(days=45))
    _overdue(x, "1120.00", today - timedelta(days=10))
    # X: cost to serve 400 on revenue 1,000 this month: 40 % → +20.
    _revenue(x, "1000.00", today)
    ServiceCost.objects.create(period=today.replace(day=1), category="support", amount=D("400.00"), currency="USD",
                               customer=x, driver="direct")
    # X: a contract ending in 20 days, no renewal under way → +20.
    _ending(x, finance_user, today, 20)
    # Y: one invoice 5 days late → +10; its contract ends in 20 days but renews automatically → 0.
    _overdue(y, "100.00", today - timedelta(days=5))
    _ending(y, finance_user, today, 20, auto_renew=True)
    # Z: ending in 20 days with a renewal quote sent to the customer → 0. Calm: steady usage → 0.
    contract = _ending(z, finance_user, today, 20)
    book_ = cm.PriceBook.objects.create(name="USD", currency="USD", is_default=True)
    contract.renewal_quote = Quote.objects.create(number="Q-R-1", customer=z, owner=sales_rep, currency="USD",
                                                  price_book=book_, status="sent", start_date=today,
                                                  valid_until=today + timedelta(days=30))
    contract.save(update_fields=["renewal_quote"])
    _usage(calm, list(range(0, 120)), today)
    return {"x": x, "y": y, "z": z, "calm": calm}


def test_the_score_and_reasons_of_a_customer_at_risk(book, today):
    risk = customer_risk(customer_id=book["x"].pk, day=today)
    number = Contract.objects.get(customer=book["x"]).number
    assert (risk["score"], risk["level"]) == (90, "high")
    assert risk["factors"] == {"usage": 25, "overdue": 25, "support": 20, "renewal": 20}
    assert risk["reasons"] == [
        "api-calls usage down 60 % (daily average, last 30 days vs the 90 before): +25",
        "2 invoices overdue (USD 4,120.00, oldest 45 days): +25",
        "cost to serve is 40.0 % of revenue over the last three full months and this month to date: +20",
        f"contract {number} ends in 20 days ({today + timedelta(days=20)}) with no renewal under way: +20",
    ]


def test_late_payer_auto_renewal_and_renewal_under_way(book, today):
    y = customer_risk(customer_id=book["y"].pk, day=today)
    assert (y["score"], y["level"], y["reasons"]) == (10, "low", ["1 invoice overdue (USD 100.00, oldest 5 days): +10"])
    for calm in (book["z"], book["calm"]):
        assert customer_risk(customer_id=calm.pk, day=today)["score"] == 0


def test_the_table_agrees_with_each_customer_and_leaves_out_the_calm(book, today):
    rows = risk_table(day=today, limit=10)
    assert [(r["customer_name"], r["score"], r["level"]) for r in rows] == [("X at risk", 90, "high"),
                                                                          ("Y late payer", 10, "low")]
    for r in rows:
        one = customer_risk(customer_id=r["customer_id"], day=today)
        assert (r["score"], r["reasons"], r["factors"]) == (one["score"], one["reasons"], one["factors"])
    assert [r["customer_name"] for r in risk_table(day=today, limit=10, customer_ids=[book["y"].pk])] == [
        "Y late payer"]
    assert len(risk_table(day=today, limit=1)) == 1


def test_the_table_does_not_query_per_customer(book, today):
    with CaptureQueriesContext(connection) as cold:
        risk_table(day=today, limit=None)
    assert len(cold.captured_queries) <= 20  # with the profitability computation behind the support shares
    with CaptureQueriesContext(connection) as few:
        risk_table(day=today, limit=None)
    for i in range(6):
        _overdue(CustomerFactory(), "50.00", today - timedelta(days=70 + i))
    with CaptureQueriesContext(connection) as more:
        rows = risk_table(day=today, limit=None)
    assert len(rows) == 8
    assert len(more.captured_queries) == len(few.captured_queries)


def test_the_support_share_is_profitability_s_and_a_new_cost_counts_at_once(book, today):
    from analytics.services.churn_risk import _support_window
    from analytics.services.profitability import customer_cost_to_serve_share

    first, last = _support_window(today)
    assert customer_cost_to_serve_share(customer_id=book["x"].pk, first=first, last=last) * 100 == D("40.00")
    calm = book["calm"]
    _revenue(calm, "1000.00", today)
    ServiceCost.objects.create(period=today.replace(day=1), category="support", amount=D("100.00"), currency="USD",
                               customer=calm, driver="direct")
    assert customer_risk(customer_id=calm.pk, day=today)["factors"]["support"] == 0  # 10 %
    ServiceCost.objects.create(period=today.replace(day=1), category="success", amount=D("100.00"), currency="USD",
                               customer=calm, driver="direct")
    risk = customer_risk(customer_id=calm.pk, day=today)  # 20 %, seen despite the cache
    assert risk["reasons"] == ["cost to serve is 20.0 % of revenue over the last three full months and this month to date: +10"]
    # Roles that may not see costs (sales reps, customer success) get the points, not the ratio.
    hidden = customer_risk(customer_id=calm.pk, day=today, costs_visible=False)
    assert (hidden["score"], hidden["reasons"]) == (risk["score"], ["high cost to serve relative to revenue: +10"])


def test_the_support_window_is_three_full_months_and_this_month_to_date_and_says_so():
    assert _support_window(date(2027, 3, 15)) == (date(2026, 12, 1), date(2027, 3, 15))
    assert _support_window(date(2027, 1, 1)) == (date(2026, 10, 1), date(2027, 1, 1))
    assert DEFINITIONS["support"] == ("Support cost share: cost to serve ÷ revenue over the last three full months "
                                      "and this month to date; 30 % or more +20, 15 % +10.")


def test_a_cost_three_full_months_back_counts_and_four_months_back_does_not(today):
    customer = CustomerFactory(name="Old costs")
    _revenue(customer, "1000.00", today)
    this_month = today.replace(day=1)
    for months_back, amount in ((3, "200.00"), (4, "500.00")):  # the first in the window, the second just before
        month = (this_month - timedelta(days=1)).replace(day=1)
        for _ in range(months_back - 1):
            month = (month - timedelta(days=1)).replace(day=1)
        ServiceCost.objects.create(period=month, category="support", amount=D(amount), currency="USD",
                                   customer=customer, driver="direct")

    risk = customer_risk(customer_id=customer.pk, day=today)

    assert risk["factors"]["support"] == 10  # 200.00 ÷ 1,000.00; with the 500.00 it would be 70 % and +20
    assert risk["reasons"] == [
        "cost to serve is 20.0 % of revenue over the last three full months and this month to date: +10"]


def test_levels():
    assert [level_of(s) for s in (0, 29, 30, 59, 60, 100)] == ["low", "low", "medium", "medium", "high", "high"]
