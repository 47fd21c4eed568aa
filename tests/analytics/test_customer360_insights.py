"""Who sees a customer's insights (health, next best offers, upsell flags) on its 360: every staff role,
except that a sales rep sees them only on the customers it owns — the same rule as the insights API and
pages (a rep's insights are its own book's)."""
from datetime import date

import pytest

from analytics.services import customer360
from revops.kernel import roles
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

DAY = date(2027, 3, 15)
INSIGHTS = ("health", "recommendations", "upsell_flags")


@pytest.fixture
def book(make_user):
    owner = make_user(roles.SALES_REP, username="owner-rep")
    other = make_user(roles.SALES_REP, username="other-rep")
    return {"owner": owner, "other": other, "customer": CustomerFactory(name="Owned Co", owner=owner)}


def test_the_owner_rep_sees_the_insights_and_another_rep_does_not(book):
    mine = customer360.customer_360(customer=book["customer"], user=book["owner"], day=DAY)
    theirs = customer360.customer_360(customer=book["customer"], user=book["other"], day=DAY)

    assert mine["visibility"]["insights"] is True and all(k in mine for k in INSIGHTS)
    assert mine["health"]["level"] in ("low", "medium", "high")
    assert theirs["visibility"]["insights"] is False and not any(k in theirs for k in INSIGHTS)
    assert theirs["mrr"] == mine["mrr"] and theirs["timeline"] == mine["timeline"]  # the shared record stays


@pytest.mark.parametrize("role", [roles.SALES_MANAGER, roles.FINANCE, roles.CUSTOMER_SUCCESS, roles.ADMIN])
def test_the_other_staff_roles_see_the_insights_of_every_customer(book, make_user, role):
    data = customer360.customer_360(customer=book["customer"], user=make_user(role), day=DAY)

    assert data["visibility"]["insights"] is True and all(k in data for k in INSIGHTS)


def test_the_page_and_the_api_follow_the_rule(book, client, api_client_for):
    url = f"/customers/{book['customer'].pk}/"
    client.force_login(book["other"])
    page = client.get(url).content.decode()
    assert "Offers and upsell flags are shown to the customer's owner and to managers." in page
    assert "Owned Co" in page

    body = api_client_for(book["other"]).get(f"/api/v1/customers/{book['customer'].pk}/360/").json()
    assert body["visibility"]["insights"] is False and "health" not in body and "recommendations" not in body
    # the insights API says the same: another rep's customer is not found for this rep
    assert api_client_for(book["other"]).get(
        f"/api/v1/recommendations/?customer={book['customer'].pk}").status_code == 404
    assert "health" in api_client_for(book["owner"]).get(f"/api/v1/customers/{book['customer'].pk}/360/").json()
