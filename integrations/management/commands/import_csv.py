"""manage.py import_csv <customers|contacts|products|prices> <file.csv> [--dry-run]

All or nothing: any error in any row writes nothing. Every error is printed with its row, CSV line and
column; the exit status is 1 when there were errors."""
from django.core.management.base import BaseCommand, CommandError

from integrations.resources import RESOURCES
from integrations.services.csv_import import csv_import
from revops.kernel.errors import DomainError


class Command(BaseCommand):
    help = "Import customers, contacts, products or prices from a CSV file (all or nothing; --dry-run to check)."

    def add_arguments(self, parser):
        parser.add_argument("model", choices=sorted(RESOURCES))
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="Check every row, write nothing.")

    def handle(self, *args, model, file, dry_run, **options):
        try:
            with open(file, "rb") as handle:
                content = handle.read()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc}") from None
        try:
            report = csv_import(model=model, content=content, dry_run=dry_run)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for error in report.errors:
            self.stderr.write(str(error))
        summary = (f"{report.rows} rows: {report.new} new, {report.updated} updated, {report.skipped} unchanged"
                   f"{' (dry run)' if dry_run else ''}")
        if report.errors:
            raise CommandError(f"{len(report.errors)} error(s) in {file}; nothing was written. {summary}")
        self.stdout.write(self.style.SUCCESS(("Checked, nothing written: " if dry_run else "Imported: ") + summary))
