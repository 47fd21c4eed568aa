"""The API conventions of API.md that every endpoint shares: the error body for every status, nested
error paths, pagination, and the token endpoint.

A few test-only views (below, mounted under /api/ through `urlpatterns` and `pytest.mark.urls`) raise
what real endpoints raise rarely: a DomainError 409, a Django ValidationError, an unhandled bug.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import include, path
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from customers.models import Customer
from revops.kernel.api.errors import flatten_errors
from revops.kernel.errors import InvalidTransition, PermissionDeniedError
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
TOKEN = "/api/v1/auth/token/"
THIS_URLCONF = "tests.kernel.test_api_conventions"


# --- test-only endpoints ----------------------------------------------------------------------------


class _LineSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)


class _QuoteSerializer(serializers.Serializer):
    name = serializers.CharField()
    lines = _LineSerializer(many=True)


class _OpenView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []


class ApproveIssuedInvoiceView(_OpenView):
    def post(self, request):
        raise InvalidTransition("cannot approve an invoice that is issued")


class OwnQuoteView(_OpenView):
    def post(self, request):
        raise PermissionDeniedError("you cannot approve your own quote")


class NestedValidationView(_OpenView):
    def post(self, request):
        serializer = _QuoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class DjangoValidationView(_OpenView):
    def post(self, request):
        raise DjangoValidationError({"end_date": ["must be after the start date"]})


class BugView(_OpenView):
    def get(self, request):
        raise RuntimeError("secret internal detail")


class GetOnlyView(_OpenView):
    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("api/test/approve/", ApproveIssuedInvoiceView.as_view()),
    path("api/test/own-quote/", OwnQuoteView.as_view()),
    path("api/test/nested/", NestedValidationView.as_view()),
    path("api/test/django-validation/", DjangoValidationView.as_view()),
    path("api/test/bug/", BugView.as_view()),
    path("api/test/get-only/", GetOnlyView.as_view()),
    path("", include("revops.urls")),
]


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["fields"], dict)
    return error


# --- error shape per status -------------------------------------------------------------------------


class TestErrorShape:
    def test_400_validation_names_fields_and_summarises_in_message(self, sales_rep, api_client_for):
        response = api_client_for(sales_rep).post(CUSTOMERS, {"currency": "ABC"}, format="json")

        error = assert_error_shape(response, 400, "validation_error")
        assert set(error["fields"]) == {"name", "currency"}
        assert all(isinstance(m, str) for msgs in error["fields"].values() for m in msgs)
        assert "(and 1 more field)" in error["message"]
        assert Customer.objects.count() == 0

    def test_400_malformed_json_is_a_parse_error(self, sales_rep, api_client_for):
        response = api_client_for(sales_rep).post(
            CUSTOMERS, data="{not json", content_type="application/json"
        )

        assert_error_shape(response, 400, "parse_error")
        assert Customer.objects.count() == 0

    def test_401_without_credentials_says_how_to_authenticate(self):
        response = APIClient().get(CUSTOMERS)

        assert_error_shape(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == "Token"

    def test_401_with_a_bad_token(self):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

        response = client.get(CUSTOMERS)

        assert_error_shape(response, 401, "not_authenticated")

    def test_403_for_a_user_without_the_permission(self, success_user, api_client_for):
        response = api_client_for(success_user).post(
            CUSTOMERS, {"name": "X", "currency": "USD"}, format="json"
        )

        assert_error_shape(response, 403, "permission_denied")
        assert Customer.objects.count() == 0

    def test_404_for_a_missing_record(self, sales_rep, api_client_for):
        response = api_client_for(sales_rep).get(f"{CUSTOMERS}424242/")

        error = assert_error_shape(response, 404, "not_found")
        assert error["fields"] == {}

    def test_404_for_an_unknown_api_route_is_not_an_html_page(self, sales_rep, api_client_for):
        response = api_client_for(sales_rep).get("/api/v1/no-such-resource/")

        assert response.status_code == 404

    def test_405_for_a_method_the_resource_does_not_offer(self, admin_user_role, api_client_for):
        customer = CustomerFactory()

        response = api_client_for(admin_user_role).delete(f"{CUSTOMERS}{customer.pk}/")

        assert_error_shape(response, 405, "method_not_allowed")
        assert Customer.objects.filter(pk=customer.pk).exists()

    @pytest.mark.urls(THIS_URLCONF)
    def test_405_on_a_plain_view(self):
        assert_error_shape(
            APIClient().post("/api/test/get-only/", {}, format="json"), 405, "method_not_allowed"
        )

    @pytest.mark.urls(THIS_URLCONF)
    def test_409_domain_error_keeps_its_code_and_message(self):
        response = APIClient().post("/api/test/approve/", {}, format="json")

        error = assert_error_shape(response, 409, "invalid_transition")
        assert error["message"] == "cannot approve an invoice that is issued"
        assert error["fields"] == {}

    @pytest.mark.urls(THIS_URLCONF)
    def test_403_from_a_domain_rule(self):
        response = APIClient().post("/api/test/own-quote/", {}, format="json")

        error = assert_error_shape(response, 403, "permission_denied")
        assert error["message"] == "you cannot approve your own quote"

    @pytest.mark.urls(THIS_URLCONF)
    def test_nested_serializer_errors_are_flattened_to_paths(self):
        payload = {"name": "Q", "lines": [{"quantity": 1}, {"quantity": 2}, {"quantity": 0}, {}]}

        response = APIClient().post("/api/test/nested/", payload, format="json")

        error = assert_error_shape(response, 400, "validation_error")
        assert error["fields"] == {
            "lines[2].quantity": ["Ensure this value is greater than or equal to 1."],
            "lines[3].quantity": ["This field is required."],
        }
        assert (
            error["message"]
            == "lines[2].quantity: Ensure this value is greater than or equal to 1. (and 1 more field)"
        )

    @pytest.mark.urls(THIS_URLCONF)
    def test_django_validation_error_becomes_a_400(self):
        response = APIClient().post("/api/test/django-validation/", {}, format="json")

        error = assert_error_shape(response, 400, "validation_error")
        assert error["fields"] == {"end_date": ["must be after the start date"]}

    @pytest.mark.urls(THIS_URLCONF)
    def test_unhandled_error_is_a_500_in_the_shape_without_internals(self):
        client = APIClient(raise_request_exception=False)

        response = client.get("/api/test/bug/")

        assert_error_shape(response, 500, "server_error")
        assert "secret internal detail" not in response.content.decode()


class TestFlattenErrors:
    def test_nested_list_of_objects(self):
        detail = {"lines": [{}, {}, {"quantity": ["must be greater than 0"]}]}

        assert flatten_errors(detail) == {"lines[2].quantity": ["must be greater than 0"]}

    def test_deeper_nesting_and_several_fields(self):
        detail = {
            "name": ["This field is required."],
            "lines": [
                {"tiers": [{}, {"up_to": ["must be above the previous tier"]}]},
                {"product": ["unknown"]},
            ],
            "totals": {"discount": ["too large"]},
        }

        assert flatten_errors(detail) == {
            "name": ["This field is required."],
            "lines[0].tiers[1].up_to": ["must be above the previous tier"],
            "lines[1].product": ["unknown"],
            "totals.discount": ["too large"],
        }

    def test_top_level_non_field_errors_keep_their_name(self):
        assert flatten_errors({"non_field_errors": ["dates overlap"]}) == {
            "non_field_errors": ["dates overlap"]
        }
        assert flatten_errors(["dates overlap"]) == {"non_field_errors": ["dates overlap"]}
        assert flatten_errors("plain message") == {"non_field_errors": ["plain message"]}

    def test_non_field_errors_inside_a_line_are_prefixed(self):
        detail = {"lines": [{"non_field_errors": ["start after end"]}]}

        assert flatten_errors(detail) == {"lines[0].non_field_errors": ["start after end"]}

    def test_index_keyed_dicts_from_drf_list_serializers(self):
        # DRF >= 3.15 reports errors of many=True serializers and ListFields as {index: errors}.
        detail = {"lines": {2: {"quantity": ["must be greater than 0"]}}, "tags": {1: ["not a string"]}}

        assert flatten_errors(detail) == {
            "lines[2].quantity": ["must be greater than 0"],
            "tags[1]": ["not a string"],
        }

    def test_real_drf_error_details(self):
        serializer = _QuoteSerializer(data={"lines": [{"quantity": "x"}]})
        assert not serializer.is_valid()

        assert flatten_errors(serializer.errors) == {
            "name": ["This field is required."],
            "lines[0].quantity": ["A valid integer is required."],
        }


# --- pagination -------------------------------------------------------------------------------------


class TestPagination:
    def test_shape_and_links(self, sales_rep, api_client_for):
        CustomerFactory.create_batch(5)
        client = api_client_for(sales_rep)

        first = client.get(CUSTOMERS, {"page_size": 2}).json()
        last = client.get(CUSTOMERS, {"page_size": 2, "page": 3}).json()

        assert list(first) == ["count", "next", "previous", "results"]
        assert first["count"] == 5
        assert len(first["results"]) == 2
        assert first["previous"] is None
        assert "page=2" in first["next"] and "page_size=2" in first["next"]
        assert len(last["results"]) == 1
        assert last["next"] is None
        assert "page=2" in last["previous"]

    def test_pages_do_not_overlap(self, sales_rep, api_client_for):
        CustomerFactory.create_batch(7, name="Same name")  # ties on the ordering field
        client = api_client_for(sales_rep)

        ids = [
            c["id"]
            for page in (1, 2, 3)
            for c in client.get(CUSTOMERS, {"page_size": 3, "page": page, "ordering": "name"}).json()[
                "results"
            ]
        ]

        assert sorted(ids) == sorted(Customer.objects.values_list("id", flat=True))

    def test_default_page_size_is_50(self, sales_rep, api_client_for):
        Customer.objects.bulk_create(Customer(name=f"C{i:03d}", currency="USD") for i in range(51))

        body = api_client_for(sales_rep).get(CUSTOMERS).json()

        assert (body["count"], len(body["results"])) == (51, 50)

    def test_page_size_is_capped_at_500(self, sales_rep, api_client_for):
        Customer.objects.bulk_create(Customer(name=f"C{i:04d}", currency="USD") for i in range(501))

        body = api_client_for(sales_rep).get(CUSTOMERS, {"page_size": 1000}).json()

        assert body["count"] == 501
        assert len(body["results"]) == 500
        assert "page=2" in body["next"]

    def test_page_past_the_end_is_a_404_in_the_shape(self, sales_rep, api_client_for):
        CustomerFactory()

        response = api_client_for(sales_rep).get(CUSTOMERS, {"page": 9})

        assert_error_shape(response, 404, "not_found")


# --- token ------------------------------------------------------------------------------------------


class TestToken:
    def test_username_and_password_give_the_users_token(self, sales_rep):
        response = APIClient().post(
            TOKEN, {"username": sales_rep.username, "password": "pw-for-tests-1"}, format="json"
        )

        assert response.status_code == 200
        assert response.json() == {"token": Token.objects.get(user=sales_rep).key}

    def test_the_token_authenticates_and_is_stable(self, sales_rep):
        first = (
            APIClient()
            .post(TOKEN, {"username": sales_rep.username, "password": "pw-for-tests-1"}, format="json")
            .json()["token"]
        )
        second = (
            APIClient()
            .post(TOKEN, {"username": sales_rep.username, "password": "pw-for-tests-1"}, format="json")
            .json()["token"]
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {first}")

        assert first == second
        assert client.get(CUSTOMERS).status_code == 200

    def test_bad_password_is_a_400_in_the_error_shape_and_issues_no_token(self, sales_rep):
        response = APIClient().post(
            TOKEN, {"username": sales_rep.username, "password": "wrong"}, format="json"
        )

        error = assert_error_shape(response, 400, "validation_error")
        assert list(error["fields"]) == ["non_field_errors"]
        assert "token" not in response.json()
        assert not Token.objects.filter(user=sales_rep).exists()

    def test_missing_fields_are_named(self):
        response = APIClient().post(TOKEN, {}, format="json")

        error = assert_error_shape(response, 400, "validation_error")
        assert set(error["fields"]) == {"username", "password"}

    def test_inactive_user_gets_no_token(self, make_user):
        user = make_user("sales_rep", is_active=False)

        response = APIClient().post(
            TOKEN, {"username": user.username, "password": "pw-for-tests-1"}, format="json"
        )

        assert_error_shape(response, 400, "validation_error")
        assert not Token.objects.filter(user=user).exists()
