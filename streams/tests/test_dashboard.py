import pytest

from streams.models import Stream
from streams.tests.factories import CategoryFactory


@pytest.mark.django_db
def test_dashboard_shows_obs_settings_and_waiting_state(client, channel, settings):
    client.force_login(channel.user)
    page = client.get("/dashboard/").content.decode()
    assert settings.RTMP_PUBLIC_URL in page
    assert 'type="password"' in page and channel.stream_key in page  # hidden until revealed
    assert "Keyframe interval <strong>2 s</strong>" in page and "CBR" in page
    assert "Offline" in page


@pytest.mark.django_db
def test_status_fragment_follows_the_broadcast(client, channel, nginx_hook):
    client.force_login(channel.user)
    assert "Offline" in client.get("/dashboard/status/").content.decode()
    nginx_hook("publish", channel.stream_key, clientid="1")
    fragment = client.get("/dashboard/status/").content.decode()
    assert "● LIVE" in fragment and "End stream" in fragment
    nginx_hook("publish_done", channel.stream_key, clientid="1")
    assert "The streamer stopped streaming" in client.get("/dashboard/status/").content.decode()


@pytest.mark.django_db
def test_prepare_then_edit_the_next_broadcast(client, channel):
    CategoryFactory(slug="music", name="Music")
    client.force_login(channel.user)
    response = client.post(
        "/dashboard/stream/",
        {
            "title": "Night set",
            "category": "music",
            "tags": "ambient, chill",
            "visibility": "public",
            "record": "on",
        },
        follow=True,
    )
    assert "Broadcast prepared" in response.content.decode()
    stream = Stream.objects.get(channel=channel)
    assert (stream.status, stream.category.slug, stream.tags, stream.dvr_enabled) == (
        "idle",
        "music",
        ["ambient", "chill"],
        False,
    )
    client.post("/dashboard/stream/", {"title": "Night set 2", "visibility": "followers"})
    stream.refresh_from_db()
    assert (stream.title, stream.visibility) == ("Night set 2", "followers")
    assert Stream.objects.count() == 1


@pytest.mark.django_db
def test_prepare_with_bad_input_shows_the_error(client, channel):
    client.force_login(channel.user)
    response = client.post("/dashboard/stream/", {"title": "x", "tags": "bad tag!", "visibility": "public"})
    assert response.status_code == 400
    assert "is not a valid tag" in response.content.decode()


@pytest.mark.django_db
def test_prepare_below_threshold_explains(client, alice):
    client.force_login(alice)
    response = client.post("/dashboard/stream/", {"title": "x", "visibility": "public"})
    assert "You need 2 followers to go live; you have 0." in response.content.decode()


@pytest.mark.django_db
def test_rotate_and_end_from_the_dashboard(client, channel, nginx_hook):
    client.force_login(channel.user)
    old = channel.stream_key
    nginx_hook("publish", old, clientid="1")
    stream = Stream.objects.get()
    client.post(f"/dashboard/stream/{stream.pk}/end/")
    stream.refresh_from_db()
    assert stream.end_reason == "owner_ended"
    response = client.post("/dashboard/rotate-key/", follow=True)
    channel.refresh_from_db()
    assert channel.stream_key != old and channel.stream_key in response.content.decode()


@pytest.mark.django_db
def test_cannot_end_someone_elses_stream(client, channel, nginx_hook, carol):
    nginx_hook("publish", channel.stream_key, clientid="1")
    client.force_login(carol)
    response = client.post(f"/dashboard/stream/{Stream.objects.get().pk}/end/")
    assert response.status_code == 403
    assert Stream.objects.get().status == "live"


@pytest.mark.django_db
def test_home_lists_public_live_broadcasts_only(client, channel, nginx_hook, django_assert_max_num_queries):
    from streams import services

    services.channel_update_defaults(channel=channel, default_title="Public jam")
    nginx_hook("publish", channel.stream_key, clientid="1")
    with django_assert_max_num_queries(3):
        page = client.get("/").content.decode()
    assert "Public jam" in page and "● LIVE" in page
    Stream.objects.update(visibility="followers")
    assert "Public jam" not in client.get("/").content.decode()


@pytest.mark.django_db
def test_status_shows_stream_health(client, channel, nginx_hook):
    from django.utils import timezone

    from streams.models import StreamHealthSample

    client.force_login(channel.user)
    nginx_hook("publish", channel.stream_key, clientid="1")
    stream = Stream.objects.get()
    assert "Preparing playback" in client.get("/dashboard/status/").content.decode()
    StreamHealthSample.objects.create(
        stream=stream, fps=29.97, speed=1.01, bitrate_kbps=4100, dropped_frames=3
    )
    Stream.objects.filter(pk=stream.pk).update(hls_ready_at=timezone.now())
    fragment = client.get("/dashboard/status/").content.decode()
    assert "Playing for viewers" in fragment and "30 fps" in fragment and "1.01x" in fragment
    assert "4100 kbps out" in fragment and "3 dropped frames" in fragment


@pytest.mark.django_db
def test_status_shows_the_ladder_and_why(client, channel, nginx_hook):
    from streams.models import StreamEvent
    from streams.services import stream_event_record

    client.force_login(channel.user)
    nginx_hook("publish", channel.stream_key, clientid="1")
    stream = Stream.objects.get()
    assert "Qualities" not in client.get("/dashboard/status/").content.decode()
    ladder = {"rungs": ["720p", "480p", "360p"]}
    stream_event_record(
        stream=stream, kind="transcoder", message="Ladder 720p, 480p, 360p ...", details={"ladder": ladder}
    )
    fragment = client.get("/dashboard/status/").content.decode()
    assert "720p, 480p, 360p" in fragment and "event-warning" not in fragment.split("Qualities")[0][-80:]
    stream_event_record(
        stream=stream,
        kind="transcoder",
        severity=StreamEvent.Severity.WARNING,
        message="This server could not keep up with re-encoding 720p (0.81x real time over 10 s); "
        "viewers get the source as sent and 480p and below.",
        details={"ladder": {"rungs": ["source", "480p", "360p"]}},
    )
    fragment = client.get("/dashboard/status/").content.decode()
    assert 'class="ladder event-warning" data-ladder="source,480p,360p"' in fragment
    assert "could not keep up with re-encoding 720p" in fragment


@pytest.mark.django_db
def test_the_dashboard_knows_which_broadcast_to_follow_live(client, channel, nginx_hook):
    client.force_login(channel.user)
    page = client.get("/dashboard/").content.decode()
    assert '"health": "stream.health"' in page and "data-live-stream" not in page
    nginx_hook("publish", channel.stream_key, clientid="1")
    stream = Stream.objects.get()
    assert f'data-live-stream="{stream.pk}"' in client.get("/dashboard/status/").content.decode()
