"""factory_boy factories for the shared records. Apps add theirs in tests/<app>/factories.py."""
from decimal import Decimal

import factory

from catalog import models as cm
from customers import models as custm


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = custm.Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    external_id = factory.Sequence(lambda n: f"CRM-{n:05d}")
    currency = "USD"
    billing_email = factory.Sequence(lambda n: f"billing{n}@example.com")
    country = "US"
    industry = "software"
    size = custm.Customer.Size.SMB
    region = custm.Customer.Region.NA
    acquisition_channel = custm.Customer.Channel.INBOUND


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = custm.Contact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")


class MeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Meter

    code = factory.Sequence(lambda n: f"meter-{n}")
    name = factory.Sequence(lambda n: f"Meter {n}")
    aggregation = cm.Meter.Aggregation.COUNT


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Product

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    kind = cm.Product.Kind.RECURRING
    recognition = cm.Product.Recognition.RATABLE
    ssp = Decimal("100.00")
    unit_cost = Decimal("10.00")


class PriceBookFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.PriceBook

    name = factory.Sequence(lambda n: f"Book {n}")
    currency = "USD"


class PriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = cm.Price

    product = factory.SubFactory(ProductFactory)
    price_book = factory.SubFactory(PriceBookFactory)
    model = cm.Price.Model.PER_UNIT
    currency = factory.SelfAttribute("price_book.currency")
    unit_amount = Decimal("100.00")
    billing_period = cm.Price.BillingPeriod.MONTH
