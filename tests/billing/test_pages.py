"""Finance pages: the invoices list and approval queue, the invoice page and its actions (payment,
credit note, void), bill runs from the page (real and dry), AR aging, dunning, payments; who gets 403;
refusals shown beside the field with nothing changed; query counts that do not grow with the data."""

import re
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import views
from billing.models import (
    BillRun,
    CreditNote,
    DunningNotice,
    FinanceApprovalRule,
    Invoice,
    InvoiceEvent,
    Payment,
    PaymentAllocation,
    TaxRate,
)
from billing.services import billrun, invoices, payments
from revops.kernel.models import OutboxEvent
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def us_tax(db):
    return TaxRate.objects.create(name="US", country="US", percent=D("10"))


def _client(client, user):
    client.force_login(user)
    return client


def _bill(as_of=date(2027, 1, 1)) -> BillRun:
    run = billrun.bill_run_create(as_of=as_of)
    for chunk_id in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    run.refresh_from_db()
    return run


def _invoice(subscription, *, seats="10", customer=None, issue=True, currency="USD", **kw) -> Invoice:
    """One contract billed for January 2027: seats × 10.00 + 10% tax (10 seats: 110.00)."""
    contract = subscription(start=date(2027, 1, 1), seats=seats, customer=customer, currency=currency, **kw)
    _bill()
    invoice = Invoice.objects.get(contract=contract)
    if issue:
        invoice = invoices.invoice_issue(invoice_id=invoice.pk)
    return invoice


def _section(html: str, element_id: str) -> str:
    """The element with `element_id`, up to its matching closing tag."""
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


def _figure(html: str, element_id: str) -> str:
    return _text(_section(html, element_id))


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _snapshot():
    """Everything an invoice action could write."""
    return (
        list(Invoice.objects.order_by("pk").values_list("pk", "status", "number", "amount_paid", "amount_credited",
                                                         "amount_due", "void_reason")),
        Payment.objects.count(), PaymentAllocation.objects.count(), CreditNote.objects.count(),
        InvoiceEvent.objects.count(), OutboxEvent.objects.count(),
    )


# --- the list ---------------------------------------------------------------------------------------------


def test_finance_sees_the_list_filtered_by_status_customer_currency_and_due_date_and_paged(
        client, subscription, finance_user, monkeypatch):
    acme = CustomerFactory(name="Acme", currency="USD", country="US")
    issued = _invoice(subscription, customer=acme)
    draft = _invoice(subscription, customer=acme, seats="5", issue=False)
    euro = _invoice(subscription, customer=CustomerFactory(name="Euro GmbH", currency="EUR", country="US"),
                    currency="EUR", seats="2")
    Invoice.objects.filter(pk=euro.pk).update(due_date=date(2030, 1, 1))
    c = _client(client, finance_user)

    def listed(**params) -> list[int]:
        response = c.get(reverse("billing:invoices"), params)
        assert response.status_code == 200
        return [int(x) for x in re.findall(r'data-invoice="(\d+)"', response.content.decode())]

    assert listed() == [euro.pk, draft.pk, issued.pk]  # newest first
    assert listed(customer=acme.pk) == [draft.pk, issued.pk]
    assert listed(status="open") == [euro.pk, issued.pk]
    assert listed(status="approved") == [draft.pk]
    assert listed(currency="EUR") == [euro.pk]
    assert listed(due_from="2029-12-31", due_to="2030-01-01") == [euro.pk]
    assert listed(run=draft.bill_run_id) == [draft.pk]
    html = c.get(reverse("billing:invoices"), {"currency": "EUR"}).content.decode()
    row = _row(html, "invoice", euro.pk)
    assert euro.number in row and "Euro GmbH" in row and "€22.00" in row and "2030-01-01" in row
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    assert listed() == [euro.pk, draft.pk]
    assert listed(page=2) == [issued.pk]
    partial = c.get(reverse("billing:invoices"), {"status": "open"}, HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="invoice-results"')


def test_a_sales_rep_reads_invoices_but_gets_403_on_every_finance_action(client, subscription, sales_rep):
    pending = _invoice(subscription, issue=False)
    Invoice.objects.filter(pk=pending.pk).update(status=Invoice.Status.PENDING_APPROVAL)
    issued = _invoice(subscription)
    before = _snapshot()
    c = _client(client, sales_rep)
    assert c.get(reverse("billing:invoices")).status_code == 200
    html = c.get(reverse("billing:invoice", args=[pending.pk])).content.decode()
    assert "billing:invoice_approve" not in html and f"/billing/invoices/{pending.pk}/approve/" not in html
    posts = [
        (reverse("billing:invoice_approve", args=[pending.pk]), {}),
        (reverse("billing:invoices_approve"), {"invoice": [pending.pk]}),
        (reverse("billing:invoice_issue", args=[issued.pk]), {}),
        (reverse("billing:invoices_issue"), {"invoice": [issued.pk]}),
        (reverse("billing:invoice_void", args=[issued.pk]), {"reason": "no"}),
        (reverse("billing:invoice_payment", args=[issued.pk]), {"amount": "1.00", "received_on": "2027-01-02"}),
        (reverse("billing:bill_run_start"), {"as_of": "2027-02-01"}),
    ]
    for url, data in posts:
        assert c.post(url, data).status_code == 403, url
    assert c.get(reverse("billing:bill_run_start")).status_code == 403
    assert c.get(reverse("billing:bill_runs")).status_code == 403
    assert c.get(reverse("billing:payments")).status_code == 403
    assert _snapshot() == before
    assert BillRun.objects.count() == 2  # the two made by the fixtures


# --- approval queue ------------------------------------------------------------------------------------


def test_bulk_approve_approves_the_pending_invoices_and_reports_the_refused_ones(client, subscription,
                                                                                finance_user):
    FinanceApprovalRule.objects.create(name="Over 100", condition=FinanceApprovalRule.Condition.TOTAL_ABOVE,
                                       threshold=D("100"))
    big1 = _invoice(subscription, issue=False)  # 110.00: held
    big2 = _invoice(subscription, issue=False, seats="20")  # 220.00: held
    small = _invoice(subscription, issue=False, seats="5")  # 55.00: approved at once
    assert [i.status for i in (big1, big2, small)] == ["pending_approval", "pending_approval", "approved"]
    c = _client(client, finance_user)

    queue = c.get(reverse("billing:approvals")).content.decode()
    assert re.findall(r'name="invoice" value="(\d+)"', queue) == [str(big1.pk), str(big2.pk)]
    assert "total $110.00 is above 100" in _text(queue)

    response = c.post(reverse("billing:invoices_approve"), {"invoice": [big1.pk, big2.pk, small.pk]}, follow=True)
    assert _messages(response) == [
        "Approved 2 invoices; they are ready to issue.",
        f"Not approved (invoice {small.pk}): Draft invoice {small.pk} is approved; "
        "only an invoice pending approval can be approved",
    ]
    statuses = dict(Invoice.objects.values_list("pk", "status"))
    assert (statuses[big1.pk], statuses[big2.pk], statuses[small.pk]) == ("approved", "approved", "approved")
    assert Invoice.objects.get(pk=big1.pk).approved_by == finance_user

    ready = c.get(reverse("billing:approvals"), {"queue": "approved"}).content.decode()
    assert sorted(re.findall(r'name="invoice" value="(\d+)"', ready)) == sorted(
        str(pk) for pk in (big1.pk, big2.pk, small.pk))
    response = c.post(reverse("billing:invoices_issue"), {"invoice": [small.pk]}, follow=True)
    small.refresh_from_db()
    assert (small.status, small.number) == ("issued", f"INV-{timezone.localdate().year}-000001")
    assert _messages(response) == [f"Issued 1 invoice: {small.number}."]


# --- bill runs ----------------------------------------------------------------------------------------------


def test_starting_a_bill_run_from_the_page_creates_the_invoices_and_shows_exact_totals(
        client, subscription, finance_user, django_capture_on_commit_callbacks):
    acme = CustomerFactory(name="Acme", country="US")
    subscription(start=date(2027, 1, 1), seats="10", customer=acme)  # 100.00 + 10.00 tax
    subscription(start=date(2027, 1, 1), seats="3", customer=CustomerFactory(name="Bolt", country="US"))  # 30 + 3
    c = _client(client, finance_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = c.post(reverse("billing:bill_run_start"), {"as_of": "2027-01-01"})
    run = BillRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("billing:bill_run", args=[run.pk])
    assert (run.status, run.dry_run, run.invoices_created, run.created_by) == ("done", False, 2, finance_user)
    html = c.get(response["Location"]).content.decode()
    assert _text(_section(html, "run-totals")).split("Total ")[1] == "USD 2 $130.00 $13.00 $143.00"
    table = _section(html, "run-invoice-table")
    acme_row = _row(table, "invoice", Invoice.objects.get(customer=acme).pk)
    assert acme_row.endswith("Acme " + Invoice.objects.get(customer=acme).contract.number
                             + " Approved $100.00 $10.00 $110.00")
    assert _figure(html, "invoices-created") == "2"
    assert "hx-trigger" not in _section(html, "run-progress")  # done: no more polling
    listing = c.get(reverse("billing:bill_runs")).content.decode()
    assert _row(listing, "run", run.pk).startswith(f"Run {run.pk} 2027-01-01 Done 1 / 1 2 2 2 2 0 finance-")


def test_a_dry_run_creates_nothing_and_previews_what_each_customer_would_be_invoiced(
        client, subscription, finance_user, django_capture_on_commit_callbacks):
    subscription(start=date(2027, 1, 1), seats="10", customer=CustomerFactory(name="Acme", country="US"))
    subscription(start=date(2027, 1, 1), seats="3", setup="250.00",
                 customer=CustomerFactory(name="Bolt", country="US"))
    c = _client(client, finance_user)
    with django_capture_on_commit_callbacks(execute=True):  # the run starts after the request's commit
        response = c.post(reverse("billing:bill_run_start"), {"as_of": "2027-01-01", "dry_run": "on"})
    assert Invoice.objects.count() == 0
    run = BillRun.objects.get()
    assert (run.dry_run, run.status) == (True, "done")
    html = c.get(response["Location"]).content.decode()
    assert _figure(html, "would-invoice") == "2"
    assert _figure(html, "preview-totals") == "USD · 2 invoices $380.00"
    rows = [_text(body) for body in re.findall(r'<tbody class="preview-customer"[^>]*>(.*?)</tbody>', html, re.S)]
    assert [r.split(" C-")[0] for r in rows] == ["Acme", "Bolt"]
    assert rows[0].endswith("$100.00 $100.00")
    assert "Setup" in rows[1] and "$250.00" in rows[1] and rows[1].endswith("$280.00")
    assert "run-invoices" not in html


def test_a_working_run_polls_its_progress_and_reloads_the_page_when_done(client, subscription, finance_user):
    subscription(start=date(2027, 1, 1))
    run = billrun.bill_run_create(as_of=date(2027, 1, 1))  # its task waits for a commit that never comes
    c = _client(client, finance_user)
    progress = _section(c.get(reverse("billing:bill_run", args=[run.pk])).content.decode(), "run-progress")
    assert f'hx-get="/billing/bill-runs/{run.pk}/progress/" hx-trigger="every 2s"' in progress
    assert "Pending 0 of 0 chunks done" in _text(progress)
    poll = c.get(reverse("billing:bill_run_progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in poll and 'hx-trigger="every 2s"' in poll.content.decode()
    for chunk_id in billrun.bill_run_plan(run_id=run.pk):
        billrun.bill_run_chunk(chunk_id=chunk_id)
    poll = c.get(reverse("billing:bill_run_progress", args=[run.pk]), HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true" and "Done 1 of 1 chunk done" in _text(poll.content.decode())


def test_the_bill_run_form_shows_its_errors_beside_the_field(client, finance_user):
    response = _client(client, finance_user).post(reverse("billing:bill_run_start"), {"as_of": "soon"})
    assert response.status_code == 200
    assert "Enter a valid date." in _section(response.content.decode(), "id_as_of_errors")
    assert BillRun.objects.count() == 0


# --- the invoice page -------------------------------------------------------------------------------------


def test_a_partial_payment_through_the_form_shows_exact_figures(client, subscription, finance_user):
    invoice = _invoice(subscription)  # 100.00 + 10.00 tax
    c = _client(client, finance_user)
    response = c.post(reverse("billing:invoice_payment", args=[invoice.pk]),
                      {"amount": "45.50", "received_on": "2027-01-20", "reference": "WIRE-1"}, follow=True)
    assert _messages(response) == ["Payment of $45.50 recorded; $64.50 is still due."]
    html = response.content.decode()
    assert [_figure(html, f) for f in ("subtotal", "tax", "total", "paid", "credited", "due")] == [
        "$100.00", "$10.00", "$110.00", "$45.50", "$0.00", "$64.50"]
    assert "Partially paid" in _text(html.split("</h1>")[0])
    payments_html = _text(_section(html, "payments"))
    assert "2027-01-20 WIRE-1 Recorded by finance" in payments_html and "$45.50 $45.50" in payments_html
    assert f"{invoice.number}" in _text(_section(html, "invoice-number"))
    line_row = _text(_section(html, "lines-table").split("<tbody>")[1].split("</tr>")[0])
    assert line_row == "Seats (2027-01-01 – 2027-01-31) 2027-01-01 – 2027-01-31 10 $10.00 10% $10.00 $100.00"
    assert "Payment" in _text(_section(html, "history"))


def test_a_payment_above_the_amount_due_is_refused_beside_the_amount_and_changes_nothing(
        client, subscription, finance_user):
    invoice = _invoice(subscription)
    before = _snapshot()
    response = _client(client, finance_user).post(reverse("billing:invoice_payment", args=[invoice.pk]),
                                                  {"amount": "110.01", "received_on": "2027-01-20"})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.fullmatch(r"at most 110\.000*", _text(_section(html, "id_amount_errors")))
    assert 'id="payment-form" open' in html
    assert _snapshot() == before


def test_voiding_a_paid_invoice_through_the_page_shows_the_error_and_changes_nothing(
        client, subscription, finance_user):
    invoice = _invoice(subscription)
    payments.payment_record(customer=invoice.customer, amount="110.00", currency="USD", by=finance_user)
    before = _snapshot()
    response = _client(client, finance_user).post(reverse("billing:invoice_void", args=[invoice.pk]),
                                                  {"reason": "entered twice"})
    assert response.status_code == 200
    assert _figure(response.content.decode(), "refused") == (
        f"{invoice.number} has payments; issue a credit note instead of voiding it")
    assert _snapshot() == before
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_voiding_needs_a_reason_beside_the_field_then_voids(client, subscription, finance_user):
    invoice = _invoice(subscription)
    c = _client(client, finance_user)
    before = _snapshot()
    response = c.post(reverse("billing:invoice_void", args=[invoice.pk]), {"reason": "  "})
    assert _figure(response.content.decode(), "id_reason_errors") == "say why the invoice is voided"
    assert _snapshot() == before
    response = c.post(reverse("billing:invoice_void", args=[invoice.pk]), {"reason": "wrong customer"}, follow=True)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.void_reason, invoice.amount_due) == ("void", "wrong customer", D("0.00"))
    assert "Voided" in _text(response.content.decode()) and "“wrong customer”" in response.content.decode()


def test_a_credit_note_through_the_form_reduces_the_amount_due_exactly(client, subscription, finance_user):
    invoice = _invoice(subscription)  # one line: 100.00 net, 10.00 tax
    line = invoice.lines.get()
    c = _client(client, finance_user)
    field = f"line-{line.pk}-amount"
    before = _snapshot()
    refused = c.post(reverse("billing:invoice_credit_note", args=[invoice.pk]),
                     {field: "100.01", "reason": "discount agreed"})
    assert _figure(refused.content.decode(), "credit-note-form").count(
        "at most 100.00 is left to credit on this line") == 1
    assert _snapshot() == before
    response = c.post(reverse("billing:invoice_credit_note", args=[invoice.pk]),
                      {field: "37.35", "reason": "discount agreed"}, follow=True)
    note = CreditNote.objects.get()
    assert _messages(response) == [f"Credit note {note.number} for $41.09 issued."]  # 37.35 + 3.735 → 3.74
    html = response.content.decode()
    assert [_figure(html, f) for f in ("total", "paid", "credited", "due")] == [
        "$110.00", "$0.00", "$41.09", "$68.91"]
    invoice.refresh_from_db()
    assert (invoice.amount_credited, invoice.amount_due, invoice.status) == (D("41.09"), D("68.91"), "partially_paid")
    notes = _text(_section(html, "credit-notes"))
    assert note.number in notes and "discount agreed" in notes and "Credit: Seats" in notes
    assert "$37.35 $3.74" in notes


def test_the_pdf_status_shows_a_failed_render_with_its_error_and_a_retry(client, subscription, finance_user,
                                                                          monkeypatch):
    invoice = _invoice(subscription)
    Invoice.objects.filter(pk=invoice.pk).update(pdf_status=Invoice.PdfStatus.FAILED,
                                                 pdf_error="OSError: font cache locked")
    c = _client(client, finance_user)
    html = c.get(reverse("billing:invoice", args=[invoice.pk])).content.decode()
    assert "Failed OSError: font cache locked Retry render" in _figure(html, "pdf-status")
    calls = []
    monkeypatch.setattr("billing.tasks.render_invoice_pdf.delay", lambda pk, **kw: calls.append(pk))
    response = c.post(reverse("billing:invoice_pdf_retry", args=[invoice.pk]), follow=True)
    assert calls == [invoice.pk]
    assert _messages(response) == ["The PDF render was started again."]


def test_a_draft_has_a_pdf_preview_and_an_issued_invoice_its_stored_pdf(client, subscription, finance_user,
                                                                       settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    draft = _invoice(subscription, issue=False)
    c = _client(client, finance_user)
    html = c.get(reverse("billing:invoice", args=[draft.pk])).content.decode()
    assert _figure(html, "invoice-number") == "Draft" and 'id="pdf-preview"' in html
    preview = c.get(reverse("billing:invoice_pdf", args=[draft.pk]))
    assert preview["Content-Type"] == "application/pdf" and preview.content.startswith(b"%PDF")
    assert Invoice.objects.get(pk=draft.pk).pdf.name == ""  # a preview is not stored
    issued = invoices.invoice_issue(invoice_id=draft.pk, render_pdf=False)
    download = c.get(reverse("billing:invoice_pdf", args=[issued.pk]))
    assert download["Content-Disposition"] == f'attachment; filename="{issued.number}.pdf"'
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    issued.refresh_from_db()
    assert issued.pdf_status == "rendered"
    assert "Rendered" in _figure(c.get(reverse("billing:invoice", args=[issued.pk])).content.decode(), "pdf-status")


def test_the_action_buttons_follow_the_state(client, subscription, finance_user, success_user):
    FinanceApprovalRule.objects.create(name="First", condition=FinanceApprovalRule.Condition.FIRST_INVOICE)
    pending = _invoice(subscription, issue=False)
    c = _client(client, finance_user)

    def buttons(pk) -> list[str]:
        html = c.get(reverse("billing:invoice", args=[pk])).content.decode()
        return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', html.split("</header>")[1]) + re.findall(
            r"<summary>([^<]+)</summary>", html)

    assert buttons(pending.pk) == ["Approve", "Void invoice", "Void"]
    invoices.invoice_approve(invoice_id=pending.pk, by=finance_user)
    assert buttons(pending.pk) == ["Issue", "Void invoice", "Void"]
    invoices.invoice_issue(invoice_id=pending.pk)
    assert buttons(pending.pk) == ["Record payment", "Create credit note", "Void invoice", "Write off",
                                   "Record a payment", "Create a credit note", "Void", "Mark uncollectible"]
    c.force_login(success_user)  # reads invoices, changes none
    assert buttons(pending.pk) == []


# --- receivables ------------------------------------------------------------------------------------------


def test_ar_aging_puts_each_open_amount_in_its_bucket_with_totals_per_currency(client, subscription,
                                                                               finance_user):
    as_of = date(2027, 6, 30)
    acme = CustomerFactory(name="Acme", country="US")
    bolt = CustomerFactory(name="Bolt", country="US")
    euro = CustomerFactory(name="Euro GmbH", currency="EUR", country="US")
    due = {
        _invoice(subscription, customer=acme).pk: as_of - timedelta(days=10),  # 110.00 → 1–30
        _invoice(subscription, customer=acme, seats="2").pk: as_of - timedelta(days=100),  # 22.00 → 90+
        _invoice(subscription, customer=bolt, seats="5").pk: as_of - timedelta(days=45),  # 55.00 → 31–60
        _invoice(subscription, customer=euro, currency="EUR").pk: as_of + timedelta(days=5),  # €110.00 current
    }
    for pk, day in due.items():
        Invoice.objects.filter(pk=pk).update(due_date=day)
    payments.payment_record(customer=bolt, amount="5.00", currency="USD", by=finance_user)  # Bolt owes 50.00
    response = _client(client, finance_user).get(reverse("billing:ar_aging"), {"as_of": "2027-06-30"})
    report = response.context["report"]
    assert [(r.customer_name, r.currency, r.amounts, r.total) for r in report.rows] == [
        ("Acme", "USD", [D("0.00"), D("110.00"), D("0.00"), D("0.00"), D("22.00")], D("132.00")),
        ("Bolt", "USD", [D("0.00"), D("0.00"), D("50.00"), D("0.00"), D("0.00")], D("50.00")),
        ("Euro GmbH", "EUR", [D("110.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00")], D("110.00")),
    ]
    html = response.content.decode()
    assert _text(_section(html, "aging-table").split("<tfoot>")[1]) == (
        "Total EUR €110.00 €0.00 €0.00 €0.00 €0.00 €110.00 "
        "Total USD $0.00 $110.00 $50.00 $0.00 $22.00 $182.00")
    assert f'href="/billing/invoices/?customer={acme.pk}&amp;currency=USD&amp;status=open">Acme</a>' in html


def test_the_dunning_page_lists_overdue_invoices_with_the_reminders_sent(client, subscription, finance_user,
                                                                         settings):
    settings.REVOPS_DUNNING_DAYS = (3, 10, 30)
    late = _invoice(subscription, customer=CustomerFactory(name="Late Ltd", country="US"))
    on_time = _invoice(subscription)
    Invoice.objects.filter(pk=late.pk).update(due_date=date(2027, 3, 1))
    Invoice.objects.filter(pk=on_time.pk).update(due_date=date(2027, 4, 5))  # due on the day: not overdue
    DunningNotice.objects.create(invoice=late, days_after_due=3, amount_due=late.amount_due)
    DunningNotice.objects.create(invoice=late, days_after_due=10, amount_due=late.amount_due)
    response = _client(client, finance_user).get(reverse("billing:dunning"), {"as_of": "2027-04-05"})
    html = response.content.decode()
    rows = re.findall(r'<tr data-invoice="(\d+)">(.*?)</tr>', html, re.S)
    assert [int(pk) for pk, _ in rows] == [late.pk]
    assert _text(rows[0][1]) == f"{late.number} Late Ltd 2027-03-01 35 $110.00 3 d 10 d 30 d, due now"


# --- payments -----------------------------------------------------------------------------------------------


def test_a_payment_pays_the_oldest_invoices_first_and_shows_the_credit_left(client, subscription, finance_user):
    acme = CustomerFactory(name="Acme", country="US")
    older = _invoice(subscription, customer=acme)  # 110.00
    newer = _invoice(subscription, customer=acme, seats="5")  # 55.00
    Invoice.objects.filter(pk=older.pk).update(due_date=date(2027, 1, 31))
    Invoice.objects.filter(pk=newer.pk).update(due_date=date(2027, 2, 28))
    c = _client(client, finance_user)
    refused = c.post(reverse("billing:payment_create"), {"customer": acme.pk, "amount": "10.00", "currency": "EUR",
                                                        "received_on": "2027-02-01"})
    assert _figure(refused.content.decode(), "id_currency_errors") == "Acme is billed in USD, not EUR"
    assert Payment.objects.count() == 0
    response = c.post(reverse("billing:payment_create"), {"customer": acme.pk, "amount": "200.00",
                                                         "received_on": "2027-02-01", "reference": "WIRE-9"},
                      follow=True)
    payment = Payment.objects.get()
    assert response.redirect_chain[-1][0] == reverse("billing:payment", args=[payment.pk])
    html = response.content.decode()
    assert [_figure(html, f) for f in ("allocated", "unallocated", "credit-balance")] == [
        "$165.00", "$35.00", "$35.00"]
    rows = re.findall(r'<tr data-invoice="(\d+)">(.*?)</tr>', html, re.S)
    assert [(int(pk), _text(row).split(" ", 2)[2]) for pk, row in rows] == [
        (older.pk, "Paid $110.00 $0.00"), (newer.pk, "Paid $55.00 $0.00")]
    listing = c.get(reverse("billing:payments"), {"customer": acme.pk}).content.decode()
    assert f"{older.number} $110.00" in _text(listing) and "WIRE-9" in listing


# --- query counts ---------------------------------------------------------------------------------------------


def test_the_invoice_list_costs_the_same_queries_for_one_or_many_invoices(client, subscription, finance_user,
                                                                          django_assert_num_queries):
    _invoice(subscription)
    c = _client(client, finance_user)
    c.get(reverse("billing:invoices"))  # warm the session
    # session, user, roles, permissions (2), count, rows, queue counts, customers, currencies
    with django_assert_num_queries(10):
        assert c.get(reverse("billing:invoices")).context["page"].paginator.count == 1
    for _ in range(4):
        _invoice(subscription, customer=CustomerFactory(country="US"))
    with django_assert_num_queries(10):
        assert c.get(reverse("billing:invoices")).context["page"].paginator.count == 5


def test_the_invoice_page_costs_the_same_queries_however_many_lines_payments_and_notes(
        client, subscription, finance_user, django_assert_num_queries):
    small = _invoice(subscription)
    big = _invoice(subscription, setup="500.00")
    assert big.lines.count() == 2
    for invoice in (small, big):
        payments.payment_record(customer=invoice.customer, amount="20.00", currency="USD", by=finance_user)
    payments.payment_record(customer=big.customer, amount="30.00", currency="USD", by=finance_user)
    from billing.services.credit_notes import credit_note_create

    for invoice in (small, big, big):
        credit_note_create(invoice_id=invoice.pk, reason="goodwill", by=finance_user,
                           lines=[{"invoice_line": line.pk, "amount": "1.00"} for line in invoice.lines.all()])
    c = _client(client, finance_user)
    c.get(reverse("billing:invoice", args=[small.pk]))
    # session, user, invoice, lines, allocations, credit notes, their lines, history, notices, roles,
    # permissions (2)
    for invoice in (small, big):
        with django_assert_num_queries(12):
            assert c.get(reverse("billing:invoice", args=[invoice.pk])).status_code == 200
