"""Going live for real: nginx-rtmp, Daphne, a Celery worker and an FFmpeg test pattern.

OBS is played by `ffmpeg -re -f lavfi -i testsrc2 ... -f flv rtmp://.../live/<key>`.
"""

import signal
import subprocess
import time
import urllib.request

import pytest

from accounts.tests.factories import UserFactory
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams import services
from streams.models import Stream, StreamEvent
from streams.tests.helpers import FFMPEG_PUBLISH

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path):
    # A 2 s heartbeat so a short test sees several of them.
    with live_stack(tmp_path, update_interval=2) as running_stack:
        yield running_stack


def publish(url):
    return subprocess.Popen([*FFMPEG_PUBLISH, url], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_valid_key_goes_live_and_stopping_ffmpeg_ends_it(stack, client, api, channel):
    user = channel.user
    started = time.monotonic()
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        stream = wait_for(lambda: Stream.objects.live().filter(channel=channel).first(), what="live")
        print(f"live {time.monotonic() - started:.2f}s after the publish began")
        assert api.get(f"/api/v1/streams/{stream.pk}/").json()["status"] == "live"
        assert api.get("/api/v1/users/alice/").json()["is_live"] is True
        client.force_login(user)
        assert "● LIVE" in client.get("/dashboard/status/").content.decode()
        # S-06: the media server knows the stream by its public name; the secret went in
        # the publish's arguments, which its stat page (any local process can read it) omits.
        with urllib.request.urlopen(f"{stack['api_url']}/stat", timeout=5) as response:
            stat = response.read().decode()
        assert f"<name>{channel.stream_name}</name>" in stat
        assert channel.key_secret not in stat
        first_seen = stream.last_seen_at
        time.sleep(5)  # two heartbeats: the publisher is kept, and its broadcast marked alive
        assert ffmpeg.poll() is None
        stream.refresh_from_db()
        assert stream.status == "live" and stream.last_seen_at > first_seen
    finally:
        stop(ffmpeg)
    wait_for(lambda: Stream.objects.filter(pk=stream.pk, status="ended").exists(), what="ended")
    stream.refresh_from_db()
    assert stream.end_reason == "publisher_left"
    assert "The streamer stopped streaming" in client.get("/dashboard/status/").content.decode()


def test_a_key_in_the_old_form_is_refused_with_where_to_find_the_new_one(stack, channel):
    # Before S-06 the secret was part of the stream's name (live_<channel>_<secret>), so the
    # transcoder's pull carried it in its command line.
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_name}_{channel.key_secret}")
    try:
        assert ffmpeg.wait(20) != 0
    finally:
        stop(ffmpeg)
    assert not Stream.objects.live().exists()
    refused = StreamEvent.objects.get(channel=channel, type="publish_refused")
    assert "old form" in refused.message and "dashboard" in refused.message


def test_wrong_key_is_refused_at_connect(stack, channel):
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key[:-4]}zzzz")
    try:
        assert ffmpeg.wait(20) != 0
    finally:
        stop(ffmpeg)
    assert not Stream.objects.exists()
    event = StreamEvent.objects.get(type="publish_refused")
    assert event.details["reason"] == "Unknown or rotated stream key."


def test_ineligible_streamer_is_refused_at_connect(stack):
    user = UserFactory(username="carol")  # no followers
    channel = services.channel_get_or_create(user=user)
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        assert ffmpeg.wait(20) != 0
    finally:
        stop(ffmpeg)
    assert not Stream.objects.live().exists()
    assert StreamEvent.objects.get(type="publish_refused", channel=channel).details["reason"] == (
        "You need 2 followers to go live; you have 0."
    )


def test_rotating_the_key_drops_the_live_publisher(stack, channel):
    user = channel.user
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        wait_for(lambda: Stream.objects.live().filter(channel=channel).exists(), what="live")
        services.channel_rotate_key(channel=channel, by=user)  # the worker drops the publisher
        wait_for(lambda: ffmpeg.poll() is not None, timeout=20, what="ffmpeg to be dropped")
    finally:
        stop(ffmpeg)
    stream = Stream.objects.get(channel=channel)
    assert (stream.status, stream.end_reason) == ("ended", "key_rotated")


def test_obs_reconnecting_after_a_lost_unpublish_goes_live_at_once(stack, channel):
    """A broadcast still marked live whose publisher the media server no longer has."""
    from django.utils import timezone

    user = channel.user
    now = timezone.now()
    lost = Stream.objects.create(
        channel=channel,
        owner=user,
        title="Lost",
        status="live",
        started_at=now,
        last_seen_at=now,
        media_server="nginx-rtmp",
        publisher_client_id="999999",
    )
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        new = wait_for(
            lambda: Stream.objects.live().filter(channel=channel).exclude(pk=lost.pk).first(), what="live"
        )
        assert new.publisher_client_id != "999999"
    finally:
        stop(ffmpeg)
    lost.refresh_from_db()
    assert (lost.status, lost.end_reason) == ("ended", "reaped")


def test_stream_key_stays_out_of_the_media_server_log(stack, channel):
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        wait_for(lambda: Stream.objects.live().filter(channel=channel).exists(), what="live")
    finally:
        stop(ffmpeg)
    wait_for(lambda: not Stream.objects.live().exists(), what="ended")
    log = stack["error_log"].read_text()  # nginx writes it at start-up; it must exist
    assert channel.key_secret not in log
