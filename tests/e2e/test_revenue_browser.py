"""End-to-end in headless Chromium: a finance user opens the deferred revenue waterfall, changes its
range and grouping, then closes the oldest open month from the periods page.
Screenshots go to var/screenshots/."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog import models as cm
from contracts.services.creation import LineSpec, contract_create
from recognition.models import AccountingPeriod
from recognition.services.posting import recognize_through
from revops.kernel import roles
from revops.kernel.dates import add_months, month_start
from revops.kernel.events import deliver_pending
from tests.factories import CustomerFactory

pytestmark = pytest.mark.e2e


def _key(month: date) -> str:
    return f"{month:%Y-%m}"


@pytest.fixture
def booked(make_user):
    """A 1,200.00 year that started three months ago; the three months that have ended are recognized
    (no invoice yet: Dr Unbilled / Cr Revenue), so their periods hold entries and pass the checklist."""
    today = timezone.localdate()
    start = add_months(month_start(today), -3)
    sub = cm.Product.objects.create(sku="SUB", name="Platform subscription", kind="recurring",
                                    recognition="ratable", family="Platform", ssp=Decimal("100"))
    contract = contract_create(customer=CustomerFactory(name="Acme Corp", country="US"), start_date=start,
                               term_months=12, lines=[LineSpec(sub, Decimal("1"), Decimal("100.00"))],
                               by=make_user(roles.SALES_REP))
    deliver_pending()
    assert recognize_through(day=today) == 3
    return {"contract": contract, "start": start, "today": today}


def test_finance_reads_the_waterfall_and_closes_a_month(page, login, make_user, booked, screenshot_dir):
    finance = make_user(roles.FINANCE, username="fiona", first_name="Fiona", last_name="Finance")
    login(finance)
    this_month = month_start(booked["today"])

    # The waterfall: this month and the next two still to recognize, by contract, with a totals row.
    page.goto("/revenue/waterfall/")
    expect(page.locator("h1")).to_have_text("Deferred revenue waterfall")
    page.get_by_label("From").fill(_key(this_month))
    page.get_by_label("To").fill(_key(add_months(this_month, 2)))
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    header = page.locator("#waterfall-table thead th")
    expect(header).to_have_text(["Contract", "Currency", _key(this_month), _key(add_months(this_month, 1)),
                                 _key(add_months(this_month, 2)), "Total"])
    row = page.locator(f'#waterfall-table tbody tr[data-row="{booked["contract"].pk}"]')
    expect(row.locator("td").first).to_have_text(booked["contract"].number)
    expect(page.locator('#waterfall-table tfoot tr[data-total="USD"] th').first).to_have_text("Total")
    page.screenshot(path=str(screenshot_dir / "revenue-waterfall.png"), full_page=True)

    # Grouped by customer, the row links to the customer.
    page.get_by_label("By").select_option("customer")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    expect(page.locator("#waterfall-table tbody tr td a").first).to_have_text("Acme Corp")

    # The periods page: the three ended months pass their checklist; the oldest closes first.
    page.get_by_role("link", name="Periods").click()
    oldest = _key(booked["start"])
    section = page.locator(f"#period-{oldest}")
    expect(section.locator(".period-status")).to_have_text("Open")
    expect(section.locator(".check-ok")).to_have_count(3)
    with page.expect_navigation():
        section.get_by_role("button", name=f"Close {oldest}").click()
    expect(page.locator(".message-success")).to_contain_text(f"{oldest} is closed")
    expect(section.locator(".period-status")).to_have_text("Closed")
    expect(section.locator(".closed-by")).to_contain_text("by Fiona Finance")
    page.screenshot(path=str(screenshot_dir / "revenue-periods.png"), full_page=True)
    assert AccountingPeriod.objects.get(start=booked["start"]).status == "closed"

    # Closing out of order is refused on the page, with nothing changed.
    later = _key(add_months(booked["start"], 2))
    with page.expect_navigation():
        page.locator(f"#period-{later}").get_by_role("button", name=f"Close {later}").click()
    expect(page.locator(f"#period-{later} .close-refused")).to_contain_text(
        f"close {_key(add_months(booked['start'], 1))} first")
    assert AccountingPeriod.objects.filter(status="closed").count() == 1
