"""Import customers, contacts, products or prices from a CSV file (django-import-export resources in
integrations/resources.py), all or nothing: the whole file runs in one transaction and any error in any
row rolls every row back. A dry run does the same work and always rolls back, so it reports every row's
errors (row number, CSV line and column) before anything is written.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import tablib
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import transaction

from revops.kernel.errors import ValidationFailed, field_error

from ..resources import RESOURCES

MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class RowError:
    row: int  # data row, 1 = the first row after the header
    column: str  # "" for an error about the whole row or file
    message: str

    @property
    def line(self) -> int:
        """The line in the file (the header is line 1)."""
        return self.row + 1

    def __str__(self) -> str:
        where = f"row {self.row} (line {self.line})" if self.row else "file"
        return f"{where}, column {self.column!r}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass
class ImportReport:
    model: str
    dry_run: bool
    rows: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def as_dict(self) -> dict:
        return {"model": self.model, "dry_run": self.dry_run, "rows": self.rows, "new": self.new,
                "updated": self.updated, "skipped": self.skipped, "written": self.written,
                "errors": [{"row": e.row, "line": e.line, "column": e.column, "message": e.message}
                           for e in self.errors]}


def _dataset(content: bytes | str) -> tablib.Dataset:
    if isinstance(content, bytes):
        if len(content) > MAX_BYTES:
            raise field_error("file", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: split it")
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise field_error("file", "the file is not UTF-8 text") from None
    content = content.lstrip("\ufeff")
    if not content.strip():
        raise field_error("file", "the file is empty")
    try:
        return tablib.Dataset().load(content, format="csv")
    except Exception as exc:  # tablib reports malformed CSV with its own exception types
        raise field_error("file", f"not a CSV file: {exc}") from None


def _column_errors(resource, dataset) -> list[RowError]:
    """Unknown or missing columns: a file-level error (row 0) before any row is read."""
    known = {f.column_name for f in resource.get_import_fields()}
    headers = [h.strip() for h in (dataset.headers or [])]
    errors = [RowError(0, h, f"unknown column; expected some of: {', '.join(sorted(known))}")
              for h in headers if h and h not in known]
    id_columns = {resource.fields[name].column_name for name in resource._meta.import_id_fields}
    errors += [RowError(0, c, "required column missing") for c in sorted(id_columns - set(headers))]
    return errors


def csv_import(*, model: str, content: bytes | str, dry_run: bool = False) -> ImportReport:
    """Import the file into `model` (customers, contacts, products, prices). Nothing is written on a dry
    run or when any row has an error; the report lists every error by row and column."""
    if model not in RESOURCES:
        raise ValidationFailed(f"unknown model {model!r}: use one of {', '.join(RESOURCES)}",
                               fields={"model": [f"one of {', '.join(RESOURCES)}"]})
    dataset = _dataset(content)
    if dataset.headers:
        dataset.headers = [h.strip() for h in dataset.headers]
    resource = RESOURCES[model]()
    report = ImportReport(model=model, dry_run=dry_run, rows=len(dataset))
    report.errors = _column_errors(resource, dataset)
    if report.errors:
        return report
    with transaction.atomic():
        result = resource.import_data(dataset, dry_run=dry_run, use_transactions=True, raise_errors=False,
                                      rollback_on_validation_errors=True)
        for number, row_errors in result.row_errors():
            for error in row_errors:
                report.errors.append(RowError(number, "", str(error.error)))
        for invalid in result.invalid_rows:
            for column, messages in invalid.error_dict.items():
                if column in resource.fields:
                    column = resource.fields[column].column_name
                for message in messages:
                    report.errors.append(RowError(invalid.number, "" if column == NON_FIELD_ERRORS else column,
                                                  str(message)))
        report.errors.sort(key=lambda e: (e.row, e.column))
        totals = result.totals
        report.new, report.updated, report.skipped = totals.get("new", 0), totals.get("update", 0), totals.get("skip", 0)
        if report.errors or dry_run:
            transaction.set_rollback(True)  # all or nothing, whatever the library already did
    return report
