"""Page forms of the profitability area. They only parse input; the rules live in the services
(`service_cost_create`, `support_volume_set`, `acquisition_spend_create`, `acquisition_spend_import`),
whose field errors `apply_errors` puts beside the matching input."""
from __future__ import annotations

from django import forms

from customers.models import Customer
from revops.kernel.errors import DomainError

from .models import AcquisitionSpend, SegmentScope, ServiceCost
from .services import profitability as prof


class MonthInput(forms.DateInput):
    input_type = "month"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m")


class MonthField(forms.DateField):
    widget = MonthInput

    def __init__(self, **kwargs):
        super().__init__(input_formats=["%Y-%m", "%Y-%m-%d"], **kwargs)


def _amount() -> forms.DecimalField:
    return forms.DecimalField(min_value=0, widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))


def apply_errors(form: forms.Form, exc: DomainError) -> None:
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for key, messages in exc.fields.items():
        form.add_error(key if key in form.fields else None, list(messages) if key in form.fields
                       else [f"{key}: {m}" for m in messages])


SEGMENT_CHOICES = SegmentScope.CHOICES


class WindowForm(forms.Form):
    """The period the pages show: months, YYYY-MM (default: the trailing 12 months)."""

    start = MonthField(label="From", required=False)
    end = MonthField(label="To", required=False)
    segment_field = forms.ChoiceField(label="Segment", required=False, choices=list(prof.SEGMENTS.items()))


class ServiceCostForm(forms.Form):
    period = MonthField(label="Month")
    category = forms.ChoiceField(choices=ServiceCost.Category.choices)
    amount = _amount()
    currency = forms.CharField(max_length=3, initial=prof.reporting_currency)
    driver = forms.ChoiceField(choices=ServiceCost.Driver.choices,
                               help_text="Direct: one customer. Otherwise shared, split by the driver.")
    customer = forms.ModelChoiceField(queryset=Customer.objects.only("pk", "name").order_by("name"), required=False,
                                      help_text="Direct costs only.")
    segment_field = forms.ChoiceField(choices=SEGMENT_CHOICES, required=False, label="Segment (shared costs)")
    segment_value = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=200, required=False)


class SupportVolumeForm(forms.Form):
    customer = forms.ModelChoiceField(queryset=Customer.objects.only("pk", "name").order_by("name"))
    period = MonthField(label="Month")
    tickets = forms.IntegerField(min_value=0)


class AcquisitionSpendForm(forms.Form):
    channel = forms.ChoiceField(choices=Customer.Channel.choices)
    period = MonthField(label="Month")
    category = forms.ChoiceField(choices=AcquisitionSpend.Category.choices)
    amount = _amount()
    currency = forms.CharField(max_length=3, initial=prof.reporting_currency)
    segment_field = forms.ChoiceField(choices=SEGMENT_CHOICES, required=False, label="Segment (optional)")
    segment_value = forms.CharField(max_length=100, required=False)
    note = forms.CharField(max_length=200, required=False)


class SpendCsvForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Header: channel, period, category, amount, currency "
                                                       "[, segment_field, segment_value, note]. All rows or none.")
