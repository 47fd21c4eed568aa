"""manage.py inbound_sources [--reset-mapping] [--show-secrets]

Create the ready-made inbound sources (salesforce: closed-won opportunities -> draft quotes; shopify: paid
orders -> accepted quotes and contracts) with the mappings shipped in integrations/mappings/. Existing
sources keep their secret and mapping unless --reset-mapping."""
from django.core.management.base import BaseCommand

from integrations.services.inbound import READY_SOURCES, inbound_source_install


class Command(BaseCommand):
    help = "Create the Salesforce-style and Shopify-style inbound sources with their ready mappings."

    def add_arguments(self, parser):
        parser.add_argument("--reset-mapping", action="store_true", help="Put the shipped mapping back.")
        parser.add_argument("--show-secrets", action="store_true", help="Print each source's signing secret.")

    def handle(self, *args, reset_mapping, show_secrets, **options):
        for name in READY_SOURCES:
            source = inbound_source_install(name=name, reset_mapping=reset_mapping)
            line = f"{source.name} ({source.kind}): POST /api/v1/inbound/{source.name}/"
            if show_secrets:
                line += f"  secret {source.secret}"
            self.stdout.write(line)
