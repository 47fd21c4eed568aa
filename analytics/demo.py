"""Demo data of the analytics areas: each area's own demo module adds its part."""
import importlib

AREA_DEMOS = ["analytics.demo_profitability", "analytics.demo_customer360", "analytics.demo_insights"]


def seed(ctx) -> None:
    for name in AREA_DEMOS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # that area adds no demo data
        module.seed(ctx)
