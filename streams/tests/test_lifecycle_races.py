"""The edges a reviewer found: races, lost hooks, outages, bans, reconnects."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import user_ban
from streams import services
from streams.models import Stream, Visibility


@pytest.mark.django_db
def test_a_publish_in_flight_when_the_key_is_rotated_is_refused(channel, streamer, monkeypatch):
    old_key = channel.stream_key
    stale = services.channel_by_stream_key(old_key)  # the hook checked the key...
    services.channel_rotate_key(channel=channel, by=streamer)  # ...then the rotation committed
    monkeypatch.setattr(services, "channel_by_stream_key", lambda key: stale)
    result = services.broadcast_publish(dialect="nginx-rtmp", key=old_key, client_id="1", ip=None)
    assert not result.allowed and result.reason == "Unknown or rotated stream key."
    assert not Stream.objects.live().exists()


@pytest.mark.django_db
@pytest.mark.faults
def test_unpublish_still_ends_the_broadcast_when_redis_is_down(channel, settings, go_live):
    stream = go_live()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    services.broadcast_unpublish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1")
    stream.refresh_from_db()
    assert stream.status == "ended"
    assert go_live(client_id="2").is_live  # and a publish works without the cache too


@pytest.mark.django_db
def test_start_with_a_stale_copy_cannot_knock_a_live_broadcast_back_to_idle(channel, streamer, go_live):
    prepared = services.stream_create(owner=streamer, scheduled_for=timezone.now() + timedelta(hours=1))
    go_live()
    services.stream_start(stream=prepared)  # `prepared` still says scheduled
    prepared.refresh_from_db()
    assert prepared.status == "live"


@pytest.mark.django_db
def test_editing_a_live_broadcast_keeps_it_live(channel, client, go_live):
    go_live()
    client.force_login(channel.user)
    response = client.post("/dashboard/stream/", {"title": "Renamed while live", "visibility": "public"})
    assert response.status_code == 302
    stream = Stream.objects.get()
    assert (stream.status, stream.title) == ("live", "Renamed while live")


@pytest.mark.django_db
def test_a_banned_streamer_is_dropped_at_the_next_heartbeat(channel, streamer, bob, go_live):
    stream = go_live()
    user_ban(user=streamer, by=bob)
    assert services.broadcast_heartbeat(dialect="nginx-rtmp", key=channel.stream_key, client_id="1") is False
    stream.refresh_from_db()
    assert (stream.status, stream.end_reason) == ("ended", "ineligible")


@pytest.mark.django_db
def test_the_reaper_ends_broadcasts_of_banned_streamers(
    channel, streamer, bob, celery_queue, django_capture_on_commit_callbacks, go_live
):
    stream = go_live(dialect="srs")
    user_ban(user=streamer, by=bob)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.broadcasts_reap_stale() == 1
    stream.refresh_from_db()
    assert stream.end_reason == "ineligible"
    assert ("streams.tasks.media_drop_publisher_task", ["srs", channel.pk, "1"]) in celery_queue()


@pytest.mark.django_db
def test_the_reaper_leaves_srs_broadcasts_alone_when_srs_does_not_answer(channel, settings, go_live):
    settings.MEDIA_SERVER_API_URL = "http://127.0.0.1:9"
    stream = go_live(dialect="srs")
    Stream.objects.filter(pk=stream.pk).update(last_seen_at=timezone.now() - timedelta(minutes=5))
    assert services.broadcasts_reap_stale() == 0  # SRS sends no heartbeats: silence proves nothing
    assert Stream.objects.get().status == "live"


@pytest.mark.django_db
def test_a_second_connection_is_refused_while_the_media_server_cannot_tell(channel, settings, go_live):
    settings.MEDIA_SERVER_API_URL = "http://127.0.0.1:9"
    go_live(client_id="1")
    second = services.broadcast_publish(dialect="nginx-rtmp", key=channel.stream_key, client_id="2", ip=None)
    assert second.reason == "The channel is already live from another connection."


@pytest.mark.django_db
def test_profile_live_badge_respects_visibility(client, api_as, channel, carol, go_live):
    stream = go_live()
    Stream.objects.filter(pk=stream.pk).update(title="Secret club", visibility=Visibility.FOLLOWERS)
    client.force_login(carol)
    assert "Secret club" not in client.get("/u/alice/").content.decode()
    assert api_as(carol).get("/api/v1/users/alice/").json()["is_live"] is False
    Stream.objects.filter(pk=stream.pk).update(visibility=Visibility.UNLISTED)
    assert "Secret club" not in client.get("/u/alice/").content.decode()


@pytest.mark.django_db
def test_unlisted_broadcasts_notify_nobody(channel, go_live):
    services.channel_update_defaults(channel=channel, default_visibility=Visibility.UNLISTED)
    assert services.stream_notify_followers(stream_id=go_live().pk) == 0


@pytest.mark.django_db
def test_an_obs_reconnect_does_not_notify_followers_again(channel, go_live):
    first = go_live(client_id="1")
    assert services.stream_notify_followers(stream_id=first.pk) == 2
    services.broadcast_unpublish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1")
    second = go_live(client_id="2")
    assert services.stream_notify_followers(stream_id=second.pk) == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["live_²_secret", "live_1_", "live__x", "live_1_a b", "LIVE_1_x", "x" * 300])
def test_malformed_keys_are_refused_not_500(nginx_hook, key):
    # refused (a non-2xx) and never a 500; over-long names are malformed hooks (400)
    assert nginx_hook("publish", key, clientid="1").status_code in (400, 403)
    assert nginx_hook("publish_done", key, clientid="1").status_code in (200, 400)
    assert nginx_hook("update_publish", key, clientid="1").status_code in (400, 403)
    assert not Stream.objects.exists()


@pytest.mark.django_db
def test_live_search_with_nul_is_not_a_500(api):
    from socialflow.tests.helpers import assert_error

    assert_error(api.get("/api/v1/streams/live/?q=%00&category=%00"), 400, "null_characters_not_allowed")
    assert_error(api.get("/api/v1/streams/live/?q=a&q=b"), 400, "repeated")
    assert api.get("/api/v1/streams/live/?q=a").status_code == 200


@pytest.mark.django_db
def test_admin_edit_cannot_write_back_a_stale_status(client, bob, channel, go_live):
    stream = go_live()
    client.force_login(bob)
    form_url = f"/admin/streams/stream/{stream.pk}/change/"
    client.get(form_url)
    services.broadcast_unpublish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1"
    )  # ends meanwhile
    client.post(
        form_url,
        {
            "title": "Edited by a mod",
            "description": "",
            "tags": "[]",
            "visibility": "public",
            "record": "on",
            "dvr_enabled": "on",
            "scheduled_for_0": "",
            "scheduled_for_1": "",
            "events-TOTAL_FORMS": "0",
            "events-INITIAL_FORMS": "0",
        },
    )
    stream.refresh_from_db()
    assert (stream.status, stream.title) == ("ended", "Edited by a mod")


@pytest.mark.django_db
def test_key_guessing_does_not_flood_the_event_table(nginx_hook):
    from streams.models import StreamEvent

    for i in range(20):
        assert (
            nginx_hook("publish", f"live_1_guess{i}", clientid=str(i), addr="203.0.113.5").status_code == 403
        )
    assert StreamEvent.objects.filter(type="publish_refused").count() == 1
