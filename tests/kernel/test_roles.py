"""Role groups exist after migrate and carry the permissions of the roles map."""
import pytest
from django.contrib.auth.models import Group

from revops.kernel import roles


@pytest.mark.django_db
def test_every_role_group_exists():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.STAFF_ROLES)


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "allowed", "denied"), [
    ("sales_rep", ["customers.add_customer", "customers.view_customer", "catalog.view_price"],
     ["catalog.add_price", "customers.delete_customer", "kernel.view_auditentry"]),
    ("sales_manager", ["customers.change_customer", "catalog.view_product"], ["catalog.add_price"]),
    ("finance", ["catalog.add_price", "catalog.change_pricetier", "customers.change_customer"],
     ["customers.add_customer", "customers.delete_customer", "catalog.add_product"]),
    ("customer_success", ["customers.view_customer", "customers.add_contact"],
     ["customers.add_customer", "catalog.change_price"]),
    ("admin", ["catalog.add_product", "customers.delete_customer", "kernel.view_auditentry"], []),
])
def test_role_permissions(make_user, role, allowed, denied):
    user = make_user(role)
    for perm in allowed:
        assert user.has_perm(perm), perm
    for perm in denied:
        assert not user.has_perm(perm), perm


@pytest.mark.django_db
def test_sync_is_additive_and_idempotent():
    group = Group.objects.get(name="sales_rep")
    before = set(group.permissions.values_list("codename", flat=True))
    roles.sync_role_permissions()
    roles.sync_role_permissions()
    assert set(group.permissions.values_list("codename", flat=True)) == before


@pytest.mark.django_db
def test_roles_of_and_staff_membership(make_user):
    assert roles.roles_of(make_user("finance", "customer_success")) == {"finance", "customer_success"}
    nobody = make_user()
    assert roles.roles_of(nobody) == set()
    assert not roles.is_staff_member(nobody)
