"""Reads of quotes shared by the API and the pages.

Querysets come with what their readers touch already loaded (lines with their product, approval steps
with group and decider), so listing 50 quotes of 20 lines costs the same handful of queries as one.

Visibility (DRF applies no object permissions to lists, so it is decided here):
- sales managers, finance and admins see every quote (they approve, report and manage);
- every other staff role (sales reps, customer success) sees only the quotes it owns;
- anyone else sees nothing.
A quote outside the caller's scope is a 404 on detail endpoints, never a 403 that confirms it exists.
"""
from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from revops.kernel import roles

from .models import ApprovalStep, Quote, QuoteLine

SEES_EVERY_QUOTE = (roles.SALES_MANAGER, roles.FINANCE, roles.ADMIN)


def quote_list() -> QuerySet[Quote]:
    """Quotes with lines (and products) and approval steps (with group and decider) prefetched."""
    return Quote.objects.select_related("customer").prefetch_related(
        Prefetch("lines", queryset=QuoteLine.objects.select_related("product").order_by("position", "id")),
        Prefetch("approval_steps", queryset=ApprovalStep.objects.select_related("approver_group", "decided_by")
                 .order_by("submission", "order")),
    )


def sees_every_quote(user) -> bool:
    return roles.has_role(user, *SEES_EVERY_QUOTE)


def quotes_visible_to(*, user) -> QuerySet[Quote]:
    """The quotes `user` may read (see the module docstring)."""
    quotes = quote_list()
    if sees_every_quote(user):
        return quotes
    if roles.is_staff_member(user):
        return quotes.filter(owner_id=user.pk)
    return quotes.none()


def quote_get(*, quote_id: int, user) -> Quote:
    """One quote, read back with everything the API shows; Quote.DoesNotExist outside the scope."""
    return quotes_visible_to(user=user).get(pk=quote_id)
