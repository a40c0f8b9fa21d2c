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
