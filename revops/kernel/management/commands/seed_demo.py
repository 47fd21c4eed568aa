"""`manage.py seed_demo`: fill an empty database with a realistic, deterministic demo data set.

The command owns no data itself. It walks INSTALLED_APPS in order and, for every app with a module
`<app>.demo` defining `seed(ctx)`, calls it with one shared `SeedContext`. Later apps extend the demo by
adding their own `demo.py` (and read what earlier apps left in `ctx.shared`), never by editing this file.

Everything runs in one transaction, and every choice comes from `ctx.rng` (seeded by `--seed`) and
`ctx.today`, so the same seed and day give the same data.
"""
from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from types import ModuleType
from zoneinfo import ZoneInfo

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone


@dataclass
class SeedContext:
    """What every app's `demo.seed(ctx)` receives."""

    rng: random.Random  # the only source of randomness: seeded, so runs repeat exactly
    customers: int  # how many customers to create
    months: int  # how much history to generate, ending at `today`
    today: date  # the demo's "now"; never read the clock in a demo module
    shared: dict = field(default_factory=dict)  # apps leave here what later apps need (documented per key)
    log: Callable[[str], None] = print

    @property
    def start(self) -> date:
        """First day of the month `months` months before today's month: where history begins."""
        index = self.today.year * 12 + self.today.month - 1 - self.months
        return date(index // 12, index % 12 + 1, 1)


def demo_module(app_config: AppConfig) -> ModuleType | None:
    """The app's `demo` module when it has one with a `seed` function."""
    if not hasattr(app_config.module, "__path__"):
        return None  # a plain module, not a package: it cannot contain `demo`
    name = f"{app_config.name}.demo"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise  # the demo module exists but imports something missing: that is a bug to see
    return module if callable(getattr(module, "seed", None)) else None


def demo_modules() -> list[tuple[AppConfig, ModuleType]]:
    """(app, demo module) in INSTALLED_APPS order."""
    found = []
    for app_config in apps.get_app_configs():
        module = demo_module(app_config)
        if module is not None:
            found.append((app_config, module))
    return found


class Command(BaseCommand):
    help = "Fill an empty database with demo users, customers and a catalog (deterministic per --seed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=200, help="number of customers (default 200)")
        parser.add_argument("--months", type=int, default=24, help="months of history (default 24)")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--today", type=date.fromisoformat, default=None,
                            help="the demo's today, YYYY-MM-DD (default: today in the business time zone)")
        parser.add_argument("--if-empty", action="store_true",
                            help="do nothing when the database already has customers")

    def handle(self, *args, **options) -> None:
        customers, months = options["customers"], options["months"]
        if customers < 1:
            raise CommandError("--customers must be at least 1")
        if months < 1:
            raise CommandError("--months must be at least 1")
        # Looked up by label: the kernel does not import the domain apps.
        customer_model = apps.get_model("customers", "Customer")
        existing = customer_model.objects.count()
        if existing:
            if options["if_empty"]:
                self.stdout.write(f"seed_demo: the database already has {existing} customers; left as it is.")
                return
            raise CommandError(
                f"the database already has {existing} customers. seed_demo fills an empty database: "
                "pass --if-empty to skip, or start from a fresh one (manage.py flush)."
            )

        today = options["today"] or timezone.localdate(timezone=ZoneInfo(settings.REVOPS_BUSINESS_TIME_ZONE))
        ctx = SeedContext(
            rng=random.Random(options["seed"]), customers=customers, months=months, today=today,
            log=self._log if options["verbosity"] >= 1 else (lambda message: None),
        )
        modules = demo_modules()
        models = self._models_to_count(modules)
        before = {m: m._default_manager.count() for m in models}

        started = time.perf_counter()
        # Demo data emails nobody (renewal alerts, invoices): mail is swallowed until after the commit.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"), transaction.atomic():
            for app_config, module in modules:
                step = time.perf_counter()
                module.seed(ctx)
                ctx.log(f"  {app_config.label}: done in {time.perf_counter() - step:.2f} s")
        elapsed = time.perf_counter() - started
        if options["verbosity"] < 1:
            return
        self.stdout.write(self.style.SUCCESS(
            f"seed_demo: seed {options['seed']}, {customers} customers, {months} months to {today}, "
            f"{elapsed:.1f} s. Rows created:"))
        for model in models:
            created = model._default_manager.count() - before[model]
            if created:
                self.stdout.write(f"  {model._meta.label:<32} {created:>7,}")

    def _log(self, message: str) -> None:
        self.stdout.write(message)

    @staticmethod
    def _models_to_count(modules) -> list:
        labels = {"auth"} | {app_config.label for app_config, _module in modules}
        return [m for m in apps.get_models() if m._meta.app_label in labels and not m._meta.proxy]
