"""Demo data of integrations: each part's own demo module adds its part."""
import importlib

PART_DEMOS = ["integrations.demo_webhooks", "integrations.demo_inbound"]


def seed(ctx) -> None:
    for name in PART_DEMOS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.seed(ctx)
