"""Demo recognition for `manage.py seed_demo`: FX rates to the reporting currency over the demo's
history, the outbox delivered inside the seed (obligations for every contract; invoices, payments and
credit notes journaled), revenue recognized for every month that has ended, and the months before last
month closed — so the waterfall, roll-forward, trial balance and period pages have a real ledger.

Reads nothing from ctx.shared; runs after billing (INSTALLED_APPS order)."""
from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import User

from revops.kernel.dates import add_months
from revops.kernel.errors import DomainError
from revops.kernel.events import deliver_pending

from .models import FxRate, JournalEntry, PerformanceObligation
from .services.periods import period_close
from .services.posting import recognize_through

D = Decimal
RATES = {"EUR": D("1.08"), "GBP": D("1.27"), "JPY": D("0.0067")}  # units of USD per unit


def seed(ctx) -> None:
    rng = ctx.rng
    month = ctx.start
    while month <= ctx.today:
        for currency, base in RATES.items():
            drift = D(1) + D(rng.randint(-300, 300)) / D(10000)  # ±3 % a month
            FxRate.objects.create(date=month, currency=currency, rate=(base * drift).quantize(D("0.000001")))
        month = add_months(month, 1)
    delivered = 0
    while True:  # the seed's events, delivered inside its transaction
        n = deliver_pending(limit=1000)
        delivered += n
        if n == 0:
            break
    posted = recognize_through(day=ctx.today)
    finance = User.objects.filter(username="finance").first()
    closed = 0
    last_month = add_months(ctx.today.replace(day=1), -1)
    first = JournalEntry.objects.order_by("date").values_list("date", flat=True).first()
    month = first.replace(day=1) if first else last_month
    while finance and month < last_month:
        try:
            period_close(month=month, by=finance)
            closed += 1
        except DomainError as exc:
            ctx.log(f"  recognition: {month:%Y-%m} stays open ({exc})")
            break
        month = add_months(month, 1)
    ctx.log(f"  recognition: {delivered} events delivered, {PerformanceObligation.objects.count()} obligations, "
            f"{posted} schedule lines recognized, {JournalEntry.objects.count()} journal entries, {closed} months closed")
