"""Demo quotes for `manage.py seed_demo`: quotes in every state, made through the quote services as a
rep would (build, submit, approve, send, accept), plus the approval rules that route them.

Reads ctx.shared["users"], ["reps"], ["customers"], ["products"], ["editions"], ["growth_bundle"].
Leaves in ctx.shared: "quotes": [Quote] created (latest versions and superseded ones).
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth.models import Group

from revops.kernel.actor import acting_as

from .models import ApprovalRule, Quote
from .services import editing, lifecycle

D = Decimal
# How the demo's quotes end up; weights roughly as a sales floor would have them.
OUTCOMES = [("draft", 3), ("pending", 2), ("approved", 1), ("sent", 2), ("accepted", 4), ("declined", 1),
            ("expired", 1), ("revised", 1)]


def _rules() -> None:
    managers, finance = Group.objects.get(name="sales_manager"), Group.objects.get(name="finance")
    ApprovalRule.objects.create(name="Discount above 15 %", condition=ApprovalRule.Condition.LINE_DISCOUNT_ABOVE,
                                threshold=D("15"), approver_group=managers, order=10)
    ApprovalRule.objects.create(name="Large deal (TCV above 100,000)", condition=ApprovalRule.Condition.TCV_ABOVE,
                                threshold=D("100000"), approver_group=finance, order=20)
    ApprovalRule.objects.create(name="Payment terms beyond Net 30",
                                condition=ApprovalRule.Condition.NON_STANDARD_PAYMENT_TERMS,
                                approver_group=finance, order=30)


def _build(ctx, customer, owner) -> Quote:
    rng, products = ctx.rng, ctx.shared["products"]
    quote = editing.quote_create(
        customer=customer, owner=owner, start_date=ctx.today + timedelta(days=rng.choice([0, 7, 14, 30])),
        term_months=rng.choice([12, 12, 12, 24, 36]), billing_frequency=rng.choice(["month", "month", "year"]),
        payment_terms=rng.choice(["net_30", "net_30", "net_30", "net_45", "net_60"]),
    )
    if rng.random() < 0.25:
        editing.quote_line_add(quote_id=quote.pk, product_id=ctx.shared["growth_bundle"].product_id,
                               quantity=1, by=owner, options={products["ADDON-ANALYTICS"].pk: 1})
    else:
        edition = rng.choice(ctx.shared["editions"])
        seats = rng.choice([5, 10, 25, 50, 120, 300])
        discount = rng.choice([0, 0, 5, 10, 20, 25])
        editing.quote_line_add(quote_id=quote.pk, product_id=products[edition].pk, quantity=seats, by=owner,
                               discount_percent=discount)
        if rng.random() < 0.6:
            editing.quote_line_add(quote_id=quote.pk, product_id=products["SVC-ONBOARDING"].pk, quantity=1,
                                   by=owner)
        if edition == "PLAT-ENT" and rng.random() < 0.7:
            editing.quote_line_add(quote_id=quote.pk, product_id=products["SUPPORT-ENT"].pk, quantity=1, by=owner)
        if rng.random() < 0.4:
            editing.quote_line_add(quote_id=quote.pk, product_id=products["USAGE-API"].pk, quantity=1, by=owner)
    return quote


def _approve_all(quote: Quote, approvers: dict[str, object]) -> None:
    while (step := lifecycle.current_step(quote)) is not None:
        lifecycle.quote_approve(quote_id=quote.pk, by=approvers[step.approver_group.name],
                                comment="Approved in the demo data")
        quote.refresh_from_db()


def seed(ctx) -> None:
    _rules()
    users = ctx.shared["users"]
    approvers = {"sales_manager": users["manager"], "finance": users["finance"]}
    customers = ctx.shared["customers"]
    picks = ctx.rng.sample(customers, k=min(len(customers), max(8, len(customers) // 3)))
    outcomes = [name for name, weight in OUTCOMES for _ in range(weight)]
    created: list[Quote] = []
    expire: list[int] = []
    for customer in picks:
        owner = customer.owner or ctx.shared["reps"][0]
        outcome = ctx.rng.choice(outcomes)
        with acting_as(owner):
            quote = _build(ctx, customer, owner)
            created.append(quote)
            if outcome == "draft":
                continue
            quote = lifecycle.quote_submit(quote_id=quote.pk, by=owner)
            if outcome == "pending" and quote.status == Quote.Status.PENDING_APPROVAL:
                continue
            _approve_all(quote, approvers)
            if outcome == "approved":
                continue
            if outcome == "revised":
                created.append(lifecycle.quote_revise(quote_id=quote.pk, by=owner))
                continue
            quote = lifecycle.quote_send(quote_id=quote.pk, by=owner)
            token = lifecycle.acceptance_token(quote)
        contact = customer.contacts.order_by("id").first()
        name = contact.name if contact else "Demo Buyer"
        if outcome == "accepted":
            lifecycle.quote_accept(token=token, name=name, title=contact.title if contact else "", ip="198.51.100.7")
        elif outcome == "declined":
            lifecycle.quote_decline(token=token, reason=ctx.rng.choice(
                ["Budget moved to next quarter", "Chose a competitor", "Price above our approval limit"]))
        elif outcome == "expired":
            expire.append(quote.pk)
    # The portal's demo customer has a quote waiting for it.
    portal_customer = next((c for c in customers if c.pk == ctx.shared.get("portal_customer_id")), None)
    if portal_customer is not None:
        owner = portal_customer.owner or ctx.shared["reps"][0]
        with acting_as(owner):
            quote = _build(ctx, portal_customer, owner)
            quote = lifecycle.quote_submit(quote_id=quote.pk, by=owner)
            _approve_all(quote, approvers)
            created.append(lifecycle.quote_send(quote_id=quote.pk, by=owner))
    # Quotes that ran out of time: their validity ended yesterday and the hourly task has run.
    Quote.objects.filter(pk__in=expire).update(valid_until=ctx.today - timedelta(days=1))
    lifecycle.quotes_expire(today=ctx.today)
    ctx.shared["quotes"] = created
    by_status: dict[str, int] = {}
    for status in Quote.objects.values_list("status", flat=True):
        by_status[status] = by_status.get(status, 0) + 1
    ctx.log("  quotes: " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
