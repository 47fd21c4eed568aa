"""Contract pages: the renewals board, the list, the contract page (lines as of a date), and the amend,
renew and terminate forms (preview writes nothing, confirm applies, refusals change nothing, 403s)."""

import re
from datetime import date
from decimal import Decimal as D

import pytest
import time_machine
from django.urls import reverse

from contracts.models import Amendment, Contract, ContractEvent, ContractLine, ProrationCharge
from contracts.services.amendments import contract_amend
from contracts.services.renewals import send_renewal_alerts
from revops.kernel import roles
from revops.kernel.models import NumberSeries, OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def _client(client, user):
    client.force_login(user)
    return client


def _snapshot():
    """Everything a contract form could write."""
    return (
        Contract.objects.count(),
        list(ContractLine.objects.order_by("pk").values_list("pk", "end_date", "unit_price")),
        Amendment.objects.count(),
        ProrationCharge.objects.count(),
        ContractEvent.objects.count(),
        OutboxEvent.objects.count(),
        list(NumberSeries.objects.values_list("name", "last")),
        list(Contract.objects.order_by("pk").values_list("status", "end_date", "tcv", "arr")),
    )


def _section(html: str, element_id: str) -> str:
    """The element with `element_id`, up to its matching closing tag."""
    match = re.search(rf'<(\w+)[^>]*\sid="{re.escape(element_id)}"', html)
    assert match, f"no #{element_id}"
    tag, depth = match.group(1), 0
    for token in re.finditer(rf"<(/?){tag}\b[^>]*>", html[match.start() :]):
        depth += -1 if token.group(1) else 1
        if depth == 0:
            return html[match.start() : match.start() + token.end()]
    raise AssertionError(f"#{element_id} is not closed")


def _numbers(response) -> list[str]:
    """The contract numbers listed, in order."""
    return re.findall(r'class="mono" href="/contracts/\d+/">([^<]+)<', response.content.decode())


def _token(html: str) -> str:
    return re.search(r'name="previewed" value="([0-9a-f]+)"', html).group(1)


# --- renewals board --------------------------------------------------------------------------------


@pytest.fixture
def board(make_contract, sales_rep):
    """Contracts ending 19, 54, 84, 164 and 211 days after 2027-01-01, a EUR one in 30 days, a draft."""
    with time_machine.travel(date(2026, 12, 1), tick=False):
        soon = make_contract(start=date(2026, 1, 21), lines=(("seats", "10", "10.00"),), owner=sales_rep)
    with time_machine.travel(date(2027, 1, 1), tick=False):
        made = {
            "soon": soon,  # 2027-01-20
            "eur": make_contract(
                start=date(2026, 1, 29),
                lines=(("plan", "1", "50.00"),),  # 2027-01-28
                customer=CustomerFactory(currency="EUR"),
            ),
            "b": make_contract(start=date(2026, 2, 25), lines=(("plan", "1", "20.00"),)),  # 2027-02-24
            "c": make_contract(start=date(2026, 3, 27), lines=(("seats", "5", "10.00"),)),  # 2027-03-26
            "d": make_contract(
                start=date(2026, 6, 15),
                lines=(("plan", "2", "20.00"),),  # 2027-06-14
                auto_renew=True,
            ),
            "later": make_contract(start=date(2026, 8, 1)),  # 2027-07-31
            "draft": make_contract(start=date(2026, 1, 11), activate=False),  # 2027-01-10
        }
        send_renewal_alerts(today=date(2027, 1, 1))
    return made


def test_the_renewals_board_buckets_contracts_and_sums_the_arr_at_risk(client, board, success_user):
    with time_machine.travel(date(2027, 1, 1), tick=False):
        response = _client(client, success_user).get(reverse("contracts:renewals"), {"days": 60})
    assert response.status_code == 200
    assert [(b.days, b.count, b.arr) for b in response.context["buckets"]] == [
        (30, 2, [("EUR", D("600.00")), ("USD", D("1200.00"))]),
        (60, 3, [("EUR", D("600.00")), ("USD", D("1440.00"))]),
        (90, 4, [("EUR", D("600.00")), ("USD", D("2040.00"))]),
        (180, 5, [("EUR", D("600.00")), ("USD", D("2520.00"))]),
    ]
    html = response.content.decode()
    heading = " ".join(re.sub(r"<[^>]+>", "", _section(html, "renewals").split("</h2>")[0]).split())
    assert "ARR at risk: €600.00 · $1,440.00" in heading  # the selected bucket's sum
    assert "€600.00 · $2,520.00" in _section(html, "bucket-180")  # the 180-day tab's sum
    table = _section(html, "renewal-table")
    assert [n for n in re.findall(r'data-contract="([^"]+)"', table)] == [
        board["soon"].number,
        board["eur"].number,
        board["b"].number,
    ]
    soon_row = table.split(f'data-contract="{board["soon"].number}"')[1].split("</tr>")[0]
    assert ">19<" in soon_row and "$1,200.00" in soon_row and "Manual" in soon_row
    # Only the 30-day alert fell after the contract was entered: sent; 90 and 60 were never due.
    assert re.findall(r'title="(Sent|Due) [^"]+">(\d+) d', soon_row) == [
        ("Due", "90"),
        ("Due", "60"),
        ("Sent", "30"),
    ]
    assert "Prepare renewal quote" in soon_row


def test_a_sales_rep_sees_the_board_without_the_prepare_button_and_cannot_post_it(client, board, sales_rep):
    with time_machine.travel(date(2027, 1, 1), tick=False):
        c = _client(client, sales_rep)
        response = c.get(reverse("contracts:renewals"), {"days": 30})
        assert response.status_code == 200
        assert "Prepare renewal quote" not in response.content.decode()
        assert c.post(reverse("contracts:renewal_quote", args=[board["soon"].pk])).status_code == 403
    board["soon"].refresh_from_db()
    assert board["soon"].renewal_quote is None


def test_customer_success_prepares_a_renewal_quote_from_the_board(client, board, success_user):
    back = reverse("contracts:renewals") + "?days=30"
    with time_machine.travel(date(2027, 1, 1), tick=False):
        response = _client(client, success_user).post(
            reverse("contracts:renewal_quote", args=[board["soon"].pk]), {"next": back}
        )
    assert response.status_code == 302 and response["Location"] == back
    board["soon"].refresh_from_db()
    quote = board["soon"].renewal_quote
    assert (quote.status, quote.start_date, quote.customer_id) == (
        "draft",
        date(2027, 1, 21),
        board["soon"].customer_id,
    )


def test_the_board_costs_the_same_queries_for_one_or_many_contracts(
    client, board, success_user, django_assert_num_queries
):
    with time_machine.travel(date(2027, 1, 1), tick=False):
        c = _client(client, success_user)
        c.get(reverse("contracts:renewals"))  # warm the session
        # session, user, roles, permissions (2), buckets, page count, rows, alerts
        with django_assert_num_queries(9):
            assert c.get(reverse("contracts:renewals"), {"days": 180}).context["current"].count == 5
        with django_assert_num_queries(9):
            assert c.get(reverse("contracts:renewals"), {"days": 30}).context["current"].count == 2


# --- the list ------------------------------------------------------------------------------------


def test_the_list_filters_by_status_customer_and_end_date_and_paginates(client, make_contract, sales_rep):
    acme = CustomerFactory(name="Acme")
    first = make_contract(start=date(2027, 1, 1), customer=acme)
    second = make_contract(start=date(2027, 6, 1), customer=acme)
    other = make_contract(start=date(2027, 3, 1), activate=False)
    c = _client(client, sales_rep)
    assert _numbers(c.get(reverse("contracts:list"))) == [first.number, other.number, second.number]
    assert _numbers(c.get(reverse("contracts:list"), {"status": "draft"})) == [other.number]
    assert _numbers(
        c.get(reverse("contracts:list"), {"customer": acme.pk, "end_to": "2028-01-31"}, **HX)
    ) == [first.number]
    assert _numbers(c.get(reverse("contracts:list"), {"end_from": "2028-02-01"})) == [
        other.number,
        second.number,
    ]
    for _ in range(26):
        make_contract(start=date(2027, 1, 2))
    response = c.get(reverse("contracts:list"), {"page": 2})
    assert len(_numbers(response)) == 4 and "Page 2 of 2" in response.content.decode()


# --- the contract page -----------------------------------------------------------------------------


@pytest.fixture
def amended(make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))
    contract_amend(
        contract_id=contract.pk,
        effective_date=date(2027, 4, 26),
        by=finance_user,
        changes=[{"line": contract.lines.get().pk, "unit_price": "30.00"}],
    )
    return contract


def test_the_contract_page_shows_the_lines_as_of_a_date_before_and_after_an_amendment(
    client, amended, sales_rep
):
    c = _client(client, sales_rep)
    before = _section(
        c.get(reverse("contracts:detail", args=[amended.pk]), {"as_of": "2027-04-25"}).content.decode(),
        "contract-lines",
    )
    assert "$20.00" in before and "$30.00" not in before and "v1" in before and "2027-04-25" in before
    after = c.get(
        reverse("contracts:lines", args=[amended.pk]), {"as_of": "2027-04-26"}, **HX
    ).content.decode()
    assert after.lstrip().startswith('<div id="contract-lines"')  # the partial only, for htmx to swap
    assert "$30.00" in after and "$20.00" not in after and "v2" in after and "(amendment 1)" in after
    page = c.get(reverse("contracts:detail", args=[amended.pk])).content.decode()
    assert "2027-04-11" in _section(page, "contract-lines")  # default: the start, as it is in the future
    versions = _section(page, "versions-table")
    assert versions.count("<tr") == 3  # the header and both versions
    amendments = _section(page, "amendments")
    assert "-$10.00" in amendments and "$15.00" in amendments and "$5.00" in amendments
    timeline = _section(page, "timeline")
    assert timeline.index("Created") < timeline.index("Amendment 1") < timeline.index("Amended")
    assert f'href="/contracts/{amended.pk}/amend/"' not in page  # a sales rep has no Amend button


def test_the_contract_page_links_the_renewal_chain(client, make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1))
    c = _client(client, finance_user)
    c.post(
        reverse("contracts:renew", args=[contract.pk]),
        {"term_months": 12, "uplift_percent": "0", "action": "confirm", "previewed": "stale"},
    )
    response = c.post(
        reverse("contracts:renew", args=[contract.pk]),
        {"term_months": 12, "uplift_percent": "0", "action": "preview"},
    )
    c.post(
        reverse("contracts:renew", args=[contract.pk]),
        {
            "term_months": 12,
            "uplift_percent": "0",
            "action": "confirm",
            "previewed": _token(response.content.decode()),
        },
    )
    renewal = Contract.objects.get(renewed_from=contract)
    old = _section(
        c.get(reverse("contracts:detail", args=[contract.pk])).content.decode(), "renewal-settings"
    )
    assert f'href="/contracts/{renewal.pk}/">{renewal.number}</a>' in old
    new = _section(c.get(reverse("contracts:detail", args=[renewal.pk])).content.decode(), "renewal-settings")
    assert f'href="/contracts/{contract.pk}/">{contract.number}</a>' in new


def test_the_contract_page_costs_the_same_queries_however_many_lines_and_amendments(
    client, make_contract, finance_user, sales_rep, django_assert_num_queries
):
    small = make_contract(start=date(2027, 4, 11))
    contract_amend(
        contract_id=small.pk,
        effective_date=date(2027, 5, 1),
        by=finance_user,
        changes=[{"line": small.lines.get().pk, "quantity": "2"}],
    )
    big = make_contract(
        start=date(2027, 4, 11),
        lines=(("plan", "1", "20.00"), ("seats", "10", "10.00"), ("setup", "1", "500.00")),
    )
    for day, quantity in ((date(2027, 5, 1), "12"), (date(2027, 6, 1), "15")):
        line = big.lines.get(product__sku="SEATS", end_date=big.end_date)
        contract_amend(
            contract_id=big.pk,
            effective_date=day,
            by=finance_user,
            changes=[{"line": line.pk, "quantity": quantity}],
        )
    c = _client(client, sales_rep)
    c.get(reverse("contracts:detail", args=[small.pk]))
    # session, user, contract, versions, amendments, charges, alerts, events, roles, permissions (2)
    for contract in (small, big):
        with django_assert_num_queries(11):
            assert c.get(reverse("contracts:detail", args=[contract.pk])).status_code == 200


# --- amend ---------------------------------------------------------------------------------------


@pytest.fixture
def plan_contract(make_contract):
    """20.00/month from 2027-04-11, billed monthly."""
    return make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "20.00"),))


def _amend(client, contract, *, action="preview", htmx=True, **fields):
    line = contract.lines.get(version=1)
    data = {"effective_date": "2027-04-26", f"line-{line.pk}-unit_price": "30.00", "action": action, **fields}
    return client.post(reverse("contracts:amend", args=[contract.pk]), data, **(HX if htmx else {}))


def test_the_amend_preview_shows_the_worked_example_and_writes_nothing(client, plan_contract, finance_user):
    before = _snapshot()
    response = _amend(_client(client, finance_user), plan_contract)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="amend-region">')  # the region only
    preview = _section(html, "amend-preview")
    rows = re.findall(
        r"<tr><td>([^<]+)</td><td class=\"num\">(\d+/\d+)</td>\s*<td class=\"num[^\"]*\">([^<]+)</td>",
        preview,
    )
    assert rows == [
        ("Plan: credit for 1 at 20 (15/30 days)", "15/30", "-$10.00"),
        ("Plan: 1 at 30 from 2027-04-26 (15/30 days)", "15/30", "$15.00"),
    ]
    assert '<td class="num total">$5.00</td>' in preview
    assert "Confirm amendment" in preview
    assert _snapshot() == before


def test_confirming_the_preview_applies_the_amendment(client, plan_contract, finance_user):
    c = _client(client, finance_user)
    token = _token(_amend(c, plan_contract).content.decode())
    response = _amend(c, plan_contract, action="confirm", htmx=False, previewed=token, reason="Upgrade")
    assert response.status_code == 302 and response["Location"] == reverse(
        "contracts:detail", args=[plan_contract.pk]
    )
    amendment = Amendment.objects.get(contract=plan_contract)
    assert (amendment.effective_date, amendment.proration_total, amendment.reason, amendment.created_by) == (
        date(2027, 4, 26),
        D("5.00"),
        "Upgrade",
        finance_user,
    )
    assert list(plan_contract.lines.values_list("version", "unit_price", "start_date", "end_date")) == [
        (1, D("20.000000"), date(2027, 4, 11), date(2027, 4, 25)),
        (2, D("30.000000"), date(2027, 4, 26), date(2028, 4, 10)),
    ]
    assert list(ProrationCharge.objects.values_list("amount", flat=True).order_by("id")) == [
        D("-10.00"),
        D("15.00"),
    ]


def test_a_confirm_that_does_not_match_the_preview_shows_the_new_preview_and_writes_nothing(
    client, plan_contract, finance_user
):
    c = _client(client, finance_user)
    token = _amend(c, plan_contract).content.decode()
    before = _snapshot()
    line = plan_contract.lines.get()
    response = _amend(
        c,
        plan_contract,
        action="confirm",
        htmx=False,
        previewed=_token(token),
        **{f"line-{line.pk}-unit_price": "40.00"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "The form changed after the preview" in html
    assert '<td class="num total">$10.00</td>' in html  # 40.00 × 15/30 − 20.00 × 15/30
    assert _snapshot() == before


def test_a_bad_effective_date_shows_the_error_beside_the_field_and_changes_nothing(
    client, plan_contract, finance_user
):
    before = _snapshot()
    for action in ("preview", "confirm"):
        response = _amend(
            _client(client, finance_user),
            plan_contract,
            action=action,
            htmx=False,
            effective_date="2027-04-10",
            previewed="x",
        )
        html = response.content.decode()
        assert response.status_code == 200
        field = html.split('<label for="id_effective_date">')[1].split('<div class="field')[0]
        assert '<ul class="field-errors" id="id_effective_date_errors"' in field
        assert "before the contract start" in field
        assert 'id="amend-preview"' not in html
    assert _snapshot() == before


def test_a_service_error_on_a_row_shows_beside_that_row(client, plan_contract, finance_user):
    line = plan_contract.lines.get()
    before = _snapshot()
    html = _amend(
        _client(client, finance_user), plan_contract, **{f"line-{line.pk}-unit_price": "-5"}
    ).content.decode()
    errors = _section(html, f"id_line-{line.pk}-unit_price_errors")
    assert "must not be negative" in errors
    assert _snapshot() == before


def test_a_product_can_be_added_in_the_amend_form(client, plan_contract, products, finance_user):
    c = _client(client, finance_user)
    line = plan_contract.lines.get()
    fields = {f"line-{line.pk}-unit_price": "", "add-0-product": products["seats"].pk, "add-0-quantity": "3"}
    html = _amend(c, plan_contract, **fields).content.decode()
    assert '<td class="num total">$15.00</td>' in html  # 3 × 10.00 × 15/30
    _amend(c, plan_contract, action="confirm", htmx=False, previewed=_token(html), **fields)
    added = plan_contract.lines.get(product=products["seats"])
    assert (added.quantity, added.unit_price, added.start_date) == (D(3), D("10.000000"), date(2027, 4, 26))


@pytest.mark.parametrize("role", [roles.SALES_REP, roles.SALES_MANAGER, roles.CUSTOMER_SUCCESS])
def test_roles_without_the_amendment_permission_get_403_on_amend_and_terminate(
    client, plan_contract, make_user, role
):
    c = _client(client, make_user(role))
    before = _snapshot()
    for name in ("contracts:amend", "contracts:terminate"):
        assert c.get(reverse(name, args=[plan_contract.pk])).status_code == 403
    assert _amend(c, plan_contract, action="confirm", htmx=False).status_code == 403
    assert (
        c.post(
            reverse("contracts:terminate", args=[plan_contract.pk]),
            {"effective_date": "2027-04-25", "reason": "x", "action": "confirm"},
        ).status_code
        == 403
    )
    assert _snapshot() == before
    page = c.get(reverse("contracts:detail", args=[plan_contract.pk])).content.decode()
    assert (
        f"/contracts/{plan_contract.pk}/amend/" not in page
        and f"/contracts/{plan_contract.pk}/terminate/" not in page
    )


# --- terminate and renew ---------------------------------------------------------------------------


def test_the_terminate_preview_shows_the_credits_and_writes_nothing(client, make_contract, finance_user):
    contract = make_contract(start=date(2027, 4, 11), lines=(("plan", "1", "30.00"), ("setup", "1", "500")))
    c = _client(client, finance_user)
    before = _snapshot()
    url = reverse("contracts:terminate", args=[contract.pk])
    html = c.post(
        url, {"effective_date": "2027-04-25", "reason": "Closed down", "action": "preview"}, **HX
    ).content.decode()
    preview = _section(html, "terminate-preview")
    ending = _section(preview, "terminate-lines")
    assert ending.count("<tr>") == 3 and "2028-04-10" in ending and "2027-04-25" in ending  # head + 2 lines
    assert "Plan: unused 15/30 days after termination" in preview
    assert '<td class="num total">-$15.00</td>' in preview
    assert _snapshot() == before
    # Without a reason the service refuses: beside the field, nothing written.
    html = c.post(url, {"effective_date": "2027-04-25", "reason": "", "action": "preview"}).content.decode()
    assert "say why the contract ends" in _section(html, "id_reason_errors")
    assert _snapshot() == before
    # Confirming what was previewed terminates.
    response = c.post(
        url,
        {
            "effective_date": "2027-04-25",
            "reason": "Closed down",
            "action": "confirm",
            "previewed": _token(preview),
        },
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert (contract.status, contract.end_date) == ("terminated", date(2027, 4, 25))
    assert contract.proration_charges.get().amount == D("-15.00")


def test_the_renew_preview_shows_the_uplifted_prices_and_writes_nothing(client, make_contract, success_user):
    contract = make_contract(
        start=date(2027, 1, 1),
        lines=(("seats", "10", "10.00"), ("setup", "1", "500")),
        renewal_uplift_percent=D("7"),
    )
    c = _client(client, success_user)  # customer success may renew
    url = reverse("contracts:renew", args=[contract.pk])
    assert c.get(url).status_code == 200
    before = _snapshot()
    html = c.post(
        url, {"term_months": "24", "uplift_percent": "7", "action": "preview"}, **HX
    ).content.decode()
    preview = _section(html, "renew-preview")
    assert "2028-01-01 – 2029-12-31" in preview
    assert re.findall(r'<td class="num">(\$[\d.,]+)</td>', _section(preview, "renew-lines")) == [
        "$10.00",
        "$10.70",
    ]
    assert "$107.00" in preview and "Setup" not in preview
    assert _snapshot() == before
    response = c.post(
        url, {"term_months": "24", "uplift_percent": "7", "action": "confirm", "previewed": _token(preview)}
    )
    renewal = Contract.objects.get(renewed_from=contract)
    assert response["Location"] == reverse("contracts:detail", args=[renewal.pk])
    assert list(renewal.lines.values_list("unit_price", flat=True)) == [D("10.700000")]


def test_a_bad_renewal_term_is_shown_beside_the_field(client, make_contract, finance_user):
    contract = make_contract(start=date(2027, 1, 1))
    before = _snapshot()
    html = (
        _client(client, finance_user)
        .post(reverse("contracts:renew", args=[contract.pk]), {"term_months": "0", "uplift_percent": "0"})
        .content.decode()
    )
    assert "a renewal term must be at least one month" in _section(html, "id_term_months_errors")
    assert _snapshot() == before
