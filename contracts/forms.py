"""Page forms for contracts. They only parse input (types, choices); the rules live in the services
(`plan_amendment`, `contract_renew`, `contract_terminate`), whose field errors `apply_domain_errors`
puts beside the matching input: `effective_date` beside the date, `changes[2].quantity` beside the
quantity of the third row that changes something.

A confirm must match what was previewed: each preview carries a fingerprint of the inputs that
shaped it, and a confirm whose inputs no longer match shows the new preview instead of applying.
"""

from __future__ import annotations

import hashlib
import json
import re

from django import forms

from revops.kernel.errors import DomainError

from .models import Contract

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
AMOUNT_WIDGET = forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"})
CHANGE_KEY = re.compile(r"^changes\[(\d+)\](?:\.(\w+))?$")


def _amount(label: str, **kwargs) -> forms.DecimalField:
    """An optional number in a table cell: no <label> there, so the label is the input's aria-label."""
    widget = forms.NumberInput(attrs={"step": "any", "inputmode": "decimal", "aria-label": label})
    return forms.DecimalField(required=False, label=label, widget=widget, **kwargs)


def fingerprint(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def apply_domain_errors(form: forms.Form, exc: DomainError, rows: list[str] | None = None) -> None:
    """Put each of the service's field messages beside its input; `rows[i]` is the field prefix of
    the i-th change sent (so `changes[i].unit_price` lands on `<prefix>unit_price`)."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for key, messages in exc.fields.items():
        name = key
        match = CHANGE_KEY.match(key)
        if match and rows is not None and int(match.group(1)) < len(rows):
            prefix = rows[int(match.group(1))]
            name = (
                f"{prefix}{match.group(2)}"
                if f"{prefix}{match.group(2)}" in form.fields
                else f"{prefix}quantity"
            )
        form.add_error(name if name in form.fields else None, list(messages))


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


class ContractFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Contract.Status.choices], required=False)
    customer = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any customer")
    owner = UserChoiceField(queryset=None, required=False, empty_label="Any owner")
    end_from = forms.DateField(required=False, label="Ends from", widget=DATE_WIDGET)
    end_to = forms.DateField(required=False, label="Ends by", widget=DATE_WIDGET)

    def __init__(self, *args, customers, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        self.fields["owner"].queryset = owners

    def filters(self) -> dict:
        """The valid filters (an invalid one is ignored and shown as an error on the bar)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class AmendForm(forms.Form):
    """The effective date, a row per line that can change (new quantity and/or new unit price, blank
    for "unchanged") and `add_rows` rows to add a product (quantity, optional unit price)."""

    effective_date = forms.DateField(widget=DATE_WIDGET)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, lines, products, add_rows: int = 2, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.add_row_count = add_rows
        for line in lines:
            name = line.product.name
            self.fields[f"line-{line.pk}-quantity"] = _amount(f"New quantity of {name}")
            self.fields[f"line-{line.pk}-unit_price"] = _amount(f"New unit price of {name}")
        for n in range(add_rows):
            self.fields[f"add-{n}-product"] = forms.ModelChoiceField(
                queryset=products,
                required=False,
                empty_label="— product —",
                label=f"Product to add ({n + 1})",
                widget=forms.Select(attrs={"aria-label": f"Product to add ({n + 1})"}),
            )
            self.fields[f"add-{n}-quantity"] = _amount(f"Quantity to add ({n + 1})")
            self.fields[f"add-{n}-unit_price"] = _amount(f"Unit price to add ({n + 1})")

    # Rows for the template: bound fields side by side.
    def line_rows(self):
        return [
            (line, self[f"line-{line.pk}-quantity"], self[f"line-{line.pk}-unit_price"])
            for line in self.lines
        ]

    def add_rows(self):
        return [
            (self[f"add-{n}-product"], self[f"add-{n}-quantity"], self[f"add-{n}-unit_price"])
            for n in range(self.add_row_count)
        ]

    def changes(self) -> tuple[list[dict], list[str]]:
        """(the service's `changes`, the field prefix of each) from the cleaned rows that say something."""
        data = self.cleaned_data
        changes, rows = [], []
        for line in self.lines:
            quantity, unit_price = (
                data.get(f"line-{line.pk}-quantity"),
                data.get(f"line-{line.pk}-unit_price"),
            )
            if quantity is None and unit_price is None:
                continue
            change = {"line": line.pk}
            if quantity is not None:
                change["quantity"] = str(quantity)
            if unit_price is not None:
                change["unit_price"] = str(unit_price)
            changes.append(change)
            rows.append(f"line-{line.pk}-")
        for n in range(self.add_row_count):
            product = data.get(f"add-{n}-product")
            quantity, unit_price = data.get(f"add-{n}-quantity"), data.get(f"add-{n}-unit_price")
            if product is None:
                if quantity is not None or unit_price is not None:
                    self.add_error(f"add-{n}-product", "pick the product to add")
                continue
            change = {"product": product.pk, "quantity": None if quantity is None else str(quantity)}
            if unit_price is not None:
                change["unit_price"] = str(unit_price)
            changes.append(change)
            rows.append(f"add-{n}-")
        return changes, rows

    def fingerprint(self, changes: list[dict]) -> str:
        return fingerprint({"effective_date": self.cleaned_data["effective_date"], "changes": changes})


class RenewForm(forms.Form):
    term_months = forms.IntegerField(label="Term (months)")
    uplift_percent = forms.DecimalField(
        label="Uplift (%)",
        max_digits=7,
        decimal_places=4,
        min_value=-100,
        widget=AMOUNT_WIDGET,
        help_text="Applied to every carried line's price; negative for a discount.",
    )

    def fingerprint(self) -> str:
        return fingerprint(self.cleaned_data)


class TerminateForm(forms.Form):
    effective_date = forms.DateField(
        label="Last day",
        widget=DATE_WIDGET,
        help_text="The contract's last day (inclusive); unused days after it are credited.",
    )
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def fingerprint(self) -> str:
        return fingerprint({"effective_date": self.cleaned_data["effective_date"]})
