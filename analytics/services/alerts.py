"""KPI alerts: each active rule is evaluated on a day; an Alert opens once per subject when its condition
starts to hold (one open alert per rule and subject, a database constraint, so no storms) and clears when
it stops holding; a later breach opens a new alert, and the cleared ones stay as the history.

Company-wide rules (subject_key ""), values in the reporting currency (customers: a count):
    mrr         kpis.mrr(day)
    customers   customers with MRR above zero on the day
    overdue_ar  Σ amount_due × fx_rate(currency, day) of issued / partially paid invoices due before the day
    churn       MRR churned over the trailing 30 days: Σ −amount_reporting of the `churn` movements dated
                day − 29 .. day (contraction not included)
with the conditions
    below                 value < threshold
    above                 value > threshold
    drop_pct_vs_trailing  drop ≥ threshold (a percent), where trailing = mean of value(day − k), k = 1..N
                          (N = trailing_days) and drop = (trailing − value) ÷ trailing × 100, to 0.01
    rise_pct_vs_trailing  rise ≥ threshold (a percent), rise = (value − trailing) ÷ trailing × 100, to 0.01
The % conditions never hold when the trailing mean is zero; their alert records the percent.

Per-subject rules:
    customer_usage    subject "customer:<id>", per customer (only rule.customer's when set): the meter's
                      aggregate (count / sum / max / unique count / latest, as billed) of the customer's events
                      over the last complete window of N = trailing_days calendar days (day − N .. day − 1:
                      today is still filling up), against the mean of the USAGE_WINDOWS windows of N days before
                      it (a window without events counts as 0). Conditions drop_pct_vs_trailing (a dip) and
                      rise_pct_vs_trailing (a spike), as above. One query per window, grouped by customer.
    renewal_at_risk   subject "contract:<id>": an active contract ending within trailing_days (day .. day + N),
                      not auto-renewing, not renewed, and with no renewal quote under way (every version of its
                      renewal quotes is rejected, expired or superseded — or there is none). Condition `above`:
                      the threshold is a minimum ARR in the reporting currency (contract ARR × fx_rate of the
                      day ≥ threshold; 0 = every contract at risk). The alert records the ARR. rule.customer, when
                      set, restricts it to that customer's contracts.
    target_shortfall  subject "target:<id>": rule.target's projected end-of-period value (services.targets:
                      the period's change so far continued at its pace) is below the target by more than
                      threshold %. Condition `below`. The alert records the shortfall percent.

Channels, each switchable on the rule: notify_in_app (a Notification per user of `notify_group`, dedupe key
"alert:<id>"), notify_email (an email to those users after commit; kernel.notifications.notify sends it with the
notification, or this module alone when in-app is off). `alert.triggered` / `alert.cleared` are always
recorded in the outbox with the whole payload (rule, kpi, subject_key, customer, value, threshold, message,
day) and `"webhook": rule.notify_webhook`, which webhook delivery honours. All of it happens inside the
rule's transaction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from revops.kernel import roles
from revops.kernel.events import record_event
from revops.kernel.notifications import notify

from ..models import Alert, AlertRule, MrrMovement
from . import kpis

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CENT = Decimal("0.01")
CHURN_DAYS = 30
USAGE_WINDOWS = 3  # earlier windows averaged for customer_usage

COMPANY_KPIS = (AlertRule.Kpi.MRR, AlertRule.Kpi.CUSTOMERS, AlertRule.Kpi.OVERDUE_AR, AlertRule.Kpi.CHURN)
# The kinds a revenue event (invoice, payment, contract) can change. customer_usage compares complete days
# only, so the hourly schedule is enough for it: `evaluate_alerts(day, kpis_only=EVENT_DRIVEN_KPIS)`.
EVENT_DRIVEN_KPIS = (*COMPANY_KPIS, AlertRule.Kpi.RENEWAL_AT_RISK, AlertRule.Kpi.TARGET_SHORTFALL)
ALL_CONDITIONS = tuple(AlertRule.Condition.values)
PCT_CONDITIONS = (AlertRule.Condition.DROP_PCT_VS_TRAILING, AlertRule.Condition.RISE_PCT_VS_TRAILING)
CONDITIONS_BY_KPI: dict[str, tuple[str, ...]] = {
    **{k: ALL_CONDITIONS for k in COMPANY_KPIS},
    AlertRule.Kpi.CUSTOMER_USAGE: PCT_CONDITIONS,
    AlertRule.Kpi.RENEWAL_AT_RISK: (AlertRule.Condition.ABOVE,),
    AlertRule.Kpi.TARGET_SHORTFALL: (AlertRule.Condition.BELOW,),
}


def rule_problems(*, kpi: str, condition: str, threshold, meter=None, customer=None, target=None) -> dict:
    """What is wrong with a rule's combination of kind, condition, subject and threshold ({field: [messages]},
    empty when it is fine): the one check behind the API and the admin."""
    errors: dict[str, list[str]] = {}
    allowed = CONDITIONS_BY_KPI.get(kpi, ())
    if condition not in allowed:
        errors["condition"] = [f"{kpi} takes the condition(s): {', '.join(allowed)}"]
    if kpi == AlertRule.Kpi.CUSTOMER_USAGE and meter is None:
        errors["meter"] = ["required for customer_usage"]
    if kpi != AlertRule.Kpi.CUSTOMER_USAGE and meter is not None:
        errors["meter"] = ["only for customer_usage"]
    if kpi == AlertRule.Kpi.TARGET_SHORTFALL and target is None:
        errors["target"] = ["required for target_shortfall"]
    if kpi != AlertRule.Kpi.TARGET_SHORTFALL and target is not None:
        errors["target"] = ["only for target_shortfall"]
    if customer is not None and kpi not in (AlertRule.Kpi.CUSTOMER_USAGE, AlertRule.Kpi.RENEWAL_AT_RISK):
        errors["customer"] = ["only for customer_usage and renewal_at_risk"]
    if threshold is not None and threshold < 0:
        errors["threshold"] = ["must not be negative"]
    elif threshold is not None and threshold > 1000 and (condition in PCT_CONDITIONS
                                                         or kpi == AlertRule.Kpi.TARGET_SHORTFALL):
        errors["threshold"] = ["a percent: at most 1000"]
    return errors


@dataclass(frozen=True)
class Reading:
    subject_key: str
    value: Decimal
    holds: bool
    sentence: str
    customer_id: int | None = None


# --- company KPIs ------------------------------------------------------------------------------------------

def overdue_ar(day: date) -> Decimal:
    from billing.models import Invoice
    from recognition.services.journal import fx_rate

    rows = (Invoice.objects.filter(status__in=Invoice.OPEN, due_date__lt=day, amount_due__gt=0)
            .values("currency").annotate(s=Sum("amount_due")))
    total = sum((r["s"] * fx_rate(r["currency"], day) for r in rows), ZERO)
    return kpis._q(total)


def churned_mrr(day: date) -> Decimal:
    """MRR churned over the CHURN_DAYS days ending on `day` (a positive figure, reporting currency)."""
    rows = MrrMovement.objects.filter(kind=MrrMovement.Kind.CHURN, date__gt=day - timedelta(days=CHURN_DAYS),
                                      date__lte=day)
    return kpis._q(-(rows.aggregate(s=Sum("amount_reporting"))["s"] or ZERO))


def mrr_by_day(first: date, last: date) -> dict[date, Decimal]:
    """MRR on each day of [first, last] in two queries (the MRR the day before, then the day's changes)."""
    running = kpis.mrr(first - timedelta(days=1))
    changes = dict(MrrMovement.objects.filter(date__gte=first, date__lte=last).order_by().values("date")
                   .annotate(s=Sum("amount_reporting")).values_list("date", "s"))
    out, day = {}, first
    while day <= last:
        running += changes.get(day, ZERO)
        out[day] = kpis._q(running)
        day += timedelta(days=1)
    return out


def kpi_value(kpi: str, day: date) -> Decimal:
    if kpi == AlertRule.Kpi.MRR:
        return kpis.mrr(day)
    if kpi == AlertRule.Kpi.CUSTOMERS:
        return Decimal(kpis.customers_count(day))
    if kpi == AlertRule.Kpi.OVERDUE_AR:
        return overdue_ar(day)
    if kpi == AlertRule.Kpi.CHURN:
        return churned_mrr(day)
    raise ValueError(f"unknown KPI {kpi!r}")


def _pct_change(condition: str, value: Decimal, trailing: Decimal) -> Decimal:
    change = (trailing - value) if condition == AlertRule.Condition.DROP_PCT_VS_TRAILING else (value - trailing)
    return (change / trailing * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def _compare(rule: AlertRule, label: str, value: Decimal, trailing: Decimal | None, n: int) -> tuple[Decimal, bool, str]:
    threshold = _threshold(rule)
    if rule.condition == AlertRule.Condition.BELOW:
        return value, value < threshold, f"{label} is {value}, below {threshold}"
    if rule.condition == AlertRule.Condition.ABOVE:
        return value, value > threshold, f"{label} is {value}, above {threshold}"
    if trailing is None or trailing <= 0:
        return ZERO.quantize(CENT), False, f"{label}: no trailing average"
    pct = _pct_change(rule.condition, value, trailing)
    word = "below" if rule.condition == AlertRule.Condition.DROP_PCT_VS_TRAILING else "above"
    return pct, pct >= threshold, (f"{label} is {value}, {pct} % {word} its {n}-day average "
                                   f"{trailing.quantize(CENT, rounding=ROUND_HALF_UP)} (threshold {threshold} %)")


def measure(rule: AlertRule, day: date) -> tuple[Decimal, bool, str]:
    """A company KPI rule: (the value compared with the threshold, whether the condition holds, a sentence)."""
    value = kpi_value(rule.kpi, day)
    label = AlertRule.Kpi(rule.kpi).label
    n = max(rule.trailing_days, 1)
    trailing = None
    if rule.condition in PCT_CONDITIONS:
        if rule.kpi == AlertRule.Kpi.MRR:
            earlier = mrr_by_day(day - timedelta(days=n), day - timedelta(days=1)).values()
        else:
            earlier = [kpi_value(rule.kpi, day - timedelta(days=k)) for k in range(1, n + 1)]
        trailing = sum(earlier, ZERO) / n
    return _compare(rule, label, value, trailing, n)


# --- customer usage ------------------------------------------------------------------------------------------

def usage_by_customer(meter, first_day: date, last_day: date, *, customer_id: int | None = None) -> dict[int, Decimal]:
    """The meter's aggregate per customer over the calendar days [first_day, last_day], in one query
    (same aggregation as billing.services.usage.usage_total)."""
    from billing.models import UsageEvent
    from billing.services.usage import day_bounds
    from catalog.models import Meter

    start, end = day_bounds(first_day, last_day)
    events = UsageEvent.objects.filter(meter_id=meter.pk, timestamp__gte=start, timestamp__lt=end)
    if customer_id is not None:
        events = events.filter(customer_id=customer_id)
    agg = meter.aggregation
    if agg == Meter.Aggregation.LATEST:
        ordered = events.order_by("customer_id", "-timestamp", "-id").values_list("customer_id", "value")
        if connection.vendor == "postgresql":
            return dict(ordered.distinct("customer_id"))
        out: dict[int, Decimal] = {}
        for cid, value in ordered:
            out.setdefault(cid, value)
        return out
    expression = {Meter.Aggregation.COUNT: Count("id"), Meter.Aggregation.SUM: Sum("value"),
                  Meter.Aggregation.MAX: Max("value"),
                  Meter.Aggregation.UNIQUE_COUNT: Count("dimension", distinct=True)}[agg]
    rows = events.order_by().values("customer_id").annotate(v=expression).values_list("customer_id", "v")
    return {cid: Decimal(v or 0) for cid, v in rows}


def _threshold(rule: AlertRule) -> Decimal:
    """The rule's threshold as entered, to the cent (stored with the amount columns' three places)."""
    return Decimal(rule.threshold).quantize(CENT, rounding=ROUND_HALF_UP)


def _plain(value: Decimal) -> Decimal:
    """100.000000 → 100, 2.500000 → 2.5 (usage quantities carry 6 places)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _usage_readings(rule: AlertRule, day: date) -> list[Reading]:
    n = max(rule.trailing_days, 1)
    current_last = day - timedelta(days=1)
    windows = [usage_by_customer(rule.meter, current_last - timedelta(days=n * (k + 1) - 1),
                                 current_last - timedelta(days=n * k), customer_id=rule.customer_id)
               for k in range(USAGE_WINDOWS + 1)]
    current, earlier = windows[0], windows[1:]
    customers = set().union(*windows)
    unit = f" {rule.meter.unit}" if rule.meter.unit else ""
    readings = []
    for cid in sorted(customers):
        value = current.get(cid, ZERO)
        trailing = sum((w.get(cid, ZERO) for w in earlier), ZERO) / USAGE_WINDOWS
        pct, holds, _ = _compare(rule, "", value, trailing, n)
        word = "below" if rule.condition == AlertRule.Condition.DROP_PCT_VS_TRAILING else "above"
        sentence = (f"customer {cid}'s {rule.meter.code} usage over the {n} days to {current_last.isoformat()} is "
                    f"{_plain(value)}{unit}, {pct} % {word} the mean of the {USAGE_WINDOWS} windows before "
                    f"({_plain(trailing.quantize(CENT, rounding=ROUND_HALF_UP))}{unit}; threshold "
                    f"{_plain(Decimal(rule.threshold))} %)" if trailing > 0 else
                    f"customer {cid}'s {rule.meter.code} usage: no earlier usage to compare with")
        readings.append(Reading(f"customer:{cid}", pct, holds, sentence, customer_id=cid))
    return readings


# --- renewals at risk ----------------------------------------------------------------------------------------

RENEWAL_UNDER_WAY = ("draft", "pending_approval", "approved", "sent", "accepted")


def contracts_at_risk(day: date, within_days: int, *, customer_id: int | None = None) -> list:
    """Active contracts ending in [day, day + within_days], not auto-renewing, not renewed, with no
    renewal quote under way (any version of a linked renewal quote still open or accepted)."""
    from contracts.models import Contract, ContractQuote
    from quotes.models import Quote

    candidates = Contract.objects.filter(status=Contract.Status.ACTIVE, auto_renew=False, renewed_by__isnull=True,
                                         end_date__gte=day, end_date__lte=day + timedelta(days=within_days))
    if customer_id is not None:
        candidates = candidates.filter(customer_id=customer_id)
    candidates = list(candidates.select_related("customer", "renewal_quote").order_by("end_date", "pk"))
    numbers: dict[int, set[str]] = {c.pk: ({c.renewal_quote.number} if c.renewal_quote else set()) for c in candidates}
    for contract_id, number in ContractQuote.objects.filter(
            contract_id__in=numbers, purpose=ContractQuote.Purpose.RENEWAL).values_list("contract_id", "quote__number"):
        numbers[contract_id].add(number)
    live = set(Quote.objects.filter(number__in=set().union(*numbers.values()), status__in=RENEWAL_UNDER_WAY)
               .values_list("number", flat=True)) if candidates else set()
    return [c for c in candidates if not (numbers[c.pk] & live)]


def _renewal_readings(rule: AlertRule, day: date) -> list[Reading]:
    from recognition.services.journal import fx_rate

    threshold = _threshold(rule)
    readings, rates = [], {}
    for c in contracts_at_risk(day, rule.trailing_days, customer_id=rule.customer_id):
        if c.currency not in rates:
            rates[c.currency] = fx_rate(c.currency, day)
        arr = kpis._q(c.arr * rates[c.currency])
        sentence = (f"contract {c.number} of {c.customer.name} ends on {c.end_date.isoformat()} "
                    f"({(c.end_date - day).days} days) with no renewal under way, ARR {arr} {kpis._reporting()}")
        readings.append(Reading(f"contract:{c.pk}", arr, arr >= threshold, sentence, customer_id=c.customer_id))
    return readings


# --- target shortfall ----------------------------------------------------------------------------------------

def _target_readings(rule: AlertRule, day: date) -> list[Reading]:
    from .targets import target_progress

    target = rule.target
    p = target_progress(target, day)
    key = f"target:{target.pk}"
    if p["shortfall_percent"] is None:
        return [Reading(key, ZERO.quantize(CENT), False, "no projection yet")]
    threshold = _threshold(rule)
    shortfall = p["shortfall_percent"]
    sentence = (f"{target.kpi} target {p['target_value']} for {p['period_start']}..{p['period_end']} is projected "
                f"at {p['projected']} ({shortfall} % short, threshold {threshold} %)")
    return [Reading(key, shortfall, shortfall > threshold, sentence)]


def readings(rule: AlertRule, day: date) -> list[Reading]:
    """Every subject the rule watches, with its value and whether the condition holds."""
    if rule.kpi == AlertRule.Kpi.CUSTOMER_USAGE:
        return _usage_readings(rule, day) if rule.meter_id else []
    if rule.kpi == AlertRule.Kpi.RENEWAL_AT_RISK:
        return _renewal_readings(rule, day)
    if rule.kpi == AlertRule.Kpi.TARGET_SHORTFALL:
        return _target_readings(rule, day) if rule.target_id else []
    value, holds, sentence = measure(rule, day)
    return [Reading("", value, holds, sentence)]


# --- opening, clearing, notifying ----------------------------------------------------------------------------

def _recipients(group: str):
    users = get_user_model().objects.filter(is_active=True)
    q = Q(groups__name=group)
    if group == roles.ADMIN:
        q |= Q(is_superuser=True)
    return list(users.filter(q).distinct())


def _payload(rule: AlertRule, alert: Alert, day: date, value, message: str) -> dict:
    return {"alert": alert.pk, "rule": rule.pk, "rule_name": rule.name, "kpi": rule.kpi,
            "condition": rule.condition, "subject_key": alert.subject_key, "customer": alert.customer_id,
            "value": None if value is None else str(value), "threshold": str(_threshold(rule)), "message": message,
            "day": day.isoformat(), "webhook": rule.notify_webhook}


def _notify(rule: AlertRule, alert: Alert, message: str, users: list) -> None:
    if not (rule.notify_in_app or rule.notify_email):
        return
    subject = f"KPI alert: {rule.name}"
    link = "/api/v1/alerts/?open=true" + (f"&customer={alert.customer_id}" if alert.customer_id else "")
    if rule.notify_in_app:
        notify(users=users, kind="kpi_alert", message=message, link=link, dedupe_key=f"alert:{alert.pk}",
               email_subject=subject if rule.notify_email else None)
        return
    # Email only: notify() always writes the in-app row, so send the email here (once: the alert opens once).
    recipients = sorted({u.email for u in users if u.email})
    if recipients:
        body = f"{message}\n\n{link}"
        transaction.on_commit(lambda: send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients,
                                                fail_silently=False))


def _evaluate_rule(rule_id: int, day: date) -> tuple[int, int] | None:
    """(alerts opened, alerts cleared) for one rule, in one transaction; None when the rule is inactive."""
    with transaction.atomic():
        rule = (AlertRule.objects.select_for_update(of=("self",)).select_related("meter", "target")
                .filter(pk=rule_id, active=True).first())
        if rule is None:
            return None
        current = readings(rule, day)
        open_alerts = {a.subject_key: a for a in rule.alerts.filter(cleared_at__isnull=True)}
        opened = cleared = 0
        recipients = None  # looked up once per rule, when the first alert opens
        for r in current:
            if not r.holds or r.subject_key in open_alerts:
                continue
            message = f"{rule.name}: {r.sentence} on {day.isoformat()}."[:500]
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(rule=rule, subject_key=r.subject_key, customer_id=r.customer_id,
                                                 triggered_at=timezone.now(), value=r.value, message=message)
            except IntegrityError:  # another worker opened it meanwhile
                continue
            record_event("alert.triggered", alert, _payload(rule, alert, day, r.value, message))
            if recipients is None:
                recipients = _recipients(rule.notify_group)
            _notify(rule, alert, message, recipients)
            opened += 1
        holding = {r.subject_key: r for r in current if r.holds}
        measured = {r.subject_key: r for r in current}
        for key, alert in open_alerts.items():
            if key in holding:
                continue
            alert.cleared_at = timezone.now()
            alert.save(update_fields=["cleared_at"])
            r = measured.get(key)
            message = (f"{rule.name}: cleared ({r.sentence if r else 'no longer watched'}) on {day.isoformat()}."
                       )[:500]
            record_event("alert.cleared", alert, _payload(rule, alert, day, r.value if r else None, message))
            cleared += 1
    return opened, cleared


def evaluate_alerts(day: date, *, kpis_only: tuple[str, ...] | None = None) -> dict:
    """Evaluate every active rule (or those of the kinds in `kpis_only`) on `day`; return the rule ids that
    opened or cleared an alert or failed, and how many alerts opened and cleared."""
    out: dict = {"triggered": [], "cleared": [], "failed": [], "opened_count": 0, "cleared_count": 0}
    rules = AlertRule.objects.filter(active=True)
    if kpis_only:
        rules = rules.filter(kpi__in=kpis_only)
    for rule_id in rules.values_list("pk", flat=True):
        try:
            result = _evaluate_rule(rule_id, day)
        except Exception:  # e.g. a missing FX rate: one broken rule must not stop the others (rolled back)
            logger.exception("alert rule %s could not be evaluated on %s", rule_id, day)
            out["failed"].append(rule_id)
            continue
        if result is None:
            continue
        opened, cleared = result
        if opened:
            out["triggered"].append(rule_id)
        if cleared:
            out["cleared"].append(rule_id)
        out["opened_count"] += opened
        out["cleared_count"] += cleared
    return out
