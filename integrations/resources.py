"""django-import-export resources: customers, contacts, products and prices from CSV.

The library parses the file, maps columns to fields, converts values (widgets) and collects the errors
of every row with their column; the writes go through the apps' services (customer_create,
product_update, price_create, ...) so an imported row is validated and recorded (outbox events) like one
typed in a form. A service's field error becomes that row's error on that column.

Rows are matched for update by a natural key: customers by `external_id`, contacts by
(`customer_external_id`, `email`), products by `sku`, prices by (`product_sku`, `price_book`,
`billing_period`). Tiered prices need their tiers: enter those in the admin or the API (a CSV row has none).
"""
from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from import_export import fields, resources, widgets

from catalog import services as catalog_services
from catalog.models import Meter, Price, PriceBook, Product
from customers import services as customer_services
from customers.models import Contact, Customer
from revops.kernel.errors import ValidationFailed


class _ServiceResource(resources.ModelResource):
    """Shared rules: clean the model instance (column errors), then save through a service (its errors
    land on the row too), each row in its own savepoint."""

    #: service field name -> CSV column, where they differ (errors are reported by column)
    columns: dict[str, str] = {}

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """Field checks of the model (a column each); table constraints are left to the services, which
        name the field (a CheckConstraint's message names none)."""
        errors = dict(import_validation_errors or {})
        try:
            instance.full_clean(exclude=errors.keys(), validate_unique=validate_unique, validate_constraints=False)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def save_instance(self, instance, is_create, row, **kwargs):
        try:
            with transaction.atomic():
                saved = self.service_save(instance, is_create)
        except ValidationFailed as exc:
            fields_ = {self.columns.get(k, k): v for k, v in exc.fields.items()} or {NON_FIELD_ERRORS: [exc.message]}
            raise ValidationError(fields_) from None
        instance.pk = saved.pk

    def service_save(self, instance, is_create):  # pragma: no cover - each resource has its own
        raise NotImplementedError

    @staticmethod
    def changes(instance, names) -> dict:
        current = type(instance).objects.get(pk=instance.pk)
        return {n: getattr(instance, n) for n in names if getattr(instance, n) != getattr(current, n)}

    @staticmethod
    def strip(row, *names, lower: tuple = ()) -> None:
        for name in names:
            if isinstance(row.get(name), str):
                row[name] = row[name].strip()
                if name in lower:
                    row[name] = row[name].lower()


CUSTOMER_COLUMNS = ("external_id", "name", "currency", "billing_email", "country", "tax_exempt", "tax_id",
                    "tax_region", "industry", "size", "region", "acquisition_channel", "address")


class CustomerResource(_ServiceResource):
    class Meta:
        model = Customer
        fields = CUSTOMER_COLUMNS
        import_id_fields = ("external_id",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row, **kwargs):
        self.strip(row, *CUSTOMER_COLUMNS, lower=("billing_email",))
        if isinstance(row.get("country"), str):
            row["country"] = row["country"].upper()
        if isinstance(row.get("currency"), str):
            row["currency"] = row["currency"].upper()
        if not row.get("external_id"):
            raise ValidationError({"external_id": ["required: rows are matched by it (create or update)"]})

    def service_save(self, instance, is_create):
        names = [n for n in CUSTOMER_COLUMNS if n != "tax_region"]
        if is_create:
            customer = customer_services.customer_create(**{n: getattr(instance, n) for n in names})
            if instance.tax_region:
                Customer.objects.filter(pk=customer.pk).update(tax_region=instance.tax_region)
            return customer
        changes = self.changes(instance, names)
        customer = customer_services.customer_update(customer_id=instance.pk, **changes) if changes else instance
        Customer.objects.filter(pk=instance.pk).update(tax_region=instance.tax_region)
        return customer


class ContactResource(_ServiceResource):
    customer = fields.Field(attribute="customer", column_name="customer_external_id",
                            widget=widgets.ForeignKeyWidget(Customer, field="external_id"))
    columns = {"customer": "customer_external_id"}

    class Meta:
        model = Contact
        fields = ("customer", "name", "email", "phone", "title", "role")
        import_id_fields = ("customer", "email")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row, **kwargs):
        self.strip(row, "customer_external_id", "name", "email", "phone", "title", "role", lower=("email", "role"))
        external_id = row.get("customer_external_id")
        if not external_id:
            raise ValidationError({"customer_external_id": ["required: the customer's external id"]})
        if not Customer.objects.filter(external_id=external_id).exists():
            raise ValidationError({"customer_external_id": [f"no customer has external id {external_id!r}"]})
        if not row.get("role"):
            row["role"] = Contact.Role.OTHER

    def service_save(self, instance, is_create):
        if is_create:
            return customer_services.contact_create(customer=instance.customer, name=instance.name,
                                                    email=instance.email, phone=instance.phone or "",
                                                    title=instance.title or "", role=instance.role)
        # customers has no contact update service: the row is matched by (customer, email), the rest changes
        instance.save(update_fields=["name", "phone", "title", "role"])
        return instance


PRODUCT_COLUMNS = ("sku", "name", "description", "family", "kind", "recognition", "currency", "ssp", "unit_cost",
                   "meter", "active", "ssp_residual", "distinct")


class ProductResource(_ServiceResource):
    meter = fields.Field(attribute="meter", column_name="meter_code",
                         widget=widgets.ForeignKeyWidget(Meter, field="code"))
    columns = {"meter": "meter_code"}

    class Meta:
        model = Product
        fields = PRODUCT_COLUMNS
        import_id_fields = ("sku",)
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row, **kwargs):
        self.strip(row, "sku", "name", "kind", "recognition", "currency", "meter_code", "family",
                   lower=("kind", "recognition"))
        if isinstance(row.get("currency"), str):
            row["currency"] = row["currency"].upper() or "USD"
        if not row.get("recognition") and row.get("kind") in catalog_services.DEFAULT_RECOGNITION:
            row["recognition"] = catalog_services.DEFAULT_RECOGNITION[row["kind"]]
        code = row.get("meter_code")
        if code and not Meter.objects.filter(code=code).exists():
            raise ValidationError({"meter_code": [f"no meter has code {code!r}"]})
        for flag, default in (("active", "1"), ("ssp_residual", "0"), ("distinct", "1")):
            if row.get(flag) in (None, ""):
                row[flag] = default

    def service_save(self, instance, is_create):
        names = [n for n in PRODUCT_COLUMNS]
        if is_create:
            return catalog_services.product_create(**{n: getattr(instance, n) for n in names})
        changes = self.changes(instance, names)
        return catalog_services.product_update(product_id=instance.pk, **changes) if changes else instance


PRICE_COLUMNS = ("product", "price_book", "billing_period", "model", "currency", "unit_amount", "flat_amount",
                 "package_size", "percentage", "active")


class PriceResource(_ServiceResource):
    product = fields.Field(attribute="product", column_name="product_sku",
                           widget=widgets.ForeignKeyWidget(Product, field="sku"))
    price_book = fields.Field(attribute="price_book", column_name="price_book",
                              widget=widgets.ForeignKeyWidget(PriceBook, field="name"))
    columns = {"product": "product_sku"}

    class Meta:
        model = Price
        fields = PRICE_COLUMNS
        import_id_fields = ("product", "price_book", "billing_period")
        clean_model_instances = True
        skip_unchanged = True
        report_skipped = True

    def before_import_row(self, row, **kwargs):
        self.strip(row, "product_sku", "price_book", "billing_period", "model", "currency",
                   lower=("billing_period", "model"))
        errors = {}
        sku, book = row.get("product_sku"), row.get("price_book")
        if not sku or not Product.objects.filter(sku=sku).exists():
            errors["product_sku"] = [f"no product has SKU {sku!r}" if sku else "required"]
        book_obj = PriceBook.objects.filter(name=book).first() if book else None
        if book_obj is None:
            errors["price_book"] = [f"no price book is named {book!r}" if book else "required"]
        if errors:
            raise ValidationError(errors)
        if not row.get("billing_period"):
            row["billing_period"] = Price.BillingPeriod.MONTH
        row["currency"] = (row.get("currency") or book_obj.currency).upper()  # the service checks it is the book's
        if row.get("active") in (None, ""):
            row["active"] = "1"

    def service_save(self, instance, is_create):
        values = {n: getattr(instance, n) for n in catalog_services.PRICE_FIELDS}
        if is_create:
            return catalog_services.price_create(product=instance.product, price_book=instance.price_book, **values)
        current = Price.objects.get(pk=instance.pk)
        changes = {n: v for n, v in values.items() if getattr(current, n) != v}
        return catalog_services.price_update(price_id=instance.pk, **changes) if changes else instance


RESOURCES = {"customers": CustomerResource, "contacts": ContactResource, "products": ProductResource,
             "prices": PriceResource}


# --- admin import actions ----------------------------------------------------------------------------
# django-import-export's "Import" button on a model's admin list: upload, a dry run listing every row's
# errors, then confirm (nothing is imported while any row has an error). One line per admin class:
#     class CustomerAdmin(CustomerCsvImport, admin.ModelAdmin):

def _import_mixin(resource):
    from import_export.admin import ImportMixin

    return type(f"{resource.__name__.removesuffix('Resource')}CsvImport", (ImportMixin,),
                {"resource_classes": [resource], "__module__": __name__})


CustomerCsvImport = _import_mixin(CustomerResource)
ContactCsvImport = _import_mixin(ContactResource)
ProductCsvImport = _import_mixin(ProductResource)
PriceCsvImport = _import_mixin(PriceResource)
