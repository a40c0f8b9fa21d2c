"""Recordings end to end: OBS (FFmpeg) publishes to nginx-rtmp, the real transcoder and
workers run, and the recording is finalized into a VOD. Nothing mocked."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import m3u8
import pytest
from django.conf import settings

from dvr import services
from dvr.models import Recording
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import celery_worker, live_stack
from streams.models import MediaSegment, Stream, StreamEvent
from streams.services import stream_segments_purge
from streams.tests.helpers import FFMPEG_PUBLISH
from streams.transcoder import transcoder_running, transcoders_ensure

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, transcode=True) as running_stack:
        yield running_stack


def publish(stack, channel, seconds: int) -> subprocess.Popen:
    args = [*FFMPEG_PUBLISH]
    args[args.index("-t") + 1] = str(seconds)
    return subprocess.Popen(
        [*args, f"{stack['rtmp_url']}/{channel.stream_key}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def media(name: str) -> Path:
    return Path(settings.MEDIA_ROOT) / name


def duration_of(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return float(json.loads(out)["format"]["duration"])


def ffmpeg_pid(stack) -> int:
    pids = subprocess.run(
        ["pgrep", "-P", str(stack["transcode_worker"].pid), "ffmpeg"], capture_output=True, text=True
    ).stdout.split()
    assert len(pids) == 1
    return int(pids[0])


def live(channel) -> Stream:
    return wait_for(
        lambda: Stream.objects.live().filter(channel=channel, hls_ready_at__isnull=False).first(),
        timeout=20,
        what="the ladder",
    )


def ended_and_ready(stream: Stream, publisher: subprocess.Popen, timeout: float = 60) -> Recording:
    publisher.wait(60)
    wait_for(lambda: Stream.objects.filter(pk=stream.pk, status="ended").exists(), timeout=20, what="the end")
    ended = time.monotonic()
    recording = wait_for(
        lambda: Recording.objects.filter(stream=stream, status__in=["ready", "failed"]).first(),
        timeout=timeout,
        what="the finalized recording",
    )
    print(f"recording {recording.status} {time.monotonic() - ended:.1f} s after the end: {recording.reason}")
    assert recording.status == "ready", recording.reason
    return recording


def gaps(stream: Stream) -> list[float]:
    return [
        e.details["gap_seconds"]
        for e in StreamEvent.objects.filter(stream=stream, message__startswith="Restart gap")
    ]


def assert_vod(recording: Recording) -> None:
    master = m3u8.loads(media(recording.playlist_path).read_text())
    assert master.is_variant and master.playlists
    for variant in master.playlists:
        playlist = m3u8.load(str(media(recording.playlist_path).parent / variant.uri))
        assert playlist.playlist_type == "vod" and playlist.is_endlist
        assert playlist.segments
        for segment in playlist.segments[:2]:  # the URIs resolve to the kept segments
            assert (media(recording.playlist_path).parent / segment.uri).resolve().exists()


def test_a_recorded_publish_becomes_a_ready_vod_and_finalizing_again_changes_nothing(stack, channel):
    publisher = publish(stack, channel, 20)
    try:
        stream = live(channel)
        assert Recording.objects.get(stream=stream).status == "recording"
    finally:
        recording = ended_and_ready(Stream.objects.filter(channel=channel).first(), publisher)
    mp4 = media(recording.mp4_path)
    duration = duration_of(mp4)
    print(f"MP4 {duration:.2f} s for a 20 s publish")
    assert abs(duration - 20) <= 2
    assert abs(recording.duration_seconds - duration) < 0.1
    assert media(recording.thumbnail_path).stat().st_size > 1000
    assert_vod(recording)
    # +faststart: the index (moov) comes before the media (mdat)
    head = mp4.read_bytes()[:200_000]
    assert head.find(b"moov") < head.find(b"mdat")
    assert recording.size_bytes > mp4.stat().st_size
    assert recording.retention_until is not None
    assert StreamEvent.objects.filter(
        stream=stream, type="recording", message="The recording is ready."
    ).exists()

    files = {p: p.stat().st_size for p in media(recording.playlist_path).parent.iterdir()}
    again = services.recording_finalize(recording=recording, again=True)
    assert again.status == "ready" and Recording.objects.filter(stream=stream).count() == 1
    assert {p: p.stat().st_size for p in media(recording.playlist_path).parent.iterdir()} == files


def test_record_off_keeps_no_recording(stack, channel):
    channel.record_by_default = False
    channel.save()
    publisher = publish(stack, channel, 10)
    try:
        stream = live(channel)
        time.sleep(4)
        # DVR keeps the ladder's segments while live; nothing of the source is written
        assert MediaSegment.objects.filter(stream=stream).exclude(rendition="recording").exists()
    finally:
        publisher.wait(60)
    wait_for(lambda: Stream.objects.filter(pk=stream.pk, status="ended").exists(), timeout=20, what="the end")
    wait_for(lambda: not transcoder_running(stream.pk), timeout=20, what="the transcoder to stop")
    assert not Recording.objects.filter(stream=stream).exists()
    assert not MediaSegment.objects.filter(stream=stream, rendition="recording").exists()
    assert not media(f"{stream.media_prefix}/recording").exists()
    assert not media(f"{stream.media_prefix}/vod").exists()
    # the purge the end queued (a minute later, for players finishing): the DVR segments go
    stream_segments_purge(stream_id=stream.pk)
    assert not MediaSegment.objects.filter(stream=stream).exists()
    assert not any(media(stream.media_prefix).glob("*/seg_*.ts"))


@pytest.mark.faults
def test_a_killed_ffmpeg_leaves_a_whole_recording_with_the_gap_reported(stack, channel):
    started = time.monotonic()
    publisher = publish(stack, channel, 30)
    try:
        stream = live(channel)
        time.sleep(max(0, 8 - (time.monotonic() - started)))
        subprocess.run(["kill", "-9", str(ffmpeg_pid(stack))], check=True)
    finally:
        recording = ended_and_ready(Stream.objects.filter(channel=channel).first(), publisher)
    assert_covers(recording, stream, published=30)


@pytest.mark.faults
def test_a_killed_worker_leaves_a_whole_recording_with_the_gap_reported(stack, channel, tmp_path):
    started = time.monotonic()
    publisher = publish(stack, channel, 30)
    try:
        stream = live(channel)
        time.sleep(max(0, 8 - (time.monotonic() - started)))
        stack["transcode_worker"].kill()  # SIGKILL: its FFmpeg dies with it
        stack["transcode_worker"].wait()
        with celery_worker(tmp_path / "second", queues="transcode", **stack["env"]):
            # the dead worker's lock expires; the watchdog (beat, every 15 s) queues a transcoder
            wait_for(lambda: not transcoder_running(stream.pk), timeout=10, what="the lock to expire")
            wait_for(transcoders_ensure, timeout=20, what="the watchdog to queue a transcoder")
            wait_for(lambda: transcoder_running(stream.pk), timeout=20, what="a new transcoder")
            recording = ended_and_ready(stream, publisher)
    finally:
        if publisher.poll() is None:
            publisher.kill()
    assert_covers(recording, stream, published=30)


def assert_covers(recording: Recording, stream: Stream, *, published: float) -> None:
    """The recording is the publish minus the restart gap (and at most a segment)."""
    (gap,) = gaps(stream)
    duration = duration_of(media(recording.mp4_path))
    rows = MediaSegment.objects.filter(stream=stream, rendition="recording").order_by("position")
    first = rows.first()
    print(f"gap {gap:.1f} s; MP4 {duration:.1f} s of a {published} s publish")
    assert 0 < gap < 20
    assert duration >= published - gap - 2 - 3  # one segment, and the pull's start and end
    assert duration <= published + 1
    assert rows.filter(discontinuity=1).exists() and first.discontinuity == 0
    source = media(f"{stream.media_prefix}/vod/recording.m3u8").read_text()
    assert source.count("#EXT-X-DISCONTINUITY\n") == 1
    assert_vod(recording)
