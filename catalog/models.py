"""What is sold and at what price: products, meters, price books, prices with tiers, bundles,
product rules and discount schedules. Prices are computed by `catalog.pricing`, nowhere else."""
from django.db import models
from django.db.models import Q

from revops.kernel.fields import AmountField, CurrencyField, QuantityField, UnitPriceField


class Meter(models.Model):
    """How raw usage events of one kind add up over a billing period."""

    class Aggregation(models.TextChoices):
        COUNT = "count", "Count of events"
        SUM = "sum", "Sum of a property"
        MAX = "max", "Maximum of a property"
        UNIQUE_COUNT = "unique_count", "Count of distinct values of a property"
        LATEST = "latest", "Latest value of a property"

    code = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=120)
    aggregation = models.CharField(max_length=12, choices=Aggregation.choices, default=Aggregation.COUNT)
    field = models.CharField(max_length=60, blank=True, help_text="Event property aggregated (not for count).")
    unit = models.CharField(max_length=30, blank=True, help_text="Shown on invoices, e.g. 'API calls', 'GB'.")
    currency = CurrencyField(default="USD", help_text="Currency of the unit cost.")
    unit_cost = UnitPriceField(default=0, help_text="Cost of goods per unit of usage (e.g. per API call, per GB).")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(aggregation="count") | ~Q(field=""), name="meter_field_required_unless_count"
            ),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="meter_unit_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return self.code


class Product(models.Model):
    class Kind(models.TextChoices):
        RECURRING = "recurring", "Recurring"
        ONE_TIME = "one_time", "One-time"
        USAGE = "usage", "Usage"

    class Recognition(models.TextChoices):
        RATABLE = "ratable", "Ratable over the service period"
        POINT_IN_TIME = "point_in_time", "Point in time"
        USAGE = "usage", "As used"

    sku = models.CharField(max_length=60, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    family = models.CharField(max_length=60, blank=True, help_text="Product family (revenue account, reports).")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    recognition = models.CharField(max_length=14, choices=Recognition.choices)
    currency = CurrencyField(default="USD", help_text="Currency of the SSP and unit cost.")
    ssp = UnitPriceField(null=True, blank=True, help_text="Standalone selling price per unit (per month if recurring).")
    unit_cost = UnitPriceField(default=0, help_text="Cost of goods per unit (per month if recurring).")
    meter = models.ForeignKey(Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="products")
    ssp_residual = models.BooleanField(
        default=False, help_text="SSP highly variable or uncertain: allocate by the residual approach (ASC 606).")
    distinct = models.BooleanField(
        default=True, help_text="A distinct performance obligation; if not, it combines with the contract's "
                                "main recurring obligation.")
    active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(ssp__isnull=True) | Q(ssp__gte=0), name="product_ssp_not_negative"),
            models.CheckConstraint(condition=Q(unit_cost__gte=0), name="product_unit_cost_not_negative"),
            models.CheckConstraint(
                condition=~Q(kind="usage") | Q(meter__isnull=False), name="usage_product_has_meter"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"


class PriceBook(models.Model):
    name = models.CharField(max_length=120, unique=True)
    currency = CurrencyField()
    is_default = models.BooleanField(default=False, help_text="The default book for customers in this currency.")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["currency", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency"], condition=Q(is_default=True), name="one_default_price_book_per_currency"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class Price(models.Model):
    class Model(models.TextChoices):
        FLAT = "flat", "Flat fee"
        PER_UNIT = "per_unit", "Per unit"
        GRADUATED = "graduated", "Graduated tiers"
        VOLUME = "volume", "Volume tiers"
        PACKAGE = "package", "Package (per started block)"
        PERCENTAGE = "percentage", "Percentage of other lines"

    class BillingPeriod(models.TextChoices):
        MONTH = "month", "Monthly"
        QUARTER = "quarter", "Quarterly"
        YEAR = "year", "Yearly"
        ONE_TIME = "one_time", "One-time"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="prices")
    price_book = models.ForeignKey(PriceBook, on_delete=models.PROTECT, related_name="prices")
    model = models.CharField(max_length=10, choices=Model.choices)
    currency = CurrencyField(help_text="Always the price book's currency.")
    unit_amount = UnitPriceField(null=True, blank=True)
    flat_amount = AmountField(null=True, blank=True)
    package_size = models.PositiveIntegerField(null=True, blank=True)
    percentage = models.DecimalField(max_digits=7, decimal_places=4, null=True, blank=True)
    billing_period = models.CharField(max_length=8, choices=BillingPeriod.choices, default=BillingPeriod.MONTH)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["price_book_id", "product_id", "billing_period"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "price_book", "billing_period"], name="one_price_per_product_book_period"
            ),
            models.CheckConstraint(
                condition=Q(unit_amount__isnull=True) | Q(unit_amount__gte=0), name="price_unit_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(flat_amount__isnull=True) | Q(flat_amount__gte=0), name="price_flat_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(package_size__isnull=True) | Q(package_size__gte=1), name="price_package_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(percentage__isnull=True) | (Q(percentage__gte=0) & Q(percentage__lte=100)),
                name="price_percentage_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} in {self.price_book.name}: {self.get_model_display()}"


class PriceTier(models.Model):
    """One tier of a graduated or volume price: units up to `up_to` (None = no upper bound)."""

    price = models.ForeignKey(Price, on_delete=models.CASCADE, related_name="tiers")
    up_to = models.PositiveBigIntegerField(null=True, blank=True)
    unit_amount = UnitPriceField(default=0)
    flat_amount = AmountField(default=0)

    class Meta:
        ordering = ["price_id", models.F("up_to").asc(nulls_last=True)]
        constraints = [
            models.UniqueConstraint(fields=["price", "up_to"], name="tier_bound_unique"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="tier_unit_amount_not_negative"),
            models.CheckConstraint(condition=Q(flat_amount__gte=0), name="tier_flat_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"up to {self.up_to if self.up_to is not None else '∞'}"


class Bundle(models.Model):
    """A product sold as a package of options (some required)."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, related_name="bundle")
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"Bundle {self.product.sku}"


class BundleOption(models.Model):
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="options")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    required = models.BooleanField(default=False)
    default_quantity = QuantityField(default=1)
    min_quantity = QuantityField(default=0)
    max_quantity = QuantityField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["bundle_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "product"], name="bundle_option_once"),
            models.CheckConstraint(
                condition=Q(min_quantity__gte=0) & Q(default_quantity__gte=models.F("min_quantity")),
                name="bundle_option_min_le_default",
            ),
            models.CheckConstraint(
                condition=Q(max_quantity__isnull=True) | Q(max_quantity__gte=models.F("default_quantity")),
                name="bundle_option_default_le_max",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} in {self.bundle}"


class ProductRule(models.Model):
    class Kind(models.TextChoices):
        REQUIRES = "requires", "Requires"
        EXCLUDES = "excludes", "Excludes"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="rules")
    other_product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["product_id", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "product", "other_product"], name="product_rule_once"),
            models.CheckConstraint(condition=~Q(product=models.F("other_product")), name="rule_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} {self.kind} {self.other_product.sku}"


class DiscountSchedule(models.Model):
    """Automatic discounts: by quantity (volume) or by contract length in months (term)."""

    class Kind(models.TextChoices):
        VOLUME = "volume", "Volume (by quantity)"
        TERM = "term", "Term (by contract months)"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=6, choices=Kind.choices)
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.CASCADE, related_name="discount_schedules",
        help_text="Empty: applies to every product.",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DiscountTier(models.Model):
    schedule = models.ForeignKey(DiscountSchedule, on_delete=models.CASCADE, related_name="tiers")
    from_value = QuantityField(help_text="Quantity (volume) or months (term) from which the discount applies.")
    discount_percent = models.DecimalField(max_digits=7, decimal_places=4)

    class Meta:
        ordering = ["schedule_id", "from_value"]
        constraints = [
            models.UniqueConstraint(fields=["schedule", "from_value"], name="discount_tier_from_unique"),
            models.CheckConstraint(
                condition=Q(discount_percent__gte=0) & Q(discount_percent__lte=100), name="discount_percent_range"
            ),
            models.CheckConstraint(condition=Q(from_value__gte=0), name="discount_from_not_negative"),
        ]

    def __str__(self) -> str:
        return f"from {self.from_value}: {self.discount_percent}%"
