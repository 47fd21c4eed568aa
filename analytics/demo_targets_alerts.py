"""Demo KPI targets and alert rules for `manage.py seed_demo` (called by analytics/demo.py): this quarter's
new-MRR target for the company, an ARR target for the enterprise segment, a new-MRR target for the demo rep
(`rep`), and one alert rule of each kind, evaluated on the demo's today so the dashboards, the alerts API
and the Customer 360 pages show open alerts. In-app notifications only (no demo e-mail, no webhook).
Idempotent: nothing is added when targets or rules already exist."""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from catalog.models import Meter
from revops.kernel import roles
from revops.kernel.dates import add_months

from .models import AlertRule, KpiTarget
from .services import kpis
from .services.alerts import evaluate_alerts, rule_problems

D = Decimal


def _quarter(day: date) -> tuple[date, date]:
    first = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    return first, add_months(first, 3) - timedelta(days=1)


def _targets(ctx) -> dict[str, KpiTarget]:
    first, last = _quarter(ctx.today)
    by = ctx.shared.get("users", {}).get("manager")
    mrr_now = kpis.mrr(ctx.today)
    enterprise_arr = kpis.mrr(ctx.today, segment={"size": "enterprise"}) * 12
    # Round figures a little above where the company stands: progress and the pace still needed show.
    company = KpiTarget.objects.create(kpi=KpiTarget.Kpi.NEW_MRR, period_start=first, period_end=last,
                                       value=(mrr_now * D("0.12")).quantize(D(1000)) or D(10000), created_by=by)
    enterprise = KpiTarget.objects.create(
        kpi=KpiTarget.Kpi.ARR, period_start=first, period_end=last, segment_field="size",
        segment_value="enterprise", value=(enterprise_arr * D("1.08")).quantize(D(10000)) or D(100000), created_by=by)
    rep = ctx.shared.get("users", {}).get("rep")
    if rep is not None:
        KpiTarget.objects.create(kpi=KpiTarget.Kpi.NEW_MRR, period_start=first, period_end=last,
                                 segment_field=KpiTarget.SegmentField.OWNER, segment_value=rep.username,
                                 value=D(15000), created_by=by)
    return {"company": company, "enterprise": enterprise}


def _rules(targets: dict[str, KpiTarget]) -> list[AlertRule]:
    api_calls = Meter.objects.filter(code="api-calls").first()
    specs = [
        dict(name="MRR dropped 5 % against its 30-day average", kpi="mrr", condition="drop_pct_vs_trailing",
             threshold=D(5), trailing_days=30, notify_group=roles.FINANCE),
        dict(name="Churn spike: over 5,000 MRR churned in 30 days", kpi="churn", condition="above",
             threshold=D(5000), notify_group=roles.CUSTOMER_SUCCESS),
        dict(name="Overdue receivables above 100,000", kpi="overdue_ar", condition="above", threshold=D(100000),
             notify_group=roles.FINANCE),
        dict(name="Renewal at risk (ARR ≥ 20,000, ending within 60 days)", kpi="renewal_at_risk",
             condition="above", threshold=D(20000), trailing_days=60, notify_group=roles.CUSTOMER_SUCCESS),
        dict(name="New MRR behind this quarter's target by 10 %", kpi="target_shortfall", condition="below",
             threshold=D(10), target=targets["company"], notify_group=roles.SALES_MANAGER),
    ]
    if api_calls is not None:
        specs.append(dict(name="API usage dip of 60 % (7-day window)", kpi="customer_usage",
                          condition="drop_pct_vs_trailing", threshold=D(60), trailing_days=7, meter=api_calls,
                          notify_group=roles.CUSTOMER_SUCCESS))
    rules = []
    for spec in specs:
        problems = rule_problems(kpi=spec["kpi"], condition=spec["condition"], threshold=spec["threshold"],
                                 meter=spec.get("meter"), target=spec.get("target"))
        if problems:  # a demo rule that the API would refuse is a bug in this module
            raise ValueError(f"demo alert rule {spec['name']!r}: {problems}")
        rules.append(AlertRule.objects.create(notify_email=False, notify_webhook=False, **spec))
    return rules


def seed(ctx) -> None:
    if KpiTarget.objects.exists() or AlertRule.objects.exists():
        return
    targets = _targets(ctx)
    rules = _rules(targets)
    result = evaluate_alerts(ctx.today)
    ctx.log(f"  analytics: {KpiTarget.objects.count()} targets, {len(rules)} alert rules, "
            f"{len(result['triggered'])} rules with open alerts")
