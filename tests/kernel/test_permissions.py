"""Who may do what on staff endpoints (roles -> model permissions), with /customers/ as the example.
Every refusal also checks that nothing changed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from customers import services
from customers.models import Contact, Customer
from revops.kernel import roles
from revops.kernel.models import AuditEntry, OutboxEvent
from tests.factories import ContactFactory, CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
NEW = {"name": "Permitted?", "currency": "USD"}


def _state():
    return (
        Customer.objects.count(),
        Contact.objects.count(),
        OutboxEvent.objects.count(),
        AuditEntry.objects.count(),
    )


@pytest.fixture
def customer():
    return CustomerFactory(name="Existing", industry="retail")


def _unchanged(customer):
    customer.refresh_from_db()
    return customer.name == "Existing" and customer.industry == "retail"


class TestSalesRep:
    def test_can_list_and_create(self, sales_rep, api_client_for, customer):
        client = api_client_for(sales_rep)

        listed = client.get(CUSTOMERS)
        created = client.post(CUSTOMERS, NEW, format="json")

        assert listed.status_code == 200
        assert [c["name"] for c in listed.json()["results"]] == ["Existing"]
        assert created.status_code == 201
        assert Customer.objects.filter(name="Permitted?").count() == 1

    def test_cannot_delete(self, sales_rep, api_client_for, customer):
        before = _state()

        response = api_client_for(sales_rep).delete(f"{CUSTOMERS}{customer.pk}/")

        assert response.status_code == 403
        assert _state() == before


class TestCustomerSuccess:
    def test_can_read(self, success_user, api_client_for, customer):
        client = api_client_for(success_user)

        assert client.get(CUSTOMERS).json()["count"] == 1
        assert client.get(f"{CUSTOMERS}{customer.pk}/").json()["name"] == "Existing"

    def test_cannot_create(self, success_user, api_client_for, customer):
        before = _state()

        response = api_client_for(success_user).post(CUSTOMERS, NEW, format="json")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert _state() == before
        assert not Customer.objects.filter(name="Permitted?").exists()


class TestFinance:
    def test_can_change_a_customer(self, finance_user, api_client_for, customer):
        response = api_client_for(finance_user).patch(
            f"{CUSTOMERS}{customer.pk}/", {"tax_exempt": True}, format="json"
        )

        assert response.status_code == 200
        customer.refresh_from_db()
        assert customer.tax_exempt is True
        assert OutboxEvent.objects.get().type == "customer.updated"

    def test_cannot_delete_a_customer(self, finance_user, api_client_for, customer):
        before = _state()

        response = api_client_for(finance_user).delete(f"{CUSTOMERS}{customer.pk}/")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        assert Customer.objects.filter(pk=customer.pk).exists()
        assert _state() == before

    def test_cannot_create_a_customer(self, finance_user, api_client_for, customer):
        before = _state()

        response = api_client_for(finance_user).post(CUSTOMERS, NEW, format="json")

        assert response.status_code == 403
        assert _state() == before


class TestSalesManager:
    def test_can_create_and_change(self, sales_manager, api_client_for, customer):
        client = api_client_for(sales_manager)

        assert client.post(CUSTOMERS, NEW, format="json").status_code == 201
        assert (
            client.patch(f"{CUSTOMERS}{customer.pk}/", {"industry": "saas"}, format="json").status_code == 200
        )
        customer.refresh_from_db()
        assert customer.industry == "saas"


class TestOutsiders:
    def test_user_without_a_role_is_refused_reads_and_writes(self, make_user, api_client_for, customer):
        client = api_client_for(make_user())
        before = _state()

        listed = client.get(CUSTOMERS)
        detail = client.get(f"{CUSTOMERS}{customer.pk}/")
        created = client.post(CUSTOMERS, NEW, format="json")
        changed = client.patch(f"{CUSTOMERS}{customer.pk}/", {"name": "Hijacked"}, format="json")

        assert [r.status_code for r in (listed, detail, created, changed)] == [403, 403, 403, 403]
        assert listed.json()["error"]["code"] == "permission_denied"
        assert "Existing" not in listed.content.decode()
        assert _unchanged(customer)
        assert _state() == before

    def test_a_non_staff_group_is_not_a_role(self, make_user, api_client_for, customer):
        user = make_user()
        user.groups.add(Group.objects.create(name="marketing"))

        assert api_client_for(user).get(CUSTOMERS).status_code == 403

    def test_unauthenticated_is_401(self, api_client_for, customer):
        client = api_client_for(None)
        before = _state()

        listed = client.get(CUSTOMERS)
        created = client.post(CUSTOMERS, NEW, format="json")
        changed = client.patch(f"{CUSTOMERS}{customer.pk}/", {"name": "Hijacked"}, format="json")

        assert [r.status_code for r in (listed, created, changed)] == [401, 401, 401]
        assert created.json()["error"]["code"] == "not_authenticated"
        assert _unchanged(customer)
        assert _state() == before

    def test_portal_user_is_refused_on_staff_endpoints(self, api_client_for, customer):
        contact = ContactFactory(customer=customer, email="buyer@existing.example")
        portal_user = services.portal_access_grant(contact=contact, password="portal-pass-12345")
        client = api_client_for(portal_user)
        before = _state()

        listed = client.get(CUSTOMERS)
        own = client.get(f"{CUSTOMERS}{customer.pk}/")
        created = client.post(CUSTOMERS, NEW, format="json")
        changed = client.patch(f"{CUSTOMERS}{customer.pk}/", {"name": "Mine now"}, format="json")
        contacts = client.get("/api/v1/contacts/")

        assert [r.status_code for r in (listed, own, created, changed, contacts)] == [403] * 5
        assert "Existing" not in listed.content.decode()
        assert _unchanged(customer)
        assert _state() == before

    def test_inactive_users_token_stops_working(self, sales_rep, api_client_for):
        client = api_client_for(sales_rep)
        sales_rep.is_active = False
        sales_rep.save()

        assert client.get(CUSTOMERS).status_code == 401


class TestAdminRole:
    def test_admin_role_can_do_everything_offered(self, admin_user_role, api_client_for, customer):
        client = api_client_for(admin_user_role)

        assert client.post(CUSTOMERS, NEW, format="json").status_code == 201
        assert (
            client.patch(f"{CUSTOMERS}{customer.pk}/", {"name": "Renamed"}, format="json").status_code == 200
        )

    def test_superuser_without_groups_counts_as_admin(self, make_user, api_client_for):
        superuser = make_user(is_superuser=True)

        assert roles.has_role(superuser, roles.ADMIN)
        assert api_client_for(superuser).post(CUSTOMERS, NEW, format="json").status_code == 201


@pytest.mark.parametrize(
    ("role", "can_view", "can_add", "can_change", "can_delete"),
    [
        (roles.SALES_REP, True, True, True, False),
        (roles.SALES_MANAGER, True, True, True, False),
        (roles.FINANCE, True, False, True, False),
        (roles.CUSTOMER_SUCCESS, True, False, True, False),
        (roles.ADMIN, True, True, True, True),
    ],
)
def test_role_map_for_customers(make_user, role, can_view, can_add, can_change, can_delete):
    user = make_user(role)

    assert [user.has_perm(f"customers.{verb}_customer") for verb in ("view", "add", "change", "delete")] == [
        can_view,
        can_add,
        can_change,
        can_delete,
    ]
