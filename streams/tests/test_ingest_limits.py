"""S-21: a feed above the server's cap (INGEST_MAX_HEIGHT, INGEST_MAX_KBPS) is refused with a
reason the streamer sees, instead of being transcoded and recorded as it comes."""

import json
import subprocess
import time

import pytest

from accounts.tests.factories import UserFactory
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams import health
from streams import services as stream_services
from streams.models import Stream, StreamEvent
from streams.tests.helpers import encode_clip, publish_clip
from streams.transcoder import source_refusal
from streams.transcoding import Source


def source(width: int, height: int) -> Source:
    return Source(width=width, height=height, fps=30.0)


def test_a_source_taller_than_the_cap_is_refused_by_its_shorter_side(settings):
    settings.INGEST_MAX_HEIGHT = 2160
    assert source_refusal(source(3840, 2160)) is None  # 4K is taken
    assert source_refusal(source(1080, 1920)) is None  # portrait 1080p is 1080p
    assert source_refusal(source(2160, 3840)) is None
    refusal = source_refusal(source(7680, 4320))
    assert refusal is not None and "7680x4320" in refusal and "2160p" in refusal


def test_the_ingest_is_refused_only_when_it_stays_above_the_cap():
    meter = health.HealthMeter(ingest_limit_kbps=6000)
    reading = dict(out_seconds=0.0, frames=0.0, dups=0.0)
    meter.read(now=0, ingest_kbps=9000, **reading)  # a keyframe burst at the start
    assert meter.ingest_over_limit is None
    meter.read(now=5, ingest_kbps=5000, **reading)
    meter.read(now=10, ingest_kbps=8000, **reading)
    assert meter.ingest_over_limit is None
    meter.read(now=15, ingest_kbps=8500, **reading)
    assert meter.ingest_over_limit == 8500
    assert health.HealthMeter().ingest_over_limit is None  # no cap


def clip_kbps(path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=bit_rate", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(json.loads(out)["format"]["bit_rate"]) / 1000


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_feed_too_tall_or_too_fast_fails_with_the_reason_and_obs_is_dropped(
    tmp_path, streaming_settings, followers_of
):
    tall = encode_clip(tmp_path / "720p.flv", size="1280x720", seconds=4)
    fast = encode_clip(tmp_path / "360p.flv", size="640x360", seconds=4)
    limit = int(clip_kbps(fast) / 2)  # the 360p feed sends twice what is allowed
    channels = []
    for name in ("tall", "fast"):
        user = UserFactory(username=name)
        followers_of(user, 2)
        channels.append(stream_services.channel_get_or_create(user=user))
    env = {"INGEST_MAX_HEIGHT": "480", "INGEST_MAX_KBPS": str(limit)}
    # Both transcoders at once, as `make run`'s thread pool runs them (a solo worker took the
    # fast feed's first, and the tall one waited its turn for the whole test).
    pool = ("--pool", "threads", "--concurrency", "4")
    with live_stack(tmp_path, transcode=True, transcode_pool=pool, **env) as stack:
        started = time.monotonic()
        publishers = [
            publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=60)
            for channel, clip in zip(channels, (tall, fast), strict=True)
        ]
        try:
            for channel, why in zip(channels, ("1280x720", "kbit/s"), strict=True):
                stream = wait_for(
                    lambda channel=channel: Stream.objects.filter(channel=channel, status="failed").first(),
                    timeout=45,
                    what=f"{channel.user.username}'s broadcast to fail",
                )
                failed = StreamEvent.objects.get(stream=stream, message__startswith="Failed:")
                assert why in failed.message and "in OBS" in failed.message, failed.message
                assert failed.severity == "error"
            # OBS is dropped: both publishers were cut off long before their 60 s.
            for publisher in publishers:
                publisher.wait(timeout=20)
            assert time.monotonic() - started < 50
        finally:
            for publisher in publishers:
                publisher.kill()
                publisher.wait()
