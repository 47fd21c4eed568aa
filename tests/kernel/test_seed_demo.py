"""`manage.py seed_demo`: a demo data set with a login per role, a portal user, varied customers and a
catalog using every pricing model; the same seed gives the same data; --if-empty never touches data."""
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction

from catalog.models import Price, Product
from customers.models import Contact, Customer
from revops.kernel import roles

ARGS = ["--customers", "20", "--months", "3", "--today", "2025-03-15"]


def seed(*extra: str) -> str:
    out = StringIO()
    call_command("seed_demo", *ARGS, *extra, stdout=out)
    return out.getvalue()


class Rollback(Exception):
    pass


def seeded_names(*extra: str) -> list[str]:
    """Seed inside a transaction that is then rolled back, and return the customer names in id order."""
    try:
        with transaction.atomic():
            seed(*extra)
            names = list(Customer.objects.order_by("id").values_list("name", flat=True))
            raise Rollback
    except Rollback:
        pass
    assert Customer.objects.count() == 0
    return names


@pytest.mark.django_db
def test_seed_creates_a_demo_login_for_every_role():
    output = seed()

    assert "customers.Customer" in output and "20" in output
    for username, role in [("rep", roles.SALES_REP), ("rep2", roles.SALES_REP), ("manager", roles.SALES_MANAGER),
                           ("finance", roles.FINANCE), ("success", roles.CUSTOMER_SUCCESS), ("admin", roles.ADMIN)]:
        user = User.objects.get(username=username)
        assert user.check_password("revops-demo")
        assert roles.roles_of(user) >= {role}
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert not User.objects.get(username="rep").is_staff


@pytest.mark.django_db
def test_seed_gives_the_first_customers_billing_contact_a_portal_login():
    seed()

    portal = User.objects.get(username="customer@example.com")
    assert portal.check_password("revops-demo")
    assert roles.roles_of(portal) == set()
    contact = Contact.objects.get(portal_user=portal)
    assert contact.role == Contact.Role.BILLING
    assert contact.customer == Customer.objects.order_by("id").first()
    assert Contact.objects.filter(portal_user__isnull=False).count() == 1


@pytest.mark.django_db
def test_seed_spreads_customers_across_segments_with_contacts_and_owners():
    seed()

    customers = Customer.objects.all()
    assert customers.count() == 20
    assert len(set(customers.values_list("size", flat=True))) >= 2
    assert len(set(customers.values_list("region", flat=True))) >= 2
    assert len(set(customers.values_list("industry", flat=True))) >= 3
    assert "USD" in set(customers.values_list("currency", flat=True))
    assert set(customers.values_list("owner__username", flat=True)) == {"rep", "rep2"}
    assert len(set(customers.values_list("name", flat=True))) == 20
    for customer in customers.prefetch_related("contacts"):
        assert 1 <= len(customer.contacts.all()) <= 3
        assert customer.country and customer.region and customer.acquisition_channel


@pytest.mark.django_db
def test_seed_catalog_has_a_price_for_every_pricing_model_in_four_currencies():
    seed()

    assert set(Price.objects.values_list("model", flat=True)) == set(Price.Model.values)
    assert set(Price.objects.values_list("currency", flat=True)) == {"USD", "EUR", "GBP", "JPY"}
    graduated = Price.objects.get(product__sku="USAGE-API", currency="USD")
    assert graduated.model == Price.Model.GRADUATED and graduated.tiers.count() == 4
    assert Product.objects.get(sku="USAGE-SMS").prices.filter(model=Price.Model.PACKAGE, package_size=1000).count() == 4
    assert Product.objects.filter(kind=Product.Kind.USAGE, meter__isnull=True).count() == 0


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_customers_in_the_same_order():
    first = seeded_names()
    second = seeded_names()
    other_seed = seeded_names("--seed", "7")

    assert len(first) == 20
    assert first == second
    assert first != other_seed


@pytest.mark.django_db
def test_if_empty_leaves_a_seeded_database_as_it_is():
    seed()
    before = (Customer.objects.count(), Contact.objects.count(), User.objects.count(), Price.objects.count())
    names = list(Customer.objects.order_by("id").values_list("name", flat=True))

    output = seed("--if-empty")

    assert "already has 20 customers" in output
    after = (Customer.objects.count(), Contact.objects.count(), User.objects.count(), Price.objects.count())
    assert after == before
    assert list(Customer.objects.order_by("id").values_list("name", flat=True)) == names


@pytest.mark.django_db
def test_without_if_empty_a_second_seed_is_refused_and_changes_nothing():
    seed()
    before = (Customer.objects.count(), Contact.objects.count(), User.objects.count())

    with pytest.raises(CommandError, match="already has 20 customers"):
        seed()

    assert (Customer.objects.count(), Contact.objects.count(), User.objects.count()) == before
