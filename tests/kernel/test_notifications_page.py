"""The notification bell (one COUNT), the notifications page, and marking read (only one's own)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from revops.kernel import roles
from revops.kernel.models import Notification

pytestmark = pytest.mark.django_db


def _notify(user, message, *, read=False, link=""):
    from django.utils import timezone

    return Notification.objects.create(
        user=user,
        kind="renewal_alert",
        message=message,
        link=link,
        dedupe_key=f"test:{message}",
        read_at=timezone.now() if read else None,
    )


def _bell(html: str) -> str:
    match = re.search(r'<a class="bell"[^>]*>.*?</a>', html, re.S)
    return match.group(0) if match else ""


def _notification_queries(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "kernel_notification" in q["sql"]]


def test_pages_show_the_bell_without_querying_notifications(client, success_user):
    _notify(success_user, "one")
    client.force_login(success_user)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(reverse("home")).content.decode()
    bell = _bell(html)
    assert f'href="{reverse("notifications:list")}"' in bell
    assert f'hx-get="{reverse("notifications:badge")}" hx-trigger="load, every 60s"' in bell
    assert _notification_queries(queries) == []  # the count is the badge's own request


def test_the_badge_is_the_unread_count_in_one_count_query(client, success_user, sales_rep):
    _notify(success_user, "one")
    _notify(success_user, "two")
    _notify(success_user, "old", read=True)
    _notify(sales_rep, "someone else's")
    client.force_login(success_user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("notifications:badge"), HTTP_HX_REQUEST="true")
    assert (
        response.content.decode()
        == '<span class="bell-count">2<span class="visually-hidden"> unread</span></span>'
    )
    assert "no-cache" in response["Cache-Control"]
    touching = _notification_queries(queries)
    assert len(touching) == 1 and "COUNT(" in touching[0].upper()


def test_no_unread_no_count_and_no_bell_for_a_user_without_a_role(client, success_user, make_user):
    _notify(success_user, "old", read=True)
    client.force_login(success_user)
    assert client.get(reverse("notifications:badge")).content == b""
    nobody = make_user()
    _notify(nobody, "hidden")
    client.force_login(nobody)
    assert _bell(client.get(reverse("home")).content.decode()) == ""
    assert client.get(reverse("notifications:list")).status_code == 403
    assert client.get(reverse("notifications:badge")).status_code == 403


def test_the_list_shows_only_my_notifications_newest_first(client, success_user, sales_rep):
    _notify(success_user, "first", link="/contracts/1/")
    _notify(success_user, "second", read=True)
    _notify(success_user, "third")
    _notify(sales_rep, "not mine")
    client.force_login(success_user)
    html = client.get(reverse("notifications:list")).content.decode()
    assert re.findall(r'<p class="notification-message">(?:<a href="[^"]*">)?([^<]+)', html) == [
        "third",
        "second",
        "first",
    ]
    assert '<a href="/contracts/1/">first</a>' in html
    assert html.count("Mark read</button>") == 2  # the unread ones
    assert "not mine" not in html


def test_marking_read_one_and_all(client, success_user, sales_rep):
    mine = _notify(success_user, "mine")
    also = _notify(success_user, "also mine")
    theirs = _notify(sales_rep, "theirs")
    client.force_login(success_user)
    response = client.post(reverse("notifications:read", args=[mine.pk]), {"next": "/contracts/"})
    assert response.status_code == 302 and response["Location"] == "/contracts/"
    mine.refresh_from_db()
    also.refresh_from_db()
    assert mine.read_at is not None and also.read_at is None
    first_read = mine.read_at
    client.post(reverse("notifications:read", args=[mine.pk]))
    mine.refresh_from_db()
    assert mine.read_at == first_read  # reading again keeps the first time
    assert client.get(reverse("notifications:read", args=[also.pk])).status_code == 405  # POST only
    response = client.post(reverse("notifications:read_all"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("notifications:list")  # no open redirect
    assert Notification.objects.filter(user=success_user, read_at__isnull=True).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_another_users_notification_is_a_404_and_stays_unread(client, success_user, make_user):
    theirs = _notify(make_user(roles.FINANCE), "theirs")
    client.force_login(success_user)
    assert client.post(reverse("notifications:read", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
