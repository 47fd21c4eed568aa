"""Webhook pages (admins only): the endpoints, one endpoint's delivery log, replay and test buttons."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from revops.kernel import roles
from revops.kernel.views import staff_required

from .models import WebhookDelivery, WebhookEndpoint
from .services import webhooks as service

PAGE_SIZE = 25


def _label(delta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def admin_required(view):
    @staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.has_role(request.user, roles.ADMIN):
            raise PermissionDenied("Only admins manage webhooks.")
        return view(request, *args, **kwargs)

    return wrapper


@admin_required
def webhook_list(request):
    return render(request, "integrations/webhooks.html", {
        "endpoints": service.endpoints_with_stats(),
        "retry_schedule": [_label(d) for d in service.RETRY_SCHEDULE], "max_attempts": service.MAX_ATTEMPTS,
    })


@admin_required
def webhook_endpoint(request, pk: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    wanted = request.GET.get("status") or None
    if wanted not in (None, *WebhookDelivery.Status.values):
        wanted = None
    page = Paginator(service.endpoint_deliveries(endpoint_id=endpoint.pk, status=wanted), PAGE_SIZE) \
        .get_page(request.GET.get("page"))
    return render(request, "integrations/webhooks_endpoint.html", {
        "endpoint": endpoint, "secret_masked": service.secret_masked(endpoint.secret), "page": page,
        "deliveries": page.object_list, "status": wanted, "statuses": WebhookDelivery.Status.choices,
    })


@admin_required
@require_POST
def webhook_replay(request, pk: int):
    delivery = get_object_or_404(WebhookDelivery, pk=pk)
    attempt = service.webhook_delivery_replay(delivery_id=delivery.pk, by=request.user)
    if attempt.succeeded:
        messages.success(request, f"evt_{delivery.event_id} re-sent: HTTP {attempt.status_code}.")
    else:
        messages.error(request, f"evt_{delivery.event_id} re-sent, but it failed: {attempt.error}")
    return redirect("integrations:webhook_endpoint", pk=delivery.endpoint_id)


@admin_required
@require_POST
def webhook_test(request, pk: int):
    endpoint = get_object_or_404(WebhookEndpoint, pk=pk)
    delivery = service.webhook_test_send(endpoint_id=endpoint.pk, by=request.user)
    messages.info(request, f"A webhook.test event (evt_{delivery.event_id}) is on its way; see the log below.")
    return redirect("integrations:webhook_endpoint", pk=endpoint.pk)
