"""A broadcast whose feed the media server took but nobody can read (SRS issue #4182: SRS 6
can feed a source it has already deleted) never sits without video in silence: within
TRANSCODE_NO_MEDIA_SECONDS the transcoder drops OBS, which reconnects, and says so.

nginx-rtmp does not have that bug, so the transcoder here pulls from where nothing answers
(RTMP_PULL_URL on a closed port) while OBS publishes to nginx-rtmp as usual: the publisher
is present, and no media comes through. Everything else is real.
"""

import time

import pytest

from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.models import Stream, StreamEvent
from streams.tests.helpers import encode_clip, publish_clip

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_publish_whose_feed_cannot_be_read_drops_obs_within_the_limit(tmp_path, channel):
    clip = encode_clip(tmp_path / "360p.flv", size="640x360", seconds=4)
    env = {"RTMP_PULL_URL": "rtmp://127.0.0.1:9/live", "TRANSCODE_NO_MEDIA_SECONDS": "6"}
    with live_stack(tmp_path, transcode=True, **env) as stack:
        started = time.monotonic()
        obs = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=60)
        try:
            stream = wait_for(lambda: Stream.objects.filter(channel=channel).first(), what="live")
            dropped = wait_for(
                lambda: StreamEvent.objects.filter(
                    stream=stream, message__startswith="No video could be read"
                ).first(),
                timeout=25,
                what="the no-media event",
            )
            took = time.monotonic() - started
            obs.wait(timeout=10)  # the media server dropped it (OBS would reconnect)
            # Its unpublish hook reaches the web tier a moment later (under load, seconds):
            # wait for it while the stack still runs.
            wait_for(
                lambda: Stream.objects.filter(pk=stream.pk).exclude(status="live").exists(),
                timeout=20,
                what="the broadcast to end",
            )
        finally:
            obs.kill()
            obs.wait()
    print(f"dropped {took:.1f} s after the publish")
    assert took < 6 + 5  # the limit, and a retry's worth of slack
    assert dropped.severity == "warning" and "reconnects" in dropped.message
    stream.refresh_from_db()
    assert stream.status == "ended" and stream.end_reason == "publisher_left"
    assert not StreamEvent.objects.filter(stream=stream, message__startswith="Failed").exists()
