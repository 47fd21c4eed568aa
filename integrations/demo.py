"""Demo data of integrations: each part's own demo module adds its part."""
from revops.kernel.demo import seed_parts

PART_DEMOS = ["integrations.demo_webhooks", "integrations.demo_inbound"]


def seed(ctx) -> None:
    seed_parts(ctx, PART_DEMOS)
