"""Page forms for the revenue pages. They parse the query string (months, dates, choices) and keep the
range sane; the figures and the rules (closing, reopening) live in the services."""

from __future__ import annotations

import re
from datetime import date

from django import forms
from django.core.exceptions import ValidationError

from revops.kernel.dates import add_months

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MAX_MONTHS = 60  # five years of columns is already a very wide table


def parse_month(value: str) -> date | None:
    match = MONTH.match((value or "").strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and 1900 <= year <= 9999):
        return None
    return date(year, month, 1)


class MonthInput(forms.TextInput):
    input_type = "month"

    def format_value(self, value):
        return f"{value:%Y-%m}" if isinstance(value, date) else value


class MonthField(forms.Field):
    """YYYY-MM -> the month's first day."""

    widget = MonthInput

    def to_python(self, value):
        if isinstance(value, date):
            return value.replace(day=1)
        if value in self.empty_values:
            return None
        month = parse_month(str(value))
        if month is None:
            raise ValidationError("Enter a month as YYYY-MM.", code="invalid")
        return month


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class MonthRangeForm(forms.Form):
    from_month = MonthField(label="From")
    to_month = MonthField(label="To")

    # The query string says ?from=…&to=… ("from" is a Python keyword, so the fields are named otherwise).
    PARAMS = {"from_month": "from", "to_month": "to"}

    def add_prefix(self, field_name):
        return self.PARAMS.get(field_name, field_name)

    def clean(self):
        data = super().clean()
        first, last = data.get("from_month"), data.get("to_month")
        if first and last:
            if last < first:
                self.add_error("to_month", "The last month comes before the first.")
            elif add_months(first, MAX_MONTHS) <= last:
                self.add_error("to_month", f"Show at most {MAX_MONTHS} months at a time.")
        return data


class WaterfallForm(MonthRangeForm):
    by = forms.ChoiceField(label="By", choices=[("contract", "Contract"), ("customer", "Customer"),
                                                ("product", "Product")])


class RevenueByForm(MonthRangeForm):
    dimension = forms.ChoiceField(label="By", choices=[("product", "Product"), ("customer", "Customer"),
                                                       ("segment", "Segment (customer size)"),
                                                       ("family", "Product family")])


class PeriodForm(forms.Form):
    period = MonthField(label="Month")


class AsOfForm(forms.Form):
    as_of = forms.DateField(label="As of", widget=DateInput())


class JournalFilterForm(forms.Form):
    source = forms.ChoiceField(required=False, label="Source")
    contract = forms.CharField(required=False, label="Contract", max_length=30,
                               widget=forms.TextInput(attrs={"placeholder": "Contract number"}))
    customer = forms.ModelChoiceField(queryset=None, required=False, empty_label="Any customer", label="Customer")
    date_from = forms.DateField(required=False, label="From", widget=DateInput())
    date_to = forms.DateField(required=False, label="To", widget=DateInput())

    def __init__(self, *args, sources: list[str], customers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [("", "Any source"), *((s, s) for s in sources)]
        self.fields["customer"].queryset = customers

    def filters(self) -> dict:
        """The valid filters (an invalid one is ignored and shown as an error on the bar)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}


class GlExportForm(forms.Form):
    from_date = forms.DateField(label="From", widget=DateInput())
    to_date = forms.DateField(label="To", widget=DateInput())
    format = forms.ChoiceField(label="Format", choices=[("csv", "CSV"), ("json", "JSON")], initial="csv")

    PARAMS = {"from_date": "from", "to_date": "to"}
    add_prefix = MonthRangeForm.add_prefix

    def clean(self):
        data = super().clean()
        if data.get("from_date") and data.get("to_date") and data["to_date"] < data["from_date"]:
            self.add_error("to_date", "The last day comes before the first.")
        return data


class ReopenForm(forms.Form):
    reason = forms.CharField(required=False, label="Reason", max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}),
                             help_text="Required: why the month is reopened (kept with the period).")
