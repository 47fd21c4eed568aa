"""The audit trail keeps who changed a financial record, when, and the fields before and after."""
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from catalog.models import Price
from customers.models import Customer
from customers.services import customer_create, customer_update
from revops.kernel import audit
from revops.kernel.actor import acting_as
from revops.kernel.models import AuditEntry
from tests.factories import PriceFactory


@pytest.mark.django_db
def test_create_update_and_delete_are_recorded_with_the_actor(make_user):
    finance = make_user("finance")
    with acting_as(finance):
        customer = customer_create(name="Globex", currency="USD", billing_email="ap@globex.test")
        customer_update(customer_id=customer.pk, billing_email="billing@globex.test", tax_exempt=True)
    created, updated = audit.history(customer).order_by("id")
    assert created.action == AuditEntry.Action.CREATE
    assert created.changes["name"] == [None, "Globex"]
    assert updated.action == AuditEntry.Action.UPDATE
    assert updated.changes == {"billing_email": ["ap@globex.test", "billing@globex.test"],
                               "tax_exempt": [False, True]}
    assert updated.actor == finance

    pk = customer.pk
    customer.delete()
    deleted = AuditEntry.objects.get(content_type=ContentType.objects.get_for_model(Customer), object_id=str(pk),
                                     action=AuditEntry.Action.DELETE)
    assert deleted.changes["name"] == ["Globex", None]
    assert deleted.actor is None  # no actor outside a request or `acting_as`


@pytest.mark.django_db
def test_an_update_that_changes_nothing_writes_no_entry():
    customer = customer_create(name="Initech", currency="USD")
    customer_update(customer_id=customer.pk, name="Initech")
    customer.save()
    assert [e.action for e in audit.history(customer)] == ["create"]


@pytest.mark.django_db
def test_price_changes_keep_decimal_values_exact():
    price = PriceFactory(unit_amount=Decimal("0.000600"))
    price.unit_amount = Decimal("0.000550")
    price.save()
    entry = audit.history(price).filter(action="update").get()
    assert entry.changes == {"unit_amount": ["0.000600", "0.000550"]}


def test_financial_models_are_tracked():
    assert audit.is_tracked(Customer)
    assert audit.is_tracked(Price)
