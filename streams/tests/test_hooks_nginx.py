"""nginx-rtmp form callbacks through /hooks/nginx-rtmp/."""

import pytest

from streams.models import Stream, StreamEvent
from streams.tests.helpers import HOOK_SECRET


@pytest.mark.django_db
def test_publish_allows_with_2xx_and_goes_live(nginx_hook, channel):
    response = nginx_hook("publish", channel.stream_key, clientid="11")
    assert response.status_code == 200
    stream = Stream.objects.get(channel=channel)
    assert (stream.status, stream.media_server, stream.publisher_client_id) == ("live", "nginx-rtmp", "11")


@pytest.mark.django_db
def test_publish_refused_with_403_and_a_reason(nginx_hook, channel):
    response = nginx_hook("publish", "live_999_nope", clientid="11")
    assert response.status_code == 403
    assert response.content == b"Unknown or rotated stream key."


@pytest.mark.django_db
def test_the_secret_travels_as_an_argument_and_the_name_is_public(client, channel):
    # S-06: OBS's key live_<channel>?key=<secret> arrives as name=live_<channel>, key=<secret>.
    url = f"/hooks/nginx-rtmp/?secret={HOOK_SECRET}"
    form = {"app": "live", "addr": "127.0.0.1", "clientid": "11", "call": "publish"}
    assert client.post(url, {**form, "name": channel.stream_name}).status_code == 403  # no secret
    assert client.post(url, {**form, "name": channel.stream_name, "key": "nope"}).status_code == 403
    response = client.post(url, {**form, "name": channel.stream_name, "key": channel.key_secret})
    assert response.status_code == 200 and Stream.objects.get(channel=channel).status == "live"
    # the transcoder's pull names the public stream: its heartbeat keeps it while live
    play = {**form, "call": "update_play", "clientid": "12", "name": channel.stream_name}
    assert client.post(url, play).status_code == 200


@pytest.mark.django_db
def test_a_key_in_the_form_before_s06_is_refused_saying_where_the_new_one_is(nginx_hook, channel):
    response = nginx_hook("publish", f"{channel.stream_name}_{channel.key_secret}", clientid="11")
    assert response.status_code == 403
    assert b"old form" in response.content and b"dashboard" in response.content
    event = StreamEvent.objects.get(channel=channel, type="publish_refused")  # on the dashboard
    assert channel.key_secret not in f"{event.message}{event.details}"
    # the old form with a wrong secret is just a wrong key
    response = nginx_hook("publish", f"{channel.stream_name}_nope", clientid="12")
    assert response.content == b"Unknown or rotated stream key."


@pytest.mark.django_db
def test_publish_done_ends_the_broadcast(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="11")
    assert nginx_hook("publish_done", channel.stream_key, clientid="11").status_code == 200
    assert Stream.objects.get(channel=channel).status == "ended"


@pytest.mark.django_db
def test_update_keeps_the_publisher_and_drops_it_once_ended(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="11")
    stream = Stream.objects.get(channel=channel)
    before = stream.last_seen_at
    beat = {"time": "10", "timestamp": "9856"}
    assert nginx_hook("update_publish", channel.stream_key, clientid="11", **beat).status_code == 200
    stream.refresh_from_db()
    assert stream.last_seen_at > before
    # a player (the transcoder) of a live channel is fine too; a stranger's publisher beat is not
    assert nginx_hook("update_play", channel.stream_key, clientid="12", **beat).status_code == 200
    assert nginx_hook("update_publish", channel.stream_key, clientid="99", **beat).status_code == 403
    Stream.objects.filter(pk=stream.pk).update(status="ended", ended_at=stream.started_at)
    assert nginx_hook("update_publish", channel.stream_key, clientid="11", **beat).status_code == 403
    assert nginx_hook("update_play", channel.stream_key, clientid="12", **beat).status_code == 403


@pytest.mark.django_db
def test_play_is_only_for_platform_workers(nginx_hook, channel):
    nginx_hook("publish", channel.stream_key, clientid="11")
    assert nginx_hook("play", channel.stream_key, clientid="12", addr="127.0.0.1").status_code == 200
    assert nginx_hook("play", channel.stream_key, clientid="13", addr="198.51.100.7").status_code == 403
    assert StreamEvent.objects.filter(type="play_refused").count() == 1


@pytest.mark.django_db
def test_refused_pulls_in_a_loop_write_one_event_a_minute(nginx_hook, channel):
    """S-14: a loop of refused pulls (a key, or names at random) writes at most one event a
    minute per address and channel, and none without a channel."""
    nginx_hook("publish", channel.stream_key, clientid="11")
    for i in range(20):
        assert (
            nginx_hook("play", channel.stream_key, clientid=str(20 + i), addr="198.51.100.7").status_code
            == 403
        )
        assert (
            nginx_hook("play", f"live_9_guess{i}", clientid=str(50 + i), addr="198.51.100.7").status_code
            == 403
        )
    assert StreamEvent.objects.filter(type="play_refused").count() == 1


@pytest.mark.django_db
def test_wrong_secret_is_403(nginx_hook, channel):
    response = nginx_hook("publish", channel.stream_key, secret="nope")
    assert response.status_code == 403
    assert not Stream.objects.exists()


@pytest.mark.django_db
def test_unconfigured_secret_refuses_everything(nginx_hook, channel, settings):
    settings.MEDIA_HOOK_SECRET = ""
    assert nginx_hook("publish", channel.stream_key, secret="").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("data", [{}, {"call": "publish"}, {"call": "bogus", "clientid": "1"}])
def test_malformed_callbacks_are_400(client, data):
    response = client.post(f"/hooks/nginx-rtmp/?secret={HOOK_SECRET}", data)
    assert response.status_code == 400 and response.json()["code"] == "bad_hook"


@pytest.mark.django_db
def test_nul_bytes_in_callbacks_are_400(nginx_hook, channel):
    assert nginx_hook("publish", channel.stream_key, clientid="a\x00").status_code == 400
    assert nginx_hook("publish", channel.stream_key + "\x00", clientid="1").status_code == 400
    assert nginx_hook("publish", channel.stream_key, clientid="1", addr="999.1.1.1").status_code == 200
