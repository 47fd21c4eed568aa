"""customers.services: one outbox event per change in the same transaction, nothing saved on refusal,
audit entries with before/after and the acting user."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import User

from customers import services
from customers.models import Contact, Customer
from revops.kernel.actor import acting_as
from revops.kernel.errors import ValidationFailed
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def _counts():
    return Customer.objects.count(), OutboxEvent.objects.count(), AuditEntry.objects.count()


class TestCustomerCreate:
    def test_records_exactly_one_customer_created_event(self, sales_rep):
        customer = services.customer_create(
            name="Acme",
            external_id="CRM-1",
            currency="USD",
            country="us",
            size=Customer.Size.SMB,
            owner=sales_rep,
        )

        event = OutboxEvent.objects.get()
        assert event.type == "customer.created"
        assert (event.aggregate_type, event.aggregate_id) == ("customers.customer", str(customer.pk))
        assert event.payload == {
            "id": customer.pk,
            "name": "Acme",
            "external_id": "CRM-1",
            "currency": "USD",
            "country": "US",
            "industry": "",
            "size": "smb",
            "region": "",
            "acquisition_channel": "",
            "owner": sales_rep.pk,
        }
        assert Customer.objects.get().country == "US"

    def test_blank_external_id_is_stored_as_null_so_many_customers_can_have_none(self):
        a = services.customer_create(name="A", currency="USD", external_id="")
        b = services.customer_create(name="B", currency="USD", external_id="")

        assert (a.external_id, b.external_id) == (None, None)
        assert Customer.objects.count() == 2

    def test_event_and_row_share_one_transaction(self):
        failing_outbox = mock.patch(
            "customers.services.record_event", side_effect=RuntimeError("outbox down")
        )
        with failing_outbox, pytest.raises(RuntimeError):
            services.customer_create(name="Acme", currency="USD")

        assert _counts() == (0, 0, 0)

    @pytest.mark.parametrize(
        ("fields", "bad_field"),
        [
            ({"name": "Acme", "currency": "ABC"}, "currency"),
            ({"name": "Acme", "currency": "usd"}, "currency"),
            ({"name": "  ", "currency": "USD"}, "name"),
            ({"name": "Acme", "currency": "USD", "country": "USA"}, "country"),
            ({"name": "Acme", "currency": "USD", "country": "1X"}, "country"),
            ({"name": "Acme", "currency": "USD", "external_id": "DUP"}, "external_id"),
        ],
    )
    def test_refusals_name_the_field_and_save_nothing(self, fields, bad_field):
        CustomerFactory(external_id="DUP")
        before = _counts()

        with pytest.raises(ValidationFailed) as caught:
            services.customer_create(**fields)

        assert list(caught.value.fields) == [bad_field]
        assert _counts() == before

    def test_unknown_field_is_refused(self):
        with pytest.raises(ValidationFailed, match="unknown customer fields: colour"):
            services.customer_create(name="Acme", currency="USD", colour="red")
        assert _counts() == (0, 0, 0)

    def test_audit_entry_for_the_creation_names_the_actor(self, sales_rep):
        with acting_as(sales_rep):
            customer = services.customer_create(name="Acme", currency="EUR")

        entry = AuditEntry.objects.get()
        assert (entry.action, entry.object_id, entry.actor_id) == ("create", str(customer.pk), sales_rep.pk)
        assert entry.changes["name"] == [None, "Acme"]
        assert entry.changes["currency"] == [None, "EUR"]


class TestCustomerUpdate:
    def test_records_customer_updated_with_the_changed_fields(self):
        customer = CustomerFactory(name="Old", industry="retail", region="na")

        services.customer_update(customer_id=customer.pk, name="New", industry="retail", region="emea")

        event = OutboxEvent.objects.get()
        assert event.type == "customer.updated"
        assert event.aggregate_id == str(customer.pk)
        assert event.payload["changed"] == ["name", "region"]
        assert (event.payload["name"], event.payload["region"]) == ("New", "emea")

    def test_audit_entry_has_before_and_after_and_the_acting_user(self, finance_user):
        customer = CustomerFactory(name="Old", tax_exempt=False)

        with acting_as(finance_user):
            services.customer_update(customer_id=customer.pk, name="New", tax_exempt=True)

        entry = AuditEntry.objects.get(action=AuditEntry.Action.UPDATE)
        assert entry.changes == {"name": ["Old", "New"], "tax_exempt": [False, True]}
        assert entry.actor_id == finance_user.pk
        assert entry.object_repr == "New"

    def test_no_change_no_event_no_audit(self):
        customer = CustomerFactory(name="Same")
        before = _counts()

        result = services.customer_update(customer_id=customer.pk, name="Same")

        assert result.pk == customer.pk
        assert _counts() == before

    def test_refused_update_changes_nothing(self):
        CustomerFactory(external_id="TAKEN")
        customer = CustomerFactory(external_id="MINE", name="Keep")
        before = _counts()

        with pytest.raises(ValidationFailed) as caught:
            services.customer_update(customer_id=customer.pk, name="Lost", external_id="TAKEN")

        assert list(caught.value.fields) == ["external_id"]
        customer.refresh_from_db()
        assert (customer.name, customer.external_id) == ("Keep", "MINE")
        assert _counts() == before

    def test_unknown_currency_on_update_changes_nothing(self):
        customer = CustomerFactory(currency="USD")
        before = _counts()

        with pytest.raises(ValidationFailed) as caught:
            services.customer_update(customer_id=customer.pk, currency="ZZZ")

        assert list(caught.value.fields) == ["currency"]
        customer.refresh_from_db()
        assert customer.currency == "USD"
        assert _counts() == before

    def test_input_equal_after_normalising_is_not_a_change(self):
        customer = CustomerFactory(country="DE", external_id=None, name="Same")
        before = _counts()

        services.customer_update(customer_id=customer.pk, country="de", external_id="", name="Same")

        assert _counts() == before

    def test_lost_external_id_race_is_a_field_error_not_a_crash(self):
        CustomerFactory(external_id="TAKEN")
        customer = CustomerFactory(external_id="MINE")
        before = _counts()

        # The check-then-write window: the clash check passes, the unique constraint decides.
        with mock.patch("customers.services._clean"), pytest.raises(ValidationFailed) as caught:
            services.customer_update(customer_id=customer.pk, external_id="TAKEN")

        assert list(caught.value.fields) == ["external_id"]
        customer.refresh_from_db()
        assert customer.external_id == "MINE"
        assert _counts() == before


class TestContacts:
    def test_contact_create_lower_cases_email_and_records_event_on_the_customer(self):
        customer = CustomerFactory()

        contact = services.contact_create(
            customer=customer, name="Ada", email="  Ada@Example.COM ", role="billing"
        )

        assert contact.email == "ada@example.com"
        event = OutboxEvent.objects.get()
        assert event.type == "contact.created"
        assert event.aggregate_id == str(customer.pk)
        assert event.payload == {"customer": customer.pk, "contact": contact.pk, "email": "ada@example.com"}

    def test_duplicate_email_is_refused_and_nothing_is_saved(self):
        existing = ContactFactory(email="ada@example.com")
        before = (Contact.objects.count(), OutboxEvent.objects.count())

        with pytest.raises(ValidationFailed) as caught:
            services.contact_create(customer=existing.customer, name="Ada 2", email="ADA@example.com")

        assert list(caught.value.fields) == ["email"]
        assert (Contact.objects.count(), OutboxEvent.objects.count()) == before

    def test_lost_email_race_is_a_field_error_not_a_crash(self):
        existing = ContactFactory(email="ada@example.com")
        before = (Contact.objects.count(), OutboxEvent.objects.count())
        no_clash = mock.Mock(exists=mock.Mock(return_value=False))

        with (
            mock.patch.object(Contact.objects, "filter", return_value=no_clash),
            pytest.raises(ValidationFailed) as caught,
        ):
            services.contact_create(customer=existing.customer, name="Ada 2", email="ada@example.com")

        assert list(caught.value.fields) == ["email"]
        assert (Contact.objects.count(), OutboxEvent.objects.count()) == before

    def test_same_email_at_another_customer_is_fine(self):
        ContactFactory(email="ada@example.com")

        services.contact_create(customer=CustomerFactory(), name="Ada", email="ada@example.com")

        assert Contact.objects.filter(email="ada@example.com").count() == 2


class TestPortalAccessGrant:
    def test_creates_a_user_without_staff_role_and_links_it(self):
        contact = ContactFactory(email="cfo@acme.example")

        user = services.portal_access_grant(contact=contact, password="a-long-portal-pass-1")

        contact.refresh_from_db()
        assert contact.portal_user == user
        assert user.username == "cfo@acme.example"
        assert user.check_password("a-long-portal-pass-1")
        assert not user.groups.exists()
        assert not user.is_staff
        assert OutboxEvent.objects.filter(type="contact.portal_access_granted").count() == 1

    def test_granting_twice_returns_the_same_user_and_records_once(self):
        contact = ContactFactory()

        first = services.portal_access_grant(contact=contact)
        second = services.portal_access_grant(contact=contact)

        assert first == second
        assert not first.has_usable_password()
        assert OutboxEvent.objects.filter(type="contact.portal_access_granted").count() == 1

    def test_username_clash_is_refused_and_nothing_is_created(self, make_user):
        make_user(username="taken@acme.example")
        contact = ContactFactory(email="taken@acme.example")
        before = (User.objects.count(), OutboxEvent.objects.count())

        with pytest.raises(ValidationFailed) as caught:
            services.portal_access_grant(contact=contact)

        assert list(caught.value.fields) == ["email"]
        contact.refresh_from_db()
        assert contact.portal_user is None
        assert (User.objects.count(), OutboxEvent.objects.count()) == before
