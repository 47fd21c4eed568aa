"""Staff enter imported contracts in the admin; the contract service builds them (or refuses)."""
from datetime import date
from decimal import Decimal as D

import pytest

from contracts.models import Contract
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def _post(client, customer, product, quantity="10", renewal_term="12"):
    return client.post("/admin/contracts/contract/add/", {
        "customer": customer.pk, "currency": "USD", "start_date": "2027-01-01", "term_months": "12",
        "billing_frequency": "month", "payment_terms": "net_30", "renewal_term_months": renewal_term,
        "renewal_uplift_percent": "3", "renewal_notice_days": "60",
        "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
        "lines-0-product": product.pk, "lines-0-quantity": quantity, "lines-0-unit_price": "10.00",
        "lines-0-period": "month",
    }, follow=True)


def test_an_admin_enters_a_contract_through_the_service(client, make_user, products):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    customer = CustomerFactory(currency="USD")
    response = _post(client, customer, products["seats"])
    assert response.status_code == 200
    contract = Contract.objects.get()
    assert (contract.status, contract.end_date, contract.tcv) == ("active", date(2027, 12, 31), D("1200.00"))
    assert [(x.quantity, x.amount) for x in contract.lines.all()] == [(D(10), D("100.00"))]


def test_a_refused_contract_saves_nothing_and_says_why(client, make_user, products):
    client.force_login(make_user("admin", is_staff=True, is_superuser=True))
    response = _post(client, CustomerFactory(currency="USD"), products["seats"], renewal_term="0")
    assert Contract.objects.count() == 0
    assert "contract_renewal_term_positive" in response.text  # shown on the form
