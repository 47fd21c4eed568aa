"""The pricing engine and money splitting: pure functions called once per quote or invoice line.

Figures: calls per second of the median of 5 runs of BENCH_CALLS / 5 calls each (default 200,000 calls
in all), after a warm-up, on one CPU core.
"""
from __future__ import annotations

import os
from decimal import Decimal

from catalog.pricing import GRADUATED, VOLUME, PriceSpec, Tier, calculate
from revops.kernel.money import allocate

from .timing import ops_per_second, report

CALLS = int(os.environ.get("BENCH_CALLS", "200000"))

GRADUATED_5 = PriceSpec(model=GRADUATED, currency="USD", tiers=(
    Tier(100_000, Decimal("0")),
    Tier(1_000_000, Decimal("0.0008")),
    Tier(10_000_000, Decimal("0.0005"), Decimal("10.00")),
    Tier(100_000_000, Decimal("0.0003")),
    Tier(None, Decimal("0.0002")),
))
VOLUME_4 = PriceSpec(model=VOLUME, currency="USD", tiers=(
    Tier(10_000, Decimal("0.0010")),
    Tier(100_000, Decimal("0.0006"), Decimal("10.00")),
    Tier(1_000_000, Decimal("0.0004"), Decimal("25.00")),
    Tier(None, Decimal("0.0002"), Decimal("50.00")),
))
TWELVE_WEIGHTS = [Decimal(w) for w in ("31", "28", "31", "30", "31", "30", "31", "31", "30", "31", "30", "31")]


def run() -> None:
    # A quantity reaching the 4th of 5 tiers: the engine walks four tiers and splits the total four ways.
    graduated_qty = Decimal("12345678")
    assert calculate(GRADUATED_5, graduated_qty).amount == Decimal("5933.70")  # 720 + 4,500 + 10 + 703.70
    report("pricing.calculate graduated (5 tiers, qty in tier 4)",
           ops_per_second(lambda: calculate(GRADUATED_5, graduated_qty), calls=CALLS))

    volume_qty = Decimal("65000")
    assert calculate(VOLUME_4, volume_qty).amount == Decimal("49.00")
    report("pricing.calculate volume (4 tiers)", ops_per_second(lambda: calculate(VOLUME_4, volume_qty), calls=CALLS))

    total = Decimal("120000.00")
    assert sum(allocate(total, TWELVE_WEIGHTS, "USD")) == total
    report("money.allocate 120,000.00 over 12 weights",
           ops_per_second(lambda: allocate(total, TWELVE_WEIGHTS, "USD"), calls=CALLS))
