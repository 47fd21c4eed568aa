"""Keep the MRR rollup current: any contract change rebuilds that customer's movements (idempotent).
Then bump the live dashboards' version (analytics/stream.py): registered last, so a drain delivers it
after the rollup has been rebuilt."""
from revops.kernel.events import subscriber

from .stream import INVOICE_FIGURE_EVENTS, LIVE_PATTERNS, LIVE_SUBSCRIBER


@subscriber("analytics.mrr", "contract.*")
def on_contract_event(event) -> None:
    from .services.mrr import customer_refresh

    customer_id = event.payload.get("customer")
    if customer_id:
        customer_refresh(customer_id=customer_id)


@subscriber("analytics.alerts", *INVOICE_FIGURE_EVENTS, "payment.*", "contract.*")
def on_revenue_event(event) -> None:
    """Re-evaluate the KPI alert rules for today (idempotent: an open alert is not opened again)."""
    from django.utils import timezone

    from .services.alerts import EVENT_DRIVEN_KPIS, evaluate_alerts

    # Usage rules compare complete days only: the hourly schedule evaluates them, not every event.
    evaluate_alerts(timezone.localdate(), kpis_only=EVENT_DRIVEN_KPIS)


@subscriber(LIVE_SUBSCRIBER, *LIVE_PATTERNS)
def on_dashboard_event(event) -> None:
    """Nothing to do: the delivery marked "delivered" is the live dashboards' change signal."""
