"""The inbound inbox (admins only): every payload received from a source, the failed ones with their
reason and a Retry button (after fixing the source's mapping or the catalog)."""
from __future__ import annotations

import json
from functools import wraps

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from revops.kernel import roles
from revops.kernel.errors import DomainError
from revops.kernel.views import staff_required

from .models import InboundMessage, InboundSource
from .services import inbound

PAGE_SIZE = 25


def admin_required(view):
    @staff_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not roles.has_role(request.user, roles.ADMIN):
            raise PermissionDenied("Only admins see the inbound inbox.")
        return view(request, *args, **kwargs)

    return wrapper


@admin_required
def inbox(request):
    wanted = request.GET.get("status") or None
    if wanted not in (None, *InboundMessage.Status.values):
        wanted = None
    rows = InboundMessage.objects.select_related("source", "customer", "quote", "contract").order_by("-received_at",
                                                                                                      "-id")
    if wanted:
        rows = rows.filter(status=wanted)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    sources = InboundSource.objects.annotate(
        failed=Count("messages", filter=Q(messages__status=InboundMessage.Status.FAILED)),
        processed=Count("messages", filter=Q(messages__status=InboundMessage.Status.PROCESSED)))
    return render(request, "integrations/inbox.html", {
        "page": page, "inbound_messages": page.object_list, "status": wanted, "sources": sources,
        "statuses": InboundMessage.Status.choices,
    })


@admin_required
def inbox_message(request, pk: int):
    message = get_object_or_404(InboundMessage.objects.select_related("source", "customer", "quote", "contract"),
                                pk=pk)
    return render(request, "integrations/inbox_message.html", {
        "inbound_message": message, "contract": inbound.message_contract(message),
        "payload_text": json.dumps(message.payload, indent=2, sort_keys=True, ensure_ascii=False)})


@admin_required
@require_POST
def inbox_retry(request, pk: int):
    message = get_object_or_404(InboundMessage, pk=pk)
    try:
        result = inbound.inbound_retry(message_id=message.pk, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if result.message.status == InboundMessage.Status.PROCESSED:
            messages.success(request, f"{message.external_id} processed.")
        else:
            messages.error(request, f"{message.external_id} failed again: {result.message.error}")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = "integrations:inbox"  # never bounce to another site
    return redirect(back)
