"""Recordings' lifecycle with the real database, storage (local disk and moto's S3), FFmpeg
and ffprobe; only time is controlled."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import m3u8
import pytest
import time_machine
from django.conf import settings
from django.core.files.storage import storages
from django.utils import timezone

from dvr import clips, services
from dvr.models import Recording
from socialflow.tests.processes import moto_s3
from streams import services as stream_services
from streams.models import MediaSegment, StreamEvent
from streams.segments import render_media_playlist, segments_of, segments_trim

pytestmark = pytest.mark.django_db


def end(stream, django_capture_on_commit_callbacks, celery_queue=None):
    with django_capture_on_commit_callbacks(execute=True):
        stream_services.stream_end(stream=stream, by=stream.owner)
    stream.refresh_from_db()
    return stream


def test_a_recorded_broadcast_starts_a_recording_and_its_end_queues_the_finalize(
    go_live, celery_queue, django_capture_on_commit_callbacks
):
    stream = go_live()
    recording = Recording.objects.get(stream=stream)
    assert (recording.status, recording.title) == ("recording", stream.title)
    end(stream, django_capture_on_commit_callbacks)
    assert ("dvr.tasks.recording_finalize_task", [stream.pk]) in celery_queue()


def test_an_unrecorded_broadcast_has_no_recording_and_its_end_purges_the_rewind(
    go_live, channel, celery_queue, django_capture_on_commit_callbacks, record_segments
):
    channel.record_by_default = False
    channel.save()
    stream = go_live()
    assert not Recording.objects.filter(stream=stream).exists()
    names = record_segments(stream, renditions=("360p",))
    end(stream, django_capture_on_commit_callbacks)
    assert ("streams.tasks.stream_segments_purge_task", [stream.pk]) in celery_queue()
    assert stream_services.stream_segments_purge(stream_id=stream.pk) == len(names)
    assert not MediaSegment.objects.filter(stream=stream).exists()
    assert not any(Path(storages["live"].path(name)).exists() for name in names)


def test_the_index_continues_across_runs_with_a_discontinuity(go_live, record_segments):
    stream = go_live()
    record_segments(stream)
    rows = segments_of(stream=stream, rendition="recording")
    assert [(r.position, r.run, r.discontinuity) for r in rows] == [
        (0, 1, 0),
        (1, 1, 0),
        (2, 2, 1),
        (3, 2, 1),
    ]
    text = render_media_playlist(rows, url=lambda s: s.name.rsplit("/", 1)[1], vod=True)
    playlist = m3u8.loads(text)
    assert playlist.playlist_type == "vod" and playlist.is_endlist
    assert [s.discontinuity for s in playlist.segments] == [False, False, True, False]
    assert playlist.media_sequence == 0


def test_a_restart_reports_the_gap_once(go_live):
    from streams.segments import Entry, SegmentIndex

    stream = go_live()
    start = timezone.now()
    SegmentIndex(stream=stream, run=1).add("360p", [("a", Entry("a", 2.0, start), 1)])
    heard = []
    second = SegmentIndex(stream=stream, run=2, on_gap=heard.append)
    second.add("360p", [("b", Entry("b", 2.0, start + timedelta(seconds=9.5)), 1)])
    second.add("360p", [("c", Entry("c", 2.0, start + timedelta(seconds=11.5)), 1)])
    assert heard == [7.5]


def test_a_rung_that_starts_in_a_later_run_shares_its_discontinuity_number(go_live):
    """The ladder grew in run 2: 480p's first segment is on the same timeline (discontinuity
    1) as 720p's second run, so a player switching between them lines them up."""
    from streams.segments import Entry, SegmentIndex

    stream = go_live()
    start = timezone.now()
    SegmentIndex(stream=stream, run=1).add("720p", [("a", Entry("a", 2.0, start), 1)])
    later = start + timedelta(seconds=4)
    second = SegmentIndex(stream=stream, run=2)
    for rung in ("720p", "480p"):
        second.add(rung, [(f"{rung}-b", Entry("b", 2.0, later), 1)])
    rows = MediaSegment.objects.filter(stream=stream, run=2).order_by("rendition")
    assert [(r.rendition, r.position, r.discontinuity) for r in rows] == [("480p", 0, 1), ("720p", 1, 1)]


def test_dvr_trimming_removes_old_segments_unless_recorded(go_live, channel, record_segments):
    stream = go_live()
    record_segments(stream, renditions=("360p",))
    later = timezone.now() + timedelta(hours=1)
    assert segments_trim(stream=stream, window_seconds=60, now=later) == 0  # recorded: all kept
    stream.record = False
    assert segments_trim(stream=stream, window_seconds=60, now=later) == 4
    assert not MediaSegment.objects.filter(stream=stream).exists()


def test_finalize_makes_a_vod_and_twice_gives_the_same(
    go_live, django_capture_on_commit_callbacks, record_segments
):
    stream = go_live()
    record_segments(stream)
    stream = end(stream, django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    assert recording.status == "ready", recording.reason
    # Four ~2-second segments remuxed: as long as their indexed durations, not a joint longer
    # (each segment's audio starts before its video; chained naively, the MP4 grows).
    indexed = sum(s.duration for s in MediaSegment.objects.filter(stream=stream, rendition="recording"))
    assert abs(recording.duration_seconds - indexed) < 0.1, (recording.duration_seconds, indexed)
    master = m3u8.loads(storages["live"].open(recording.playlist_path).read().decode())
    assert [p.uri for p in master.playlists] == ["360p.m3u8"]
    files = sorted(storages["live"].listdir(services.vod_prefix(stream))[1])
    assert files == ["360p.m3u8", "master.m3u8", "recording.m3u8", "recording.mp4", "thumb.jpg"]
    sizes = [storages["live"].size(f"{services.vod_prefix(stream)}/{f}") for f in files]
    assert recording.retention_until == recording.ended_at + timedelta(days=settings.RECORDING_RETENTION_DAYS)
    services.recording_finalize(recording=recording)  # ready: nothing to do
    services.recording_finalize(recording=recording, again=True)
    assert Recording.objects.filter(stream=stream).count() == 1
    assert sorted(storages["live"].listdir(services.vod_prefix(stream))[1]) == files
    assert [storages["live"].size(f"{services.vod_prefix(stream)}/{f}") for f in files] == sizes


def test_missing_files_fail_the_recording_with_the_reason_and_keep_the_rest(
    go_live, django_capture_on_commit_callbacks, record_segments
):
    stream = go_live()
    names = record_segments(stream)
    storages["live"].delete(names[1])
    stream = end(stream, django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    assert recording.status == "failed"
    assert "1 segment(s) are missing" in recording.reason and Path(names[1]).name in recording.reason
    assert all(storages["live"].exists(n) for n in names if n != names[1])
    assert StreamEvent.objects.filter(stream=stream, type="recording", severity="error").exists()


def test_nothing_recorded_fails_with_a_reason(go_live, django_capture_on_commit_callbacks):
    stream = end(go_live(), django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    assert recording.status == "failed" and "Nothing was recorded" in recording.reason


def test_the_beat_finalizes_recordings_left_behind(go_live, record_segments):
    stream = go_live()
    record_segments(stream)
    # the broadcast ended but the finalize task was lost (a worker vanished)
    stream.status, stream.ended_at = "ended", timezone.now()
    stream.save()
    assert services.recordings_recover() == 0  # the transcoder may still be writing
    assert services.recordings_recover(now=timezone.now() + timedelta(minutes=2)) == 1
    assert Recording.objects.get(stream=stream).status == "ready"
    assert services.recordings_recover(now=timezone.now() + timedelta(minutes=2)) == 0


def expire_scenario(go_live, followers_of, record_segments, django_capture_on_commit_callbacks, alice_too):
    """Two recordings, one kept; returns them and their storage names."""
    finalized = []
    for user in alice_too:
        stream = go_live(user)
        names = record_segments(stream)
        stream = end(stream, django_capture_on_commit_callbacks)
        finalized.append((services.recording_finalize(recording=Recording.objects.get(stream=stream)), names))
    (expiring, expiring_names), (kept, kept_names) = finalized
    kept.kept = True
    kept.save()
    return expiring, expiring_names, kept, kept_names


@pytest.fixture
def two_streamers(streamer, bob, followers_of):
    followers_of(bob, 3)
    return [streamer, bob]


def test_retention_deletes_expired_files_and_keeps_kept_ones(
    go_live, followers_of, record_segments, django_capture_on_commit_callbacks, two_streamers
):
    expiring, expiring_names, kept, kept_names = expire_scenario(
        go_live, followers_of, record_segments, django_capture_on_commit_callbacks, two_streamers
    )
    storage = storages["live"]
    assert services.recordings_expire() == 0  # not yet
    with time_machine.travel(timezone.now() + timedelta(days=settings.RECORDING_RETENTION_DAYS, hours=1)):
        assert services.recordings_expire() == 1
    expiring.refresh_from_db()
    assert expiring.files_deleted_at is not None and expiring.size_bytes == 0
    assert not any(storage.exists(n) for n in expiring_names)
    assert not storage.exists(expiring.mp4_path) and not storage.exists(expiring.playlist_path)
    assert all(storage.exists(n) for n in kept_names) and storage.exists(kept.mp4_path)
    assert not MediaSegment.objects.filter(stream=expiring.stream).exists()


def test_a_channel_may_keep_recordings_forever(
    go_live, channel, record_segments, django_capture_on_commit_callbacks
):
    channel.recording_retention_days = 0
    channel.save()
    stream = go_live()
    record_segments(stream)
    stream = end(stream, django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    assert recording.status == "ready" and recording.retention_until is None


# moto's state is per process: a bucket of our own, apart from other S3 tests'.
BUCKET = "socialflow-recordings"


@pytest.fixture
def s3_live_storage(settings, monkeypatch):
    """The "live" storage on moto's S3 server (S3 is the outside world)."""
    with moto_s3(monkeypatch, BUCKET) as (endpoint, client):
        yield client, endpoint


@pytest.fixture
def s3_live(s3_live_storage, settings):
    client, endpoint = s3_live_storage
    settings.STORAGES = {
        **settings.STORAGES,
        "live": {
            "BACKEND": "socialflow.lib.storage.LiveS3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "file_overwrite": True,
                "querystring_auth": False,
                "default_acl": None,
            },
        },
    }
    return client


def test_finalize_and_retention_on_s3(
    s3_live, go_live, followers_of, record_segments, django_capture_on_commit_callbacks, two_streamers
):
    client = s3_live
    expiring, expiring_names, kept, kept_names = expire_scenario(
        go_live, followers_of, record_segments, django_capture_on_commit_callbacks, two_streamers
    )
    assert expiring.status == "ready", expiring.reason
    # a clip of the expiring recording, cut from segments downloaded from the bucket
    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=expiring.stream, by=two_streamers[1], seconds=5)
    clip = clips.clip_make(clip_id=clip.pk)
    assert clip.status == "ready", clip.reason
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert expiring.mp4_path in keys and set(expiring_names) <= keys
    with time_machine.travel(timezone.now() + timedelta(days=settings.RECORDING_RETENTION_DAYS, hours=1)):
        assert services.recordings_expire() == 1
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert not (set(expiring_names) | {expiring.mp4_path, expiring.playlist_path}) & keys
    assert set(kept_names) <= keys and kept.mp4_path in keys
    assert clip.mp4_path in keys and clip.thumbnail_path in keys  # clips outlive retention


def test_a_recording_narrowed_after_its_broadcast_leaves_public_storage(
    client, go_live, carol, django_capture_on_commit_callbacks, record_segments
):
    """S-04: narrowing a public broadcast's finished recording to followers-only moves its
    files out of public storage, so a link copied while it was public stops working; the
    recording plays on for followers, from signed URLs."""
    from urllib.parse import urlsplit

    from accounts.models import Follow

    stream = go_live()
    record_segments(stream)
    stream = end(stream, django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    assert recording.status == "ready" and recording.mp4_path.startswith("live/")
    copied = [f"/media/{recording.mp4_path}", f"/media/{services.vod_prefix(stream)}/recording.m3u8"]
    assert all(client.get(url).status_code == 200 for url in copied)  # public while it was

    with django_capture_on_commit_callbacks() as queued:
        services.recording_update(recording=recording, visibility="followers")
    assert queued, "the narrowing queues the move"
    stream_services.stream_media_move_private(stream_id=stream.pk)  # the worker's task

    recording.refresh_from_db()
    assert [client.get(url).status_code for url in copied] == [404, 404]
    public = Path(settings.MEDIA_ROOT) / "live" / str(stream.pk)
    assert not [p for p in public.rglob("*") if p.is_file()], "nothing of it left in public storage"
    for path in (recording.playlist_path, recording.mp4_path, recording.thumbnail_path):
        assert path.startswith(f"private/{stream.pk}/") and storages["live"].exists(path), path
    assert StreamEvent.objects.filter(stream=stream, message__contains="move to private storage").exists()

    # A follower plays it: every segment URL is signed and answers.
    assert client.get(f"/recordings/{recording.pk}/master.m3u8").status_code == 404  # a stranger
    Follow.objects.create(follower=carol, followee=stream.owner)
    client.force_login(carol)
    master = client.get(f"/recordings/{recording.pk}/master.m3u8").content.decode()
    variants = [line for line in master.splitlines() if line and not line.startswith("#")]
    playlist = client.get(urlsplit(variants[0]).path).content.decode()
    urls = [line for line in playlist.splitlines() if line and not line.startswith("#")]
    assert urls and all("?e=" in url and "&s=" in url for url in urls)
    for url in urls:
        parts = urlsplit(url)
        response = client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200 and b"".join(response.streaming_content)[:1] == b"\x47"


def test_a_moderator_narrowing_a_finished_broadcast_takes_its_recording_along(
    client, go_live, django_capture_on_commit_callbacks, record_segments
):
    """The recording follows the broadcast's visibility (""): narrowed by a moderator after
    the end (streamers cannot edit it then), its files leave public storage too."""
    stream = go_live()
    record_segments(stream)
    stream = end(stream, django_capture_on_commit_callbacks)
    recording = services.recording_finalize(recording=Recording.objects.get(stream=stream))
    copied = f"/media/{recording.mp4_path}"
    assert client.get(copied).status_code == 200
    with django_capture_on_commit_callbacks() as queued:
        stream_services.stream_update(stream=stream, moderating=True, visibility="followers")
    assert queued
    stream_services.stream_media_move_private(stream_id=stream.pk)
    recording.refresh_from_db()
    assert client.get(copied).status_code == 404
    assert recording.mp4_path.startswith("private/") and storages["live"].exists(recording.mp4_path)
