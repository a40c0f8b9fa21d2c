"""Clips cut by stream copy from real kept segments (PostgreSQL, the storage, FFmpeg)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.core.files.storage import storages
from django.http import Http404
from django.utils import timezone

from dvr import clips, services
from dvr.errors import DvrError
from dvr.models import Clip, Recording
from socialflow.tests.helpers import media_duration as duration
from streams.models import MediaSegment

pytestmark = pytest.mark.django_db


def make(stream, user, django_capture_on_commit_callbacks, **kwargs):
    """Create a clip and run the task its creation queued (as a worker would)."""
    with django_capture_on_commit_callbacks() as queued:
        clip = clips.clip_create(stream=stream, by=user, **kwargs)
    assert len(queued) == 1
    return clips.clip_make(clip_id=clip.pk)


def test_a_clip_of_a_recording_is_a_stream_copy_with_a_thumbnail(
    recorded, bob, django_capture_on_commit_callbacks
):
    clip = make(recorded, bob, django_capture_on_commit_callbacks, title="  Nice  ", seconds=5)
    assert clip.status == "ready", clip.reason
    assert clip.title == "Nice" and clip.recording is not None
    mp4 = storages["live"].path(clip.mp4_path)
    assert 3.5 <= duration(mp4) <= 5.5 and clip.duration_seconds == pytest.approx(duration(mp4), abs=0.05)
    assert storages["live"].size(clip.thumbnail_path) > 500
    assert clip.mp4_path.startswith(f"clips/{clip.pk}-") and len(clip.mp4_path.split("/")[1]) > 20


def test_bad_clips_are_refused_with_a_reason(recorded, bob, channel):
    with pytest.raises(DvrError) as too_long:
        clips.clip_create(stream=recorded, by=bob, seconds=61)
    assert too_long.value.code == "invalid"
    with pytest.raises(DvrError) as too_short:
        clips.clip_create(stream=recorded, by=bob, seconds=4)
    assert too_short.value.code == "invalid"
    with pytest.raises(DvrError) as outside:
        clips.clip_create(stream=recorded, by=bob, seconds=10, end_offset=3600)
    assert outside.value.code == "out_of_window" and "not available" in outside.value.message
    channel.clips_enabled = False
    channel.save()
    recorded.refresh_from_db()
    with pytest.raises(DvrError) as disabled:
        clips.clip_create(stream=recorded, by=bob, seconds=10)
    assert (disabled.value.code, disabled.value.status_code) == ("clips_disabled", 403)
    assert not Clip.objects.exists()


def test_a_live_broadcast_without_rewind_or_recording_cannot_be_clipped(go_live, channel, bob):
    channel.record_by_default = channel.dvr_by_default = False
    channel.save()
    stream = go_live()
    with pytest.raises(DvrError) as refused:
        clips.clip_create(stream=stream, by=bob, seconds=10)
    assert (refused.value.code, refused.value.status_code) == ("no_rewind", 409)


def test_clips_are_rate_limited_per_user(recorded, bob, carol, django_capture_on_commit_callbacks):
    for _ in range(clips.CLIP_RATE):
        clips.clip_create(stream=recorded, by=bob, seconds=5)
    with pytest.raises(DvrError) as limited:
        clips.clip_create(stream=recorded, by=bob, seconds=5)
    assert (limited.value.code, limited.value.status_code) == ("rate_limited", 429)
    clips.clip_create(stream=recorded, by=carol, seconds=5)  # others may still clip


def test_the_clipper_the_owner_and_moderators_may_delete_a_clip(
    recorded, bob, carol, streamer, django_capture_on_commit_callbacks, django_user_model
):
    moderator = django_user_model.objects.create_superuser("mod", "mod@example.com", "x")
    for deleter in (bob, streamer, moderator):
        clip = make(recorded, bob, django_capture_on_commit_callbacks, seconds=5)
        with pytest.raises(Http404):
            clips.clip_delete(clip=clip, by=carol)
        path = storages["live"].path(clip.mp4_path)
        clips.clip_delete(clip=clip, by=deleter)
        assert not Clip.objects.filter(pk=clip.pk).exists()
        assert not storages["live"].exists(clip.mp4_path), path


def test_a_clip_outlives_the_recordings_retention(recorded, bob, django_capture_on_commit_callbacks):
    clip = make(recorded, bob, django_capture_on_commit_callbacks, seconds=5)
    with time_machine.travel(timezone.now() + timedelta(days=settings.RECORDING_RETENTION_DAYS, hours=1)):
        assert services.recordings_expire() == 1
    clip.refresh_from_db()
    assert clip.status == "ready" and storages["live"].exists(clip.mp4_path)
    assert not storages["live"].exists(Recording.objects.get(stream=recorded).mp4_path)


def test_a_clip_whose_segments_are_gone_fails_with_the_reason(
    recorded, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        clip = clips.clip_create(stream=recorded, by=bob, seconds=5)
    services.recording_delete_files(recording=Recording.objects.get(stream=recorded))
    clip = clips.clip_make(clip_id=clip.pk)
    assert clip.status == "failed" and clip.reason


@pytest.mark.django_db
def test_a_clip_of_a_slow_transcoders_segments_still_lasts_its_seconds(go_live, bob):
    """Segments are timed by the clock when they were made: a transcoder at 0.7x makes 2-s
    segments 2.86 s apart. The last 20 s are 10 segments back, not 20 s of clock (CI saw a
    14-s clip)."""
    stream = go_live(dvr_enabled=True)
    start = timezone.now() - timedelta(minutes=2)
    MediaSegment.objects.bulk_create(
        MediaSegment(
            stream=stream,
            rendition="720p",
            position=i,
            run=1,
            started_at=start + timedelta(seconds=2.86 * i),
            duration=2.0,
            name=f"720p/{i}.ts",
        )
        for i in range(30)
    )
    end = start + timedelta(seconds=2.86 * 29 + 2.0)
    begins = clips._media_start(stream, "720p", end, 20)
    assert begins == start + timedelta(seconds=2.86 * 20)  # 10 whole segments back
    assert clips._media_start(stream, "720p", end, 21) == start + timedelta(seconds=2.86 * 19 + 1.0)
