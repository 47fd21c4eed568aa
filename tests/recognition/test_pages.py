"""Revenue pages: the home figures, the periods page (close, a refused close, reopen), the deferred
revenue waterfall and roll-forward with their CSV, revenue by period with recognized / billed / collected,
the trial balance, the journal browser and an entry, the GL export, a contract's obligations; who gets 403.
Figures are written by hand (a 1,200.00 year from 2027-01-01 recognized by days: January 101.92,
February 92.05, March 101.92)."""

import csv
import io
import json
import re
from contextlib import contextmanager
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse

from billing.models import Invoice
from billing.services import billrun, invoices, payments
from recognition.models import AccountingPeriod, JournalEntry, PerformanceObligation
from recognition.services import periods as period_service
from recognition.services.posting import recognize_through
from revops.kernel import roles
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


# --- helpers ----------------------------------------------------------------------------------------------


@contextmanager
def on(day: date, client, user):
    """Browse as `user` on `day` (signed in then, so the session is fresh on that day)."""
    with time_machine.travel(day, tick=False):
        client.force_login(user)
        yield client


def _section(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]*\sid="{re.escape(element_id)}"', html)
    assert match, f"no #{element_id}"
    tag, depth = match.group(1), 0
    for token in re.finditer(rf"<(/?){tag}\b[^>]*>", html[match.start():]):
        depth += -1 if token.group(1) else 1
        if depth == 0:
            return html[match.start(): match.start() + token.end()]
    raise AssertionError(f"#{element_id} is not closed")


def _text(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _row(html: str, attribute: str, value) -> str:
    """The text of the table row marked `data-<attribute>="<value>"`."""
    return _text(re.search(rf'<tr data-{attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S).group(1))


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


@pytest.fixture
def year_contract(product, contract_of):
    """1 × 100.00 a month for 2027 (1,200.00), its obligations built: nothing recognized yet."""
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 1, 1), tick=False):
        contract = contract_of(date(2027, 1, 1), 12, [(sub, "1", "100.00")],
                               customer=CustomerFactory(name="Acme Corp", country="US"))
        deliver_pending()
    return contract


def bill_and_issue(as_of: date) -> list[Invoice]:
    run = billrun.bill_run_create(as_of=as_of)
    for chunk in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk)
    issued = [invoices.invoice_issue(invoice_id=i.pk, render_pdf=False)
              for i in Invoice.objects.filter(bill_run=run, status="approved")]
    deliver_pending()
    return issued


@pytest.fixture
def january_booked(year_contract, finance_user):
    """January billed (100.00 on 2027-01-01), paid on 2027-01-10, recognized on 2027-02-02 (101.92:
    100.00 from deferred, 1.92 unbilled)."""
    with time_machine.travel(date(2027, 1, 1), tick=False):
        (invoice,) = bill_and_issue(date(2027, 1, 1))
    with time_machine.travel(date(2027, 1, 10), tick=False):
        payments.payment_record(customer=year_contract.customer, amount="100.00", currency="USD", by=finance_user)
        deliver_pending()
    with time_machine.travel(date(2027, 2, 2), tick=False):
        assert recognize_through(day=date(2027, 2, 2)) == 1
    return invoice


# --- the waterfall ------------------------------------------------------------------------------------------


def test_the_waterfall_shows_the_days_basis_months_and_exports_the_same_rows(client, finance_user, year_contract):
    client.force_login(finance_user)
    url = reverse("recognition:waterfall")
    html = _html(client.get(url, {"from": "2027-01", "to": "2027-03", "by": "contract"}))
    table = _section(html, "waterfall-table")
    assert _text(_section(table, "waterfall-table").split("<tbody>")[0]) == (
        "Contract Currency 2027-01 2027-02 2027-03 Total")
    row = _row(table, "row", year_contract.pk)
    assert row == f"{year_contract.number} USD $101.92 $92.05 $101.92 $295.89"
    assert f'href="{reverse("contracts:detail", args=[year_contract.pk])}"' in table
    assert _row(table, "total", "USD") == "Total USD $101.92 $92.05 $101.92 $295.89"

    rows = _csv(client.get(url, {"from": "2027-01", "to": "2027-03", "by": "contract", "format": "csv"}))
    assert rows == [["contract", "id", "currency", "2027-01", "2027-02", "2027-03", "total"],
                    [year_contract.number, str(year_contract.pk), "USD", "101.92", "92.05", "101.92", "295.89"]]

    by_customer = _html(client.get(url, {"from": "2027-01", "to": "2027-03", "by": "customer"}))
    customer = year_contract.customer
    assert _row(by_customer, "row", customer.pk) == "Acme Corp USD $101.92 $92.05 $101.92 $295.89"
    assert f'href="{reverse("customers:detail", args=[customer.pk])}"' in by_customer


def test_recognized_months_leave_the_waterfall(client, finance_user, year_contract):
    with time_machine.travel(date(2027, 2, 2), tick=False):
        recognize_through(day=date(2027, 2, 2))
    client.force_login(finance_user)
    html = _html(client.get(reverse("recognition:waterfall"), {"from": "2027-01", "to": "2027-03"}))
    assert _row(html, "row", year_contract.pk) == f"{year_contract.number} USD $0.00 $92.05 $101.92 $193.97"


def test_a_bad_range_is_shown_on_the_form_and_not_exported(client, finance_user, year_contract):
    client.force_login(finance_user)
    url = reverse("recognition:waterfall")
    html = _html(client.get(url, {"from": "2027-03", "to": "2027-01"}))
    assert "The last month comes before the first." in html
    response = client.get(url, {"from": "2027-13", "to": "2027-01", "format": "csv"})
    assert response.status_code == 400 and b"Enter a month as YYYY-MM." in response.content


# --- periods ------------------------------------------------------------------------------------------------


def test_finance_closes_a_month_whose_checklist_passes(client, finance_user, year_contract):
    with time_machine.travel(date(2027, 2, 2), tick=False):
        recognize_through(day=date(2027, 2, 2))  # January: Dr Unbilled 101.92 / Cr Revenue 101.92
    with on(date(2027, 2, 3), client, finance_user) as c:
        html = _html(c.get(reverse("recognition:periods")))
        january = _section(html, "period-2027-01")
        assert "Open" in _text(january) and "1 entry" in _text(january)
        checks = re.findall(r'<li class="check (check-\w+)[^"]*" data-check="(\w+)"', january)
        assert checks == [("check-ok", "no_unissued_invoices"), ("check-ok", "recognition_complete"),
                          ("check-ok", "deferred_ties_out")]
        assert "Close 2027-01" in january
        assert "Close 2027-02" not in _section(html, "period-2027-02")  # the month has not ended

        response = c.post(reverse("recognition:period_close", args=["2027-01"]))
        assert response.status_code == 302
        html = _html(c.get(response["Location"]))
    period = AccountingPeriod.objects.get(start=date(2027, 1, 1))
    assert (period.status, period.closed_by) == ("closed", finance_user)
    january = _text(_section(html, "period-2027-01"))
    assert "2027-01 is closed" in html
    assert "Closed 2027-02-03 00:00 UTC by " + finance_user.username in january
    assert "Checked at close" in january and "Close 2027-01" not in january


def test_a_month_with_an_unissued_invoice_is_refused_with_the_failing_check(client, finance_user, product,
                                                                           contract_of):
    sub = product("SUB", ssp="100")
    with time_machine.travel(date(2027, 3, 5), tick=False):
        contract_of(date(2027, 3, 1), 12, [(sub, "1", "100.00")])
        deliver_pending()
        run = billrun.bill_run_create(as_of=date(2027, 3, 5))
        for chunk in billrun.bill_run_plan(run_id=run.pk):
            billrun.bill_run_chunk(chunk_id=chunk)
    assert Invoice.objects.get().status in Invoice.UNISSUED
    with time_machine.travel(date(2027, 4, 2), tick=False):
        recognize_through(day=date(2027, 4, 2))  # March is recognized: only the invoice holds the close
    before = list(AccountingPeriod.objects.values_list("start", "status"))
    with on(date(2027, 4, 2), client, finance_user) as c:
        response = c.post(reverse("recognition:period_close", args=["2027-03"]))
    html = _html(response)
    march = _section(html, "period-2027-03")
    assert "Not closed: the period cannot close: 1 draft, pending or approved invoices" in _text(march)
    failing = re.findall(r'<li class="check check-failed check-refused" data-check="(\w+)"', march)
    assert failing == ["no_unissued_invoices"]
    assert "✗ No unissued invoices dated in the month failed — 1 draft, pending or approved invoices" in _text(march)
    assert list(AccountingPeriod.objects.values_list("start", "status")) == before  # nothing changed
    assert not AccountingPeriod.objects.filter(status="closed").exists()


def test_reopening_is_for_admins_with_a_reason(client, finance_user, admin_user_role):
    with time_machine.travel(date(2027, 6, 2), tick=False):
        period_service.period_close(month=date(2027, 5, 1), by=finance_user)
    url = reverse("recognition:period_reopen", args=["2027-05"])
    with on(date(2027, 6, 3), client, finance_user) as c:
        assert "Reopen 2027-05" not in _html(c.get(reverse("recognition:periods")))
        assert c.post(url, {"reason": "a late invoice"}).status_code == 403
    assert AccountingPeriod.objects.get(start=date(2027, 5, 1)).status == "closed"

    with on(date(2027, 6, 3), client, admin_user_role) as c:
        html = _html(c.post(url, {"reason": "  "}))
        assert AccountingPeriod.objects.get(start=date(2027, 5, 1)).status == "closed"
        may = _section(html, "period-2027-05")
        assert re.search(r'id="reopen-2027-05-reason_errors"[^>]*>\s*<li>required</li>', may)
        response = c.post(url, {"reason": "a late invoice"})
        assert response.status_code == 302
        html = _html(c.get(response["Location"]))
    period = AccountingPeriod.objects.get(start=date(2027, 5, 1))
    assert period.status == "open" and period.checklist["reopened"]["reason"] == "a late invoice"
    assert f"by {admin_user_role.username}: “a late invoice”" in _text(_section(html, "period-2027-05"))


# --- roll-forward, revenue by period, trial balance -------------------------------------------------------------


def test_the_rollforward_ties_and_exports(client, finance_user, january_booked):
    client.force_login(finance_user)
    url = reverse("recognition:rollforward")
    html = _html(client.get(url, {"period": "2027-01"}))
    # opening 0 + billings 100.00 − recognized 100.00 = closing 0.00 = the Deferred Revenue account
    assert _row(html, "currency", "USD") == "USD $0.00 $100.00 $100.00 $0.00 $0.00 $0.00 ✓"
    assert 'title="ties"' in _section(html, "rollforward-table")
    rows = _csv(client.get(url, {"period": "2027-01", "format": "csv"}))
    assert rows == [["currency", "opening", "billings", "recognized", "adjustments", "closing", "ledger_balance",
                     "ties"], ["USD", "0.00", "100.00", "100.00", "0.00", "0.00", "0.00", "True"]]


def test_revenue_by_period_and_recognized_billed_collected(client, finance_user, january_booked):
    client.force_login(finance_user)
    url = reverse("recognition:by_period")
    html = _html(client.get(url, {"from": "2027-01", "to": "2027-02", "dimension": "product"}))
    assert _row(html, "label", "Sub") == "Sub $101.92 $0.00 $101.92"
    assert _row(html, "month", "2027-01") == "2027-01 USD $101.92 $100.00 $100.00"
    assert _row(html, "month", "2027-02") == "2027-02 USD $0.00 $0.00 $0.00"
    rows = _csv(client.get(url, {"from": "2027-01", "to": "2027-02", "dimension": "family", "format": "csv"}))
    assert rows == [["family", "currency", "2027-01", "2027-02", "total"], ["Platform", "USD", "101.92", "0.00",
                                                                           "101.92"]]
    flows = _csv(client.get(url, {"from": "2027-01", "to": "2027-01", "format": "csv", "table": "flows"}))
    assert flows == [["currency", "month", "recognized", "billed", "collected"],
                     ["USD", "2027-01", "101.92", "100.00", "100.00"]]


def test_the_trial_balance_balances(client, finance_user, january_booked):
    client.force_login(finance_user)
    html = _html(client.get(reverse("recognition:trial_balance"), {"as_of": "2027-01-31"}))
    assert _text(_section(html, "tb-status")) == "Balanced"
    assert _row(html, "account", "1200") == "1200 Unbilled Receivable (contract asset) Asset $1.92 $0.00 $1.92"
    assert _row(html, "account", "4010") == "4010 Revenue — Platform Revenue $0.00 $101.92 -$101.92"
    # Dr AR 100 + Dr Cash 100 + Dr Deferred 100 + Dr Unbilled 1.92 = Cr Deferred 100 + Cr AR 100 + Cr Revenue 101.92
    assert _text(_section(html, "tb-totals")) == "Total $301.92 $301.92"


def test_the_home_page_shows_this_and_last_months_revenue_and_the_balances(client, finance_user, january_booked):
    with on(date(2027, 2, 10), client, finance_user) as c:
        html = _html(c.get(reverse("recognition:home")))
    # February: nothing recognized yet; January 101.92; deferred 0.00 (all used), unbilled 1.92
    assert _row(html, "currency", "USD") == "USD $0.00 $101.92 $0.00 $1.92"


# --- the journal, the GL export, a contract -----------------------------------------------------------------------


def test_the_journal_lists_entries_in_a_fixed_number_of_queries(client, finance_user, january_booked,
                                                                django_assert_num_queries):
    client.force_login(finance_user)
    url = reverse("recognition:journal")
    client.get(url)  # warm the session
    # session, user, roles, permissions (2), sources, count, rows, customers (the filter's select)
    with django_assert_num_queries(9):
        response = client.get(url)
    assert response.context["page"].paginator.count == 3
    html = response.content.decode()
    entry = JournalEntry.objects.get(source="revenue.recognized")
    assert _row(html, "entry", entry.pk) == (f"#{entry.pk} 2027-01-31 2027-01 revenue.recognized "
                                             f"{entry.memo} Acme Corp {entry.contract.number} 3 $101.92")
    with time_machine.travel(date(2027, 4, 2), tick=False):
        recognize_through(day=date(2027, 4, 2))  # February and March: two more entries
    with django_assert_num_queries(9):
        assert client.get(url).context["page"].paginator.count == 5
    filtered = client.get(url, {"source": "revenue.recognized", "date_from": "2027-02-01"})
    assert [e.date for e in filtered.context["page"].object_list] == [date(2027, 3, 31), date(2027, 2, 28)]
    by_contract = client.get(url, {"contract": entry.contract.number, "source": "invoice.issued"})
    assert by_contract.context["page"].paginator.count == 1

    detail = _html(client.get(reverse("recognition:entry", args=[entry.pk])))
    assert _row(detail, "account", "2100").endswith("$100.00 $100.00")
    assert _row(detail, "account", "1200").endswith("$1.92 $1.92")
    assert _row(detail, "account", "4010").endswith("$101.92 $101.92")


def test_the_gl_export_as_csv_and_json(client, finance_user, january_booked):
    client.force_login(finance_user)
    url = reverse("recognition:gl_export")
    rows = _csv(client.get(url, {"from": "2027-01-01", "to": "2027-01-31", "format": "csv"}))
    assert rows[0][:4] == ["entry_id", "date", "period", "source"]
    # the header; the invoice's 2 lines, the payment's 2 (its zero customer-credit leg is not posted), revenue's 3
    assert len(rows) == 1 + 2 + 2 + 3
    revenue = [r for r in rows[1:] if r[6] == "4010"]
    assert [(r[1], D(r[8]), D(r[9])) for r in revenue] == [("2027-01-31", D("0"), D("101.92"))]
    response = client.get(url, {"from": "2027-01-01", "to": "2027-01-31", "format": "json"})
    data = json.loads(b"".join(response.streaming_content))
    assert len(data) == len(rows) - 1 and data[-1]["account"] in {"1200", "2100", "4010"}
    assert client.get(url, {"from": "2027-02-01", "to": "2027-01-01"}).status_code == 400


def test_a_contracts_obligations_and_schedule(client, finance_user, january_booked, year_contract):
    client.force_login(finance_user)
    html = _html(client.get(reverse("recognition:contract", args=[year_contract.pk])))
    ob = PerformanceObligation.objects.get(contract=year_contract)
    # allocated 1,200.00 = recognized 101.92 + remaining 1,098.08
    assert _row(html, "obligation", ob.pk) == ("Sub SUB Ratable over the service period 2027-01-01 – 2027-12-31 "
                                               "Active 1 $1,200.00 $1,200.00 $101.92 $1,098.08")
    schedule = _section(html, f"obligation-{ob.pk}")
    assert _row(schedule, "period", "2027-01").startswith("2027-01 $101.92 Recognized #")
    assert _row(schedule, "period", "2027-02") == "2027-02 $92.05 Planned —"
    assert len(re.findall(r"<tr data-period=", schedule)) == 12
    assert _text(_section(html, "contract-deferred")) == "$0.00"
    assert _text(_section(html, "contract-unbilled")) == "$1.92"


# --- access -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [roles.SALES_REP, roles.SALES_MANAGER, roles.CUSTOMER_SUCCESS])
def test_other_roles_get_403_on_every_revenue_page(client, make_user, role, january_booked, year_contract):
    entry = JournalEntry.objects.first()
    client.force_login(make_user(role))
    gets = [reverse("recognition:home"), reverse("recognition:periods"), reverse("recognition:waterfall"),
            reverse("recognition:waterfall") + "?format=csv", reverse("recognition:rollforward"),
            reverse("recognition:rollforward") + "?format=csv", reverse("recognition:by_period"),
            reverse("recognition:by_period") + "?format=csv", reverse("recognition:trial_balance"),
            reverse("recognition:journal"), reverse("recognition:entry", args=[entry.pk]),
            reverse("recognition:gl_export") + "?from=2027-01-01&to=2027-01-31&format=csv",
            reverse("recognition:contract", args=[year_contract.pk])]
    for url in gets:
        assert client.get(url).status_code == 403, url
    for url in (reverse("recognition:period_close", args=["2027-01"]),
                reverse("recognition:period_reopen", args=["2027-01"])):
        assert client.post(url, {"reason": "x"}).status_code == 403, url
    assert not AccountingPeriod.objects.filter(status="closed").exists()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("recognition:waterfall"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
