"""/api/v1/kpis/<name>/ on a small hand-computed book: three customers (A USD enterprise, B EUR enterprise,
C USD smb), their MRR movements, two accepted quotes, two invoices, a payment and two revenue entries.
EUR is worth 1.10 USD from 2026-12-31 and 1.20 from 2027-02-01 (the reporting currency is USD).

    MRR movements (reporting amount at the rate of the day)
      A 2027-01-01 new          100.00 USD  →  100.00
      B 2027-01-15 new          200.00 EUR  →  220.00
      C 2027-01-20 new           50.00 USD  →   50.00
      A 2027-02-10 expansion     50.00 USD  →   50.00
      B 2027-02-20 contraction −100.00 EUR  → −120.00
      C 2027-03-05 churn        −50.00 USD  →  −50.00
    MRR at month end: January 370.00, February 300.00, March 250.00
"""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from analytics.models import MrrMovement
from analytics.services import kpi_series, kpis
from billing.models import Invoice, Payment, PaymentAllocation
from quotes.models import Quote
from recognition.models import Account, AccountingPeriod, FxRate, JournalEntry, JournalLine
from revops.kernel.dates import add_months
from tests.factories import ContactFactory, CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db


def move(customer, day, kind, amount, reporting, currency="USD"):
    MrrMovement.objects.create(customer=customer, date=day, currency=currency, kind=kind, amount=D(amount),
                               mrr_before=0, mrr_after=0, amount_reporting=D(reporting))


def revenue_entry(customer, day, currency, amount, reporting):
    period, _ = AccountingPeriod.objects.get_or_create(start=day.replace(day=1), defaults={"end": day})
    entry = JournalEntry.objects.create(date=day, period=period, memo="recognized", source="revenue.recognized",
                                        source_key=f"rev-{customer.pk}-{day}", currency=currency,
                                        reporting_currency="USD", customer=customer)
    JournalLine.objects.create(entry=entry, account=Account.objects.get(role="deferred", family=""),
                               debit=D(amount), debit_reporting=D(reporting))
    JournalLine.objects.create(entry=entry, account=Account.objects.get(role="revenue", family=""),
                               credit=D(amount), credit_reporting=D(reporting))


@pytest.fixture
def book(sales_rep):
    FxRate.objects.create(currency="EUR", date=date(2026, 12, 31), rate=D("1.10"))
    FxRate.objects.create(currency="EUR", date=date(2027, 2, 1), rate=D("1.20"))
    a = CustomerFactory(currency="USD", size="enterprise")
    b = CustomerFactory(currency="EUR", size="enterprise")
    c = CustomerFactory(currency="USD", size="smb")
    move(a, date(2027, 1, 1), "new", "100.00", "100.00")
    move(b, date(2027, 1, 15), "new", "200.00", "220.00", "EUR")
    move(c, date(2027, 1, 20), "new", "50.00", "50.00")
    move(a, date(2027, 2, 10), "expansion", "50.00", "50.00")
    move(b, date(2027, 2, 20), "contraction", "-100.00", "-120.00", "EUR")
    move(c, date(2027, 3, 5), "churn", "-50.00", "-50.00")
    for customer, currency, tcv, accepted in ((a, "USD", "1200.00", datetime(2027, 1, 5, 12, tzinfo=UTC)),
                                              (b, "EUR", "1000.00", datetime(2027, 2, 3, 12, tzinfo=UTC))):
        Quote.objects.create(number=f"Q-{currency}", customer=customer, owner=sales_rep, currency=currency,
                             price_book=PriceBookFactory(currency=currency), status="accepted",
                             start_date=date(2027, 1, 1), valid_until=date(2027, 3, 1), tcv=D(tcv),
                             accepted_at=accepted)
    inv_a = Invoice.objects.create(customer=a, currency="USD", status="paid", issue_date=date(2027, 1, 1),
                                   due_date=date(2027, 1, 31), subtotal=D("100.00"), tax=D("10.00"),
                                   total=D("110.00"), amount_paid=D("110.00"))
    Invoice.objects.create(customer=b, currency="EUR", status="issued", issue_date=date(2027, 2, 1),
                           due_date=date(2027, 3, 3), subtotal=D("200.00"), total=D("200.00"), amount_due=D("200.00"))
    pay = Payment.objects.create(customer=a, currency="USD", amount=D("110.00"), source="manual",
                                 received_at=datetime(2027, 2, 15, 12, tzinfo=UTC), amount_allocated=D("110.00"))
    PaymentAllocation.objects.create(payment=pay, invoice=inv_a, amount=D("110.00"))
    revenue_entry(a, date(2027, 1, 31), "USD", "100.00", "100.00")
    revenue_entry(b, date(2027, 2, 28), "EUR", "200.00", "240.00")
    return a, b, c


@pytest.fixture
def api(make_user, api_client_for):
    client = api_client_for(make_user("sales_rep"))

    def get(url, **extra):
        return client.get(url, **extra)
    return get


def values(body, key="value"):
    return [(p["period"], p[key]) for p in body["points"]]


Q1 = "from=2027-01&to=2027-03"


def test_mrr_family_monthly_with_definitions(book, api):
    mrr = api(f"/api/v1/kpis/mrr/?{Q1}").json()
    assert values(mrr) == [("2027-01", "370.00"), ("2027-02", "300.00"), ("2027-03", "250.00")]
    assert (mrr["value"], mrr["currency"], mrr["unit"], mrr["kind"], mrr["interval"]) == (
        "250.00", "USD", "amount", "stock", "month")
    assert mrr["definition"].startswith("Monthly recurring revenue")
    assert (mrr["points"][0]["from"], mrr["points"][0]["to"]) == ("2027-01-01", "2027-01-31")
    # the legacy monthly series is still there, same shape
    assert mrr["series"] == [{"month": "2027-01", "mrr": "370.00"}, {"month": "2027-02", "mrr": "300.00"},
                             {"month": "2027-03", "mrr": "250.00"}]
    assert values(api(f"/api/v1/kpis/arr/?{Q1}").json()) == [
        ("2027-01", "4440.00"), ("2027-02", "3600.00"), ("2027-03", "3000.00")]
    expected = {"new_mrr": ["370.00", "0.00", "0.00"], "expansion_mrr": ["0.00", "50.00", "0.00"],
                "contraction_mrr": ["0.00", "120.00", "0.00"], "churn_mrr": ["0.00", "0.00", "50.00"],
                "reactivation_mrr": ["0.00", "0.00", "0.00"], "net_new_mrr": ["370.00", "-70.00", "-50.00"],
                "customers": [3, 3, 2], "arpa": ["123.33", "100.00", "125.00"]}  # 370 ÷ 3 = 123.333…
    for name, figures in expected.items():
        body = api(f"/api/v1/kpis/{name}/?{Q1}").json()
        assert [p["value"] for p in body["points"]] == figures, name
        assert body["definition"], name
    net = api(f"/api/v1/kpis/net_new_mrr/?{Q1}").json()["points"][1]
    assert (net["start"], net["expansion"], net["contraction"], net["end"]) == ("370.00", "50.00", "120.00", "300.00")


def test_retention_over_the_trailing_twelve_months(book, api):
    # cohort on 2027-01-31: A 100, B 220, C 50 = 370; on 2028-01-31: A 150, B 100, C 0
    got = {name: api(f"/api/v1/kpis/{name}/?from=2028-01&to=2028-01").json()["value"]
           for name in ("nrr", "grr", "revenue_churn", "logo_churn")}
    # NRR 250 ÷ 370 = 67.57 %; GRR (100 + 100 + 0) ÷ 370 = 54.05 %; revenue churn 100 − 54.05; logo churn 1 of 3
    assert got == {"nrr": "67.57", "grr": "54.05", "revenue_churn": "45.95", "logo_churn": "33.33"}


def test_finance_kpis_by_month(book, api):
    expected = {
        "bookings": ["1200.00", "1200.00", "0.00"],       # EUR 1,000.00 × 1.20 on 3 February
        "billings": ["100.00", "240.00", "0.00"],         # subtotals; EUR 200.00 × 1.20
        "collections": ["0.00", "110.00", "0.00"],
        "receivables": ["110.00", "240.00", "240.00"],    # A paid on 15 February
        "ar_overdue": ["0.00", "0.00", "240.00"],         # B due 3 March
        "revenue_recognized": ["100.00", "240.00", "0.00"],
        "gross_margin": ["100.00", "240.00", "0.00"],     # no cost of goods in this book
        "rpo": ["0.00", "0.00", "0.00"],
        "deferred_revenue": ["-100.00", "-340.00", "-340.00"],  # only the recognition side is in this book
    }
    for name, figures in expected.items():
        assert [p["value"] for p in api(f"/api/v1/kpis/{name}/?{Q1}").json()["points"]] == figures, name
    # DSO = AR ÷ billings of the 90 days to the day × 90: 31 January 110.00 ÷ 100.00 × 90 = 99.00;
    # 28 February and 31 March (A paid): 240.00 ÷ (100.00 + 240.00) × 90 = 63.53
    dso = api(f"/api/v1/kpis/dso/?{Q1}").json()
    assert ([p["value"] for p in dso["points"]], dso["unit"]) == (["99.00", "63.53", "63.53"], "days")
    assert api(f"/api/v1/kpis/gross_margin/?{Q1}").json()["points"][0]["margin_percent"] == "100.00"


def test_a_segment_filter(book, api):
    body = api(f"/api/v1/kpis/mrr/?{Q1}&segment=size:enterprise").json()
    assert values(body) == [("2027-01", "320.00"), ("2027-02", "250.00"), ("2027-03", "250.00")]
    assert body["segment"] == {"size": "enterprise"}
    assert body["series"][0] == {"month": "2027-01", "mrr": "320.00"}
    assert [p["value"] for p in api(f"/api/v1/kpis/billings/?{Q1}&segment=size:smb").json()["points"]] == [
        "0.00", "0.00", "0.00"]
    assert [p["value"] for p in api(f"/api/v1/kpis/customers/?{Q1}&size=smb").json()["points"]] == [1, 1, 0]
    snapshot = api("/api/v1/kpis/?as_of=2027-02-28&segment=size:enterprise").json()["values"]
    assert (snapshot["mrr"], snapshot["customers"]) == ("250.00", 2)
    assert api("/api/v1/kpis/?segment=size:giant").status_code == 400


def test_one_customer_through_the_service(book):
    a, b, c = book
    got = kpi_series.kpi_series("mrr", date(2027, 1, 1), date(2027, 3, 31), segment={"id": b.pk}, currency="EUR")
    assert [(p["value"], p["value_in_currency"]) for p in got["points"]] == [
        (D("220.00"), D("200.00")), (D("100.00"), D("100.00")), (D("100.00"), D("100.00"))]
    assert kpi_series.kpi_series("billings", date(2027, 2, 1), date(2027, 2, 28), segment={"id": a.pk})["value"] == D(
        "0.00")


def test_a_currency_restricts_and_shows_both_figures(book, api):
    body = api(f"/api/v1/kpis/mrr/?{Q1}&currency=eur").json()
    assert (body["currency"], body["in_currency"]) == ("USD", "EUR")
    assert [(p["value"], p["value_in_currency"]) for p in body["points"]] == [
        ("220.00", "200.00"), ("100.00", "100.00"), ("100.00", "100.00")]
    assert (body["value"], body["value_in_currency"]) == ("100.00", "100.00")
    bookings = api(f"/api/v1/kpis/bookings/?{Q1}&currency=EUR").json()["points"]
    assert [(p["value"], p["value_in_currency"]) for p in bookings] == [
        ("0.00", "0.00"), ("1200.00", "1000.00"), ("0.00", "0.00")]
    revenue = api(f"/api/v1/kpis/revenue_recognized/?{Q1}&currency=USD").json()["points"]
    assert [(p["value"], p["value_in_currency"]) for p in revenue] == [
        ("100.00", "100.00"), ("0.00", "0.00"), ("0.00", "0.00")]


def test_other_intervals(book, api):
    quarter = api("/api/v1/kpis/mrr/?from=2027-01-01&to=2027-06-30&interval=quarter").json()
    assert values(quarter) == [("2027-Q1", "250.00"), ("2027-Q2", "250.00")]
    week = api("/api/v1/kpis/new_mrr/?from=2027-01-01&to=2027-01-17&interval=week").json()
    # 1 January 2027 is a Friday of ISO week 2026-W53; the first point is clipped to 1–3 January
    assert [(p["period"], p["from"], p["to"], p["value"]) for p in week["points"]] == [
        ("2026-W53", "2027-01-01", "2027-01-03", "100.00"), ("2027-W01", "2027-01-04", "2027-01-10", "0.00"),
        ("2027-W02", "2027-01-11", "2027-01-17", "220.00")]
    day = api("/api/v1/kpis/customers/?from=2027-01-14&to=2027-01-16&interval=day").json()
    assert values(day) == [("2027-01-14", 1), ("2027-01-15", 2), ("2027-01-16", 2)]


def test_csv_export_one_row_per_period(book, api):
    response = api(f"/api/v1/kpis/mrr/?{Q1}&format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="kpi-mrr-2027-01-01-2027-03-31.csv"' in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines == ["kpi,currency,period,from,to,value",
                     "mrr,USD,2027-01,2027-01-01,2027-01-31,370.00",
                     "mrr,USD,2027-02,2027-02-01,2027-02-28,300.00",
                     "mrr,USD,2027-03,2027-03-01,2027-03-31,250.00"]
    eur = api(f"/api/v1/kpis/bookings/?{Q1}&currency=EUR", HTTP_ACCEPT="text/csv").content.decode().splitlines()
    assert eur[0] == "kpi,currency,in_currency,period,from,to,value,value_in_currency"
    assert eur[2] == "bookings,USD,EUR,2027-02,2027-02-01,2027-02-28,1200.00,1000.00"
    # an error stays JSON, in the one error shape
    bad = api("/api/v1/kpis/nope/?format=csv")
    assert (bad.status_code, bad["Content-Type"], bad.json()["error"]["code"]) == (
        400, "application/json", "validation_error")


@pytest.mark.parametrize(("url", "field"), [
    ("/api/v1/kpis/unknown/", "name"),
    ("/api/v1/kpis/mrr/?from=2027-13", "from"),
    ("/api/v1/kpis/mrr/?to=31-01-2027", "to"),
    ("/api/v1/kpis/mrr/?from=2027-03-01&to=2027-02-01", "from"),
    ("/api/v1/kpis/mrr/?interval=year", "interval"),
    ("/api/v1/kpis/mrr/?segment=size", "segment"),
    ("/api/v1/kpis/mrr/?segment=colour:red", "segment"),
    ("/api/v1/kpis/mrr/?segment=size:huge", "segment"),
    ("/api/v1/kpis/mrr/?segment=size:smb&size=enterprise", "segment"),
    ("/api/v1/kpis/mrr/?currency=EURO", "currency"),
    ("/api/v1/kpis/mrr/?from=2020-01-01&to=2027-01-01&interval=day", "interval"),
])
def test_bad_requests_are_400_with_the_one_error_shape(api, url, field):
    response = api(url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], list(error["fields"])) == ("validation_error", [field])
    assert error["message"]


def test_who_may_read(book, api_client_for, make_user):
    assert api_client_for(None).get("/api/v1/kpis/mrr/").status_code == 401
    portal = make_user(username="portal@client.example")
    ContactFactory(portal_user=portal)
    assert api_client_for(portal).get("/api/v1/kpis/mrr/").status_code == 403
    for role in ("sales_rep", "sales_manager", "finance", "customer_success"):
        assert api_client_for(make_user(role)).get("/api/v1/kpis/bookings/?from=2027-01&to=2027-01").status_code == 200


def test_every_kpi_has_a_definition_and_answers(book, api):
    required = {"mrr", "arr", "new_mrr", "expansion_mrr", "contraction_mrr", "churn_mrr", "customers", "arpa",
                "logo_churn", "revenue_churn", "nrr", "grr", "bookings", "billings", "collections", "dso",
                "deferred_revenue", "rpo", "revenue_recognized", "gross_margin", "ar_overdue"}
    assert required <= set(kpi_series.KPIS)
    for name in kpi_series.KPIS:
        body = api(f"/api/v1/kpis/{name}/?from=2027-03&to=2027-03&segment=size:enterprise&currency=USD").json()
        assert body["definition"] == kpi_series.definition(name), name
        assert len(body["points"]) == 1, name


@pytest.fixture
def three_customers():
    return (CustomerFactory(currency="USD", size="enterprise"), CustomerFactory(currency="EUR", size="smb"),
            CustomerFactory(currency="USD", size="smb"))


changes = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 200), st.sampled_from(["USD", "EUR"]),
                             st.integers(-300, 300).filter(bool)), max_size=15)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=changes, span=st.tuples(st.integers(0, 200), st.integers(0, 120)),
       interval=st.sampled_from(kpi_series.INTERVALS), scope=st.sampled_from([
           kpi_series.Scope(), kpi_series.Scope(segment={"size": "smb"}), kpi_series.Scope(currency="EUR")]))
@example(steps=[(0, 1, "USD", 100), (1, 5, "EUR", 250), (0, 40, "USD", -100), (2, 70, "USD", 30), (0, 90, "USD", 80)],
         span=(3, 110), interval="day", scope=kpi_series.Scope())  # more than 64 windows: placed per day
def test_the_one_query_series_equal_the_point_by_point_figures(three_customers, steps, span, interval, scope):
    """Every KPI computed for all points at once (movement_windows, customers_counts) gives exactly the
    figures of the per-point computation, and the windows' totals are the movements' sums (day 0 = 2027-01-01)."""
    MrrMovement.objects.all().delete()
    seen, rows = set(), []  # (customer, day, currency, amount, reporting amount)
    for who, day, currency, cents in steps:
        if (who, day, currency) not in seen:
            seen.add((who, day, currency))
            amount = D(cents) / 100
            reporting = (amount * D("1.10")).quantize(D("0.01")) if currency == "EUR" else amount
            rows.append((three_customers[who], date(2027, 1, 1) + timedelta(days=day), currency, amount, reporting))
            move(three_customers[who], rows[-1][1], "new" if cents > 0 else "churn", str(amount), str(reporting),
                 currency)
    first = date(2027, 1, 1) + timedelta(days=span[0])
    spans = [(s, e) for _, s, e in kpi_series.periods(first, first + timedelta(days=span[1]), interval)]
    for name, kpi in kpi_series.KPIS.items():
        if kpi.series:
            assert kpi.series(spans, scope) == [kpi.compute(s, e, scope) for s, e in spans], name
    in_scope = [r for r in rows if (not scope.segment or r[0].size == "smb") and (not scope.currency or r[2] == "EUR")]
    col = 3 if scope.currency else 4  # native amounts in the one currency, else the reporting ones
    windows = kpis.movement_windows(spans, segment=scope.segment, currency=scope.currency, native=bool(scope.currency))
    for (s, e), w in zip(spans, windows, strict=True):
        assert w["start"] == sum((r[col] for r in in_scope if r[1] < s), D("0.00"))
        assert w["end"] == sum((r[col] for r in in_scope if r[1] <= e), D("0.00"))
        assert w["new"] == sum((r[col] for r in in_scope if s <= r[1] <= e and r[3] > 0), D("0.00"))
        assert w["ties"]
    ends = [e for _, e in spans]
    expected = [sum(1 for c in three_customers
                    if sum((r[4] for r in in_scope if r[0] == c and r[1] <= e), D(0)) > 0) for e in ends]
    assert kpis.customers_counts(ends, segment=scope.segment, currency=scope.currency) == expected
    # cohorts (two queries) against the month-end by month-end definition
    last = first + timedelta(days=span[1])
    expected_cohorts = []
    for month in sorted({r[1].replace(day=1) for r in rows if r[3] > 0 and first.replace(day=1) <= r[1] <= last}):
        members = {r[0].pk for r in rows if r[3] > 0 and r[1].replace(day=1) == month and r[1] <= last}

        def members_mrr(day, members=members):
            return sum((v for c, v in kpis.mrr_by_customer(day).items() if c in members), D(0))

        base = members_mrr(add_months(month, 1) - timedelta(days=1))
        retained = [(members_mrr(add_months(month, k + 1) - timedelta(days=1)) / base * 100).quantize(D("0.1"))
                    if base > 0 else None for k in range(1, 4) if add_months(month, k + 1) - timedelta(days=1) <= last]
        expected_cohorts.append((month.isoformat()[:7], len(members), kpis._q(base), retained))
    assert [(c["cohort"], c["customers"], c["starting_mrr"], c["retention"])
            for c in kpis.cohorts(first, last, months_after=3)] == expected_cohorts
