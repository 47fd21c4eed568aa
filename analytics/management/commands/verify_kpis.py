"""`manage.py verify_kpis [--fix]`: recompute every customer's MRR movements from the contracts and
compare them with the rollup the outbox keeps; exit 1 on any difference."""
import time

from django.core.management.base import BaseCommand, CommandError

from analytics.services.mrr import verify


class Command(BaseCommand):
    help = "Recompute the MRR rollup from source records and compare (exit 1 on a mismatch)."

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="rebuild the customers that differ")

    def handle(self, *args, **options):
        started = time.perf_counter()
        mismatches = verify(fix=options["fix"])
        elapsed = time.perf_counter() - started
        for m in mismatches[:20]:
            self.stdout.write(f"customer {m.customer_id}: expected {len(m.expected)} movements, stored {len(m.stored)}")
        if mismatches and not options["fix"]:
            raise CommandError(f"{len(mismatches)} customers differ from the source records ({elapsed:.1f} s)")
        self.stdout.write(self.style.SUCCESS(
            f"verify_kpis: rollup matches the source records ({elapsed:.1f} s)" if not mismatches
            else f"verify_kpis: rebuilt {len(mismatches)} customers ({elapsed:.1f} s)"))
