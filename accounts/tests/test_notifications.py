import pytest

from accounts import services
from accounts.models import Notification


@pytest.mark.django_db
def test_nav_shows_unread_count_and_the_page_marks_them_read(client, alice, carol):
    from accounts.models import Follow

    Follow.objects.create(follower=carol, followee=alice)
    services.notifications_notify_followers(
        actor=alice, kind="went_live", message="Alice is live: hi", url="/u/alice/"
    )
    client.force_login(carol)
    assert '<span class="nav-badge">1</span>' in client.get("/").content.decode()
    page = client.get("/notifications/").content.decode()
    assert "Alice is live: hi" in page and 'class="unread"' in page
    assert Notification.objects.get().read_at is not None
    assert "nav-badge" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_notifications_require_login(client):
    assert client.get("/notifications/").status_code == 302


@pytest.mark.django_db
def test_an_app_lists_notifications_and_marks_them_read(api_as, alice, carol):
    # Issue 14: the notifications API (list, unread only, mark some or all read).
    from rest_framework.test import APIClient

    from accounts.models import Notification
    from socialflow.tests.helpers import assert_error

    made = [
        Notification.objects.create(
            recipient=carol, actor=alice, kind="went_live", message=f"m{i}", url="/alice/"
        )
        for i in range(3)
    ]
    Notification.objects.create(recipient=alice, kind="went_live", message="not carol's", url="/")
    api = api_as(carol)
    listed = api.get("/api/v1/notifications/").json()
    assert listed["count"] == 3 and [n["id"] for n in listed["results"]] == [n.pk for n in reversed(made)]
    assert listed["results"][0]["actor"]["username"] == "alice" and listed["results"][0]["read_at"] is None
    marked = api.post("/api/v1/notifications/", {"ids": [made[0].pk, 999999]}, format="json").json()
    assert marked == {"marked": 1, "unread": 2}
    assert api.get("/api/v1/notifications/", {"unread": "1"}).json()["count"] == 2
    assert api.post("/api/v1/notifications/", {}, format="json").json() == {"marked": 2, "unread": 0}
    assert Notification.objects.filter(recipient=alice, read_at__isnull=True).count() == 1  # untouched
    assert_error(api.post("/api/v1/notifications/", {"ids": ["x"]}, format="json"), 400, "invalid")
    assert_error(APIClient().get("/api/v1/notifications/"), 401, "not_authenticated")


def test_notifications_read_takes_ids_or_all_as_api_md_says(api_as, alice, carol):
    from accounts.models import Notification
    from socialflow.tests.helpers import assert_error

    made = [
        Notification.objects.create(recipient=carol, actor=alice, kind="went_live", message=f"m{i}", url="/")
        for i in range(3)
    ]
    mine = Notification.objects.create(recipient=alice, kind="went_live", message="alice's", url="/")
    api = api_as(carol)
    marked = api.post("/api/v1/notifications/read/", {"ids": [made[0].pk, mine.pk]}, format="json")
    assert marked.json() == {"marked": 1, "unread": 2}
    assert api.post("/api/v1/notifications/read/", {"all": True}, format="json").json() == {
        "marked": 2,
        "unread": 0,
    }
    assert_error(api.post("/api/v1/notifications/read/", {}, format="json"), 400, "ids_or_all")
    assert_error(api.post("/api/v1/notifications/read/", {"all": False}, format="json"), 400, "ids_or_all")
    assert_error(
        api.post("/api/v1/notifications/read/", {"ids": [1], "all": True}, format="json"), 400, "ids_or_all"
    )
    assert Notification.objects.get(pk=mine.pk).read_at is None
