"""A stream key appears only to its owner: never in others' pages, API answers or logs."""

import logging

import pytest

from streams import services


@pytest.mark.django_db
def test_key_is_in_no_page_or_answer_another_user_sees(client, api_as, channel, live_stream, bob, carol):
    secret = channel.key_secret
    pages = ["/", "/u/alice/", "/u/alice/followers/", "/following/", "/notifications/", "/dashboard/"]
    api = [
        f"/api/v1/streams/{live_stream.pk}/",
        "/api/v1/streams/live/",
        "/api/v1/users/alice/",
        "/api/v1/channel/",
        "/api/v1/me/",
        f"/api/v1/streams/{live_stream.pk}/events/",
    ]
    client.force_login(carol)
    for path in pages:
        assert secret not in client.get(path).content.decode(), path
    for path in api:
        assert secret not in api_as(carol).get(path).content.decode(), path
    # a moderator in the admin sees channels and streams, never the key
    client.force_login(bob)
    for path in [
        "/admin/streams/channel/",
        f"/admin/streams/channel/{channel.pk}/change/",
        f"/admin/streams/stream/{live_stream.pk}/change/",
        "/admin/streams/streamevent/",
        f"/api/v1/streams/{live_stream.pk}/events/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert secret not in response.content.decode(), path


@pytest.mark.django_db
def test_owner_sees_the_key_on_the_dashboard_and_in_the_api(client, api_as, channel):
    client.force_login(channel.user)
    assert channel.stream_key in client.get("/dashboard/").content.decode()
    assert api_as(channel.user).get("/api/v1/channel/").json()["stream_key"] == channel.stream_key


@pytest.mark.django_db
def test_key_is_in_no_log_line(caplog, channel, nginx_hook, bob, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        nginx_hook("publish", channel.stream_key, clientid="3")
        nginx_hook("update_publish", channel.stream_key, clientid="3")
        nginx_hook("publish", channel.stream_key, clientid="4")  # refused: already live
        nginx_hook("play", channel.stream_key, clientid="5", addr="203.0.113.1")  # refused pull
        nginx_hook("publish_done", channel.stream_key, clientid="3")
        nginx_hook("publish", channel.stream_key[:-3] + "abc", clientid="6")  # wrong key
        services.channel_rotate_key(channel=channel, by=bob)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "publish refused" in logged  # the log did say things
    assert channel.key_secret not in logged
    assert channel.stream_key not in logged


@pytest.mark.django_db
def test_events_never_store_the_key(channel, nginx_hook):
    nginx_hook("publish", channel.stream_key, clientid="3")
    nginx_hook("publish", channel.stream_key[:-3] + "abc", clientid="6")
    from streams.models import StreamEvent

    for event in StreamEvent.objects.all():
        assert channel.key_secret[:-3] not in f"{event.message}{event.details}"
