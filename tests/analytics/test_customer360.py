"""Customer 360 (analytics.services.customer360 and the customer page): hand-computed figures for one
customer (and the profitability, CLV and health of the profitability data set's customer A), what each role
sees, portal isolation, comments from the page, and a query count that does not grow with the customer's
history."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.models import Alert, AlertRule, MrrMovement
from analytics.services import customer360
from billing.models import Invoice, InvoiceEvent, Payment, UsageEvent
from catalog import models as cm
from contracts.models import Contract, ContractEvent, ContractLine
from customers.models import CustomerComment
from quotes.models import Quote, QuoteEvent
from recognition.models import (
    Account,
    AccountingPeriod,
    JournalEntry,
    JournalLine,
    PerformanceObligation,
    ScheduleLine,
)
from revops.kernel import roles
from revops.kernel.models import Notification
from tests.analytics.test_profitability_data import dataset
from tests.factories import ContactFactory, CustomerFactory, PriceBookFactory

FIXTURES = (dataset,)  # the shared profitability data set, a fixture used by name below
pytestmark = pytest.mark.django_db

DAY = date(2027, 3, 15)


def ts(d: date, hour: int = 12) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def quote(customer, owner, number, status, mrr="0", tcv="0"):
    return Quote.objects.create(number=number, customer=customer, owner=owner, currency="USD",
                                price_book=PriceBookFactory(), status=status, start_date=date(2027, 4, 1),
                                valid_until=date(2027, 4, 30), mrr=D(mrr), tcv=D(tcv))


def contract(customer, number, status, start, end, mrr="0", **extra):
    return Contract.objects.create(number=number, customer=customer, currency="USD", status=status, start_date=start,
                                   end_date=end, mrr=D(mrr), arr=D(mrr) * 12, **extra)


def invoice(customer, number, status, due, total, paid="0"):
    return Invoice.objects.create(number=number, customer=customer, currency="USD", status=status,
                                  issue_date=due - timedelta(days=30), due_date=due, subtotal=D(total), total=D(total),
                                  amount_paid=D(paid), amount_due=D(total) - D(paid))


def movement(customer, day, kind, amount, reporting, currency="USD"):
    MrrMovement.objects.create(customer=customer, date=day, currency=currency, kind=kind, amount=D(amount),
                               mrr_before=0, mrr_after=D(amount), amount_reporting=D(reporting))


@pytest.fixture
def acme(make_user):
    """Acme on 2027-03-15: MRR 150.00 USD + 200.00 EUR (220.00 USD), two open quotes, an active contract
    ending in 16 days with a usage line (1,200 API calls this period, 1,000 included), three invoices
    (100.00 42 days overdue, 150.00 due in 5 days, one paid), a payment, revenue schedules and journal."""
    rep = make_user(roles.SALES_REP, username="riley", first_name="Riley", last_name="Park")
    customer = CustomerFactory(name="Acme Corp", currency="USD", size="enterprise", region="emea", industry="retail",
                               acquisition_channel="partner", owner=rep)
    movement(customer, date(2027, 1, 1), "new", "100.00", "100.00")
    movement(customer, date(2027, 2, 1), "expansion", "50.00", "50.00")
    movement(customer, date(2027, 2, 10), "new", "200.00", "220.00", currency="EUR")
    movement(customer, date(2027, 4, 1), "expansion", "25.00", "25.00")  # after the day: not counted

    quote(customer, rep, "Q-A", "sent", "30.00", "360.00")
    quote(customer, rep, "Q-B", "draft")
    quote(customer, rep, "Q-C", "accepted", "99.00", "999.00")  # not open

    c1 = contract(customer, "C-1", "active", date(2026, 4, 1), date(2027, 3, 31), "150.00", auto_renew=True)
    contract(customer, "C-2", "draft", date(2027, 4, 1), date(2028, 3, 31))
    contract(customer, "C-3", "expired", date(2025, 4, 1), date(2026, 3, 31), "10.00")

    meter = cm.Meter.objects.create(code="api-calls", name="API calls", aggregation="sum", field="qty", unit="calls")
    product = cm.Product.objects.create(sku="API", name="API calls", kind="usage", recognition="usage", meter=meter)
    price = cm.Price.objects.create(product=product, price_book=PriceBookFactory(), model="graduated", currency="USD",
                                    billing_period="month")
    cm.PriceTier.objects.create(price=price, up_to=1000, unit_amount=D("0"))
    cm.PriceTier.objects.create(price=price, up_to=None, unit_amount=D("0.01"))
    ContractLine.objects.create(contract=c1, item=1, product=product, price=price, quantity=D(0), unit_price=D(0),
                                amount=D(0), period="usage", billing_frequency="month", start_date=c1.start_date,
                                end_date=c1.end_date)
    for n, (day, value) in enumerate([(date(2027, 3, 2), "400"), (date(2027, 3, 10), "800"),
                                      (date(2027, 2, 20), "999")]):  # the last one is last period's
        UsageEvent.objects.create(customer_id=customer.pk, meter_id=meter.pk, timestamp=ts(day), value=D(value),
                                  idempotency_key=f"k{n}")

    invoice(customer, "INV-1", "issued", date(2027, 2, 1), "100.00")  # 42 days overdue: 31-60
    invoice(customer, "INV-2", "partially_paid", date(2027, 3, 20), "200.00", paid="50.00")  # current
    invoice(customer, "INV-3", "paid", date(2027, 1, 20), "80.00", paid="80.00")
    Payment.objects.create(customer=customer, amount=D("50.00"), amount_allocated=D("50.00"), currency="USD",
                           received_at=ts(date(2027, 3, 1)), reference="wire 42")

    ob = PerformanceObligation.objects.create(contract=c1, item=1, product=product, pattern="ratable", quantity=1,
                                              start_date=c1.start_date, end_date=c1.end_date, currency="USD",
                                              ssp=D("640"), allocated_price=D("640"))
    for month, amount, status in [(1, "100", "recognized"), (2, "100", "recognized"), (3, "300", "planned"),
                                  (4, "40", "cancelled")]:
        ScheduleLine.objects.create(obligation=ob, period=date(2027, month, 1), amount=D(amount), status=status)
    period = AccountingPeriod.objects.create(start=date(2027, 1, 1), end=date(2027, 1, 31))
    entry = JournalEntry.objects.create(date=date(2027, 1, 1), period=period, memo="bill", source="invoice.issued",
                                        source_key="t-1", currency="USD", reporting_currency="USD", customer=customer)
    deferred = Account.objects.get(role="deferred", family="")
    JournalLine.objects.create(entry=entry, account=deferred, credit=D("500.00"))
    JournalLine.objects.create(entry=entry, account=deferred, debit=D("200.00"))

    rule = AlertRule.objects.create(name="Usage dip", kpi="customer_usage", condition="below", threshold=D("10"),
                                    notify_group="customer_success")
    Alert.objects.create(rule=rule, customer=customer, subject_key="customer:1", triggered_at=ts(date(2027, 3, 5)),
                         value=D("5"), message="Usage 5 below 10")
    Alert.objects.create(rule=rule, customer=customer, subject_key="customer:1:old",
                         triggered_at=ts(date(2027, 2, 5)), value=D("4"), message="Usage 4 below 10",
                         cleared_at=ts(date(2027, 2, 9)))
    return customer


def test_the_360_figures_for_finance(acme, finance_user):
    data = customer360.customer_360(customer=acme, user=finance_user, day=DAY)

    assert data["customer"]["owner"]["username"] == "riley"
    assert (data["customer"]["size_label"], data["customer"]["region_label"], data["customer"]["industry"],
            data["customer"]["acquisition_channel_label"]) == ("Enterprise", "EMEA", "retail", "Partner")
    assert (data["mrr"]["mrr"], data["mrr"]["arr"], data["mrr"]["currency"]) == (D("370.00"), D("4440.00"), "USD")
    assert data["mrr"]["by_currency"] == [{"currency": "EUR", "mrr": D("200.00"), "arr": D("2400.00")},
                                          {"currency": "USD", "mrr": D("150.00"), "arr": D("1800.00")}]
    assert data["quotes"]["count"] == 2
    assert [q["number"] for q in data["quotes"]["rows"]] == ["Q-B", "Q-A"]  # newest first
    assert data["contracts"]["count"] == 2
    assert [c["number"] for c in data["contracts"]["rows"]] == ["C-1", "C-2"]
    (renewal,) = data["renewals"]["rows"]
    assert (renewal["number"], renewal["days_to_end"], renewal["auto_renew"]) == ("C-1", 16, True)
    assert [(i["number"], i["days_overdue"], i["amount_due"]) for i in data["invoices"]["rows"]] == [
        ("INV-1", 42, D("100.00")), ("INV-2", 0, D("150.00")), ("INV-3", 0, D("0.00"))]
    (aging,) = data["ar_aging"]["rows"]
    assert aging["buckets"] == {"current": D("150.00"), "1-30": D("0.00"), "31-60": D("100.00"), "61-90": D("0.00"),
                                "90+": D("0.00")}
    assert aging["total"] == D("250.00")
    assert [(p["amount"], p["unallocated"], p["reference"]) for p in data["payments"]] == [
        (D("50.00"), D("0.00"), "wire 42")]
    assert data["revenue"] == [{"currency": "USD", "recognized": D("200.00"), "remaining": D("300.00"),
                                "deferred": D("300.00")}]
    (usage,) = data["usage"]
    assert (usage["period_start"], usage["period_end"]) == (date(2027, 3, 1), date(2027, 3, 31))
    assert (usage["quantity"], usage["included"], usage["used_pct"]) == (D("1200"), D("1000"), D("120.0"))
    assert usage["tier_limit"] is None  # past the last bounded tier
    assert usage["estimated_amount"] == D("2.00")  # 200 calls beyond the free 1,000 at 0.01
    assert data["alerts"]["open"] == 1 and len(data["alerts"]["rows"]) == 2
    profit = data["profitability"]  # costs: finance, sales managers, admins — the last 12 months
    assert (profit["first"], profit["last"]) == (date(2026, 4, 1), DAY)
    # no recognized revenue (the journal has deferred lines only), no costed product or meter, no service cost:
    # every figure is zero, and margin % and CLV (which need revenue) are empty
    assert profit == {"first": date(2026, 4, 1), "last": DAY, "revenue": D("0.00"), "cost_of_goods": D("0.00"),
                      "cost_to_serve": D("0.00"), "contribution": D("0.00"), "margin_pct": None, "clv": None,
                      "currency": "USD"}
    # INV-1 is 42 days overdue (31–60: +20); the usage has no 90 days before to compare with, no service cost,
    # and C-1 renews automatically: 20, low
    assert (data["health"]["score"], data["health"]["level"]) == (20, "low")
    assert data["health"]["reasons"] == ["1 invoice overdue (USD 100.00, oldest 42 days): +20"]


# --- the profitability data set: customer A's figures, worked out by hand --------------------------------------

DATASET_DAY = date(2027, 3, 31)  # the 12 months ending on it, 2026-04-01..2027-03-31, hold the whole data set


def test_finance_sees_customer_a_profitability_clv_and_health(dataset, finance_user):
    data = customer360.customer_360(customer=dataset["a"], user=finance_user, day=DATASET_DAY)

    profit = data["profitability"]
    assert (profit["first"], profit["last"], profit["currency"]) == (date(2026, 4, 1), DATASET_DAY, "USD")
    # test_profitability_data's docstring: revenue 3 × 1,000; cost of goods 10 × 5 × 3 + 1,000 events × 0.01 = 160;
    # cost to serve 33.33 (Feb tickets) + 64.29 (Jan seats) + 523.81 (Mar revenue share) + 10.00 (Mar tickets)
    assert (profit["revenue"], profit["cost_of_goods"], profit["cost_to_serve"]) == (
        D("3000.00"), D("160.00"), D("631.43"))
    assert (profit["contribution"], profit["margin_pct"]) == (D("2208.57"), D("73.62"))  # 2,208.57 ÷ 3,000
    # CLV = MRR at the end × gross margin % ÷ monthly revenue churn of all customers over the 12 months:
    #   MRR 1,000; gross margin (3,000 − 160) ÷ 3,000 = 94.666… → 94.67 %; margin a month 1,000 × 94.67 % = 946.70
    #   churn: lost = C's contraction 80; Σ MRR at the start of each month = 0 (Apr 2026 … Jan 2027)
    #          + 1,100 (Feb: A 1,000 + C 100) + 2,100 (Mar: + B 1,000) = 3,200 → 80 ÷ 3,200 = 2.5 %
    #   1 ÷ 2.5 % = 40 months (under the 60-month cap) → 946.70 × 40 = 37,868.00
    assert profit["clv"] == D("37868.00")
    health = data["health"]
    # usage: A's 1,000 events (value 1 each) fell in February, the 90 days before the last 30 (Mar 2–31), none
    # since → down 100 %: +25. Cost to serve ÷ revenue over Dec 2026 … Mar 2027: 631.43 ÷ 3,000 = 0.2105
    # → 21.05 % → shown 21.1 %, at least 15 %: +10. No invoice; A's contract ends 2027-12-31 (not within 90 days)
    assert (health["score"], health["level"]) == (35, "medium")
    assert health["factors"] == {"usage": 25, "overdue": 0, "support": 10, "renewal": 0}
    assert health["reasons"] == [
        "m-events usage down 100 % (daily average, last 30 days vs the 90 before): +25",
        "cost to serve is 21.1 % of revenue over the last three full months and this month to date: +10"]


COST_KEYS = {"profitability", "cost_of_goods", "cost_to_serve", "contribution", "margin_pct", "clv"}


def _keys(value) -> set[str]:
    """Every dict key anywhere in a 360 (nested sections, lists of rows)."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list | tuple):
        return {k for v in value for k in _keys(v)}
    return set()


@pytest.mark.parametrize("role", [roles.SALES_REP, roles.CUSTOMER_SUCCESS])
def test_reps_and_success_get_no_cost_figure_of_customer_a(dataset, make_user, finance_user, role):
    seen_by_finance = customer360.customer_360(customer=dataset["a"], user=finance_user, day=DATASET_DAY)
    user = make_user(role)
    if role == roles.SALES_REP:  # a rep sees the health of the customers it owns
        type(dataset["a"]).objects.filter(pk=dataset["a"].pk).update(owner=user)
        dataset["a"].refresh_from_db()

    data = customer360.customer_360(customer=dataset["a"], user=user, day=DATASET_DAY)

    assert data["visibility"]["costs"] is False
    assert not _keys(data) & COST_KEYS, _keys(data) & COST_KEYS
    assert _keys(seen_by_finance) >= COST_KEYS  # the same walk finds every one in finance's 360
    # the same score, but the support factor without the cost ratio
    assert (data["health"]["score"], data["health"]["level"]) == (35, "medium")
    assert data["health"]["reasons"][1] == "high cost to serve relative to revenue: +10"
    assert not any("21.1" in reason for reason in data["health"]["reasons"])


def test_a_rep_sees_invoice_statuses_but_no_amounts_costs_payments_or_revenue(acme):
    rep = acme.owner

    data = customer360.customer_360(customer=acme, user=rep, day=DAY)

    assert data["visibility"] == {"costs": False, "billing": False, "can_comment": True, "insights": True}
    for hidden in ("profitability", "payments", "ar_aging", "revenue"):
        assert hidden not in data
    assert [(i["number"], i["status"], i["days_overdue"]) for i in data["invoices"]["rows"]] == [
        ("INV-1", "issued", 42), ("INV-2", "partially_paid", 0), ("INV-3", "paid", 0)]
    assert all("amount_due" not in i and "total" not in i for i in data["invoices"]["rows"])
    assert data["mrr"]["mrr"] == D("370.00")  # everyone sees MRR, usage, contracts
    assert data["usage"][0]["quantity"] == D("1200")


@pytest.mark.parametrize("role, costs, billing", [
    (roles.SALES_REP, False, False), (roles.SALES_MANAGER, True, True), (roles.FINANCE, True, True),
    (roles.CUSTOMER_SUCCESS, False, True), (roles.ADMIN, True, True)])
def test_the_visibility_table(make_user, role, costs, billing):
    seen = customer360.visibility_for(make_user(role))

    assert (seen.costs, seen.billing, seen.can_comment) == (costs, billing, True)
    assert ("payment" in seen.timeline_filter["sources"]) is billing


# --- the page ------------------------------------------------------------------------------------------------


def _page(client, user, customer):
    client.force_login(user)
    return client.get(reverse("customers:detail", args=[customer.pk]))


@pytest.mark.parametrize("role", roles.STAFF_ROLES)
def test_every_staff_role_opens_the_360_page(client, make_user, acme, role):
    response = _page(client, make_user(role), acme)

    assert response.status_code == 200
    html = response.text
    for section in ('id="c360-figures"', 'id="quotes"', 'id="contracts"', 'id="renewals"', 'id="invoices"',
                    'id="usage"', 'id="alerts"', 'id="timeline"', "Q-A", "C-1", "INV-1", "API calls"):
        assert section in html, section
    costs = role in (roles.FINANCE, roles.SALES_MANAGER, roles.ADMIN)
    billing = role != roles.SALES_REP
    assert ('data-figure="margin"' in html) is costs
    assert ('id="ar-aging"' in html) is billing
    assert ('id="payments"' in html) is billing
    assert ('id="revenue"' in html) is billing
    assert ("wire 42" in html) is billing


def test_the_360_address_leads_to_the_customer_page(client, sales_rep, acme):
    client.force_login(sales_rep)

    response = client.get(reverse("customers:360", args=[acme.pk]))

    assert response.status_code == 302 and response["Location"] == reverse("customers:detail", args=[acme.pk])


@pytest.fixture
def portal_user(make_user, acme):
    user = make_user(username="ap@acme.example")
    ContactFactory(customer=acme, portal_user=user, email="ap@acme.example")
    return user


def test_portal_users_get_403_on_every_360_page_and_cannot_comment(client, portal_user, acme):
    client.force_login(portal_user)
    before = CustomerComment.objects.count()

    for url in (reverse("customers:detail", args=[acme.pk]), reverse("customers:360", args=[acme.pk]),
                reverse("customers:timeline", args=[acme.pk])):
        assert client.get(url).status_code == 403, url
    posted = client.post(reverse("customers:comment_create", args=[acme.pk]), {"body": "hi @riley"})

    assert posted.status_code == 403
    assert CustomerComment.objects.count() == before


def test_portal_pages_show_no_comments_or_costs(client, portal_user, acme, finance_user):
    CustomerComment.objects.create(customer=acme, author=finance_user, body="INTERNAL-NOTE-7731 churn risk")
    client.force_login(portal_user)

    for name in ("home", "invoices", "payments", "usage", "quotes"):
        response = client.get(reverse(f"portal:{name}"))
        assert response.status_code == 200, name
        text = response.text
        assert "INTERNAL-NOTE-7731" not in text, name
        for word in ("unit_cost", "Cost of goods", "cost to serve", "Contribution margin", "CLV"):
            assert word not in text, (name, word)


def test_a_comment_from_the_page_mentions_and_notifies(client, acme, make_user):
    fiona = make_user(roles.FINANCE, username="fiona")
    author = make_user(roles.CUSTOMER_SUCCESS, username="casey")
    client.force_login(author)

    response = client.post(reverse("customers:comment_create", args=[acme.pk]),
                           {"body": "@fiona INV-1 is 42 days late, can you call them?"})

    comment = CustomerComment.objects.get(customer=acme)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('customers:detail', args=[acme.pk])}#comment-{comment.pk}"
    assert list(comment.mentions.values_list("username", flat=True)) == ["fiona"]
    assert Notification.objects.get(user=fiona).link == response["Location"]
    page = client.get(response["Location"]).text
    assert f'id="comment-{comment.pk}"' in page and "Mentioned: @fiona" in page


def test_an_empty_comment_is_shown_beside_the_field_and_nothing_is_saved(client, acme, success_user):
    client.force_login(success_user)

    response = client.post(reverse("customers:comment_create", args=[acme.pk]), {"body": "   "})

    assert response.status_code == 400
    assert "write something: a comment cannot be empty" in response.text
    assert not CustomerComment.objects.exists()


def test_show_older_loads_the_next_timeline_page(client, acme, finance_user):
    for n in range(25):
        CustomerComment.objects.create(customer=acme, author=finance_user, body=f"note number {n:02d}")
    client.force_login(finance_user)

    first = _page(client, finance_user, acme).text
    more = client.get(reverse("customers:timeline", args=[acme.pk]), {"offset": 20}, HTTP_HX_REQUEST="true").text

    assert "note number 24" in first and "note number 04" not in first
    assert "?offset=20" in first
    assert "note number 04" in more and "note number 00" in more and "note number 24" not in more


# --- speed: the query count does not grow with the history ---------------------------------------------------


def _busy(customer, user, first: int, last: int):
    """Records first..last-1 of everything: quotes, contracts and invoices with their events, payments,
    comments with a mention."""
    for k in range(first, last):
        q = quote(customer, user, f"QB-{k}", "sent", "10.00", "120.00")
        QuoteEvent.objects.create(quote=q, kind="sent", actor=user)
        c = contract(customer, f"CB-{k}", "active", date(2027, 1, 1), date(2027, 4, 1 + k % 20), "10.00")
        ContractEvent.objects.create(contract=c, kind="activated", actor=user)
        inv = invoice(customer, f"INVB-{k}", "issued", date(2027, 3, 1), "10.00")
        InvoiceEvent.objects.create(invoice=inv, kind="issued", actor=user, detail=inv.number)
        InvoiceEvent.objects.create(invoice=inv, kind="dunning", detail="14 days overdue")
        Payment.objects.create(customer=customer, amount=D("5.00"), currency="USD", received_at=ts(date(2027, 3, 2)))
        comment = CustomerComment.objects.create(customer=customer, author=user, body=f"busy {k} @{user.username}")
        comment.mentions.add(user)


def _page_queries(client, user, customer) -> int:
    client.force_login(type(user).objects.get(pk=user.pk))  # a fresh user: no cached roles or permissions
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("role", [roles.SALES_REP, roles.CUSTOMER_SUCCESS, roles.FINANCE])
def test_the_page_costs_the_same_queries_with_25_or_60_of_everything(client, make_user, acme,
                                                                     django_assert_max_num_queries, role):
    user = make_user(role)
    _busy(acme, user, 0, 25)  # past every section's row limit
    client.force_login(user)
    client.get(reverse("customers:detail", args=[acme.pk]))  # warm caches (content types, sessions)

    with_25 = _page_queries(client, user, acme)
    _busy(acme, user, 25, 60)
    with_60 = _page_queries(client, user, acme)

    if role == roles.FINANCE:
        # + the margin (analytics.services.profitability.customer_summary), whose few queries depend on which
        # months have shared costs, not on the customer's records: bounded, not constant
        assert abs(with_60 - with_25) <= 3, (with_25, with_60)
    else:
        assert with_60 == with_25, (with_25, with_60)
    client.force_login(type(user).objects.get(pk=user.pk))
    with django_assert_max_num_queries(60):  # about 35 of our own + the health, offers and margin services
        client.get(reverse("customers:detail", args=[acme.pk]))


def test_timeline_payments_link_only_for_roles_that_open_payments(client, make_user, acme):
    payment = Payment.objects.get(customer=acme)
    link = f'href="{reverse("billing:payment", args=[payment.pk])}"'

    manager = _page(client, make_user(roles.SALES_MANAGER), acme).text  # sees payments, cannot open them
    finance = _page(client, make_user(roles.FINANCE), acme).text

    assert 'data-kind="payment.received"' in manager and link not in manager
    assert 'data-kind="payment.received"' in finance and link in finance
