"""Page forms for billing. They only parse input (types, choices); the rules live in the services
(`invoice_void`, `payment_record`, `credit_note_create`, ...), whose field errors `apply_domain_errors`
puts beside the matching input: `allocations[0].amount` beside the payment's amount, `lines[2].amount`
beside the amount of the third line credited."""

from __future__ import annotations

import re

from django import forms
from django.utils import timezone

from revops.kernel.errors import DomainError

from . import page_queries
from .models import Invoice

ITEM_KEY = re.compile(r"^(\w+)\[(\d+)\](?:\.(\w+))?$")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


def _amount_field(label: str = "Amount", **kwargs) -> forms.DecimalField:
    return forms.DecimalField(label=label, widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
                              **kwargs)


def apply_domain_errors(form: forms.Form, exc: DomainError, aliases: dict[str, str] | None = None,
                        rows: list[str] | None = None) -> None:
    """Put each of the service's field messages beside its input.

    `aliases` renames service keys (`allocations[0].amount` -> `amount`); `rows[i]` is the form field
    that holds the i-th item sent (`lines[2].amount` -> `rows[2]`). The rest go on top of the form."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    aliases = aliases or {}
    for key, messages in exc.fields.items():
        name = aliases.get(key, key)
        match = ITEM_KEY.match(key)
        if name not in form.fields and match and rows is not None and int(match.group(2)) < len(rows):
            name = rows[int(match.group(2))]
        form.add_error(name if name in form.fields else None, list(messages))


class CustomerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} ({obj.currency})"


# --- lists ------------------------------------------------------------------------------------------------


class InvoiceFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[
        ("", "Any status"), (page_queries.OPEN, "Open (issued or partly paid)"), *Invoice.Status.choices])
    customer = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any customer")
    currency = forms.ChoiceField(required=False)
    due_from = forms.DateField(required=False, label="Due from", widget=DateInput())
    due_to = forms.DateField(required=False, label="Due by", widget=DateInput())
    run = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, customers, currencies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        self.fields["currency"].choices = [("", "Any currency"), *((c, c) for c in currencies)]

    def filters(self) -> dict:
        """The valid filters (an invalid one is ignored and shown as an error on the bar)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class PaymentFilterForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any customer")
    currency = forms.ChoiceField(required=False)

    def __init__(self, *args, customers, currencies, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers
        self.fields["currency"].choices = [("", "Any currency"), *((c, c) for c in currencies)]

    filters = InvoiceFilterForm.filters


def checked_invoice_ids(data) -> list[int]:
    """The invoices ticked in the approval queue (`invoice` repeats), in order, once each. Any id: the
    services report the ones they refuse, invoice by invoice."""
    return list(dict.fromkeys(int(v) for v in data.getlist("invoice") if v.isdigit()))


class AsOfForm(forms.Form):
    as_of = forms.DateField(label="As of", widget=DateInput())


# --- invoice actions ----------------------------------------------------------------------------------------


class VoidForm(forms.Form):
    reason = forms.CharField(required=False, label="Reason", widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Required. The charges count as not billed: the next run bills them again.")


class UncollectibleForm(forms.Form):
    reason = forms.CharField(required=False, label="Note", widget=forms.Textarea(attrs={"rows": 2}))


class InvoicePaymentForm(forms.Form):
    """A payment for this invoice: all of it is allocated to the invoice."""

    amount = _amount_field()
    received_on = forms.DateField(label="Received on", widget=DateInput())
    reference = forms.CharField(required=False, max_length=120, help_text="Bank reference, cheque number…")

    ALIASES = {"allocations[0].amount": "amount", "allocations[0].invoice": "amount"}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("received_on", timezone.localdate())
        super().__init__(*args, **kwargs)


class CreditNoteForm(forms.Form):
    """One optional amount per line that can still be credited, a reason, and whether to refund."""

    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    refund = forms.BooleanField(required=False, label="Refund what is already paid",
                                help_text="Otherwise what exceeds the amount due becomes customer credit.")

    def __init__(self, *args, lines: list[page_queries.LineRow], **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = lines
        for row in lines:
            self.fields[self.field_name(row)] = forms.DecimalField(
                required=False, label=f"Credit on {row.line.description}",
                widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal",
                                                "aria-label": f"Credit on {row.line.description}"}))
        self.order_fields([self.field_name(r) for r in lines] + ["reason", "refund"])

    @staticmethod
    def field_name(row: page_queries.LineRow) -> str:
        return f"line-{row.line.pk}-amount"

    def line_rows(self):
        return [(row, self[self.field_name(row)]) for row in self.rows]

    def lines_to_credit(self) -> tuple[list[dict], list[str]]:
        """([{"invoice_line", "amount"}], the field of each) for the lines given an amount."""
        specs, names = [], []
        for row in self.rows:
            name = self.field_name(row)
            value = self.cleaned_data.get(name)
            if value is not None:
                specs.append({"invoice_line": row.line.pk, "amount": str(value)})
                names.append(name)
        return specs, names


# --- bill runs and payments -------------------------------------------------------------------------------


class BillRunForm(forms.Form):
    as_of = forms.DateField(label="Bill as of", widget=DateInput(),
                            help_text="Everything due on this date: periods in advance, usage in arrears.")
    dry_run = forms.BooleanField(required=False, label="Dry run",
                                 help_text="Show what would be invoiced; create nothing.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("as_of", timezone.localdate())
        super().__init__(*args, **kwargs)


class PaymentForm(forms.Form):
    """A payment from a customer, allocated to its open invoices oldest first; the rest is credit."""

    customer = CustomerChoiceField(queryset=None, empty_label="— choose a customer —")
    amount = _amount_field()
    currency = forms.CharField(required=False, max_length=3,
                               help_text="Blank for the customer's currency.",
                               widget=forms.TextInput(attrs={"size": 4, "autocapitalize": "characters"}))
    received_on = forms.DateField(label="Received on", widget=DateInput())
    reference = forms.CharField(required=False, max_length=120)

    def __init__(self, *args, customers, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("received_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = customers

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()
