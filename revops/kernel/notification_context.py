"""The notification bell in the top bar (a context processor).

Pages render the bell with no query of their own: the unread count is fetched by htmx from
`notifications:badge` (one indexed COUNT on (user, read_at)) when the page loads and every minute, so
no page's query budget grows and the badge stays current on long-open pages. `unread_notification_count`
is lazy: the COUNT runs only where a template uses it (the notifications page)."""

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
        # roles_of caches on the user, and the navigation has already loaded them: no extra query.
        "show_notification_bell": SimpleLazyObject(lambda: roles.is_staff_member(user)),
        "unread_notification_count": SimpleLazyObject(lambda: unread_count(user)),
    }
