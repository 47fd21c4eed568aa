"""/api/v1/customers/ and /api/v1/contacts/: fields, writes through the services, filters, refusals,
query counts; and the customer admin (saves through the services, audit trail on the change page)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse

from customers.models import Contact, Customer
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
CONTACTS = "/api/v1/contacts/"

NEW_CUSTOMER = {
    "name": "Acme GmbH",
    "external_id": "CRM-ACME",
    "currency": "EUR",
    "billing_email": "ap@acme.example",
    "country": "DE",
    "tax_exempt": False,
    "industry": "manufacturing",
    "size": "enterprise",
    "region": "emea",
    "acquisition_channel": "partner",
    "tax_id": "DE123456789",
    "address": "Hauptstr. 1, 10115 Berlin",
}


def _counts():
    return Customer.objects.count(), OutboxEvent.objects.count(), AuditEntry.objects.count()


@pytest.fixture
def rep_client(sales_rep, api_client_for):
    return api_client_for(sales_rep)


class TestCreate:
    def test_create_returns_every_contract_field_and_records_one_event(self, rep_client, sales_rep):
        response = rep_client.post(CUSTOMERS, {**NEW_CUSTOMER, "owner": sales_rep.pk}, format="json")

        assert response.status_code == 201, response.content
        body = response.json()
        customer = Customer.objects.get()
        assert body == {
            "id": customer.pk,
            "name": "Acme GmbH",
            "external_id": "CRM-ACME",
            "currency": "EUR",
            "billing_email": "ap@acme.example",
            "country": "DE",
            "tax_exempt": False,
            "industry": "manufacturing",
            "size": "enterprise",
            "region": "emea",
            "acquisition_channel": "partner",
            "created_at": body["created_at"],
            "owner": sales_rep.pk,
            "tax_id": "DE123456789",
            "address": "Hauptstr. 1, 10115 Berlin",
        }
        # An instant with an offset (API.md), the one stored.
        assert dt.datetime.fromisoformat(body["created_at"]) == customer.created_at
        assert dt.datetime.fromisoformat(body["created_at"]).utcoffset() is not None
        event = OutboxEvent.objects.get()
        assert (event.type, event.aggregate_id, event.actor_id) == (
            "customer.created",
            str(customer.pk),
            sales_rep.pk,
        )

    def test_minimal_create_and_lower_case_country_is_normalised(self, rep_client):
        response = rep_client.post(
            CUSTOMERS, {"name": "Tiny", "currency": "JPY", "country": "jp"}, format="json"
        )

        assert response.status_code == 201, response.content
        assert response.json()["country"] == "JP"
        assert response.json()["external_id"] is None
        assert response.json()["owner"] is None
        assert Customer.objects.get().country == "JP"

    def test_unknown_currency_is_a_400_on_currency_and_nothing_is_saved(self, rep_client):
        response = rep_client.post(CUSTOMERS, {**NEW_CUSTOMER, "currency": "XYZ"}, format="json")

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert list(error["fields"]) == ["currency"]
        assert "XYZ" in error["fields"]["currency"][0]
        assert _counts() == (0, 0, 0)

    def test_lower_case_currency_is_refused(self, rep_client):
        response = rep_client.post(CUSTOMERS, {**NEW_CUSTOMER, "currency": "eur"}, format="json")

        assert response.status_code == 400
        assert "currency" in response.json()["error"]["fields"]
        assert _counts() == (0, 0, 0)

    def test_duplicate_external_id_is_a_400_naming_external_id(self, rep_client):
        CustomerFactory(external_id="CRM-ACME")
        before = _counts()

        response = rep_client.post(CUSTOMERS, NEW_CUSTOMER, format="json")

        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert list(error["fields"]) == ["external_id"]
        assert "CRM-ACME" in error["fields"]["external_id"][0]
        assert _counts() == before

    @pytest.mark.parametrize("country", ["USA", "1X", "D"])
    def test_bad_country_code_is_a_400_on_country(self, rep_client, country):
        response = rep_client.post(CUSTOMERS, {**NEW_CUSTOMER, "country": country}, format="json")

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["country"]
        assert _counts() == (0, 0, 0)

    def test_missing_name_and_bad_size_are_reported_together(self, rep_client):
        payload = {k: v for k, v in NEW_CUSTOMER.items() if k != "name"} | {"size": "huge"}

        response = rep_client.post(CUSTOMERS, payload, format="json")

        assert response.status_code == 400
        assert set(response.json()["error"]["fields"]) == {"name", "size"}
        assert _counts() == (0, 0, 0)

    def test_owner_must_be_a_staff_user(self, rep_client, make_user):
        outsider = make_user()  # no role

        response = rep_client.post(CUSTOMERS, {**NEW_CUSTOMER, "owner": outsider.pk}, format="json")

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["owner"]
        assert _counts() == (0, 0, 0)

    def test_read_only_fields_are_ignored_on_create(self, rep_client):
        response = rep_client.post(
            CUSTOMERS, {**NEW_CUSTOMER, "id": 999, "created_at": "2001-01-01T00:00:00Z"}, format="json"
        )

        assert response.status_code == 201
        assert response.json()["id"] != 999
        assert not response.json()["created_at"].startswith("2001")


class TestUpdate:
    def test_patch_goes_through_the_service_with_event_and_audit_by_the_caller(self, rep_client, sales_rep):
        customer = CustomerFactory(name="Old name", billing_email="old@example.com")

        response = rep_client.patch(
            f"{CUSTOMERS}{customer.pk}/",
            {"name": "New name", "billing_email": "new@example.com"},
            format="json",
        )

        assert response.status_code == 200, response.content
        assert response.json()["name"] == "New name"
        customer.refresh_from_db()
        assert (customer.name, customer.billing_email) == ("New name", "new@example.com")
        events = list(OutboxEvent.objects.all())  # the factory saves directly: no event before
        assert [e.type for e in events] == ["customer.updated"]
        assert events[0].payload["changed"] == ["billing_email", "name"]
        assert events[0].actor_id == sales_rep.pk
        entry = AuditEntry.objects.filter(action=AuditEntry.Action.UPDATE, object_id=str(customer.pk)).get()
        assert entry.changes == {
            "name": ["Old name", "New name"],
            "billing_email": ["old@example.com", "new@example.com"],
        }
        assert entry.actor_id == sales_rep.pk

    def test_patch_with_no_change_records_nothing(self, rep_client):
        customer = CustomerFactory(name="Same")
        before = _counts()

        response = rep_client.patch(f"{CUSTOMERS}{customer.pk}/", {"name": "Same"}, format="json")

        assert response.status_code == 200
        assert _counts() == before

    def test_patch_to_a_taken_external_id_is_refused_and_changes_nothing(self, rep_client):
        CustomerFactory(external_id="TAKEN")
        customer = CustomerFactory(external_id="MINE", name="Keep me")
        before = _counts()

        response = rep_client.patch(
            f"{CUSTOMERS}{customer.pk}/", {"external_id": "TAKEN", "name": "Changed"}, format="json"
        )

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["external_id"]
        customer.refresh_from_db()
        assert (customer.external_id, customer.name) == ("MINE", "Keep me")
        assert _counts() == before

    def test_put_replaces_the_fields(self, rep_client):
        customer = CustomerFactory(currency="USD")

        response = rep_client.put(f"{CUSTOMERS}{customer.pk}/", NEW_CUSTOMER, format="json")

        assert response.status_code == 200, response.content
        customer.refresh_from_db()
        assert (customer.name, customer.currency, customer.region) == ("Acme GmbH", "EUR", "emea")


class TestList:
    def test_list_is_paginated_and_ordered_by_name(self, rep_client):
        CustomerFactory(name="Beta")
        CustomerFactory(name="Alpha")
        CustomerFactory(name="Gamma")

        response = rep_client.get(CUSTOMERS)

        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert body["count"] == 3
        assert [c["name"] for c in body["results"]] == ["Alpha", "Beta", "Gamma"]

    def test_ordering_by_name_descending_and_newest_first(self, rep_client):
        with time_machine.travel(dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC), tick=False):
            CustomerFactory(name="Old B")
        with time_machine.travel(dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC), tick=False):
            CustomerFactory(name="New A")

        by_name = rep_client.get(CUSTOMERS, {"ordering": "-name"}).json()["results"]
        newest = rep_client.get(CUSTOMERS, {"ordering": "-created_at"}).json()["results"]
        oldest = rep_client.get(CUSTOMERS, {"ordering": "created_at"}).json()["results"]

        assert [c["name"] for c in by_name] == ["Old B", "New A"]
        assert [c["name"] for c in newest] == ["New A", "Old B"]
        assert [c["name"] for c in oldest] == ["Old B", "New A"]

    def test_search_q_matches_name_external_id_and_billing_email(self, rep_client):
        CustomerFactory(name="Northwind Traders", external_id="X-1", billing_email="a@one.example")
        CustomerFactory(name="Contoso", external_id="NW-42", billing_email="b@two.example")
        CustomerFactory(name="Fabrikam", external_id="X-3", billing_email="pay@northwind.example")
        CustomerFactory(name="Unrelated", external_id="X-4", billing_email="c@three.example")

        def names(q):
            return sorted(c["name"] for c in rep_client.get(CUSTOMERS, {"q": q}).json()["results"])

        assert names("northwind") == ["Fabrikam", "Northwind Traders"]
        assert names("nw-4") == ["Contoso"]
        assert names("nothing-like-this") == []

    def test_segmentation_filters(self, rep_client):
        CustomerFactory(name="Ent EMEA", size="enterprise", region="emea", industry="fintech", currency="EUR")
        CustomerFactory(
            name="SMB NA", size="smb", region="na", industry="fintech", currency="USD", tax_exempt=True
        )
        CustomerFactory(
            name="Mid APAC",
            size="mid_market",
            region="apac",
            industry="retail",
            currency="JPY",
            acquisition_channel="partner",
        )

        def names(**params):
            return sorted(c["name"] for c in rep_client.get(CUSTOMERS, params).json()["results"])

        assert names(size="enterprise") == ["Ent EMEA"]
        assert names(industry="fintech") == ["Ent EMEA", "SMB NA"]
        assert names(region="apac") == ["Mid APAC"]
        assert names(currency="USD") == ["SMB NA"]
        assert names(tax_exempt="true") == ["SMB NA"]
        assert names(acquisition_channel="partner") == ["Mid APAC"]
        assert names(industry="fintech", region="na") == ["SMB NA"]

    def test_bad_filter_value_is_a_400_in_the_error_shape(self, rep_client):
        response = rep_client.get(CUSTOMERS, {"size": "galactic"})

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert "size" in response.json()["error"]["fields"]

    def test_created_date_range(self, rep_client):
        for day, name in [(1, "Jan"), (15, "Feb"), (28, "Mar")]:
            month = {"Jan": 1, "Feb": 2, "Mar": 3}[name]
            with time_machine.travel(dt.datetime(2025, month, day, 10, tzinfo=dt.UTC), tick=False):
                CustomerFactory(name=name)

        def names(**params):
            return [
                c["name"]
                for c in rep_client.get(CUSTOMERS, {**params, "ordering": "created_at"}).json()["results"]
            ]

        assert names(created_from="2025-02-01") == ["Feb", "Mar"]
        assert names(created_to="2025-02-15") == ["Jan", "Feb"]
        assert names(created_from="2025-02-15", created_to="2025-02-15") == ["Feb"]
        assert names(created_from="2025-04-01") == []

    def test_retrieve_and_404(self, rep_client):
        customer = CustomerFactory(name="Solo")

        assert rep_client.get(f"{CUSTOMERS}{customer.pk}/").json()["name"] == "Solo"
        missing = rep_client.get(f"{CUSTOMERS}{customer.pk + 1000}/")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert rep_client.get(f"{CUSTOMERS}not-a-number/").status_code == 404

    def test_list_query_count_does_not_grow_with_rows(self, rep_client, sales_rep, django_assert_num_queries):
        CustomerFactory.create_batch(20, owner=sales_rep)
        # token+user, the user's groups (role check), user perms, group perms, count, page.
        with django_assert_num_queries(6):
            response = rep_client.get(CUSTOMERS)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 20

        CustomerFactory.create_batch(20, owner=sales_rep)
        with django_assert_num_queries(6):
            response = rep_client.get(CUSTOMERS, {"page_size": 100})
        assert len(response.json()["results"]) == 40


class TestDelete:
    def test_customers_are_not_deleted_through_the_api(self, api_client_for, admin_user_role):
        customer = CustomerFactory()
        before = _counts()

        response = api_client_for(admin_user_role).delete(f"{CUSTOMERS}{customer.pk}/")

        assert response.status_code == 405
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert _counts() == before


class TestContacts:
    def test_create_contact_lower_cases_email_and_records_event(self, rep_client):
        customer = CustomerFactory()

        response = rep_client.post(
            CONTACTS,
            {
                "customer": customer.pk,
                "name": "Ada",
                "email": "Ada@Acme.Example",
                "role": "billing",
                "title": "AP lead",
            },
            format="json",
        )

        assert response.status_code == 201, response.content
        contact = Contact.objects.get()
        assert response.json() == {
            "id": contact.pk,
            "customer": customer.pk,
            "name": "Ada",
            "email": "ada@acme.example",
            "phone": "",
            "title": "AP lead",
            "role": "billing",
            "portal_access": False,
        }
        assert OutboxEvent.objects.filter(type="contact.created").count() == 1

    def test_duplicate_email_for_the_same_customer_is_a_400(self, rep_client):
        contact = ContactFactory(email="ada@acme.example")
        before = (Contact.objects.count(), OutboxEvent.objects.count())

        response = rep_client.post(
            CONTACTS,
            {"customer": contact.customer_id, "name": "Ada again", "email": "ADA@acme.example"},
            format="json",
        )

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["email"]
        assert (Contact.objects.count(), OutboxEvent.objects.count()) == before

    def test_unknown_customer_is_a_400(self, rep_client):
        response = rep_client.post(
            CONTACTS, {"customer": 987654, "name": "X", "email": "x@example.com"}, format="json"
        )

        assert response.status_code == 400
        assert list(response.json()["error"]["fields"]) == ["customer"]
        assert Contact.objects.count() == 0

    def test_filter_by_customer(self, rep_client):
        mine = CustomerFactory()
        ContactFactory(customer=mine, name="B")
        ContactFactory(customer=mine, name="A")
        ContactFactory(name="Other")

        response = rep_client.get(CONTACTS, {"customer": mine.pk})

        assert response.status_code == 200
        assert response.json()["count"] == 2
        assert [c["name"] for c in response.json()["results"]] == ["A", "B"]

    def test_finance_cannot_add_contacts(self, api_client_for, finance_user):
        customer = CustomerFactory()

        response = api_client_for(finance_user).post(
            CONTACTS, {"customer": customer.pk, "name": "X", "email": "x@example.com"}, format="json"
        )

        assert response.status_code == 403
        assert Contact.objects.count() == 0

    def test_grant_portal_access_creates_a_roleless_login_once(self, rep_client):
        contact = ContactFactory(email="portal@acme.example")
        url = f"{CONTACTS}{contact.pk}/grant-portal-access/"

        first = rep_client.post(url)
        second = rep_client.post(url)

        assert first.status_code == 200, first.content
        assert first.json()["portal_access"] is True
        assert first.json()["id"] == contact.pk
        assert second.json() == first.json()
        user = User.objects.get(username="portal@acme.example")
        assert list(user.groups.all()) == []
        assert not user.has_usable_password()
        contact.refresh_from_db()
        assert contact.portal_user == user
        assert OutboxEvent.objects.filter(type="contact.portal_access_granted").count() == 1

    def test_grant_portal_access_needs_change_contact(self, api_client_for, finance_user):
        contact = ContactFactory()
        users_before = User.objects.count()

        response = api_client_for(finance_user).post(f"{CONTACTS}{contact.pk}/grant-portal-access/")

        assert response.status_code == 403
        assert User.objects.count() == users_before
        contact.refresh_from_db()
        assert contact.portal_user is None


class TestCustomerAdmin:
    @pytest.fixture
    def admin_client(self, client, admin_user_role):
        client.force_login(admin_user_role)
        return client

    def test_change_page_shows_the_audit_trail(self, admin_client, rep_client, sales_rep):
        customer = CustomerFactory(name="Audited <b>Co</b>")
        rep_client.patch(f"{CUSTOMERS}{customer.pk}/", {"industry": "biotech"}, format="json")

        response = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))

        assert response.status_code == 200
        html = response.content.decode()
        assert 'class="audit-history"' in html
        assert "<code>industry</code>: software &rarr; biotech" in html
        assert sales_rep.username in html
        assert "Audited &lt;b&gt;Co&lt;/b&gt;" in html  # customer text is escaped
        assert "<b>Co</b>" not in html

    def test_audit_link_lists_this_customers_entries_only(self, admin_client):
        customer = CustomerFactory(name="Linked")
        CustomerFactory(name="Someone else")
        page = admin_client.get(
            reverse("admin:customers_customer_change", args=[customer.pk])
        ).content.decode()
        link = page.split('<p><a href="')[1].split('"')[0].replace("&amp;", "&")

        response = admin_client.get(link)

        assert response.status_code == 200
        assert [e.object_repr for e in response.context["cl"].result_list] == ["Linked"]

    def test_changelist_search_and_filters(self, admin_client):
        CustomerFactory(name="Findable", billing_email="ap@findable.example", region="emea")
        CustomerFactory(name="Hidden", region="na")
        url = reverse("admin:customers_customer_changelist")

        searched = admin_client.get(url, {"q": "ap@findable"})
        filtered = admin_client.get(url, {"region__exact": "na"})

        assert [c.name for c in searched.context["cl"].result_list] == ["Findable"]
        assert [c.name for c in filtered.context["cl"].result_list] == ["Hidden"]

    def test_contact_admin_action_grants_portal_access(self, admin_client):
        contact = ContactFactory(email="viaadmin@example.com")

        response = admin_client.post(
            reverse("admin:customers_contact_changelist"),
            {"action": "grant_portal_access", "_selected_action": [contact.pk]},
        )

        assert response.status_code == 302
        contact.refresh_from_db()
        assert contact.portal_user.username == "viaadmin@example.com"

    def test_admin_add_goes_through_the_service(self, admin_client):
        response = admin_client.post(
            reverse("admin:customers_customer_add"),
            {
                "name": "Made in admin",
                "external_id": "ADM-1",
                "currency": "GBP",
                "country": "gb",
                "billing_email": "",
                "tax_id": "",
                "industry": "",
                "size": "",
                "region": "",
                "acquisition_channel": "",
                "address": "",
                "owner": "",
                "contacts-TOTAL_FORMS": "1",
                "contacts-INITIAL_FORMS": "0",
                "contacts-0-name": "Inline Person",
                "contacts-0-email": "Inline@Example.com",
                "contacts-0-role": "other",
            },
        )

        assert response.status_code == 302, response.content.decode()[:2000]
        customer = Customer.objects.get(external_id="ADM-1")
        assert customer.country == "GB"
        assert list(customer.contacts.values_list("email", flat=True)) == ["inline@example.com"]
        assert sorted(OutboxEvent.objects.values_list("type", flat=True)) == [
            "contact.created",
            "customer.created",
        ]

    def test_admin_change_goes_through_the_service(self, admin_client, admin_user_role):
        customer = CustomerFactory(name="Before", external_id="ADM-2", currency="USD", country="US")
        data = {
            "name": "After",
            "external_id": "ADM-2",
            "currency": "USD",
            "country": "US",
            "billing_email": customer.billing_email,
            "industry": customer.industry,
            "size": customer.size,
            "region": customer.region,
            "acquisition_channel": customer.acquisition_channel,
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        }

        response = admin_client.post(reverse("admin:customers_customer_change", args=[customer.pk]), data)

        assert response.status_code == 302, response.content.decode()[:2000]
        event = OutboxEvent.objects.get()
        assert (event.type, event.payload["changed"], event.actor_id) == (
            "customer.updated",
            ["name"],
            admin_user_role.pk,
        )
        entry = AuditEntry.objects.get(action="update")
        assert (entry.changes, entry.actor_id) == ({"name": ["Before", "After"]}, admin_user_role.pk)

    @pytest.mark.parametrize(
        ("field", "value"), [("country", "U1"), ("external_id", "TAKEN"), ("name", "   ")]
    )
    def test_admin_shows_service_errors_beside_the_field(self, admin_client, field, value):
        CustomerFactory(external_id="TAKEN")
        before = _counts()
        data = {
            "name": "Clash",
            "external_id": "NEW-1",
            "currency": "USD",
            "country": "US",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        }

        response = admin_client.post(reverse("admin:customers_customer_add"), {**data, field: value})

        assert response.status_code == 200  # the form again, with the error beside the field
        assert list(response.context["adminform"].form.errors) == [field]
        assert _counts() == before
