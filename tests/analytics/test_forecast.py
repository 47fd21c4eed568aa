"""Forecasts on a small hand-computed data set (reporting currency USD, EUR at 1.10), as of Monday
15 March 2027: the horizon is March 2027 – February 2028, week 0 is 15–21 March (2027-W11)."""
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.urls import include, path

from analytics import forecast_api
from analytics.services import forecast as fc
from billing.models import Invoice, Payment, PaymentAllocation
from catalog import models as cm
from contracts.models import Contract
from quotes.models import Quote
from recognition.models import Account, FxRate, JournalEntry, JournalLine, PerformanceObligation, ScheduleLine
from recognition.services.journal import period_for
from tests.factories import CustomerFactory, PriceBookFactory

pytestmark = pytest.mark.django_db

AS_OF = date(2027, 3, 15)


@pytest.fixture
def eur():
    FxRate.objects.create(date=date(2026, 1, 1), currency="EUR", rate=D("1.10"))


def contract(number, currency, end, *, auto_renew=False, mrr="0", status="active", start=date(2027, 1, 1)):
    return Contract.objects.create(number=number, customer=CustomerFactory(currency=currency), currency=currency,
                                   status=status, start_date=start, end_date=end, auto_renew=auto_renew,
                                   mrr=D(mrr))


def quote(owner, number, status, mrr, start, term, currency="USD"):
    return Quote.objects.create(number=number, customer=CustomerFactory(), owner=owner, currency=currency,
                                price_book=PriceBookFactory(currency=currency), status=status, start_date=start,
                                term_months=term, valid_until=date(2027, 12, 31), mrr=D(mrr))


@pytest.fixture
def book(eur, finance_user):
    product = cm.Product.objects.create(sku="SUB", name="Sub", kind="recurring", recognition="ratable",
                                        ssp=D("100"))
    # contracted: 100.00 planned in each of March–June; February recognized and a cancelled March line do not count
    c1 = contract("C-1", "USD", date(2027, 6, 30), auto_renew=True, mrr="100.00")
    ob = PerformanceObligation.objects.create(contract=c1, item=1, product=product, pattern="ratable", quantity=1,
                                              start_date=date(2027, 1, 1), end_date=date(2027, 6, 30),
                                              currency="USD", ssp=D("600"), allocated_price=D("600"))
    ScheduleLine.objects.create(obligation=ob, period=date(2027, 2, 1), amount=D("100.00"), status="recognized")
    ScheduleLine.objects.create(obligation=ob, period=date(2027, 3, 1), amount=D("50.00"), status="cancelled")
    for month in (3, 4, 5, 6):
        ScheduleLine.objects.create(obligation=ob, period=date(2027, month, 1), amount=D("100.00"))
    # renewals: C-1 (auto) 100.00 × 0.9 = 90.00 from July; C-2 (EUR, manual) 200.00 × 0.6 × 1.10 = 132.00
    # from October (it ends mid-September); C-3 ends after the horizon; C-4 is terminated
    contract("C-2", "EUR", date(2027, 9, 15), mrr="200.00")
    contract("C-3", "USD", date(2028, 5, 31), auto_renew=True, mrr="1000.00")
    contract("C-4", "USD", date(2027, 8, 31), auto_renew=True, mrr="1000.00", status="terminated")
    # pipeline: draft 100.00 × 0.1 in April–May; sent 50.00 × 0.7 all year; pending 200.00 × 0.3 from Feb 2028;
    # an accepted quote does not count
    quote(finance_user, "Q-1", "draft", "100.00", date(2027, 4, 10), 2)
    quote(finance_user, "Q-2", "sent", "50.00", date(2027, 3, 1), 12)
    quote(finance_user, "Q-3", "pending_approval", "200.00", date(2028, 2, 1), 12)
    quote(finance_user, "Q-4", "accepted", "999.00", date(2027, 3, 1), 12)
    return ob


def test_revenue_forecast_contracted_renewals_and_pipeline(book):
    result = fc.revenue_forecast(AS_OF)
    months = {r["month"]: r for r in result["months"]}
    assert list(months)[0] == "2027-03" and list(months)[-1] == "2028-02" and len(months) == 12
    assert result["usage_model"] == "none"

    def parts(m):
        r = months[m]
        return r["contracted"], r["renewals"], r["pipeline"], r["usage"], r["total"]

    assert parts("2027-03") == (D("100.00"), D("0.00"), D("35.00"), D("0.00"), D("135.00"))
    assert parts("2027-04") == (D("100.00"), D("0.00"), D("45.00"), D("0.00"), D("145.00"))
    assert parts("2027-06") == (D("100.00"), D("0.00"), D("35.00"), D("0.00"), D("135.00"))
    assert parts("2027-07") == (D("0.00"), D("90.00"), D("35.00"), D("0.00"), D("125.00"))
    assert parts("2027-09") == (D("0.00"), D("90.00"), D("35.00"), D("0.00"), D("125.00"))
    assert parts("2027-10") == (D("0.00"), D("222.00"), D("35.00"), D("0.00"), D("257.00"))
    assert parts("2028-02") == (D("0.00"), D("222.00"), D("95.00"), D("0.00"), D("317.00"))
    assert months["2027-10"]["low"] == months["2027-10"]["high"] == D("257.00")
    # 4 × 100 contracted; 90 × 8 + 132 × 5 renewals; 35 × 12 + 10 × 2 + 60 pipeline
    assert result["totals"]["contracted"] == D("400.00")
    assert result["totals"]["renewals"] == D("1380.00")
    assert result["totals"]["pipeline"] == D("500.00")
    assert result["totals"]["total"] == D("2280.00")


def usage_revenue(month: date, amount: str):
    account = Account.objects.get(role="revenue", family="Usage")  # the default chart's 4040
    receivable = Account.objects.get(role="receivable", family="")
    entry = JournalEntry.objects.create(date=month, period=period_for(month), memo="usage", source="test",
                                        source_key=f"usage-{month}", currency="USD", reporting_currency="USD")
    JournalLine.objects.create(entry=entry, account=account, credit=D(amount), credit_reporting=D(amount))
    JournalLine.objects.create(entry=entry, account=receivable, debit=D(amount), debit_reporting=D(amount))


def test_holt_on_a_perfect_line_forecasts_the_next_step_with_no_band():
    # March 2026 – February 2027: 100, 110, …, 210
    for i in range(12):
        usage_revenue(date(2026 + (2 + i) // 12, (2 + i) % 12 + 1, 1), f"{100 + 10 * i}.00")
    result = fc.revenue_forecast(AS_OF, months=3)
    assert result["usage_model"] == "holt"
    march, april, may = result["months"]
    assert (march["usage"], april["usage"], may["usage"]) == (D("220.00"), D("230.00"), D("240.00"))
    assert march["usage_low"] == march["usage_high"] == march["total"] == D("220.00")
    assert may["low"] == may["high"] == D("240.00")
    assert result["usage_sigma"] == D("0.00")


def test_short_usage_history_is_a_flat_average_with_its_band():
    # 10, 20, 30 (the earlier zero months do not count): mean 20, σ 10, band 1.2816 × 10 × √h
    result = fc.usage_forecast([D(0)] * 9 + [D(10), D(20), D(30)], 2)
    assert result["model"] == "average"
    (f1, b1), (f2, b2) = result["points"]
    assert (f1, f2) == (20.0, 20.0)
    assert fc._from_float(b1) == D("12.82") and fc._from_float(b2) == D("18.12")


def test_backtest_uses_recognized_and_planned_lines_against_actual_revenue(book):
    line = ScheduleLine.objects.get(obligation=book, period=date(2027, 3, 1), status="planned")
    line.status = "recognized"
    line.save()
    revenue = Account.objects.get(role="revenue", family="")
    deferred = Account.objects.get(role="deferred", family="")
    entry = JournalEntry.objects.create(date=date(2027, 3, 31), period=period_for(date(2027, 3, 31)), memo="rev",
                                        source="test", source_key="rev-1", currency="USD", reporting_currency="USD")
    JournalLine.objects.create(entry=entry, account=revenue, credit=D("100.00"), credit_reporting=D("100.00"))
    JournalLine.objects.create(entry=entry, account=deferred, debit=D("100.00"), debit_reporting=D("100.00"))
    result = fc.backtest(date(2028, 3, 15))
    assert result["forecast_as_of"] == "2027-03-15"
    march = result["months"][0]
    assert (march["month"], march["contracted"], march["actual"]) == ("2027-03", D("100.00"), D("100.00"))
    assert march["error"] == D("100.00") - march["total"]
    assert result["months"][1]["actual"] == D("0.00")
    assert result["totals"]["actual"] == D("100.00")


def invoice(customer, status, due, amount, currency="USD"):
    return Invoice.objects.create(customer=customer, currency=currency, status=status, issue_date=date(2027, 1, 1),
                                  due_date=due, subtotal=D(amount), total=D(amount),
                                  amount_due=D(amount) if status != "paid" else D(0))


def paid(customer, due, on):
    inv = invoice(customer, "paid", due, "10.00")
    payment = Payment.objects.create(customer=customer, amount=D("10.00"), currency="USD",
                                     received_at=datetime(on.year, on.month, on.day, 12, tzinfo=UTC))
    PaymentAllocation.objects.create(payment=payment, invoice=inv, amount=D("10.00"))


def test_cash_forecast_shifts_by_the_customers_average_lateness(eur):
    late, fresh, early = CustomerFactory(), CustomerFactory(currency="EUR"), CustomerFactory()
    paid(late, date(2027, 1, 31), date(2027, 2, 10))  # 10 days late
    paid(late, date(2027, 2, 28), date(2027, 3, 10))  # 10 days late
    paid(early, date(2027, 2, 20), date(2027, 2, 15))  # early: counts as 0, not −5
    invoice(late, "issued", date(2027, 3, 8), "40.00")  # → 18 March, week 0
    invoice(late, "partially_paid", date(2027, 3, 20), "500.00")  # → 30 March, week 2
    invoice(fresh, "issued", date(2027, 3, 22), "300.00", "EUR")  # → its due date, week 1, 330.00 USD
    invoice(fresh, "issued", date(2027, 3, 1), "70.00")  # → overdue
    invoice(fresh, "issued", date(2027, 7, 1), "15.00")  # → after the 13 weeks
    invoice(early, "issued", date(2027, 4, 1), "20.00")  # → 1 April, week 2
    invoice(fresh, "void", date(2027, 3, 22), "999.00")  # not open
    assert fc.average_days_late([late.pk, fresh.pk, early.pk]) == {late.pk: 10, early.pk: 0}
    result = fc.cash_forecast(AS_OF)
    weeks = result["weeks"]
    assert len(weeks) == 13
    assert (weeks[0]["week"], weeks[0]["start"]) == ("2027-W11", "2027-03-15")
    assert [w["amount"] for w in weeks[:4]] == [D("40.00"), D("330.00"), D("520.00"), D("0.00")]
    assert (result["overdue"], result["later"], result["total"]) == (D("70.00"), D("15.00"), D("975.00"))


urlpatterns = [path("api/v1/", include(forecast_api.urlpatterns()))]  # until revops/api_urls.py includes them


@pytest.mark.urls(__name__)
def test_forecast_api(book, make_user, api_client_for):
    client = api_client_for(make_user("sales_manager"))
    body = client.get("/api/v1/forecast/?as_of=2027-03-15&months=2").json()
    assert [m["total"] for m in body["months"]] == ["135.00", "145.00"]
    assert client.get("/api/v1/forecast/cash/?as_of=2027-03-15&weeks=4").json()["total"] == "0.00"
    assert client.get("/api/v1/forecast/backtest/?as_of=2028-03-15").json()["forecast_as_of"] == "2027-03-15"
    for url, name in (("/api/v1/forecast/?months=abc", "months"), ("/api/v1/forecast/?months=0", "months"),
                      ("/api/v1/forecast/cash/?weeks=99", "weeks"), ("/api/v1/forecast/backtest/?as_of=x", "as_of")):
        response = client.get(url)
        assert response.status_code == 400, url
        assert name in response.json()["error"]["fields"], url
    assert api_client_for(None).get("/api/v1/forecast/").status_code in (401, 403)


@pytest.fixture
def segmented(book, make_user):
    """C-1 and the sent quote Q-2 belong to an enterprise customer owned by carol; C-2 to an smb one; the
    draft Q-1 and the pending Q-3 to mid-size ones."""
    carol = make_user("sales_rep", username="carol")
    c1 = book.contract.customer
    q2 = Quote.objects.get(number="Q-2").customer
    type(c1).objects.filter(pk__in=[c1.pk, q2.pk]).update(size="enterprise", owner=carol)
    type(c1).objects.filter(pk=Contract.objects.get(number="C-2").customer_id).update(size="smb")
    type(c1).objects.filter(pk__in=Quote.objects.filter(number__in=["Q-1", "Q-3"]).values("customer_id")).update(
        size="mid")
    return c1


def test_revenue_forecast_for_a_segment(segmented):
    result = fc.revenue_forecast(AS_OF, segment={"size": "enterprise"})
    months = {r["month"]: (r["contracted"], r["renewals"], r["pipeline"], r["total"]) for r in result["months"]}
    # contracted: C-1's 100.00 in March–June; renewals: C-1 only, 90.00 from July (not C-2's 132.00);
    # pipeline: Q-2 only, 50.00 × 0.7 = 35.00 every month (not the draft's 10.00 nor the pending 60.00)
    assert months["2027-03"] == (D("100.00"), D("0.00"), D("35.00"), D("135.00"))
    assert months["2027-04"] == (D("100.00"), D("0.00"), D("35.00"), D("135.00"))
    assert months["2027-10"] == (D("0.00"), D("90.00"), D("35.00"), D("125.00"))
    assert months["2028-02"] == (D("0.00"), D("90.00"), D("35.00"), D("125.00"))
    # 4 × 100; 8 × 90; 12 × 35
    assert (result["totals"]["contracted"], result["totals"]["renewals"], result["totals"]["pipeline"],
            result["totals"]["total"]) == (D("400.00"), D("720.00"), D("420.00"), D("1540.00"))
    smb = fc.revenue_forecast(AS_OF, segment={"size": "smb"})["totals"]
    # C-2 renews from October: 132.00 × 5
    assert (smb["contracted"], smb["renewals"], smb["pipeline"]) == (D("0.00"), D("660.00"), D("0.00"))
    assert fc.revenue_forecast(AS_OF, segment={"owner": "carol"})["totals"] == result["totals"]
    back = fc.backtest(date(2028, 3, 15), segment={"size": "enterprise"})["months"][0]
    assert (back["contracted"], back["actual"]) == (D("100.00"), D("0.00"))
    assert fc.backtest(date(2028, 3, 15), segment={"size": "smb"})["months"][0]["contracted"] == D("0.00")


def test_cash_forecast_for_a_segment(segmented):
    other = CustomerFactory(size="smb")
    invoice(segmented, "issued", date(2027, 3, 16), "40.00")  # week 0
    invoice(other, "issued", date(2027, 3, 16), "300.00")
    result = fc.cash_forecast(AS_OF, weeks=2, segment={"size": "enterprise"})
    assert ([w["amount"] for w in result["weeks"]], result["total"]) == ([D("40.00"), D("0.00")], D("40.00"))
    assert fc.cash_forecast(AS_OF, weeks=2)["total"] == D("340.00")


@pytest.mark.urls(__name__)
def test_forecast_api_by_segment(segmented, make_user, api_client_for):
    client = api_client_for(make_user("finance"))
    body = client.get("/api/v1/forecast/?as_of=2027-03-15&segment=owner:carol").json()
    assert body["segment"] == {"owner": "carol"}
    assert (body["totals"]["renewals"], body["totals"]["total"]) == ("720.00", "1540.00")
    assert client.get("/api/v1/forecast/?as_of=2027-03-15&segment=size:smb").json()["totals"]["total"] == "660.00"
    assert client.get("/api/v1/forecast/cash/?as_of=2027-03-15&segment=size:enterprise").json()["total"] == "0.00"
    back = client.get("/api/v1/forecast/backtest/?as_of=2028-03-15&segment=size:enterprise").json()
    assert back["months"][0]["contracted"] == "100.00"
    for url in ("/api/v1/forecast/?segment=size:giant", "/api/v1/forecast/?segment=owner:nobody",
                "/api/v1/forecast/cash/?segment=colour:red"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "segment" in response.json()["error"]["fields"], url
