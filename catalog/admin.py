"""Catalog admin. It applies the same rules as the API: simple records are saved through
`catalog.services`; prices, bundles and discount schedules (edited with their inlines) are checked by
the services' validators in the form and formset `clean`, so the admin cannot store overlapping tiers,
and their saves record the same outbox events."""
from __future__ import annotations

from django import forms
from django.contrib import admin

from integrations.resources import PriceCsvImport, ProductCsvImport
from revops.kernel.errors import ValidationFailed
from revops.kernel.events import record_event

from . import pricing, services
from .models import (
    Bundle,
    BundleOption,
    DiscountSchedule,
    DiscountTier,
    Meter,
    Price,
    PriceBook,
    PriceTier,
    Product,
    ProductRule,
)


def _field_errors(form: forms.Form, exc: ValidationFailed, *, rename: dict[str, str] | None = None) -> None:
    """Put a service's field errors beside the form's fields (the rest above the form)."""
    rename = rename or {}
    for name, messages in (exc.fields or {"__all__": [exc.message]}).items():
        target = rename.get(name, name)
        for message in messages:
            form.add_error(target if target in form.fields else None, message)


def _live_forms(formset) -> list[forms.Form]:
    """Inline forms that will be saved: filled in and not marked for deletion."""
    return [f for f in formset.forms
            if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE", False)]


class ServiceSavedAdmin(admin.ModelAdmin):
    """save_model calls the app's create/update service (validation, events) instead of Model.save()."""

    create_service = None
    update_service = None
    id_argument = ""

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data} \
            if change else {name: form.cleaned_data[name] for name in form.fields if name in form.cleaned_data}
        if change:
            saved = type(self).update_service(**{self.id_argument: obj.pk}, **data)
        else:
            saved = type(self).create_service(**data)
        obj.pk = saved.pk
        obj.refresh_from_db()


# --- meters, products, price books, rules ----------------------------------------------------------

class MeterForm(forms.ModelForm):
    class Meta:
        model = Meter
        fields = ["code", "name", "aggregation", "field", "unit"]

    def clean(self):
        data = super().clean()
        if data.get("aggregation") not in (None, Meter.Aggregation.COUNT) and not data.get("field"):
            self.add_error("field", "required: this meter aggregates an event property")
        return data


@admin.register(Meter)
class MeterAdmin(ServiceSavedAdmin):
    form = MeterForm
    list_display = ("code", "name", "aggregation", "field", "unit")
    list_filter = ("aggregation",)
    search_fields = ("code", "name")
    create_service = staticmethod(services.meter_create)
    update_service = staticmethod(services.meter_update)
    id_argument = "meter_id"


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ["sku", "name", "description", "family", "kind", "recognition", "currency", "ssp", "unit_cost",
                  "meter", "active"]

    def clean(self):
        data = super().clean()
        if data.get("kind") == Product.Kind.USAGE and not data.get("meter"):
            self.add_error("meter", "a usage product needs a meter: it says how its usage events add up")
        return data


class PriceReadOnlyInline(admin.TabularInline):
    """A product's prices at a glance; each links to its own page, where tiers are edited."""

    model = Price
    extra = 0
    fields = ("price_book", "billing_period", "model", "currency", "unit_amount", "flat_amount", "active")
    readonly_fields = fields
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("price_book", "product")


@admin.register(Product)
class ProductAdmin(ProductCsvImport, ServiceSavedAdmin):  # + an Import (CSV) button
    form = ProductForm
    list_display = ("sku", "name", "kind", "recognition", "family", "ssp", "currency", "meter", "active")
    list_filter = ("kind", "recognition", "family", "active")
    search_fields = ("sku", "name", "description")
    list_select_related = ("meter",)
    autocomplete_fields = ("meter",)
    inlines = [PriceReadOnlyInline]
    create_service = staticmethod(services.product_create)
    update_service = staticmethod(services.product_update)
    id_argument = "product_id"


class PriceBookForm(forms.ModelForm):
    class Meta:
        model = PriceBook
        fields = ["name", "currency", "is_default", "active"]

    def _get_validation_exclusions(self):
        # "One default per currency" is kept by the service, which hands the default over from the old
        # book in the same transaction; the form must not refuse the new default beforehand.
        exclusions = super()._get_validation_exclusions()
        exclusions.add("is_default")
        return exclusions


@admin.register(PriceBook)
class PriceBookAdmin(ServiceSavedAdmin):
    form = PriceBookForm
    list_display = ("name", "currency", "is_default", "active")
    list_filter = ("currency", "is_default", "active")
    search_fields = ("name",)
    create_service = staticmethod(services.price_book_create)
    update_service = staticmethod(services.price_book_update)
    id_argument = "price_book_id"


class ProductRuleForm(forms.ModelForm):
    class Meta:
        model = ProductRule
        fields = ["kind", "product", "other_product", "message"]

    def clean(self):
        data = super().clean()
        if data.get("product") and data.get("product") == data.get("other_product"):
            self.add_error("other_product", "a product cannot require or exclude itself")
        return data


@admin.register(ProductRule)
class ProductRuleAdmin(ServiceSavedAdmin):
    form = ProductRuleForm
    list_display = ("product", "kind", "other_product", "message")
    list_filter = ("kind",)
    search_fields = ("product__sku", "other_product__sku", "message")
    list_select_related = ("product", "other_product")
    autocomplete_fields = ("product", "other_product")
    create_service = staticmethod(services.product_rule_create)
    update_service = staticmethod(services.product_rule_update)
    id_argument = "rule_id"

    def delete_model(self, request, obj):
        services.product_rule_delete(rule_id=obj.pk)


# --- prices and tiers ------------------------------------------------------------------------------

class PriceForm(forms.ModelForm):
    class Meta:
        model = Price
        fields = ["product", "price_book", "model", "currency", "unit_amount", "flat_amount", "package_size",
                  "percentage", "billing_period", "active"]
        help_texts = {"currency": "Must be the price book's currency."}

    def clean(self):
        data = super().clean()
        book, product = data.get("price_book"), data.get("product")
        if book is None or product is None or not data.get("model"):
            return data
        values = {name: data.get(name) for name in services.PRICE_FIELDS}
        # Tiers are checked by the inline formset, which sees them; here a stand-in open tier keeps the
        # check to the price's own fields.
        stand_in = [{"up_to": None}] if data["model"] in pricing.TIERED else []
        try:
            services.price_check(product=product, price_book=book, values=values, tiers=stand_in,
                                 exclude_pk=self.instance.pk)
        except ValidationFailed as exc:
            _field_errors(self, exc)
        return data


class PriceTierFormSet(forms.BaseInlineFormSet):
    """The price's tiers, checked together by the pricing engine's rules (`pricing.tier_errors`):
    ascending bounds without overlap, only the last one open-ended, no negative amounts."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        price = self.instance
        live = _live_forms(self)
        if price.model not in pricing.TIERED:
            if live:
                raise forms.ValidationError(
                    f"Tiers are only used by graduated and volume prices, not {price.model}: remove them.")
            return
        tiers = [pricing.Tier(f.cleaned_data.get("up_to"), f.cleaned_data.get("unit_amount"),
                              f.cleaned_data.get("flat_amount")) for f in live]
        errors = pricing.tier_errors(tiers)
        if "tiers" in errors:
            raise forms.ValidationError(f"A {price.model} price needs tiers: {errors['tiers'][0]}.")
        for name, messages in errors.items():
            index, _, field = name.removeprefix("tiers[").partition("].")
            for message in messages:
                live[int(index)].add_error(field, message)
        if not errors and price.currency:
            raw = [{"up_to": t.up_to, "unit_amount": t.unit_amount, "flat_amount": t.flat_amount} for t in tiers]
            place_errors: services.Errors = {}
            services.parse_tiers(raw, price.currency, place_errors)
            for name, messages in place_errors.items():
                index, _, field = name.removeprefix("tiers[").partition("].")
                for message in messages:
                    live[int(index)].add_error(field, message)


class PriceTierInline(admin.TabularInline):
    model = PriceTier
    formset = PriceTierFormSet
    extra = 1
    fields = ("up_to", "unit_amount", "flat_amount")


class EventRecordingAdmin(admin.ModelAdmin):
    """After the record and its inlines are saved (inside the admin's transaction), record the event
    the service would have recorded."""

    event_prefix = ""

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        record_event(f"{self.event_prefix}.{'updated' if change else 'created'}", obj,
                     {"id": obj.pk, "source": "admin", "changed": sorted(form.changed_data)})


@admin.register(Price)
class PriceAdmin(PriceCsvImport, EventRecordingAdmin):  # + an Import (CSV) button
    form = PriceForm
    event_prefix = "price"
    list_display = ("product", "price_book", "billing_period", "model", "currency", "unit_amount", "flat_amount",
                    "tier_count", "active")
    list_filter = ("model", "billing_period", "currency", "active", "price_book")
    search_fields = ("product__sku", "product__name", "price_book__name")
    list_select_related = ("product", "price_book")
    autocomplete_fields = ("product",)
    inlines = [PriceTierInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description="Tiers")
    def tier_count(self, obj: Price) -> int:
        return len(obj.tiers.all())


# --- bundles ---------------------------------------------------------------------------------------

class BundleOptionFormSet(forms.BaseInlineFormSet):
    """Options checked by the service's rules: min <= default <= max, required options above 0, each
    product once and never the bundle's own product."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        live = _live_forms(self)
        options = [{k: f.cleaned_data.get(k) for k in services.OPTION_KEYS} for f in live]
        try:
            services.bundle_option_check(bundle_product=getattr(self.instance, "product", None), options=options)
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                index, _, field = name.removeprefix("options[").partition("].")
                for message in messages:
                    live[int(index)].add_error(field or None, message)


class BundleOptionInline(admin.TabularInline):
    model = BundleOption
    formset = BundleOptionFormSet
    fk_name = "bundle"
    extra = 1
    fields = ("product", "required", "default_quantity", "min_quantity", "max_quantity", "position")
    autocomplete_fields = ("product",)


@admin.register(Bundle)
class BundleAdmin(EventRecordingAdmin):
    event_prefix = "bundle"
    list_display = ("product", "option_count", "description")
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)
    autocomplete_fields = ("product",)
    inlines = [BundleOptionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("options")

    @admin.display(description="Options")
    def option_count(self, obj: Bundle) -> int:
        return len(obj.options.all())


# --- discount schedules ----------------------------------------------------------------------------

class DiscountTierFormSet(forms.BaseInlineFormSet):
    """Tiers checked by the service's rules: `from` ascending (whole months for term), 0-100 %."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        live = _live_forms(self)
        tiers = [{"from": f.cleaned_data.get("from_value"), "discount_percent": f.cleaned_data.get("discount_percent")}
                 for f in live]
        try:
            services.discount_tier_check(kind=self.instance.kind, tiers=tiers)
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                index, _, field = name.removeprefix("tiers[").partition("].")
                if not field:
                    raise forms.ValidationError(messages) from None
                for message in messages:
                    live[int(index)].add_error("from_value" if field == "from" else field, message)


class DiscountTierInline(admin.TabularInline):
    model = DiscountTier
    formset = DiscountTierFormSet
    extra = 1
    fields = ("from_value", "discount_percent")


@admin.register(DiscountSchedule)
class DiscountScheduleAdmin(EventRecordingAdmin):
    event_prefix = "discount_schedule"
    list_display = ("name", "kind", "product", "active", "tier_summary")
    list_filter = ("kind", "active")
    search_fields = ("name", "product__sku")
    list_select_related = ("product",)
    autocomplete_fields = ("product",)
    inlines = [DiscountTierInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tiers")

    @admin.display(description="Tiers")
    def tier_summary(self, obj: DiscountSchedule) -> str:
        return ", ".join(f"{t.from_value.normalize():f}+: {t.discount_percent.normalize():f}%" for t in obj.tiers.all())

