"""Running a database benchmark on its own scratch PostgreSQL database: created, migrated, measured
and dropped, in a child process when Django is already set up on another database (`python -m bench`)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def setup_django(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "revops.settings.dev"
    os.environ["DEBUG"] = "0"  # time what production runs, not the debug cursor
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ["REVOPS_REPORTING_CURRENCY"] = "USD"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def admin_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")).replace("postgres://", "postgresql://", 1)


def run_on_scratch_postgres(url: str, bench: Callable[[], None]) -> None:
    """Create the database named in `url`, migrate it, run `bench`, drop it (BENCH_KEEP_DB keeps it)."""
    name = urlsplit(url).path.lstrip("/")
    try:
        import psycopg

        admin = psycopg.connect(admin_url(url), autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip, saying why
        print(f"skipped: PostgreSQL is not reachable at {admin_url(url)} ({type(exc).__name__}: {exc})")
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        setup_django(url)
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"   (scratch database migrated in {time.perf_counter() - started:.1f} s)")
        bench()
    finally:
        from django.db import connections

        connections.close_all()
        if not os.environ.get("BENCH_KEEP_DB"):
            with psycopg.connect(admin_url(url), autocommit=True) as a:
                a.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main_for(module: str, url: str, bench: Callable[[], None]) -> None:
    """A benchmark module's main(): in a child process when Django already runs, else right here."""
    from django.apps import apps

    if apps.ready:
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", module], cwd=ROOT, check=True)
    else:
        run_on_scratch_postgres(url, bench)
