import pytest

from streams.models import Category, Stream


@pytest.mark.django_db
def test_moderator_ends_a_broadcast_from_the_admin(
    client, bob, channel, nginx_hook, celery_queue, django_capture_on_commit_callbacks
):
    nginx_hook("publish", channel.stream_key, clientid="8")
    stream = Stream.objects.get()
    client.force_login(bob)
    page = client.get("/admin/streams/stream/?status__exact=live").content.decode()
    assert stream.title in page
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/streams/stream/", {"action": "end_broadcast", "_selected_action": [stream.pk]})
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == ("ended", "moderator_ended")
    assert ("streams.tasks.media_drop_publisher_task", ["nginx-rtmp", channel.pk, "8"]) in celery_queue()


@pytest.mark.django_db
def test_moderator_rotates_a_key_from_the_admin(client, bob, channel):
    old = channel.stream_key
    client.force_login(bob)
    client.post("/admin/streams/channel/", {"action": "rotate_key", "_selected_action": [channel.pk]})
    channel.refresh_from_db()
    assert channel.stream_key != old


@pytest.mark.django_db
def test_stream_page_in_the_admin_shows_its_events(client, bob, channel, nginx_hook):
    nginx_hook("publish", channel.stream_key, clientid="8")
    client.force_login(bob)
    page = client.get(f"/admin/streams/stream/{Stream.objects.get().pk}/change/").content.decode()
    assert "Went live." in page


@pytest.mark.django_db
def test_strangers_cannot_reach_stream_admin(client, carol):
    client.force_login(carol)
    assert client.get("/admin/streams/stream/").status_code == 302


@pytest.mark.django_db
def test_categories_are_managed_by_moderators(client, bob):
    client.force_login(bob)
    client.post(
        "/admin/streams/category/add/",
        {
            "name": "Just Chatting",
            "slug": "just-chatting",
            "position": 1,
            "is_active": "on",
            "description": "",
        },
    )
    assert Category.objects.filter(slug="just-chatting").exists()
