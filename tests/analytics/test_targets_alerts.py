"""KPI targets (progress and pace on hand-computed figures) and KPI alerts (open once, clear, open again;
overdue receivables across currencies; a drop against the trailing average), and their API."""
from datetime import date
from decimal import Decimal as D

import pytest
from django.core import mail
from django.urls import include, path

from analytics import targets_api
from analytics.models import Alert, AlertRule, KpiTarget, MrrMovement
from analytics.services.alerts import evaluate_alerts, overdue_ar
from analytics.services.targets import target_progress
from billing.models import Invoice
from recognition.models import FxRate
from revops.kernel.events import subscribers
from revops.kernel.models import Notification, OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# The new endpoints are not on /api/v1/ until revops/api_urls.py includes them: route them here for the tests.
urlpatterns = [path("api/v1/", include(targets_api.urlpatterns()))]


def move(customer, day: date, kind: str, amount: str, before: str = "0", after: str | None = None):
    amount = D(amount)
    after = D(after) if after is not None else D(before) + amount
    return MrrMovement.objects.create(customer=customer, date=day, currency="USD", kind=kind, amount=amount,
                                      mrr_before=D(before), mrr_after=after, amount_reporting=amount)


def test_pacing_of_a_quarterly_new_mrr_target(finance_user):
    a, b, c = (CustomerFactory() for _ in range(3))
    move(a, date(2027, 1, 10), "new", "300.00")
    move(b, date(2027, 2, 1), "reactivation", "100.00")
    move(a, date(2027, 2, 5), "expansion", "500.00", before="300")  # not new MRR
    move(c, date(2027, 2, 20), "new", "200.00")  # after as_of
    move(c, date(2026, 12, 20), "new", "999.00")  # before the quarter
    target = KpiTarget.objects.create(kpi="new_mrr", period_start=date(2027, 1, 1), period_end=date(2027, 3, 31),
                                      value=D("1000.00"), created_by=finance_user)
    p = target_progress(target, date(2027, 2, 14))  # day 45 of 90 (31 + 14)
    # 300 + 100 = 400 achieved; (1,000 − 400) ÷ 45 = 13.333… → 13.33 a day
    assert (p["actual"], p["percent"], p["days_total"], p["days_elapsed"], p["days_remaining"], p["gap"],
            p["pace_per_day"], p["on_track"]) == (D("400.00"), D("40.00"), 90, 45, 45, D("600.00"), D("13.33"), False)
    # the change so far at the same pace: 400.00 × 90 ÷ 45 = 800.00, 20.00 % short of 1,000.00
    assert (p["projected"], p["shortfall_percent"]) == (D("800.00"), D("20.00"))
    end = target_progress(target, date(2027, 5, 1))  # after the period: counted to its end, no day left
    assert (end["actual"], end["days_remaining"], end["pace_per_day"], end["reached"]) == (
        D("600.00"), 0, None, False)


def test_level_targets_use_the_value_on_the_day_and_the_segment():
    big = CustomerFactory(size="enterprise")
    move(big, date(2027, 1, 1), "new", "100.00")
    move(CustomerFactory(), date(2027, 1, 1), "new", "50.00")
    arr = KpiTarget.objects.create(kpi="arr", period_start=date(2027, 1, 1), period_end=date(2027, 12, 31),
                                   value=D("1200.00"), segment_field="size", segment_value="enterprise")
    p = target_progress(arr, date(2027, 1, 1))
    assert (p["actual"], p["percent"], p["reached"], p["pace_per_day"]) == (D("1200.00"), D("100.00"), True, D("0.00"))
    # a level KPI projects its change in the period: 0 on 31 December, 1,200.00 after 1 of 365 days
    assert (p["projected"], p["shortfall_percent"]) == (D("438000.00"), D("0.00"))
    assert target_progress(arr, date(2026, 12, 31))["projected"] is None  # not started
    customers = KpiTarget.objects.create(kpi="customers", period_start=date(2027, 1, 1),
                                         period_end=date(2027, 1, 10), value=D("4"))
    p = target_progress(customers, date(2027, 1, 2))  # 2 of 4, 8 days left: 0.25 a day
    assert (p["actual"], p["days_remaining"], p["pace_per_day"]) == (D(2), 8, D("0.25"))


def test_an_mrr_below_alert_opens_once_clears_and_opens_again(make_user):
    a, b = CustomerFactory(), CustomerFactory()
    move(a, date(2027, 1, 1), "new", "100.00")
    move(b, date(2027, 1, 1), "new", "50.00")          # 150.00
    move(b, date(2027, 2, 1), "churn", "-50.00", "50")  # 100.00
    move(b, date(2027, 3, 1), "reactivation", "50.00")  # 150.00
    move(b, date(2027, 4, 1), "churn", "-50.00", "50")  # 100.00
    finance = make_user("finance")
    make_user("sales_rep")  # not in the group: never notified
    rule = AlertRule.objects.create(name="MRR floor", kpi="mrr", condition="below", threshold=D("120.00"),
                                    notify_group="finance")

    assert evaluate_alerts(date(2027, 1, 15))["triggered"] == []
    assert evaluate_alerts(date(2027, 2, 10))["triggered"] == [rule.pk]
    assert evaluate_alerts(date(2027, 2, 11))["triggered"] == []  # still below: no storm
    first = Alert.objects.get()
    assert (first.value, first.cleared_at) == (D("100.00"), None)
    assert "MRR is 100.00, below 120.00" in first.message
    notes = Notification.objects.filter(dedupe_key=f"alert:{first.pk}")
    assert [n.user_id for n in notes] == [finance.pk]
    assert len(mail.outbox) == 0 or all(m.to == [finance.email] for m in mail.outbox)

    assert evaluate_alerts(date(2027, 3, 5))["cleared"] == [rule.pk]
    first.refresh_from_db()
    assert first.cleared_at is not None
    assert evaluate_alerts(date(2027, 4, 5))["triggered"] == [rule.pk]
    assert Alert.objects.count() == 2
    assert Alert.objects.filter(cleared_at__isnull=True).exclude(pk=first.pk).count() == 1
    assert Notification.objects.filter(user=finance, kind="kpi_alert").count() == 2
    assert list(OutboxEvent.objects.filter(type__startswith="alert.").order_by("id").values_list("type", flat=True)) == [
        "alert.triggered", "alert.cleared", "alert.triggered"]


def test_overdue_receivables_above_an_amount_in_the_reporting_currency(make_user):
    make_user("finance")
    customer = CustomerFactory()
    FxRate.objects.create(currency="EUR", date=date(2027, 1, 1), rate=D("1.1"))
    Invoice.objects.create(customer=customer, currency="USD", status="issued", due_date=date(2027, 1, 10),
                           subtotal=D("300.00"), total=D("300.00"), amount_due=D("300.00"))
    Invoice.objects.create(customer=customer, currency="EUR", status="partially_paid", due_date=date(2027, 1, 5),
                           subtotal=D("150.00"), total=D("150.00"), amount_paid=D("50.00"), amount_due=D("100.00"))
    Invoice.objects.create(customer=customer, currency="USD", status="paid", due_date=date(2027, 1, 5),
                           subtotal=D("500.00"), total=D("500.00"))
    Invoice.objects.create(customer=customer, currency="USD", status="issued", due_date=date(2027, 2, 5),
                           subtotal=D("500.00"), total=D("500.00"), amount_due=D("500.00"))  # not yet due
    assert overdue_ar(date(2027, 1, 8)) == D("110.00")  # only the EUR one: 100 × 1.1
    assert overdue_ar(date(2027, 1, 20)) == D("410.00")
    rule = AlertRule.objects.create(name="AR", kpi="overdue_ar", condition="above", threshold=D("400"),
                                    notify_group="finance")
    assert evaluate_alerts(date(2027, 1, 8))["triggered"] == []
    assert evaluate_alerts(date(2027, 1, 20))["triggered"] == [rule.pk]
    assert Alert.objects.get().value == D("410.00")


def test_a_drop_against_the_trailing_average():
    move(CustomerFactory(), date(2027, 1, 1), "new", "150.00")
    move(CustomerFactory(), date(2027, 1, 1), "new", "0.01")
    b = MrrMovement.objects.first().customer
    move(b, date(2027, 2, 1), "contraction", "-50.00", "150")
    rule = AlertRule.objects.create(name="Drop", kpi="mrr", condition="drop_pct_vs_trailing", threshold=D("20"),
                                    trailing_days=30, notify_group="finance")
    assert evaluate_alerts(date(2027, 1, 31))["triggered"] == []
    assert evaluate_alerts(date(2027, 2, 1))["triggered"] == [rule.pk]
    # trailing 150.01 (Jan 2..31), today 100.01: drop 50 ÷ 150.01 = 33.33 %
    assert Alert.objects.get().value == D("33.33")


def test_a_broken_rule_does_not_stop_the_others():
    move(CustomerFactory(), date(2027, 1, 1), "new", "10.00")
    Invoice.objects.create(customer=CustomerFactory(), currency="GBP", status="issued", due_date=date(2027, 1, 1),
                           subtotal=D("1.00"), total=D("1.00"), amount_due=D("1.00"))  # no GBP rate
    broken = AlertRule.objects.create(name="AR", kpi="overdue_ar", condition="above", threshold=D("0"),
                                      notify_group="finance")
    fine = AlertRule.objects.create(name="MRR", kpi="mrr", condition="below", threshold=D("20"),
                                    notify_group="finance")
    out = evaluate_alerts(date(2027, 1, 5))
    assert (out["failed"], out["triggered"]) == ([broken.pk], [fine.pk])


def test_the_subscriber_listens_to_revenue_events():
    sub = subscribers()["analytics.alerts"]
    assert all(sub.wants(t) for t in ("invoice.issued", "payment.received", "contract.amended"))
    assert not sub.wants("quote.sent")


def page(response):
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else body


@pytest.mark.urls(__name__)
def test_the_api(make_user, api_client_for):
    move(CustomerFactory(), date(2027, 1, 10), "new", "400.00")
    finance, rep = api_client_for(make_user("finance")), api_client_for(make_user("sales_rep"))
    body = {"kpi": "new_mrr", "period_start": "2027-01-01", "period_end": "2027-03-31", "value": "1000.00"}
    assert rep.post("/api/v1/targets/", body, format="json").status_code == 403
    created = finance.post("/api/v1/targets/", body, format="json")
    assert created.status_code == 201, created.content
    tid = created.json()["id"]
    detail = rep.get(f"/api/v1/targets/{tid}/?as_of=2027-02-14").json()
    assert (detail["progress"]["actual"], detail["progress"]["pace_per_day"],
            detail["progress"]["days_remaining"]) == ("400.00", "13.33", 45)
    assert [t["id"] for t in page(rep.get("/api/v1/targets/"))] == [tid]
    bad = finance.post("/api/v1/targets/", {**body, "period_end": "2026-12-31"}, format="json")
    assert bad.status_code == 400 and "period_end" in str(bad.json())
    assert rep.get(f"/api/v1/targets/{tid}/?as_of=nope").status_code == 400

    rule = {"name": "MRR floor", "kpi": "mrr", "condition": "below", "threshold": "500", "notify_group": "finance"}
    assert rep.post("/api/v1/alert-rules/", rule, format="json").status_code == 403
    made = finance.post("/api/v1/alert-rules/", rule, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["notify_group"] == "finance"
    evaluate_alerts(date(2027, 2, 1))
    alerts = page(rep.get("/api/v1/alerts/?open=true"))
    assert [(a["rule"], a["value"], a["open"]) for a in alerts] == [(made.json()["id"], "400.00", True)]
    assert page(rep.get("/api/v1/alerts/?open=false")) == []
    assert api_client_for(None).get("/api/v1/alerts/").status_code == 401
