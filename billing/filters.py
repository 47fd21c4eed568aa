"""Filters for the billing API (django-filter): by customer, contract, invoice, status and date ranges."""
from __future__ import annotations

import django_filters
from django.db.models import Q

from quotes.filters import IdFilter

from .models import BillRun, CreditNote, FinanceApprovalRule, Invoice, Payment, TaxRate


class InvoiceFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=Invoice.Status.choices, help_text="One status, or several: `?status=issued&status=partially_paid`.")
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    contract = IdFilter(field_name="contract_id", help_text="Contract id.")
    bill_run = IdFilter(field_name="bill_run_id", help_text="The bill run that created the invoice.")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact", help_text="e.g. INV-2027-000001.")
    issue_date_from = django_filters.DateFilter(field_name="issue_date", lookup_expr="gte",
                                                help_text="Issued on or after this date.")
    issue_date_to = django_filters.DateFilter(field_name="issue_date", lookup_expr="lte",
                                              help_text="Issued on or before this date.")
    due_date_from = django_filters.DateFilter(field_name="due_date", lookup_expr="gte",
                                              help_text="Due on or after this date.")
    due_date_to = django_filters.DateFilter(field_name="due_date", lookup_expr="lte",
                                            help_text="Due on or before this date.")
    period_from = django_filters.DateFilter(field_name="period_end", lookup_expr="gte",
                                            help_text="Billing period ends on or after this date.")
    period_to = django_filters.DateFilter(field_name="period_start", lookup_expr="lte",
                                          help_text="Billing period starts on or before this date.")
    q = django_filters.CharFilter(method="search", help_text="Search the number and the customer's name.")

    class Meta:
        model = Invoice
        fields = ["status", "customer", "contract", "bill_run", "number", "currency", "pdf_status"]

    def search(self, queryset, name, value):
        return queryset.filter(Q(number__icontains=value) | Q(customer__name__icontains=value))


class CreditNoteFilter(django_filters.FilterSet):
    invoice = IdFilter(field_name="invoice_id", help_text="Invoice id.")
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    contract = IdFilter(field_name="invoice__contract_id", help_text="The credited invoice's contract.")
    number = django_filters.CharFilter(field_name="number", lookup_expr="iexact", help_text="e.g. CN-2027-000001.")
    issued_from = django_filters.DateFilter(field_name="issued_at", lookup_expr="date__gte",
                                            help_text="Issued on or after this date.")
    issued_to = django_filters.DateFilter(field_name="issued_at", lookup_expr="date__lte",
                                          help_text="Issued on or before this date.")

    class Meta:
        model = CreditNote
        fields = ["invoice", "customer", "contract", "number", "currency", "refund"]


class PaymentFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id", help_text="Customer id.")
    invoice = IdFilter(method="filter_invoice", help_text="Payments allocated to this invoice.")
    received_from = django_filters.DateFilter(field_name="received_at", lookup_expr="date__gte",
                                              help_text="Received on or after this date.")
    received_to = django_filters.DateFilter(field_name="received_at", lookup_expr="date__lte",
                                            help_text="Received on or before this date.")

    class Meta:
        model = Payment
        fields = ["customer", "invoice", "currency", "source", "provider", "reference"]

    def filter_invoice(self, queryset, name, value):
        return queryset.filter(allocations__invoice_id=value).distinct()


class TaxRateFilter(django_filters.FilterSet):
    class Meta:
        model = TaxRate
        fields = ["country", "region", "inclusive", "active"]


class FinanceApprovalRuleFilter(django_filters.FilterSet):
    class Meta:
        model = FinanceApprovalRule
        fields = ["condition", "active"]


class BillRunFilter(django_filters.FilterSet):
    as_of_from = django_filters.DateFilter(field_name="as_of", lookup_expr="gte", help_text="As of this day or later.")
    as_of_to = django_filters.DateFilter(field_name="as_of", lookup_expr="lte", help_text="As of this day or earlier.")
    created_from = django_filters.DateFilter(field_name="created_at", lookup_expr="date__gte",
                                             help_text="Started on or after this date.")
    created_to = django_filters.DateFilter(field_name="created_at", lookup_expr="date__lte",
                                           help_text="Started on or before this date.")

    class Meta:
        model = BillRun
        fields = ["status", "dry_run", "as_of"]
