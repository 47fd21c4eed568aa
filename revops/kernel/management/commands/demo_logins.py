"""`manage.py demo_logins [--url URL]`: where to sign in and with which demo user.

The rows come from each app's demo module (`<app>.demo.LOGINS`: username, password, role, what to look
at first), in INSTALLED_APPS order, so an app that adds a demo login lists it without editing this file.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import DatabaseError

from .seed_demo import demo_modules


def demo_logins() -> list[tuple[str, str, str, str]]:
    rows = []
    for _app_config, module in demo_modules():
        rows.extend(getattr(module, "LOGINS", []))
    return rows


class Command(BaseCommand):
    help = "Print the demo site's URL and its demo logins (created by `manage.py seed_demo`)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the site is served")

    def handle(self, *args, **options) -> None:
        rows = demo_logins()
        try:
            existing = set(get_user_model().objects.filter(username__in=[r[0] for r in rows])
                           .values_list("username", flat=True))
        except DatabaseError:  # not migrated yet: still print the table
            existing = set()
        url = options["url"]
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS(f"revops demo: {url}"))
        out.write(f"Admin site: {url.rstrip('/')}/admin/   API docs: {url.rstrip('/')}/api/docs/")
        out.write("")
        header = ("username", "password", "role", "look at first")
        widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in range(3)]
        line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + "  " + header[3]
        out.write(line)
        out.write("-" * len(line))
        for row in rows:
            cells = "  ".join(value.ljust(w) for value, w in zip(row, widths, strict=False))
            out.write(f"{cells}  {row[3]}")
        out.write("")
        missing = [row[0] for row in rows if row[0] not in existing]
        if missing:
            out.write(self.style.WARNING(
                f"Not in this database yet: {', '.join(missing)}. Run `manage.py seed_demo` (or `make run`)."))
        out.write("Demo data and passwords are for local use only; never seed a production database.")
        out.write("")
