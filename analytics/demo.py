"""Demo data of the analytics areas: each area's own demo module adds its part."""
from revops.kernel.demo import seed_parts

AREA_DEMOS = ["analytics.demo_profitability", "analytics.demo_customer360", "analytics.demo_insights",
              "analytics.demo_targets_alerts"]


def seed(ctx) -> None:
    seed_parts(ctx, AREA_DEMOS)
