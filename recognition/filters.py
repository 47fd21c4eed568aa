"""Filters for the revenue API (django-filter): by contract, customer, status, source and date ranges;
months as `YYYY-MM` (a bad month is a 400 naming the parameter)."""
from __future__ import annotations

import re
from datetime import date

import django_filters
from django import forms
from django.db.models import Exists, OuterRef
from drf_spectacular.utils import extend_schema_field

from quotes.filters import IdFilter

from .models import AccountingPeriod, FxRate, JournalEntry, JournalLine, PerformanceObligation

MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(raw: str) -> date | None:
    """"2027-01" -> date(2027, 1, 1); None when it is not a real month."""
    match = MONTH_RE.match((raw or "").strip())
    if not match:
        return None
    year, month = int(match[1]), int(match[2])
    if not (1 <= month <= 12 and year >= 1):
        return None
    return date(year, month, 1)


class MonthFormField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        month = parse_month(value)
        if month is None:
            raise forms.ValidationError("must be a month, YYYY-MM (e.g. 2027-01)")
        return month


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2027-01"})
class MonthFilter(django_filters.Filter):
    """A month given as `YYYY-MM`, compared with a first-of-month date column."""

    field_class = MonthFormField


class ObligationFilter(django_filters.FilterSet):
    contract = IdFilter(field_name="contract_id", help_text="Contract id.")
    customer = IdFilter(field_name="contract__customer_id", help_text="Customer id (of the contract).")
    product = IdFilter(field_name="product_id", help_text="Product id.")
    status = django_filters.MultipleChoiceFilter(
        choices=PerformanceObligation.Status.choices, help_text="One status, or several: `?status=active&status=ended`.")
    pattern = django_filters.MultipleChoiceFilter(choices=PerformanceObligation.Pattern.choices,
                                                  help_text="ratable, point_in_time or usage.")
    start_date_from = django_filters.DateFilter(field_name="start_date", lookup_expr="gte",
                                                help_text="Starts on or after this date.")
    start_date_to = django_filters.DateFilter(field_name="start_date", lookup_expr="lte",
                                              help_text="Starts on or before this date.")
    end_date_from = django_filters.DateFilter(field_name="end_date", lookup_expr="gte",
                                              help_text="Ends on or after this date.")
    end_date_to = django_filters.DateFilter(field_name="end_date", lookup_expr="lte",
                                            help_text="Ends on or before this date.")
    active_on = django_filters.DateFilter(method="filter_active_on",
                                          help_text="Its service period covers this date.")

    class Meta:
        model = PerformanceObligation
        fields = ["contract", "customer", "product", "status", "pattern", "currency", "version"]

    def filter_active_on(self, queryset, name, value):
        return queryset.filter(start_date__lte=value, end_date__gte=value)


class JournalEntryFilter(django_filters.FilterSet):
    source = django_filters.CharFilter(
        field_name="source", help_text="invoice.issued, payment.received, revenue.recognized, credit_note.issued, "
                                       "credit.applied, invoice.credit.")
    source_key = django_filters.CharFilter(field_name="source_key", help_text="e.g. `invoice.issued:42`.")
    contract = IdFilter(field_name="contract_id", help_text="Contract id.")
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    account = django_filters.CharFilter(method="filter_account", help_text="Entries with a line on this account code.")
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", help_text="Dated on or after.")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", help_text="Dated on or before.")
    period = MonthFilter(field_name="period__start", help_text="Posted in this accounting period, `YYYY-MM`.")
    corrects_period = MonthFilter(field_name="corrects_period__start",
                                  help_text="Late items belonging to this closed period, `YYYY-MM`.")
    late = django_filters.BooleanFilter(field_name="corrects_period", lookup_expr="isnull", exclude=True,
                                        help_text="true: only late items (posted after their period closed).")

    class Meta:
        model = JournalEntry
        fields = ["source", "source_key", "contract", "customer", "currency"]

    def filter_account(self, queryset, name, value):
        return queryset.filter(Exists(JournalLine.objects.filter(entry_id=OuterRef("pk"), account__code=value)))


class AccountingPeriodFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=AccountingPeriod.Status.choices, help_text="open or closed.")
    period_from = MonthFilter(field_name="start", lookup_expr="gte", help_text="From this month, `YYYY-MM`.")
    period_to = MonthFilter(field_name="start", lookup_expr="lte", help_text="Up to this month, `YYYY-MM`.")

    class Meta:
        model = AccountingPeriod
        fields = ["status"]


class FxRateFilter(django_filters.FilterSet):
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", help_text="On or after.")
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", help_text="On or before.")

    class Meta:
        model = FxRate
        fields = ["currency", "date"]

