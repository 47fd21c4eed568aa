"""Running database work on another connection while the caller goes on with its own queries.

Used where one request reads a lot: the profitability report overlaps the refresh of a stored rollup (the
shared costs' split, ~200 ms for a month of 10,000 customers) and its revenue and usage aggregates with
its Python work on the contract lines: on a 2-core machine the SQL runs on one core while the caller's
Python runs on the other.

Two shapes: `start(fn)` — a job the caller's own later read would otherwise do itself (a refresh): a
failure is logged, never raised; `fetch(fn)` — a read whose result the caller needs: `result()` returns it
(or raises its error), and where nothing can be started it simply runs `fn` then, on the caller's
connection, so the caller's code is the same either way.

Only where that is safe and useful: PostgreSQL, the caller not inside a transaction (its reads are then
separate autocommit statements anyway, so work done on another connection sees what they would see), and
settings.REVOPS_BACKGROUND_DB_JOBS not False. Anywhere else (SQLite, a test wrapped in a transaction, a
caller's atomic block) nothing runs apart: `start` does nothing and `fetch` runs inline at `result()`.
The work handed over must only read (or, for `start`, refresh a rollup in its own transaction) and return
plain data: Django model instances and querysets stay on the thread that made them.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="revops-db-job")
    return _executor


def can_start(using: str = DEFAULT_DB_ALIAS) -> bool:
    connection = connections[using]
    return (getattr(settings, "REVOPS_BACKGROUND_DB_JOBS", True) and connection.vendor == "postgresql"
            and not connection.in_atomic_block)


class Job:
    """A started job (or none): `wait()` blocks until it is done. A job's failure is logged and swallowed —
    the caller's own read redoes the work and raises the real error where it belongs."""

    def __init__(self, future: Future | None):
        self._future = future

    @property
    def started(self) -> bool:
        return self._future is not None

    def wait(self) -> None:
        if self._future is None:
            return
        try:
            self._future.result()
        except Exception:  # noqa: BLE001 — see the class docstring
            log.exception("background database job failed; the caller redoes its work")


def _on_own_connection(fn: Callable[[], object]) -> object:
    try:
        return fn()
    finally:
        # the worker thread's connections are its own: close them so none outlives the job (an idle
        # connection left behind would also block dropping a test database)
        connections.close_all()


def start(fn: Callable[[], object], using: str = DEFAULT_DB_ALIAS) -> Job:
    """Run `fn` on a worker thread with its own database connection, when `can_start`; else do nothing."""
    if not can_start(using):
        return Job(None)
    return Job(_pool().submit(_on_own_connection, fn))


class Pending:
    """The result of `fetch`: computed on a worker thread, or by `result()` itself when nothing started."""

    def __init__(self, fn: Callable[[], object], future: Future | None):
        self._fn, self._future = fn, future

    def result(self):
        if self._future is None:
            return self._fn()
        return self._future.result()


def fetch(fn: Callable[[], object], using: str = DEFAULT_DB_ALIAS) -> Pending:
    """Start the read `fn` on a worker thread with its own connection when `can_start`; `result()` gives
    its value (or raises its error). Otherwise `result()` runs `fn` on the caller's connection."""
    if not can_start(using):
        return Pending(fn, None)
    return Pending(fn, _pool().submit(_on_own_connection, fn))

