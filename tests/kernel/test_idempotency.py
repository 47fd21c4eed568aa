"""Idempotency-Key on API POSTs (API.md): same key + same body replays the first response and does the
work once; same key + different body is a 409; keys are per user and live 24 hours."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.models import Customer
from revops.kernel.models import IdempotencyRecord, OutboxEvent
from revops.kernel.permissions import IsAuthenticatedStaff

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/"
BODY = {"name": "Acme", "external_id": "CRM-IDEM", "currency": "USD"}
THIS_URLCONF = "tests.kernel.test_idempotency"


class FlakyView(APIView):
    """Fails with a bug on the first call, succeeds afterwards (a test-only endpoint)."""

    permission_classes = [IsAuthenticatedStaff]
    calls = 0

    def post(self, request):
        type(self).calls += 1
        if type(self).calls == 1:
            raise RuntimeError("transient failure")
        return Response({"call": type(self).calls}, status=201)


urlpatterns = [path("api/test/flaky/", FlakyView.as_view()), path("", include("revops.urls"))]


@pytest.fixture
def client(sales_rep, api_client_for):
    return api_client_for(sales_rep)


def post(client, body=BODY, key="key-1", url=CUSTOMERS):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def _counts():
    return Customer.objects.count(), OutboxEvent.objects.count()


def test_same_key_same_body_replays_the_first_response_and_does_the_work_once(client):
    first = post(client)
    second = post(client)

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.content == first.content
    assert second.json()["id"] == first.json()["id"]
    assert _counts() == (1, 1)
    assert OutboxEvent.objects.get().type == "customer.created"


def test_same_key_different_body_is_a_409_and_creates_nothing(client):
    post(client)
    before = _counts()

    response = post(client, body={**BODY, "name": "Acme 2", "external_id": "CRM-OTHER"})

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert set(error) == {"code", "message", "fields"}
    assert "Idempotency-Key" in error["fields"]
    assert _counts() == before
    assert not Customer.objects.filter(external_id="CRM-OTHER").exists()


def test_same_key_on_another_endpoint_is_a_409(client):
    post(client)
    before = _counts()

    response = post(
        client,
        body={"customer": Customer.objects.get().pk, "name": "A", "email": "a@example.com"},
        url="/api/v1/contacts/",
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert _counts() == before


def test_different_keys_do_the_work_each_time(client):
    first = post(client, body={**BODY, "external_id": None}, key="a")
    second = post(client, body={**BODY, "external_id": None}, key="b")

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert _counts() == (2, 2)


def test_without_a_key_nothing_is_remembered(client):
    post(client, body={**BODY, "external_id": None}, key="")
    post(client, body={**BODY, "external_id": None}, key="")

    assert Customer.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 0


def test_different_users_may_use_the_same_key_independently(client, make_user, api_client_for):
    other = api_client_for(make_user("sales_rep"))

    mine = post(client, key="shared")
    theirs = post(other, body={**BODY, "external_id": "CRM-THEIRS"}, key="shared")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs
    assert mine.json()["id"] != theirs.json()["id"]
    assert _counts() == (2, 2)


def test_a_failed_first_request_is_replayed_as_the_same_400(client):
    bad = {**BODY, "currency": "ABC"}

    first = post(client, body=bad)
    second = post(client, body=bad)

    assert first.status_code == 400
    assert second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert second.json()["error"]["fields"].keys() == {"currency"}
    assert _counts() == (0, 0)


def test_a_key_older_than_24_hours_is_treated_as_new(client):
    start = dt.datetime(2025, 5, 1, 9, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False):
        first = post(client, body={**BODY, "external_id": None})
    with time_machine.travel(start + dt.timedelta(hours=23, minutes=59), tick=False):
        replay = post(client, body={**BODY, "external_id": None})
    with time_machine.travel(start + dt.timedelta(hours=24, minutes=1), tick=False):
        fresh = post(client, body={**BODY, "external_id": None})

    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh
    assert fresh.json()["id"] != first.json()["id"]
    assert Customer.objects.count() == 2
    assert IdempotencyRecord.objects.count() == 1  # the expired record was replaced


def test_an_expired_key_may_be_reused_with_a_different_body(client):
    post(client)
    IdempotencyRecord.objects.update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))

    response = post(client, body={**BODY, "external_id": "CRM-NEXT-DAY"})

    assert response.status_code == 201
    assert Customer.objects.filter(external_id="CRM-NEXT-DAY").exists()


def test_a_request_still_running_gets_a_409_in_progress(client, sales_rep):
    post(client)
    IdempotencyRecord.objects.update(status_code=None, response_body=None)  # as if the first were running
    before = _counts()

    response = post(client)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert _counts() == before


def test_an_overlong_key_is_a_400(client):
    response = post(client, key="k" * 256)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"Idempotency-Key": ["at most 255 characters"]}
    assert _counts() == (0, 0)


def test_unauthenticated_post_with_a_key_is_a_401_and_remembers_nothing(api_client_for):
    response = post(api_client_for(None))

    assert response.status_code == 401
    assert IdempotencyRecord.objects.count() == 0
    assert _counts() == (0, 0)


@pytest.mark.urls(THIS_URLCONF)
def test_a_5xx_is_not_kept_so_the_retry_runs_again(client):
    FlakyView.calls = 0

    first = post(client, body={"x": 1}, url="/api/test/flaky/")
    retry = post(client, body={"x": 1}, url="/api/test/flaky/")
    replay = post(client, body={"x": 1}, url="/api/test/flaky/")

    assert first.status_code == 500
    assert first.json()["error"]["code"] == "server_error"
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == {"call": 2}
    assert FlakyView.calls == 2
