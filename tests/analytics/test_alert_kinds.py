"""The alert kinds of issue #7 beyond the first three: churn, a customer's usage (dip and spike, one alert per
customer), renewals at risk (one per contract), target shortfall, a rise against the trailing average; each
fires once, stays quiet while open, clears, and fires again. Channels (in-app, email, webhook flag) and the
alert-rule API's validation and permissions."""
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.core import mail

from analytics.models import Alert, AlertRule, KpiTarget, MrrMovement
from analytics.services.alerts import contracts_at_risk, evaluate_alerts, usage_by_customer
from billing.models import UsageEvent
from contracts.models import Contract
from quotes.models import Quote
from recognition.models import FxRate
from revops.kernel.models import Notification, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory, MeterFactory, PriceBookFactory

pytestmark = pytest.mark.django_db


def move(customer, day, kind, amount, before="0"):
    amount = D(amount)
    MrrMovement.objects.create(customer=customer, date=day, currency="USD", kind=kind, amount=amount,
                               mrr_before=D(before), mrr_after=D(before) + amount, amount_reporting=amount)


def rule(**kw):
    defaults = {"name": kw.get("kpi", "rule"), "notify_group": "finance", "trailing_days": 30}
    return AlertRule.objects.create(**{**defaults, **kw})


def open_alerts(r):
    return sorted((a.subject_key, a.customer_id, a.value) for a in r.alerts.filter(cleared_at__isnull=True))


def events(kind):
    return [e.payload for e in OutboxEvent.objects.filter(type=kind).order_by("id")]


# --- churn and a rise against the trailing average -------------------------------------------------------------

def test_churn_fires_once_clears_and_fires_again(make_user):
    make_user("finance")
    a, b = CustomerFactory(), CustomerFactory()
    move(a, date(2027, 1, 1), "new", "100.00")
    move(b, date(2027, 1, 1), "new", "50.00")
    move(b, date(2027, 2, 1), "churn", "-50.00", before="50")
    move(b, date(2027, 3, 1), "reactivation", "50.00")
    move(b, date(2027, 3, 10), "churn", "-50.00", before="50")
    move(a, date(2027, 3, 10), "contraction", "-60.00", before="100")  # not churn
    r = rule(kpi="churn", condition="above", threshold=D("40"))
    assert evaluate_alerts(date(2027, 1, 31))["triggered"] == []
    assert evaluate_alerts(date(2027, 2, 10))["triggered"] == [r.pk]       # 50.00 churned in the 30 days
    assert evaluate_alerts(date(2027, 2, 20))["triggered"] == []           # still above: no storm
    assert open_alerts(r) == [("", None, D("50.00"))]
    assert evaluate_alerts(date(2027, 3, 3))["cleared"] == [r.pk]          # 2 Feb .. 3 Mar: nothing churned
    assert evaluate_alerts(date(2027, 3, 15))["triggered"] == [r.pk]
    assert r.alerts.count() == 2 and len(open_alerts(r)) == 1
    assert [e["subject_key"] for e in events("alert.triggered")] == ["", ""]


def test_a_rise_against_the_trailing_average():
    a = CustomerFactory()
    move(a, date(2027, 1, 1), "new", "100.00")
    move(a, date(2027, 2, 1), "expansion", "50.00", before="100")
    r = rule(kpi="mrr", condition="rise_pct_vs_trailing", threshold=D("20"))
    assert evaluate_alerts(date(2027, 1, 31))["triggered"] == []
    assert evaluate_alerts(date(2027, 2, 1))["triggered"] == [r.pk]
    # trailing 100.00 (2 .. 31 January), today 150.00: (150 − 100) ÷ 100 = 50.00 %
    assert Alert.objects.get().value == D("50.00")
    assert "50.00 % above its 30-day average 100.00" in Alert.objects.get().message


# --- a customer's usage -------------------------------------------------------------------------------------

DAY = date(2027, 3, 29)  # windows of 7 days: 22–28 March (current), 15–21, 8–14, 1–7 March (earlier)
WINDOW_STARTS = [date(2027, 3, 22), date(2027, 3, 15), date(2027, 3, 8), date(2027, 3, 1)]


def use(customer, meter, day, value, key):
    return UsageEvent.objects.create(customer=customer, meter=meter, value=D(value), idempotency_key=key,
                                     timestamp=datetime(day.year, day.month, day.day, 12, tzinfo=UTC))


@pytest.fixture
def usage():
    meter = MeterFactory(code="api-calls", aggregation="sum", field="calls", unit="calls")
    x, y, z = CustomerFactory(), CustomerFactory(), CustomerFactory()
    # current window first, then the three earlier ones
    for customer, figures in ((x, (40, 100, 100, 100)), (y, (100, 100, 100, 100)), (z, (50, 10, 10, 10))):
        for start, value in zip(WINDOW_STARTS, figures, strict=True):
            use(customer, meter, start, value, f"{customer.pk}-{start}")
    use(x, meter, DAY, 1000, "x-today")  # today is still filling up: not counted
    return meter, x, y, z


def test_usage_is_aggregated_per_customer_in_one_query(usage, django_assert_num_queries):
    meter, x, y, z = usage
    with django_assert_num_queries(1):
        got = usage_by_customer(meter, date(2027, 3, 22), date(2027, 3, 28))
    assert got == {x.pk: D(40), y.pk: D(100), z.pk: D(50)}


def test_a_usage_dip_per_customer_fires_once_clears_and_fires_again(usage, make_user):
    meter, x, y, z = usage
    make_user("finance")
    dip = rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=7,
               meter=meter)
    assert evaluate_alerts(DAY)["triggered"] == [dip.pk]
    # x: 40 against the mean 100 of the three windows before: a 60.00 % drop; y flat; z rose
    assert open_alerts(dip) == [(f"customer:{x.pk}", x.pk, D("60.00"))]
    assert Alert.objects.get().message == (
        f"customer_usage: customer {x.pk}'s api-calls usage over the 7 days to 2027-03-28 is 40 calls, 60.00 % below "
        "the mean of the 3 windows before (100 calls; threshold 50 %) on 2027-03-29.")
    assert evaluate_alerts(DAY)["triggered"] == []  # still dipping: no storm
    assert Alert.objects.count() == 1

    # y dips too: its own alert; x's stays as it is
    late = UsageEvent.objects.filter(customer=y, timestamp__date=date(2027, 3, 22))
    late.update(value=D(30))
    assert evaluate_alerts(DAY)["triggered"] == [dip.pk]
    assert open_alerts(dip) == [(f"customer:{x.pk}", x.pk, D("60.00")), (f"customer:{y.pk}", y.pk, D("70.00"))]

    # x recovers: only x's alert clears
    extra = use(x, meter, date(2027, 3, 25), 60, "x-recovers")
    out = evaluate_alerts(DAY)
    assert (out["cleared"], out["cleared_count"]) == ([dip.pk], 1)
    assert open_alerts(dip) == [(f"customer:{y.pk}", y.pk, D("70.00"))]
    cleared = events("alert.cleared")
    assert [(c["subject_key"], c["customer"]) for c in cleared] == [(f"customer:{x.pk}", x.pk)]

    extra.delete()  # x dips again: a new alert, the old one kept as history
    assert evaluate_alerts(DAY)["triggered"] == [dip.pk]
    assert Alert.objects.filter(subject_key=f"customer:{x.pk}").count() == 2
    assert Notification.objects.filter(kind="kpi_alert").count() == 3


def test_a_usage_spike_and_a_rule_for_one_customer(usage):
    meter, x, y, z = usage
    spike = rule(kpi="customer_usage", condition="rise_pct_vs_trailing", threshold=D("100"), trailing_days=7,
                 meter=meter)
    only_y = rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("1"), trailing_days=7,
                  meter=meter, customer=y)
    only_x = rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("1"), trailing_days=7,
                  meter=meter, customer=x)
    assert evaluate_alerts(DAY)["triggered"] == [spike.pk, only_x.pk]
    assert open_alerts(spike) == [(f"customer:{z.pk}", z.pk, D("400.00"))]  # 50 against 10
    assert open_alerts(only_y) == []
    assert open_alerts(only_x) == [(f"customer:{x.pk}", x.pk, D("60.00"))]


def test_usage_stopping_altogether_is_a_full_dip(usage):
    meter, x, y, z = usage
    UsageEvent.objects.filter(customer=y, timestamp__date=date(2027, 3, 22)).delete()
    dip = rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("90"), trailing_days=7,
               meter=meter)
    evaluate_alerts(DAY)
    assert open_alerts(dip) == [(f"customer:{y.pk}", y.pk, D("100.00"))]


# --- renewals at risk ---------------------------------------------------------------------------------------

def contract(customer, end, *, currency="USD", arr="1200.00", auto_renew=False, number=None):
    return Contract.objects.create(number=number or f"C-{customer.pk}-{end}", customer=customer, currency=currency,
                                   status="active", start_date=date(2026, 5, 1), end_date=end,
                                   auto_renew=auto_renew, arr=D(arr))


def test_a_renewal_at_risk_fires_per_contract_and_clears_when_a_renewal_quote_is_under_way(make_user):
    rep = make_user("sales_rep")
    FxRate.objects.create(currency="EUR", date=date(2027, 1, 1), rate=D("1.10"))
    x, y = CustomerFactory(), CustomerFactory(currency="EUR")
    k1 = contract(x, date(2027, 4, 30))
    contract(x, date(2027, 4, 30), auto_renew=True, number="AUTO")      # renews by itself
    contract(x, date(2027, 9, 30), number="LATER")                       # outside the 60 days
    k4 = contract(y, date(2027, 4, 15), currency="EUR", arr="1000.00")   # 1,100.00 in USD
    r = rule(kpi="renewal_at_risk", condition="above", threshold=D("1150"), trailing_days=60)
    day = date(2027, 3, 15)
    assert [c.pk for c in contracts_at_risk(day, 60)] == [k4.pk, k1.pk]
    assert evaluate_alerts(day)["triggered"] == [r.pk]
    assert open_alerts(r) == [(f"contract:{k1.pk}", x.pk, D("1200.00"))]  # k4's 1,100.00 is under the minimum
    assert evaluate_alerts(day)["triggered"] == []

    quote = Quote.objects.create(number="Q-RENEW", customer=x, owner=rep, currency="USD",
                                 price_book=PriceBookFactory(currency="USD"), status="draft",
                                 start_date=date(2027, 5, 1), valid_until=date(2027, 4, 30))
    k1.renewal_quote = quote
    k1.save(update_fields=["renewal_quote"])
    assert evaluate_alerts(day)["cleared"] == [r.pk]
    assert open_alerts(r) == []

    quote.status = "rejected"  # the renewal fell through: at risk again
    quote.save(update_fields=["status"])
    assert evaluate_alerts(day)["triggered"] == [r.pk]
    assert r.alerts.filter(subject_key=f"contract:{k1.pk}").count() == 2
    (payload, _) = events("alert.triggered")
    assert (payload["customer"], payload["value"], payload["threshold"], payload["kpi"]) == (
        x.pk, "1200.00", "1150.00", "renewal_at_risk")


# --- target shortfall ---------------------------------------------------------------------------------------

def test_a_target_shortfall_fires_clears_and_fires_again():
    a, b = CustomerFactory(), CustomerFactory()
    move(a, date(2027, 1, 10), "new", "400.00")
    target = KpiTarget.objects.create(kpi="new_mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                      value=D("1000.00"))
    r = rule(kpi="target_shortfall", condition="below", threshold=D("10"), target=target)
    # day 45 of 90: 400.00 × 90 ÷ 45 = 800.00 projected, 20.00 % short of 1,000.00
    assert evaluate_alerts(date(2027, 2, 14))["triggered"] == [r.pk]
    assert open_alerts(r) == [(f"target:{target.pk}", None, D("20.00"))]
    assert evaluate_alerts(date(2027, 2, 14))["triggered"] == []
    move(b, date(2027, 2, 15), "new", "200.00")
    # day 46: 600.00 × 90 ÷ 46 = 1,173.91 projected: on course
    assert evaluate_alerts(date(2027, 2, 15))["cleared"] == [r.pk]
    # the quarter ends at 600.00: 40.00 % short
    assert evaluate_alerts(date(2027, 3, 31))["triggered"] == [r.pk]
    assert r.alerts.order_by("id").last().value == D("40.00")


# --- channels -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("in_app", "email", "webhook", "notes", "mails"), [
    (True, True, True, 1, 1), (True, False, True, 1, 0), (False, True, False, 0, 1), (False, False, False, 0, 0)])
def test_channels_are_switchable(make_user, django_capture_on_commit_callbacks, in_app, email, webhook, notes,
                                 mails):
    finance = make_user("finance")
    move(CustomerFactory(), date(2027, 1, 1), "new", "10.00")
    r = rule(kpi="mrr", condition="below", threshold=D("20"), notify_in_app=in_app, notify_email=email,
             notify_webhook=webhook)
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_alerts(date(2027, 1, 5))["triggered"] == [r.pk]
    assert Notification.objects.filter(user=finance, kind="kpi_alert").count() == notes
    assert [(m.to, m.subject) for m in mail.outbox] == [([finance.email], "KPI alert: mrr")] * mails
    (payload,) = events("alert.triggered")
    alert = Alert.objects.get()
    assert payload == {"alert": alert.pk, "rule": r.pk, "rule_name": "mrr", "kpi": "mrr", "condition": "below",
                       "subject_key": "", "customer": None, "value": "10.00", "threshold": "20.00",
                       "message": alert.message, "day": "2027-01-05", "webhook": webhook}
    move(CustomerFactory(), date(2027, 1, 6), "new", "50.00")
    evaluate_alerts(date(2027, 1, 6))
    (cleared,) = events("alert.cleared")
    assert (cleared["webhook"], cleared["value"], cleared["alert"]) == (webhook, "60.00", alert.pk)


# --- the API --------------------------------------------------------------------------------------------------

def page(response):
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


def test_the_alert_rule_api_validates_each_kind(make_user, api_client_for):
    finance = api_client_for(make_user("finance"))
    meter = MeterFactory()
    target = KpiTarget.objects.create(kpi="mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                      value=D("1000"))
    customer = CustomerFactory()
    base = {"name": "r", "threshold": "30", "notify_group": "finance"}

    def post(**body):
        return finance.post("/api/v1/alert-rules/", {**base, **body}, format="json")

    refused = [
        (dict(kpi="customer_usage", condition="drop_pct_vs_trailing"), "meter"),
        (dict(kpi="customer_usage", condition="below", meter=meter.pk), "condition"),
        (dict(kpi="target_shortfall", condition="below"), "target"),
        (dict(kpi="target_shortfall", condition="above", target=target.pk), "condition"),
        (dict(kpi="mrr", condition="below", meter=meter.pk), "meter"),
        (dict(kpi="mrr", condition="below", target=target.pk), "target"),
        (dict(kpi="churn", condition="above", customer=customer.pk), "customer"),
        (dict(kpi="renewal_at_risk", condition="below"), "condition"),
        (dict(kpi="churn", condition="above", threshold="-1"), "threshold"),
        (dict(kpi="customer_usage", condition="drop_pct_vs_trailing", meter=99999), "meter"),
        (dict(kpi="mrr", condition="below", notify_group="nobody"), "notify_group"),
    ]
    for body, field in refused:
        response = post(**body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], (body, response.json())
    assert AlertRule.objects.count() == 0  # nothing was written

    made = post(kpi="customer_usage", condition="rise_pct_vs_trailing", meter=meter.pk, customer=customer.pk,
                trailing_days=7, notify_email=False, notify_webhook=False)
    assert made.status_code == 201, made.content
    body = made.json()
    assert (body["meter"], body["customer"], body["target"], body["notify_in_app"], body["notify_email"],
            body["notify_webhook"], body["trailing_days"]) == (meter.pk, customer.pk, None, True, False, False, 7)
    assert post(kpi="target_shortfall", condition="below", target=target.pk).status_code == 201
    assert post(kpi="renewal_at_risk", condition="above", threshold="0", customer=customer.pk).status_code == 201
    # a change is validated against the stored rule: a usage rule cannot lose its meter
    patch = finance.patch(f"/api/v1/alert-rules/{body['id']}/", {"meter": None}, format="json")
    assert (patch.status_code, list(patch.json()["error"]["fields"])) == (400, ["meter"])


def test_who_may_read_and_write_alert_rules_and_alerts(usage, make_user, api_client_for):
    meter, x, y, z = usage
    rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=7, meter=meter)
    rule(kpi="customer_usage", condition="rise_pct_vs_trailing", threshold=D("100"), trailing_days=7, meter=meter)
    evaluate_alerts(DAY)
    body = {"name": "r", "kpi": "churn", "condition": "above", "threshold": "1", "notify_group": "finance"}
    for role in ("sales_rep", "customer_success"):
        client = api_client_for(make_user(role))
        assert client.post("/api/v1/alert-rules/", body, format="json").status_code == 403
        assert client.get("/api/v1/alert-rules/").status_code == 200
    portal = make_user(username="portal@client.example")
    ContactFactory(portal_user=portal)
    assert api_client_for(portal).get("/api/v1/alerts/").status_code == 403
    assert api_client_for(portal).post("/api/v1/alert-rules/", body, format="json").status_code == 403
    assert api_client_for(make_user("sales_manager")).post("/api/v1/alert-rules/", body,
                                                           format="json").status_code == 201

    reader = api_client_for(make_user("sales_rep"))
    alerts = page(reader.get(f"/api/v1/alerts/?customer={x.pk}"))
    assert [(a["subject_key"], a["customer"], a["kpi"], a["value"]) for a in alerts] == [
        (f"customer:{x.pk}", x.pk, "customer_usage", "60.00")]
    assert [a["customer"] for a in page(reader.get(f"/api/v1/alerts/?customer={z.pk}&open=true"))] == [z.pk]
    bad = reader.get("/api/v1/alerts/?customer=abc")
    assert (bad.status_code, bad.json()["error"]["fields"]) == (400, {"customer": ["not an id"]})


def test_evaluating_does_not_query_per_customer_or_contract():
    """Flat usage and small renewals (no alert opens): the queries do not grow with the customers."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    FxRate.objects.create(currency="EUR", date=date(2027, 1, 1), rate=D("1.10"))
    meter = MeterFactory(code="seats-used", aggregation="max", field="seats")
    rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=7, meter=meter)
    rule(kpi="renewal_at_risk", condition="above", threshold=D("100000"), trailing_days=60)
    rule(kpi="customers", condition="rise_pct_vs_trailing", threshold=D("50"), trailing_days=3)
    rule(kpi="mrr", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=30)

    def add_customers(n):
        for _ in range(n):
            c = CustomerFactory()
            move(c, date(2027, 1, 1), "new", "10.00")
            contract(c, date(2027, 4, 30), currency="EUR", arr="10.00")
            for start in WINDOW_STARTS:
                use(c, meter, start, 5, f"{c.pk}-{start}")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            out = evaluate_alerts(DAY)
        assert (out["triggered"], out["failed"]) == ([], [])
        return len(ctx.captured_queries)

    add_customers(2)
    few = queries()
    add_customers(20)
    assert queries() == few


def test_the_admin_shows_the_new_fields_and_refuses_bad_combinations(client, make_user, usage):
    meter, x, y, z = usage
    rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=7, meter=meter)
    evaluate_alerts(DAY)
    client.force_login(make_user(is_superuser=True, is_staff=True))
    rules = client.get("/admin/analytics/alertrule/")
    assert rules.status_code == 200 and b"Notify webhook" in rules.content
    alerts = client.get("/admin/analytics/alert/")
    assert alerts.status_code == 200 and f"customer:{x.pk}".encode() in alerts.content
    form = {"name": "no meter", "kpi": "customer_usage", "condition": "drop_pct_vs_trailing", "threshold": "10",
            "trailing_days": "7", "active": "on", "notify_group": "finance", "notify_in_app": "on"}
    refused = client.post("/admin/analytics/alertrule/add/", form)
    assert refused.status_code == 200 and b"required for customer_usage" in refused.content
    assert client.post("/admin/analytics/alertrule/add/", {**form, "meter": meter.pk}).status_code == 302
    assert AlertRule.objects.filter(name="no meter", meter=meter).exists()


def test_event_driven_evaluation_can_leave_usage_to_the_schedule(usage):
    from analytics.services.alerts import EVENT_DRIVEN_KPIS

    meter, x, y, z = usage
    dip = rule(kpi="customer_usage", condition="drop_pct_vs_trailing", threshold=D("50"), trailing_days=7,
               meter=meter)
    churn = rule(kpi="churn", condition="above", threshold=D("0"))
    move(x, date(2027, 3, 1), "new", "10.00")
    move(x, date(2027, 3, 20), "churn", "-10.00", before="10")
    assert evaluate_alerts(DAY, kpis_only=EVENT_DRIVEN_KPIS)["triggered"] == [churn.pk]
    assert evaluate_alerts(DAY)["triggered"] == [dip.pk]
