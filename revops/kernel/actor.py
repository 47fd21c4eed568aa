"""Who is acting: set per request (middleware, API permission check) or per task (`acting_as`).

The audit trail and the outbox read it so that services need not thread a user through every call.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_actor: ContextVar[object | None] = ContextVar("revops_actor", default=None)


def current_actor():
    """The authenticated user acting now, or None (system, anonymous, or a task with no actor)."""
    user = _actor.get()
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def set_actor(user) -> None:
    _actor.set(user)


@contextmanager
def acting_as(user) -> Iterator[None]:
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)
