"""Demo contracts for `manage.py seed_demo`: a book of subscriptions with history — started when each
customer became one, renewed (with uplift) or expired at their ends, some upsold mid-term, a few
terminated — then the daily contract task run for today, which sends the renewal alerts due and
prepares renewal quotes. (Accepted demo quotes become contracts too, through the outbox, after the seed
transaction commits.)

Reads ctx.shared["customers"], ["customer_since"], ["products"], ["editions"], ["users"].
Leaves in ctx.shared: "contracts": [Contract] created directly here (first terms).
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from revops.kernel import money

from .models import Contract, ContractLine
from .services.amendments import contract_amend
from .services.creation import LineSpec, contract_create
from .services.renewals import contracts_daily, send_renewal_alerts
from .services.termination import contract_terminate

D = Decimal
SEAT_PRICES = {"PLAT-STARTER": D("29"), "PLAT-PRO": D("59"), "PLAT-ENT": D("99")}  # USD list, per month
FX = {"USD": D("1"), "EUR": D("0.92"), "GBP": D("0.79"), "JPY": D("150")}


def seed(ctx) -> None:
    rng, products = ctx.rng, ctx.shared["products"]
    finance = ctx.shared["users"]["finance"]
    since = ctx.shared["customer_since"]
    created: list[Contract] = []
    portal_id = ctx.shared.get("portal_customer_id")
    for customer in ctx.shared["customers"]:
        if rng.random() > 0.7 and customer.pk != portal_id:
            continue  # prospects: quotes, no contract yet (the portal's demo customer always has one)
        edition = rng.choices(ctx.shared["editions"], weights=[5, 4, 2])[0]
        seats = D(rng.choice([5, 10, 15, 25, 40, 80, 150]))
        discount = D(rng.choice([0, 0, 5, 10, 15])) / 100
        unit = money.quantize_unit_price(SEAT_PRICES[edition] * FX[customer.currency] * (1 - discount))
        lines = [LineSpec(products[edition], seats, unit)]
        if edition == "PLAT-ENT" and rng.random() < 0.6:
            lines.append(LineSpec(products["SUPPORT-ENT"], D(1),
                                  money.quantize(unit * seats * D("0.15"), customer.currency)))
        if rng.random() < 0.5 or customer.pk == portal_id:
            usage_sku = "USAGE-STORAGE" if rng.random() < 0.7 else "USAGE-API"
            lines.append(LineSpec(products[usage_sku], D(1), D(0), period="usage"))
        if rng.random() < 0.4:
            lines.append(LineSpec(products["SVC-ONBOARDING"], D(1), D("5000") * FX[customer.currency]))
        contract = contract_create(
            customer=customer, start_date=since[customer.pk], term_months=rng.choice([12, 12, 12, 24]),
            lines=lines, by=finance, billing_frequency=rng.choice(["month", "month", "quarter", "year"]),
            auto_renew=rng.random() < 0.6, renewal_uplift_percent=D(rng.choice([0, 3, 5, 7])),
            renewal_notice_days=rng.choice([30, 60, 90]), owner=customer.owner,
        )
        created.append(contract)
        if rng.random() < 0.2 and contract.end_date > ctx.today:
            # An upsell some time into the current term.
            effective = contract.start_date + timedelta(days=rng.randint(30, 200))
            if effective < min(contract.end_date, ctx.today):
                seat_line = contract.lines.get(item=1)
                contract_amend(contract_id=contract.pk, effective_date=effective, by=finance,
                               changes=[{"line": seat_line.pk, "quantity": str(seats + max(2, seats // 5))}],
                               reason="Team grew")
    # Roll the book forward to today (renewals, expiries), then date each contract's existence from its
    # start, as real history would, so the renewal alerts due by today go out.
    done = contracts_daily(today=ctx.today)
    for contract in Contract.objects.all():
        Contract.objects.filter(pk=contract.pk).update(
            activated_at=timezone.make_aware(datetime.combine(min(contract.start_date, ctx.today), time(9))))
    done["alerts"] += send_renewal_alerts(today=ctx.today)
    # A few customers leave mid-term.
    active = [c for c in Contract.objects.filter(status=Contract.Status.ACTIVE, start_date__lt=ctx.today)
              .order_by("id")]
    for contract in rng.sample(active, k=min(len(active), max(1, len(active) // 30))):
        effective = ctx.today - timedelta(days=rng.randint(1, 20))
        if contract.start_date <= effective and not contract.lines.filter(start_date__gt=effective).exists():
            contract_terminate(contract_id=contract.pk, effective_date=effective, by=finance,
                               reason=rng.choice(["Budget cuts", "Moved to a competitor", "Company acquired"]))
    ctx.shared["contracts"] = created
    versions = ContractLine.objects.count()
    ctx.log(f"  contracts: {len(created)} first terms, {done['renewed']} renewals, {done['expired']} expired, "
            f"{done['renewal_quotes']} renewal quotes, {done['alerts']} alerts, {versions} line versions")
