"""Page forms for the catalog: the product filter bar and the "try a quantity" calculator."""

from __future__ import annotations

from django import forms

from .models import Product


class ProductSearchForm(forms.Form):
    """The filter bar of the product list (the filtering itself is `ProductFilter`)."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Name, SKU or description", "autocomplete": "off"}),
    )
    kind = forms.ChoiceField(choices=[("", "Any kind"), *Product.Kind.choices], required=False)
    family = forms.ChoiceField(required=False)
    active = forms.ChoiceField(
        choices=[("", "Active and retired"), ("true", "Active only"), ("false", "Retired only")],
        required=False,
    )

    def __init__(self, *args, families: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["family"].choices = [("", "Any family"), *((f, f) for f in families)]


class CalculatorForm(forms.Form):
    quantity = forms.DecimalField(min_value=0, max_digits=20, decimal_places=6)
    base_amount = forms.DecimalField(
        min_value=0,
        max_digits=19,
        decimal_places=3,
        required=False,
        help_text="The amount the percentage applies to.",
    )
