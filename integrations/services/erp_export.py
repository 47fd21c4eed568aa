"""ERP export: a period's journal (one row per journal line) and issued invoices, as CSV or JSON.

An export records what it included (ErpExportItem). The next export of the same period includes only the
journal entries and invoices no earlier export included (`mode: incremental`), or, with `full`, everything
in the period again (`mode: full`, said in every CSV row, the JSON header and the API answer), so the ERP
side knows to replace rather than add.

The files are produced from the export's items when downloaded, streamed in chunks, so a period of
100,000 lines never sits in memory. Layouts (columns) are JOURNAL_COLUMNS and INVOICE_COLUMNS below and
in the API notes; amounts are plain decimal strings with the currency's minor-unit places.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date

from django.db import connection, transaction

from billing.models import CreditNote, Invoice, Payment
from contracts.models import Contract
from recognition.models import JournalEntry, JournalLine
from recognition.services.journal import FxRateMissing, fx_rate, reporting_currency
from revops.kernel import money
from revops.kernel.errors import field_error

from ..models import ErpExport, ErpExportItem

CHUNK = 2000
MAX_DAYS = 366 * 2
EXPORTED_INVOICE_STATUSES = (Invoice.Status.ISSUED, Invoice.Status.PARTIALLY_PAID, Invoice.Status.PAID,
                             Invoice.Status.VOID, Invoice.Status.UNCOLLECTIBLE)

JOURNAL_COLUMNS = [
    "export_id", "export_mode", "entry_id", "line_id", "date", "period", "account_code", "account_name", "debit",
    "credit", "currency", "debit_reporting", "credit_reporting", "reporting_currency", "fx_rate", "source",
    "document_type", "document_id", "document_number", "customer_id", "contract_id", "memo",
]
INVOICE_COLUMNS = [
    "export_id", "export_mode", "invoice_id", "number", "status", "customer_id", "customer_external_id",
    "customer_name", "contract_id", "issue_date", "due_date", "period_start", "period_end", "currency", "subtotal",
    "tax", "total", "amount_paid", "amount_due", "reporting_currency", "fx_rate", "total_reporting",
]
PARTS = ("journal", "invoices")

# source_key prefix -> the document type shown to the ERP
DOCUMENT_TYPES = {"invoice.issued": "invoice", "invoice.credit": "invoice", "credit.applied": "invoice",
                  "payment.received": "payment", "credit_note.issued": "credit_note",
                  "revenue.recognized": "revenue_schedule_line"}


def mode_of(export: ErpExport) -> str:
    return "full" if export.full else "incremental"


# --- creating an export ------------------------------------------------------------------------------

def _lock_exports() -> None:
    """Two exports at once must not both claim the same entries: one at a time (a transaction lock)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('revops.integrations.erp_export'))")


def erp_export_create(*, period_start: date, period_end: date, format: str, full: bool = False,  # noqa: A002
                      by=None) -> ErpExport:
    """Record an export of the journal entries dated in the period and the invoices issued in it: all of
    them with `full`, else those no earlier export included. An empty incremental export is kept too (it
    says "nothing new")."""
    if format not in ErpExport.Format.values:
        raise field_error("format", "must be csv or json")
    if period_end < period_start:
        raise field_error("period_end", "must be on or after period_start")
    if (period_end - period_start).days > MAX_DAYS:
        raise field_error("period_end", f"a period spans at most {MAX_DAYS} days")
    with transaction.atomic():
        _lock_exports()
        entries = JournalEntry.objects.filter(date__gte=period_start, date__lte=period_end)
        invoices = Invoice.objects.filter(issue_date__gte=period_start, issue_date__lte=period_end,
                                          status__in=EXPORTED_INVOICE_STATUSES, number__isnull=False)
        if not full:
            entries = entries.exclude(pk__in=ErpExportItem.objects.filter(journal_entry__isnull=False)
                                      .values("journal_entry_id"))
            invoices = invoices.exclude(pk__in=ErpExportItem.objects.filter(invoice__isnull=False)
                                        .values("invoice_id"))
        entry_ids = list(entries.order_by("id").values_list("id", flat=True))
        invoice_ids = list(invoices.order_by("id").values_list("id", flat=True))
        export = ErpExport.objects.create(
            period_start=period_start, period_end=period_end, format=format, full=full,
            journal_entries=len(entry_ids), invoices=len(invoice_ids),
            journal_lines=JournalLine.objects.filter(entry_id__in=entry_ids).count() if entry_ids else 0,
            created_by=by if getattr(by, "pk", None) else None)
        ErpExportItem.objects.bulk_create([ErpExportItem(export=export, journal_entry_id=i) for i in entry_ids],
                                          batch_size=CHUNK)
        ErpExportItem.objects.bulk_create([ErpExportItem(export=export, invoice_id=i) for i in invoice_ids],
                                          batch_size=CHUNK)
    return export


def erp_exports_of_period(*, period_start: date, period_end: date):
    return ErpExport.objects.filter(period_start=period_start, period_end=period_end)


def header(export: ErpExport) -> dict:
    """What the export is: the JSON file's header and the API answer's body share it."""
    return {
        "id": export.pk, "period_start": export.period_start.isoformat(), "period_end": export.period_end.isoformat(),
        "format": export.format, "full": export.full, "mode": mode_of(export),
        "note": ("FULL RE-EXPORT: every journal entry and invoice of the period, including those sent before; "
                 "replace what an earlier export of this period loaded") if export.full else
                ("Incremental: only journal entries and invoices no earlier export included"),
        "journal_entries": export.journal_entries, "journal_lines": export.journal_lines,
        "invoices": export.invoices, "reporting_currency": reporting_currency(),
        "created_at": export.created_at.isoformat(), "created_by": export.created_by_id,
    }


# --- rows --------------------------------------------------------------------------------------------

def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]


def _document(source_key: str) -> tuple[str, int | None]:
    prefix, _, raw = source_key.rpartition(":")
    return DOCUMENT_TYPES.get(prefix, prefix or source_key), int(raw) if raw.isdigit() else None


def _numbers(docs: set[tuple[str, int]], contracts: dict[int, str]) -> dict[tuple[str, int], str]:
    """Document numbers for one chunk: one query per document type."""
    by_type: dict[str, set[int]] = {}
    for kind, pk in docs:
        by_type.setdefault(kind, set()).add(pk)
    out: dict[tuple[str, int], str] = {}
    if by_type.get("invoice"):
        out |= {("invoice", pk): n or "" for pk, n in
                Invoice.objects.filter(pk__in=by_type["invoice"]).values_list("pk", "number")}
    if by_type.get("credit_note"):
        out |= {("credit_note", pk): n for pk, n in
                CreditNote.objects.filter(pk__in=by_type["credit_note"]).values_list("pk", "number")}
    if by_type.get("payment"):
        out |= {("payment", pk): ref or f"PAY-{pk}" for pk, ref in
                Payment.objects.filter(pk__in=by_type["payment"]).values_list("pk", "reference")}
    return out


def journal_rows(export: ErpExport) -> Iterator[dict]:
    """One row per journal line of the entries the export included, in entry order."""
    entry_ids = list(export.items.filter(journal_entry__isnull=False).order_by("journal_entry_id")
                     .values_list("journal_entry_id", flat=True))
    mode = mode_of(export)
    for ids in _chunks(entry_ids):
        lines = list(JournalLine.objects.filter(entry_id__in=ids).select_related("entry__period", "account")
                     .order_by("entry_id", "id"))
        docs = {_document(x.entry.source_key) for x in lines}
        contract_ids = {x.entry.contract_id for x in lines if x.entry.contract_id}
        contracts = dict(Contract.objects.filter(pk__in=contract_ids).values_list("pk", "number"))
        numbers = _numbers({d for d in docs if d[1] is not None}, contracts)
        for x in lines:
            e = x.entry
            kind, doc_id = _document(e.source_key)
            number = numbers.get((kind, doc_id), "")
            if kind == "revenue_schedule_line":
                number = contracts.get(e.contract_id, "")
            yield {
                "export_id": export.pk, "export_mode": mode, "entry_id": e.pk, "line_id": x.pk,
                "date": e.date.isoformat(), "period": f"{e.period.start:%Y-%m}", "account_code": x.account.code,
                "account_name": x.account.name, "debit": str(money.quantize(x.debit, e.currency)),
                "credit": str(money.quantize(x.credit, e.currency)), "currency": e.currency,
                "debit_reporting": str(money.quantize(x.debit_reporting, e.reporting_currency)),
                "credit_reporting": str(money.quantize(x.credit_reporting, e.reporting_currency)),
                "reporting_currency": e.reporting_currency, "fx_rate": f"{e.fx_rate.normalize():f}",
                "source": e.source, "document_type": kind, "document_id": doc_id, "document_number": number,
                "customer_id": e.customer_id, "contract_id": x.contract_id or e.contract_id, "memo": e.memo,
            }


def invoice_rows(export: ErpExport) -> Iterator[dict]:
    invoice_ids = list(export.items.filter(invoice__isnull=False).order_by("invoice_id")
                       .values_list("invoice_id", flat=True))
    mode, reporting = mode_of(export), reporting_currency()
    for ids in _chunks(invoice_ids):
        invoices = list(Invoice.objects.filter(pk__in=ids).select_related("customer").order_by("id"))
        # The rate the invoice was posted at (its journal entry), else the FX table's rate on the issue day.
        posted = dict(JournalEntry.objects.filter(source_key__in=[f"invoice.issued:{i.pk}" for i in invoices])
                      .values_list("source_key", "fx_rate"))
        for inv in invoices:
            rate = posted.get(f"invoice.issued:{inv.pk}")
            if rate is None:
                try:
                    rate = fx_rate(inv.currency, inv.issue_date)
                except FxRateMissing:
                    rate = None
            yield {
                "export_id": export.pk, "export_mode": mode, "invoice_id": inv.pk, "number": inv.number,
                "status": inv.status, "customer_id": inv.customer_id, "customer_external_id": inv.customer.external_id
                or "", "customer_name": inv.customer.name, "contract_id": inv.contract_id,
                "issue_date": _iso(inv.issue_date), "due_date": _iso(inv.due_date),
                "period_start": _iso(inv.period_start), "period_end": _iso(inv.period_end), "currency": inv.currency,
                "subtotal": _amount(inv.subtotal, inv.currency), "tax": _amount(inv.tax, inv.currency),
                "total": _amount(inv.total, inv.currency), "amount_paid": _amount(inv.amount_paid, inv.currency),
                "amount_due": _amount(inv.amount_due, inv.currency), "reporting_currency": reporting,
                "fx_rate": f"{rate.normalize():f}" if rate is not None else "",
                "total_reporting": _amount(inv.total * rate, reporting) if rate is not None else "",
            }


def _iso(value) -> str:
    return value.isoformat() if value else ""


def _amount(value, currency: str) -> str:
    return str(money.quantize(value, currency))


# --- files -------------------------------------------------------------------------------------------

class _Echo:
    def write(self, value: str) -> str:
        return value


def _safe(value):
    """Text a spreadsheet would run as a formula (=, +, -, @ first) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def csv_stream(export: ErpExport, part: str = "journal") -> Iterator[str]:
    if part not in PARTS:
        raise field_error("part", "must be journal or invoices")
    columns, rows = (JOURNAL_COLUMNS, journal_rows(export)) if part == "journal" else (INVOICE_COLUMNS,
                                                                                       invoice_rows(export))
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow([_safe(row[c]) for c in columns])


def json_stream(export: ErpExport) -> Iterator[str]:
    """{"export": header, "journal_lines": [...], "invoices": [...]}, written piece by piece."""
    yield '{"export": ' + json.dumps(header(export)) + ', "journal_columns": ' + json.dumps(JOURNAL_COLUMNS)
    yield ', "invoice_columns": ' + json.dumps(INVOICE_COLUMNS) + ', "journal_lines": ['
    for i, row in enumerate(journal_rows(export)):
        yield ("," if i else "") + json.dumps(row)
    yield '], "invoices": ['
    for i, row in enumerate(invoice_rows(export)):
        yield ("," if i else "") + json.dumps(row)
    yield "]}\n"


def filename(export: ErpExport, part: str = "journal") -> str:
    suffix = "-full" if export.full else ""
    if export.format == ErpExport.Format.JSON:
        return f"erp-export-{export.pk}-{export.period_start}-{export.period_end}{suffix}.json"
    return f"erp-export-{export.pk}-{part}-{export.period_start}-{export.period_end}{suffix}.csv"
