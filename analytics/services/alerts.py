"""KPI alerts: each active rule is evaluated on a day; an Alert opens once when its condition starts to hold
(one open alert per rule, so no storms) and clears when it stops holding.

Values (reporting currency; customers a count):
    mrr         kpis.mrr(day)
    customers   customers with MRR above zero on the day
    overdue_ar  Σ amount_due × fx_rate(currency, day) of issued / partially paid invoices due before the day

Conditions:
    below                 value < threshold
    above                 value > threshold
    drop_pct_vs_trailing  drop ≥ threshold (a percent), where trailing = mean of value(day − k), k = 1..N
                          (N = trailing_days) and drop = (trailing − value) ÷ trailing × 100, to 0.01;
                          never holds when the trailing mean is zero. The alert records the drop.

Opening notifies the users of the rule's `notify_group` once (dedupe key "alert:<id>") and records
`alert.triggered`; clearing records `alert.cleared`. Both happen inside the rule's transaction.
"""
from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from revops.kernel import roles
from revops.kernel.events import record_event
from revops.kernel.notifications import notify

from ..models import Alert, AlertRule
from . import kpis

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CENT = Decimal("0.01")


def overdue_ar(day: date) -> Decimal:
    from billing.models import Invoice
    from recognition.services.journal import fx_rate

    rows = (Invoice.objects.filter(status__in=Invoice.OPEN, due_date__lt=day, amount_due__gt=0)
            .values("currency").annotate(s=Sum("amount_due")))
    total = sum((r["s"] * fx_rate(r["currency"], day) for r in rows), ZERO)
    return kpis._q(total)


def kpi_value(kpi: str, day: date) -> Decimal:
    if kpi == AlertRule.Kpi.MRR:
        return kpis.mrr(day)
    if kpi == AlertRule.Kpi.CUSTOMERS:
        return Decimal(sum(1 for v in kpis.mrr_by_customer(day).values() if v > 0))
    if kpi == AlertRule.Kpi.OVERDUE_AR:
        return overdue_ar(day)
    raise ValueError(f"unknown KPI {kpi!r}")


def measure(rule: AlertRule, day: date) -> tuple[Decimal, bool, str]:
    """(the value compared with the threshold, whether the condition holds, a sentence saying so)."""
    value = kpi_value(rule.kpi, day)
    threshold = Decimal(rule.threshold)
    label = AlertRule.Kpi(rule.kpi).label
    if rule.condition == AlertRule.Condition.BELOW:
        return value, value < threshold, f"{label} is {value}, below {threshold}"
    if rule.condition == AlertRule.Condition.ABOVE:
        return value, value > threshold, f"{label} is {value}, above {threshold}"
    n = max(rule.trailing_days, 1)
    trailing = sum((kpi_value(rule.kpi, day - timedelta(days=k)) for k in range(1, n + 1)), ZERO) / n
    if trailing <= 0:
        return ZERO.quantize(CENT), False, f"{label}: no trailing average"
    drop = ((trailing - value) / trailing * 100).quantize(CENT, rounding=ROUND_HALF_UP)
    return drop, drop >= threshold, (f"{label} is {value}, {drop} % below its {n}-day average "
                                     f"{trailing.quantize(CENT, rounding=ROUND_HALF_UP)} (threshold {threshold} %)")


def _recipients(group: str):
    users = get_user_model().objects.filter(is_active=True)
    q = Q(groups__name=group)
    if group == roles.ADMIN:
        q |= Q(is_superuser=True)
    return list(users.filter(q).distinct())


def _evaluate_rule(rule_id: int, day: date) -> str | None:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id, active=True).first()
        if rule is None:
            return None
        value, holds, sentence = measure(rule, day)
        open_alert = rule.alerts.filter(cleared_at__isnull=True).first()
        if holds and open_alert is None:
            message = f"{rule.name}: {sentence} on {day.isoformat()}."
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(rule=rule, triggered_at=timezone.now(), value=value,
                                                 message=message[:500])
            except IntegrityError:  # another worker opened it meanwhile
                return None
            record_event("alert.triggered", alert, {"rule": rule.pk, "kpi": rule.kpi, "day": day.isoformat(),
                                                    "value": str(value)})
            notify(users=_recipients(rule.notify_group), kind="kpi_alert", message=message,
                   link="/api/v1/alerts/?open=true", dedupe_key=f"alert:{alert.pk}",
                   email_subject=f"KPI alert: {rule.name}")
            return "triggered"
        if not holds and open_alert is not None:
            open_alert.cleared_at = timezone.now()
            open_alert.save(update_fields=["cleared_at"])
            record_event("alert.cleared", open_alert, {"rule": rule.pk, "kpi": rule.kpi, "day": day.isoformat(),
                                                       "value": str(value)})
            return "cleared"
    return None


def evaluate_alerts(day: date) -> dict:
    """Evaluate every active rule on `day`; return the rule ids whose alert opened, cleared or failed."""
    out: dict[str, list[int]] = {"triggered": [], "cleared": [], "failed": []}
    for rule_id in AlertRule.objects.filter(active=True).values_list("pk", flat=True):
        try:
            result = _evaluate_rule(rule_id, day)
        except Exception:  # e.g. a missing FX rate: one broken rule must not stop the others (rolled back)
            logger.exception("alert rule %s could not be evaluated on %s", rule_id, day)
            out["failed"].append(rule_id)
            continue
        if result:
            out[result].append(rule_id)
    return out


