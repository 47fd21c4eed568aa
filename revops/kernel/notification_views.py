"""The notifications page: a user's own notifications, newest first, marked read one by one or all
at once (POST). Another user's notification is a 404, never a 403, so ids reveal nothing."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from .models import Notification
from .notification_context import unread_count
from .views import staff_required

PAGE_SIZE = 50


def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of `user`'s notifications read (idempotent: the first read time is kept)."""
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise Notification.DoesNotExist(f"no notification {notification_id} for {user}")
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification of `user` read; returns how many."""
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


def _back(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("notifications:list")


@staff_required
@require_GET
@never_cache
def badge(request):
    """The bell's unread count (htmx swaps it into the top bar): one COUNT; empty when nothing is unread."""
    count = unread_count(request.user)
    if not count:
        return HttpResponse("")
    return HttpResponse(
        format_html('<span class="bell-count">{}<span class="visually-hidden"> unread</span></span>', count)
    )


@staff_required
def notification_list(request):
    mine = Notification.objects.filter(user=request.user).order_by("-created_at", "-id")
    page = Paginator(mine, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "kernel/notifications.html", {"page": page})


@staff_required
@require_POST
def mark_read(request, pk: int):
    try:
        notification_mark_read(user=request.user, notification_id=pk)
    except Notification.DoesNotExist:
        raise Http404("no such notification") from None
    return _back(request)


@staff_required
@require_POST
def mark_all_read(request):
    notifications_mark_all_read(user=request.user)
    return _back(request)
