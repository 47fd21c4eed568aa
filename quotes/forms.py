"""Page forms for quotes. They only parse input (types, required, choices); the rules (terms, discounts,
bundle min/max, who may change what) live in `quotes.services`, and `apply_domain_errors` puts the
service's field messages beside the matching field."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django import forms
from django.utils import timezone

from revops.kernel.errors import DomainError

from .models import Quote
from .services.editing import DEFAULT_VALIDITY_DAYS


def apply_domain_errors(form: forms.Form, exc: DomainError, aliases: dict[str, str] | None = None) -> None:
    """Map `exc.fields` onto the form (via `aliases` for service names the form calls otherwise): known
    fields get the message beside them, the rest go on top."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    aliases = aliases or {}
    for name, messages in exc.fields.items():
        name = aliases.get(name, name)
        form.add_error(name if name in form.fields else None, list(messages))


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.currency})"


class QuoteCreateForm(forms.Form):
    customer = CustomerChoiceField(queryset=None, empty_label="— choose a customer —",
                                   help_text="The quote is in the customer's currency and its default price book.")
    start_date = forms.DateField(widget=DateInput())
    term_months = forms.IntegerField(label="Term (months)", min_value=1, max_value=120, initial=12)
    billing_frequency = forms.ChoiceField(choices=Quote.BillingFrequency.choices, initial=Quote.BillingFrequency.MONTH)
    payment_terms = forms.ChoiceField(choices=Quote.PaymentTerms.choices, initial=Quote.PaymentTerms.NET_30)
    valid_until = forms.DateField(widget=DateInput())

    # quote_create names these fields; the customer picked is what decides them.
    ALIASES = {"currency": "customer", "price_book": "customer"}

    def __init__(self, *args, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        today = timezone.localdate()
        self.fields["start_date"].initial = today
        self.fields["valid_until"].initial = today + timedelta(days=DEFAULT_VALIDITY_DAYS)


class QuoteTermsForm(forms.Form):
    start_date = forms.DateField(widget=DateInput())
    term_months = forms.IntegerField(label="Term (months)", min_value=1, max_value=120)
    billing_frequency = forms.ChoiceField(choices=Quote.BillingFrequency.choices)
    payment_terms = forms.ChoiceField(choices=Quote.PaymentTerms.choices)
    quote_discount_percent = forms.DecimalField(label="Quote discount %", max_digits=7, decimal_places=4,
                                                widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 100}))
    valid_until = forms.DateField(widget=DateInput())
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                            help_text="Shown to the customer on the quote and its PDF.")

    @classmethod
    def initial_for(cls, quote: Quote) -> dict:
        initial = {name: getattr(quote, name) for name in cls.base_fields}
        initial["quote_discount_percent"] = quote.quote_discount_percent.normalize()
        return initial

    def changes(self) -> dict:
        """The fields the user changed, typed (what quote_update takes)."""
        return {name: self.cleaned_data[name] for name in self.changed_data}


class LineAddForm(forms.Form):
    product = forms.TypedChoiceField(coerce=int, empty_value=None)
    quantity = forms.DecimalField(initial=1, widget=forms.NumberInput(attrs={"step": "any", "min": 0}))
    discount_percent = forms.DecimalField(label="Discount %", required=False, initial=0,
                                          widget=forms.NumberInput(attrs={"step": "any", "min": 0, "max": 100}))
    discount_amount = forms.DecimalField(label="Amount off / period", required=False, initial=0,
                                         help_text="Per billing period of the price.",
                                         widget=forms.NumberInput(attrs={"step": "any", "min": 0}))

    def __init__(self, *args, products, options_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.products = products
        self.fields["product"].choices = [("", "— choose a product —"), *self._choices(products)]
        # Choosing a bundle loads its options into the form (htmx); a plain product clears them.
        self.fields["product"].widget.attrs.update({"hx-get": options_url, "hx-target": "#add-options",
                                                    "hx-swap": "innerHTML", "hx-trigger": "change"})

    @staticmethod
    def _choices(products):
        groups: dict[str, list] = {}
        for product in products:
            label = "Bundles" if hasattr(product, "bundle") else product.get_kind_display()
            groups.setdefault(label, []).append((product.pk, f"{product.name} · {product.sku}"))
        order = ["Bundles", "Recurring", "One-time", "Usage"]
        return [(label, groups[label]) for label in sorted(groups, key=lambda g: order.index(g)
                                                           if g in order else len(order))]

    def options(self) -> dict[int, str]:
        """{option product id: quantity} for the bundle options sent: `option_<id>` with, for optional
        ones, the `include_<id>` box ticked. Quantities go to the service raw: it checks min/max."""
        chosen = {}
        for key, value in self.data.items():
            if not key.startswith("option_") or not key.removeprefix("option_").isdigit():
                continue
            product_id = int(key.removeprefix("option_"))
            if self.data.get(f"optional_{product_id}") and not self.data.get(f"include_{product_id}"):
                continue
            chosen[product_id] = value.strip() or "0"
        return chosen


class LineChangeForm(forms.Form):
    """One row of the lines table (the inputs have no prefix: one row is posted at a time)."""

    quantity = forms.DecimalField()
    discount_percent = forms.DecimalField(required=False)
    discount_amount = forms.DecimalField(required=False)

    def changes(self, line) -> dict:
        data = self.cleaned_data
        changes = {}
        if data["quantity"] != line.quantity:
            changes["quantity"] = data["quantity"]
        for name in ("discount_percent", "discount_amount"):
            value = data[name] if data[name] is not None else Decimal(0)
            if value != getattr(line, name):
                changes[name] = value
        return changes


class RejectForm(forms.Form):
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class AcceptForm(forms.Form):
    name = forms.CharField(label="Full name", max_length=200,
                           widget=forms.TextInput(attrs={"autocomplete": "name"}))
    title = forms.CharField(label="Title", max_length=200, required=False,
                            widget=forms.TextInput(attrs={"autocomplete": "organization-title"}))


class DeclineForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 3}))


class QuoteListFilterForm(forms.Form):
    """The filter bar of the list (the filtering itself is `quotes.filters.QuoteFilter`)."""

    status = forms.ChoiceField(choices=[("", "Any status"), *Quote.Status.choices], required=False)
    owner = forms.ChoiceField(required=False)
    customer = forms.ChoiceField(required=False)
    created_from = forms.DateField(required=False, label="Created from", widget=DateInput())
    created_to = forms.DateField(required=False, label="Created to", widget=DateInput())

    def __init__(self, *args, owners, customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone"), *((str(u.pk), u.get_full_name() or u.username)
                                                          for u in owners)]
        self.fields["customer"].choices = [("", "Any customer"), *((str(c.pk), c.name) for c in customers)]
