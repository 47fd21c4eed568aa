"""Page forms for customers and contacts.

The forms only parse input (types, required, choices); the rules (currency code, country code,
unique external id, one contact per email) live in `customers.services`, and `apply_domain_errors`
puts the service's field messages beside the matching form field.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q

from revops.kernel.errors import DomainError
from revops.kernel.roles import STAFF_ROLES

from .models import Contact, Customer


def apply_domain_errors(form: forms.Form, exc: DomainError) -> None:
    """Map `exc.fields` onto the form: known fields get the message beside them, the rest on top."""
    if not exc.fields:
        form.add_error(None, exc.message)
        return
    for name, messages in exc.fields.items():
        form.add_error(name if name in form.fields else None, list(messages))


def _staff_users():
    return (
        get_user_model()
        .objects.filter(Q(groups__name__in=STAFF_ROLES) | Q(is_superuser=True), is_active=True)
        .distinct()
        .order_by("username")
    )


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


class CustomerForm(forms.Form):
    name = forms.CharField(max_length=200)
    external_id = forms.CharField(
        max_length=100,
        required=False,
        empty_value=None,
        label="External id",
        help_text="The CRM's id, if any.",
    )
    currency = forms.CharField(
        max_length=3,
        help_text="ISO 4217 code, e.g. USD, EUR, JPY. Quotes and invoices use it.",
        widget=forms.TextInput(attrs={"list": "currency-codes", "autocomplete": "off", "size": 5}),
    )
    billing_email = forms.EmailField(required=False)
    country = forms.CharField(
        max_length=60,
        required=False,
        help_text="Two-letter ISO 3166 code, e.g. US, DE, JP.",
        widget=forms.TextInput(attrs={"size": 4}),
    )
    tax_exempt = forms.BooleanField(required=False)
    tax_id = forms.CharField(max_length=50, required=False, label="Tax id")
    industry = forms.CharField(max_length=60, required=False)
    size = forms.ChoiceField(choices=[("", "—"), *Customer.Size.choices], required=False)
    region = forms.ChoiceField(choices=[("", "—"), *Customer.Region.choices], required=False)
    acquisition_channel = forms.ChoiceField(
        choices=[("", "—"), *Customer.Channel.choices], required=False, label="Channel"
    )
    address = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    owner = OwnerChoiceField(queryset=_staff_users(), required=False, empty_label="— nobody —")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A fresh queryset per form: the class attribute's would be evaluated once and cached.
        self.fields["owner"].queryset = _staff_users()

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()

    @classmethod
    def initial_for(cls, customer: Customer) -> dict:
        return {name: getattr(customer, name) for name in cls.base_fields}


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField()
    phone = forms.CharField(max_length=40, required=False)
    title = forms.CharField(max_length=100, required=False)
    role = forms.ChoiceField(choices=Contact.Role.choices, initial=Contact.Role.OTHER)


class CommentForm(forms.Form):
    """A comment on the customer's shared timeline; the rules (not empty, length) are the service's."""

    body = forms.CharField(
        label="Comment",
        required=False,  # an empty comment gets the service's message, like the API
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Add a note for the team; @username notifies a colleague"}),
    )


class CustomerSearchForm(forms.Form):
    """The filter bar of the customer list (the filtering itself is `CustomerFilter`)."""

    q = forms.CharField(
        required=False,
        label="Search",
        widget=forms.SearchInput(
            attrs={"placeholder": "Name, external id or billing email", "autocomplete": "off"}
        ),
    )
    size = forms.ChoiceField(choices=[("", "Any size"), *Customer.Size.choices], required=False)
    region = forms.ChoiceField(choices=[("", "Any region"), *Customer.Region.choices], required=False)
    industry = forms.ChoiceField(required=False)
    acquisition_channel = forms.ChoiceField(
        choices=[("", "Any channel"), *Customer.Channel.choices], required=False, label="Channel"
    )
    currency = forms.ChoiceField(required=False)

    def __init__(self, *args, industries: list[str], currencies: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["industry"].choices = [("", "Any industry"), *((i, i) for i in industries)]
        self.fields["currency"].choices = [("", "Any currency"), *((c, c) for c in currencies)]
