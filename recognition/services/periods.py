"""Closing a month: finance closes it after a checklist; nothing posts into a closed period (late items
go to the first open one, with a reference); reopening needs the admin role and is audited."""
from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from billing.models import Invoice
from revops.kernel import roles
from revops.kernel.dates import add_months
from revops.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from revops.kernel.events import record_event

from ..models import AccountingPeriod, PerformanceObligation, ScheduleLine
from .journal import period_for
from .reports import deferred_rollforward


def close_checklist(period: AccountingPeriod) -> dict[str, dict]:
    """Each check with ok and a detail: no unissued invoices dated in the period, recognition run
    complete for the period, deferred roll-forward ties to the Deferred Revenue account."""
    end = period.end
    drafts = Invoice.objects.filter(status__in=Invoice.UNISSUED, created_at__date__lte=end,
                                    created_at__date__gte=period.start).count()
    unrecognized = ScheduleLine.objects.filter(status=ScheduleLine.Status.PLANNED, period__lte=period.start).exclude(
        obligation__pattern=PerformanceObligation.Pattern.USAGE).exclude(amount=0).count()
    roll = deferred_rollforward(period=period.start)
    ties = all(row["ties"] for row in roll["currencies"])
    return {
        "no_unissued_invoices": {"ok": drafts == 0, "detail": f"{drafts} draft, pending or approved invoices"},
        "recognition_complete": {"ok": unrecognized == 0, "detail": f"{unrecognized} schedule lines not recognized"},
        "deferred_ties_out": {"ok": ties, "detail": "roll-forward closing = Deferred Revenue balance"
                              if ties else "roll-forward does not tie to the Deferred Revenue account"},
    }


def period_close(*, month: date, by) -> AccountingPeriod:
    if not by.has_perm("recognition.close_period"):
        raise PermissionDeniedError("closing periods needs the finance role")
    if month_end(month) >= timezone.localdate():
        raise ValidationFailed(f"{month:%Y-%m} has not ended yet: a month closes after its last day",
                               fields={"period": ["the month has not ended"]}, code="period_not_ended")
    with transaction.atomic():
        period = period_for(month)
        period = AccountingPeriod.objects.select_for_update().get(pk=period.pk)
        if period.status == AccountingPeriod.Status.CLOSED:
            raise InvalidTransition(f"{period} is already closed")
        earlier_open = AccountingPeriod.objects.filter(start__lt=period.start, status=AccountingPeriod.Status.OPEN,
                                                       entries__isnull=False).distinct().first()
        if earlier_open is not None:
            raise InvalidTransition(f"close {earlier_open} first: periods close in order")
        checks = close_checklist(period)
        failed = {k: v["detail"] for k, v in checks.items() if not v["ok"]}
        if failed:
            raise ValidationFailed("the period cannot close: " + "; ".join(failed.values()),
                                   fields={k: [v] for k, v in failed.items()}, code="close_checklist_failed")
        period.status, period.closed_at, period.closed_by, period.checklist = (
            AccountingPeriod.Status.CLOSED, timezone.now(), by, checks)
        period.save(update_fields=["status", "closed_at", "closed_by", "checklist"])
        record_event("period.closed", period, {"period": f"{period.start:%Y-%m}", "by": by.pk})
    return period


def period_reopen(*, month: date, by, reason: str) -> AccountingPeriod:
    if not roles.has_role(by, roles.ADMIN):
        raise PermissionDeniedError("reopening a closed period needs the admin role")
    if not (reason or "").strip():
        raise ValidationFailed("say why the period is reopened", fields={"reason": ["required"]})
    with transaction.atomic():
        period = AccountingPeriod.objects.select_for_update().filter(start=month.replace(day=1)).first()
        if period is None or period.status != AccountingPeriod.Status.CLOSED:
            raise InvalidTransition(f"{month:%Y-%m} is not closed")
        period.status = AccountingPeriod.Status.OPEN
        period.checklist = {**period.checklist, "reopened": {"by": by.pk, "at": timezone.now().isoformat(),
                                                             "reason": reason}}
        period.save(update_fields=["status", "checklist"])  # audited (the model is tracked)
        record_event("period.reopened", period, {"period": f"{period.start:%Y-%m}", "by": by.pk, "reason": reason})
    return period


def month_end(month: date) -> date:
    return add_months(month.replace(day=1), 1) - timedelta(days=1)
