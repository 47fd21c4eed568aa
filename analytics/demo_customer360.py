"""Demo comments for the Customer 360 timeline (`manage.py seed_demo`, through analytics/demo.py): a short
conversation between the demo staff users on a few customers, with @-mentions, written through
`customer_comment_add` so the mentions and in-app notifications are real. The portal customer gets one
too: its portal login must never see it.

Reads ctx.shared["users"] (revops/kernel/demo.py) and ctx.shared["customers"] / ["portal_customer_id"]
(customers/demo.py). Deterministic (ctx.rng, ctx.today) and idempotent: a customer that already has
comments is left as it is.
"""
from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from billing.models import Invoice
from customers.models import CustomerComment

from .services.timeline import customer_comment_add

# (days before today, author, text): one thread per customer, oldest first.
THREADS = [
    [(12, "success", "Kick-off call went well. @rep they want to add the analytics add-on next quarter."),
     (11, "rep", "Thanks @success, I'll prepare a quote. @manager a 10 % multi-year discount would close it."),
     (10, "manager", "@rep approved for a 24-month term; anything deeper goes through the approval flow.")],
    [(9, "finance", "@success the last invoice is past due and two reminders went out. Anything we should know?"),
     (8, "success", "@finance their AP moved to a new system; the payment should land this week. Holding off."),
     (3, "finance", "Payment received, account is current again. Thanks @success.")],
    [(6, "rep", "Usage is close to the included API calls. @success can you check if they expect more traffic?"),
     (5, "success", "@rep yes, a new integration goes live next month. Good moment to talk about the next tier.")],
    [(4, "manager", "Renewal comes up soon. @rep please own it; @finance check the uplift on the renewal terms.")],
]


def _at(ctx, days_ago: int, minute: int) -> datetime:
    return datetime.combine(ctx.today - timedelta(days=days_ago), time(9 + minute // 60, minute % 60), tzinfo=UTC)


def seed(ctx) -> None:
    users = ctx.shared.get("users") or {}
    customers = list(ctx.shared.get("customers") or [])
    if not users or not customers:
        ctx.log("  customer 360: no demo users or customers; no comments")
        return
    rng = ctx.rng
    portal_id = ctx.shared.get("portal_customer_id")
    chosen = [c for c in customers if c.pk == portal_id][:1]
    # customers with a history to talk about (billed at least once), else anyone
    billed = set(Invoice.objects.filter(customer__in=customers).values_list("customer_id", flat=True))
    others = [c for c in customers if c.pk != portal_id and c.pk in billed] or [
        c for c in customers if c.pk != portal_id]
    chosen += rng.sample(others, min(len(THREADS) - len(chosen), len(others)))
    written = 0
    for customer, thread in zip(chosen, THREADS, strict=False):
        if CustomerComment.objects.filter(customer=customer).exists():
            continue
        for days_ago, author, body in thread:
            comment = customer_comment_add(customer_id=customer.pk, author=users.get(author), body=body)
            CustomerComment.objects.filter(pk=comment.pk).update(created_at=_at(ctx, days_ago, rng.randrange(480)))
            written += 1
    ctx.log(f"  customer 360: {written} timeline comments with @-mentions on {len(chosen)} customers")
