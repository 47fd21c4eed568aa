"""Demo profitability inputs for `manage.py seed_demo` (called by analytics/demo.py): meter unit costs,
support tickets per customer and month, costs to serve (direct ones for a few customers; shared ones by
tickets, by seats for the enterprise and mid-market segments, by revenue share for infrastructure) and
acquisition spend per channel and month, so the profitability, acquisition and data-health pages show
real numbers. Deterministic (ctx.rng, ctx.today), bulk-created, and a no-op when the inputs exist.

Reads ctx.shared["customers"] and ["customer_since"] when present (customers/demo.py)."""
from __future__ import annotations

from decimal import Decimal

from catalog.models import Meter, Product
from customers.models import Customer
from revops.kernel.dates import add_months

from .models import AcquisitionSpend, ServiceCost, SupportVolume

D = Decimal
TICKETS = {"smb": (0, 3), "mid_market": (1, 6), "enterprise": (3, 12), "": (0, 2)}
CHANNEL_SPEND = {  # channel: (marketing, sales) a month, USD, for 200 customers
    "inbound": (6000, 2000), "outbound": (1500, 9000), "partner": (1000, 3000), "paid_search": (7000, 500),
    "events": (4000, 1500), "referral": (500, 0), "self_serve": (1500, 0)}


def _meter_costs() -> int:
    """Each meter's unit cost from its usage product's (catalog/demo.py), where the meter has none yet."""
    changed = 0
    for meter in Meter.objects.filter(unit_cost=0):
        product = (Product.objects.filter(meter=meter, unit_cost__gt=0).order_by("sku")
                   .values("unit_cost", "currency").first())
        if product:
            meter.unit_cost, meter.currency = product["unit_cost"], product["currency"]
            meter.save(update_fields=["unit_cost", "currency"])
            changed += 1
    return changed


def _amount(rng, base: float | int, scale: Decimal) -> Decimal:
    factor = D(rng.randint(80, 120)) / 100
    return (D(base) * scale * factor).quantize(D("0.01"))


def seed(ctx) -> None:
    if ServiceCost.objects.exists() or AcquisitionSpend.objects.exists() or SupportVolume.objects.exists():
        ctx.log("  analytics (profitability): inputs already present; left as they are")
        return
    rng = ctx.rng
    meters = _meter_costs()
    customers = ctx.shared.get("customers") or list(Customer.objects.order_by("pk"))
    since = ctx.shared.get("customer_since", {})
    scale = D(max(len(customers), 1)) / D(200)
    months = []
    month = ctx.start
    while month <= ctx.today:
        months.append(month)
        month = add_months(month, 1)

    volumes = []
    for customer in customers:
        low, high = TICKETS.get(customer.size, (0, 2))
        start = since.get(customer.pk, ctx.start)
        for m in months:
            if add_months(m, 1) <= start:
                continue
            tickets = rng.randint(low, high)
            if tickets:
                volumes.append(SupportVolume(customer_id=customer.pk, period=m, tickets=tickets))
    SupportVolume.objects.bulk_create(volumes, batch_size=2000)

    costs = []
    for m in months:
        costs += [
            ServiceCost(period=m, category="support", amount=_amount(rng, 8000, scale), currency="USD",
                        driver="tickets", note="Support team"),
            ServiceCost(period=m, category="success", amount=_amount(rng, 6000, scale), currency="USD",
                        driver="seats", segment_field="size", segment_value="enterprise",
                        note="Customer success, enterprise"),
            ServiceCost(period=m, category="success", amount=_amount(rng, 3000, scale), currency="EUR",
                        driver="seats", segment_field="size", segment_value="mid_market",
                        note="Customer success, mid-market (EMEA team)"),
            ServiceCost(period=m, category="infrastructure", amount=_amount(rng, 4000, scale), currency="USD",
                        driver="revenue_share", note="Hosting"),
        ]
        for customer in rng.sample(customers, k=min(len(customers), max(1, len(customers) // 20))):
            if since.get(customer.pk, ctx.start) <= m:
                costs.append(ServiceCost(period=m, category="other", amount=D(rng.randint(200, 1500)),
                                         currency="USD", customer_id=customer.pk, driver="direct",
                                         note="On-site visit"))
    ServiceCost.objects.bulk_create(costs, batch_size=2000)

    spend = []
    for m in months:
        for channel, (marketing, sales) in CHANNEL_SPEND.items():
            if marketing:
                spend.append(AcquisitionSpend(channel=channel, period=m, category="marketing",
                                              amount=_amount(rng, marketing, scale), currency="USD"))
            if sales:
                spend.append(AcquisitionSpend(channel=channel, period=m, category="sales",
                                              amount=_amount(rng, sales, scale), currency="USD"))
        spend.append(AcquisitionSpend(channel="events", period=m, category="marketing", currency="EUR",
                                      amount=_amount(rng, 2500, scale), segment_field="size",
                                      segment_value="enterprise", note="Enterprise field events"))
    AcquisitionSpend.objects.bulk_create(spend, batch_size=2000)
    ctx.log(f"  analytics (profitability): {meters} meter unit costs, {len(volumes)} support volumes, "
            f"{len(costs)} service costs, {len(spend)} acquisition spend entries over {len(months)} months")
