"""`manage.py usage_partitions [--ahead N] [--back N] [--detach-before YYYY-MM]`: keep the monthly
partitions of the usage events table ahead of the data (PostgreSQL), and detach old months."""
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from billing.services.partitions import detach_before, ensure_partitions, is_partitioned


class Command(BaseCommand):
    help = "Create monthly usage-event partitions ahead of time and detach old ones (PostgreSQL only)."

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=3, help="months ahead to create (default 3)")
        parser.add_argument("--back", type=int, default=36, help="months back to create (default 36)")
        parser.add_argument("--detach-before", help="detach partitions of months before YYYY-MM")

    def handle(self, *args, **options):
        if not is_partitioned():
            self.stdout.write("usage events are not partitioned on this database (SQLite): nothing to do")
            return
        created = ensure_partitions(back=options["back"], ahead=options["ahead"])
        self.stdout.write(f"created {len(created)} partitions" + (f": {', '.join(created)}" if created else ""))
        if options["detach_before"]:
            try:
                year, month = (int(x) for x in options["detach_before"].split("-"))
                cutoff = date(year, month, 1)
            except ValueError:
                raise CommandError("--detach-before takes YYYY-MM") from None
            detached = detach_before(cutoff)
            self.stdout.write(f"detached {len(detached)} partitions" + (f": {', '.join(detached)}" if detached else ""))
