from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalog"

    def ready(self) -> None:
        from revops.kernel import audit

        from . import models as m

        audit.track(m.Product, m.PriceBook, m.Price, m.PriceTier, m.DiscountSchedule, m.DiscountTier)
