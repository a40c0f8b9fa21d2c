"""The transcoder's watch loop against a real FFmpeg and the real database, with storage
(the outside world: S3 or a disk) failing under it."""

import subprocess
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from streams import services, transcoder
from streams.hls_publisher import HlsPublisher


class BrokenStorage:
    def save(self, name, content):
        raise OSError("S3 said 503")

    def delete(self, name):
        raise OSError("S3 said 503")


class FakeLock:
    def __init__(self, lost_after=None):
        self.calls = 0
        self.lost_after = lost_after

    def keep(self, now=False):
        self.calls += 1
        if self.lost_after is not None and self.calls > self.lost_after:
            raise transcoder.LockLost

    def sleep(self, seconds):
        self.keep()
        time.sleep(min(seconds, 0.2))


@pytest.fixture
def ffmpeg_proc(tmp_path):
    (tmp_path / "720p").mkdir()
    (tmp_path / "720p" / "seg_1.ts").write_bytes(b"x")
    (tmp_path / "720p" / "index.m3u8").write_text("#EXTM3U\n#EXTINF:2.0,\nseg_1.ts\n")
    proc = subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostdin",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=10",
            "-f",
            "null",
            "-",
            "-progress",
            "pipe:1",
            "-nostats",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.e2e  # a real FFmpeg
@pytest.mark.django_db(transaction=True)
def test_storage_failures_do_not_stop_the_transcoder_and_the_end_does(
    channel, ffmpeg_proc, tmp_path, go_live
):
    stream = go_live()
    publisher = HlsPublisher(work_dir=tmp_path, prefix="live/x", storage=BrokenStorage())
    ended = {}

    def end_soon():
        time.sleep(3)
        ended["at"] = time.monotonic()
        services.broadcast_unpublish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1")

    import threading

    threading.Thread(target=end_soon).start()
    outcome, _, _ = transcoder._watch(ffmpeg_proc, stream, publisher, FakeLock(), str, None)
    assert outcome == "broadcast ended"
    assert time.monotonic() - ended["at"] < 5
    assert ffmpeg_proc.poll() is None  # the caller stops it (in a finally)


@pytest.mark.e2e  # a real FFmpeg
@pytest.mark.django_db(transaction=True)
def test_a_lost_lock_ends_the_watch_at_once(channel, ffmpeg_proc, tmp_path, go_live):
    stream = go_live()
    publisher = HlsPublisher(work_dir=tmp_path, prefix="live/x", storage=BrokenStorage())
    with pytest.raises(transcoder.LockLost):
        transcoder._watch(ffmpeg_proc, stream, publisher, FakeLock(lost_after=3), str, None)


class StorageOutOfTime:
    """Celery's soft time limit fires in the worker while a round is saving."""

    def save(self, name, content):
        raise SoftTimeLimitExceeded()

    def delete(self, name):
        raise SoftTimeLimitExceeded()


@pytest.mark.e2e  # a real FFmpeg
@pytest.mark.django_db(transaction=True)
def test_the_soft_time_limit_is_not_swallowed_by_a_failing_round(channel, ffmpeg_proc, tmp_path, go_live):
    # a round's `except Exception` (storage, database) used to take it for a storage
    # error and go on, until the hard limit killed the worker with no final sync.
    stream = go_live()
    publisher = HlsPublisher(work_dir=tmp_path, prefix="live/x", storage=StorageOutOfTime())
    started = time.monotonic()
    with pytest.raises(SoftTimeLimitExceeded):
        transcoder._watch(ffmpeg_proc, stream, publisher, FakeLock(), str, None)
    assert time.monotonic() - started < 5


def test_the_broker_redelivers_a_lost_task_within_the_hour():
    # a short task of a worker killed with -9 (drop a publisher, notify followers) came
    # back 12 h later. Transcodes run for hours, but their lock stops a redelivered duplicate.
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= 3600


@pytest.mark.django_db
def test_a_broadcast_whose_feed_cannot_be_transcoded_fails(
    channel, celery_queue, django_capture_on_commit_callbacks, go_live
):
    stream = go_live(client_id="7")
    with django_capture_on_commit_callbacks(execute=True):
        assert transcoder._give_up(stream) == "gave up"
    stream.refresh_from_db()
    assert stream.status == "failed" and stream.ended_at is not None
    assert ("streams.tasks.media_drop_publisher_task", ["nginx-rtmp", channel.pk, "7"]) in celery_queue()
    assert transcoder.transcoders_ensure() == 0  # no more retries for a failed broadcast


@pytest.mark.django_db
def test_the_watchdog_queues_one_task_per_broadcast(channel, celery_queue, go_live):
    from datetime import timedelta

    from django.utils import timezone

    from streams.models import Stream

    stream = go_live(client_id="7")
    Stream.objects.filter(pk=stream.pk).update(started_at=timezone.now() - timedelta(minutes=1))
    celery_queue("transcode")  # (flushes)
    assert transcoder.transcoders_ensure() == 1
    assert transcoder.transcoders_ensure() == 0  # still waiting for a free worker: not queued again
    assert celery_queue("transcode") == [("streams.tasks.transcode_stream_task", [stream.pk])]


@pytest.mark.e2e  # a real ffprobe
@pytest.mark.django_db
def test_with_srs_the_source_is_probed_at_once(go_live, tmp_path, settings):
    # SRS's API never says what the publisher sends: waiting 3 s for it, as for nginx-rtmp's
    # /stat, made every SRS broadcast's first video 3 s later (issue 13).
    from streams.tests.helpers import encode_clip

    settings.MEDIA_SERVER_API_URL = "http://127.0.0.1:9"  # nothing answers there
    # A file stands in for the media server's feed; the sandbox lets a probe read only that.
    settings.FFMPEG_SANDBOX = False
    clip = encode_clip(tmp_path / "source.flv", size="640x360", seconds=1)
    stream = go_live()
    stream.media_server = "srs"
    started = time.monotonic()
    source = transcoder._source(stream, str(clip), FakeLock())
    assert (source.width, source.height) == (640, 360)
    assert time.monotonic() - started < 2.5
