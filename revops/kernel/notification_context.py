"""The unread-notification count for the top bar's bell (a context processor).

Lazy: the COUNT runs only when a template shows the bell, so htmx partials and pages that do not
extend base.html pay nothing; one indexed COUNT (user, read_at) when it does."""
from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from . import roles
from .models import Notification


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notifications(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "show_notification_bell": SimpleLazyObject(lambda: roles.is_staff_member(user)),
        "unread_notification_count": SimpleLazyObject(lambda: unread_count(user)),
    }
