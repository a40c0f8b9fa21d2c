"""Clips: 5-60 s a viewer cuts from a live broadcast's rewind window or from a recording.

A clip is a stream copy (no re-encode) of the kept segments it overlaps: the source copy
when the broadcast is recorded, else the top rung the DVR window keeps. The cut falls on
keyframes, so a clip is within a keyframe interval (2 s from OBS's usual settings) of the
length asked for. Its MP4 and thumbnail are files of its own: a clip outlives the
recording's retention.

A clip takes the visibility of what it was cut from (the broadcast, or the recording's own
when it has one) at creation. A followers-only clip's files are under `private/clips/`,
fetched by signed URLs only after the visibility check (S-04); the others under `clips/`,
public by name as clips are made to be shared.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts import webhooks
from accounts.models import User, WebhookEvent
from dvr.errors import DvrError
from dvr.models import Clip, Recording
from dvr.selectors import clip_can_delete
from dvr.services import FinalizeError, local_copies, probe_duration, run_ffmpeg, upload
from dvr.tasks import clip_make_task
from socialflow.lib import ratelimit
from socialflow.lib.media_urls import PRIVATE_ROOT
from streams import segments
from streams.models import MediaSegment, Stream, Visibility
from streams.services import stream_webhook_data

log = logging.getLogger(__name__)

MIN_SECONDS, MAX_SECONDS = 5, 60
# Clips a user may start in CLIP_RATE_WINDOW seconds.
CLIP_RATE = 5
CLIP_RATE_WINDOW = 600
MAX_TITLE = 100


def clip_source(stream: Stream) -> str | None:
    """The rendition clips of this broadcast are cut from: the source copy when recorded,
    else the highest rung the rewind window keeps; None when nothing is kept."""
    renditions = segments.renditions_of(stream=stream)
    if MediaSegment.RECORDING in renditions:
        return MediaSegment.RECORDING
    rungs = [r for r in renditions if r.endswith("p") and r[:-1].isdigit()]
    return max(rungs, key=lambda r: int(r[:-1]), default=None)


def _available(stream: Stream, rendition: str) -> tuple[datetime, datetime]:
    """The wall-clock span a clip may be cut from."""
    rows = MediaSegment.objects.filter(stream=stream, rendition=rendition)
    if stream.is_live and not stream.record:  # the rewind window only
        rows = rows.filter(started_at__gte=timezone.now() - timedelta(seconds=stream.dvr_window))
    first = rows.order_by("position").first()
    last = rows.order_by("-position").first()
    if first is None or last is None:
        raise DvrError("There is nothing to clip yet.", code="nothing_to_clip", status_code=409)
    return first.started_at, last.ends_at


def _media_start(stream: Stream, rendition: str, end: datetime, seconds: int) -> datetime:
    """Where `seconds` of video ending at `end` begin. Segments are timed by the clock when
    they were made: a transcoder slower than real time spreads 20 s of video over more than
    20 s of clock (CI saw a 14-s clip of "the last 20 s"), so walk back by their durations."""
    rows = MediaSegment.objects.filter(stream=stream, rendition=rendition, started_at__lt=end).order_by(
        "-position"
    )
    media = 0.0
    for row in rows[: int(seconds / 0.5) + 10].only("started_at", "duration"):
        inside = min(row.duration, max(0.0, (end - row.started_at).total_seconds()))
        media += inside
        if media >= seconds:
            return row.started_at + timedelta(seconds=media - seconds)
    return end - timedelta(seconds=seconds)  # not enough kept: the window check below says so


def clip_visibility(stream: Stream, recording: Recording | None) -> str:
    """What a new clip inherits: the recording's visibility when it is cut from one that has
    its own, else the broadcast's."""
    if not stream.is_live and recording is not None and recording.visibility:
        return recording.visibility
    return stream.visibility


def clip_folder(clip: Clip) -> str:
    """Where a clip's files go: unguessable, and private for a followers-only clip."""
    folder = f"clips/{clip.pk}-{secrets.token_hex(10)}"
    return f"{PRIVATE_ROOT}/{folder}" if clip.visibility == Visibility.FOLLOWERS else folder


def clip_create(
    *, stream: Stream, by: User, title: str = "", seconds: int, end_offset: float | None = None
) -> Clip:
    """Start cutting a clip of `seconds` ending `end_offset` seconds after the broadcast
    began (default: the live edge, or the end of the recording). Returns it "processing";
    a task makes the file."""
    if not stream.channel.clips_enabled:
        raise DvrError("The streamer has turned clipping off.", code="clips_disabled", status_code=403)
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise DvrError(f"seconds: A clip lasts {MIN_SECONDS} to {MAX_SECONDS} seconds.", code="invalid")
    title = (title or "").strip()[:MAX_TITLE] or f"{stream.title}"[:MAX_TITLE]
    recording = Recording.objects.filter(stream=stream).first()
    if stream.is_live:
        if not (stream.dvr_enabled or stream.record):
            raise DvrError(
                "This broadcast keeps no rewind or recording to clip from.", code="no_rewind", status_code=409
            )
    elif recording is None or not recording.is_playable:
        raise DvrError("This broadcast has no recording to clip from.", code="no_recording", status_code=409)
    rendition = clip_source(stream)
    if rendition is None:
        raise DvrError("There is nothing to clip yet.", code="nothing_to_clip", status_code=409)
    earliest, latest = _available(stream, rendition)
    began = stream.started_at or earliest
    end = latest if end_offset is None else began + timedelta(seconds=end_offset)
    start = _media_start(stream, rendition, end, seconds)
    # A little slack at the edges: the last segment's end moves on while the viewer clicks.
    if start < earliest - timedelta(seconds=1) or end > latest + timedelta(seconds=2):
        raise DvrError(
            f"That part of the broadcast is not available: clips can be cut from "
            f"{(earliest - began).total_seconds():.0f} s to {(latest - began).total_seconds():.0f} s.",
            code="out_of_window",
        )
    if ratelimit.hits_in_window(f"dvr:clips:{by.pk}", CLIP_RATE_WINDOW) > CLIP_RATE:
        raise DvrError(
            f"You can make {CLIP_RATE} clips in {CLIP_RATE_WINDOW // 60} minutes; try again later.",
            code="rate_limited",
            status_code=429,
        )
    with transaction.atomic():
        clip = Clip.objects.create(
            stream=stream,
            recording=recording,
            creator=by,
            title=title,
            starts_at=max(start, earliest),
            seconds=seconds,
            visibility=clip_visibility(stream, recording),
        )
        clip_id = clip.pk
        transaction.on_commit(lambda: clip_make_task.delay(clip_id), robust=True)
    return clip


def clip_make(*, clip_id: int) -> Clip | None:
    """Cut the clip's MP4 by stream copy from the kept segments, with a thumbnail and its
    real length. A clip whose segments are gone meanwhile fails with the reason."""
    clip = Clip.objects.select_related("stream").filter(pk=clip_id).first()
    if clip is None or clip.status == Clip.Status.READY:
        return clip
    try:
        made = _cut(clip)
    except FinalizeError as exc:
        Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.FAILED, reason=str(exc)[:300])
    except Exception as exc:  # never stuck in "processing"
        log.exception("clip %s failed", clip.pk)
        Clip.objects.filter(pk=clip.pk).update(
            status=Clip.Status.FAILED, reason=f"The clip failed: {exc}"[:300]
        )
    else:
        with transaction.atomic():
            Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.READY, reason="", **made)
            clip.refresh_from_db()
            webhooks.webhooks_emit(
                owner_id=clip.stream.owner_id,
                event=WebhookEvent.CLIP_CREATED,
                data={
                    "clip": {
                        "id": clip.pk,
                        "title": clip.title,
                        "duration_seconds": clip.duration_seconds,
                        "creator": {"username": clip.creator.username, "display_name": clip.creator.name},
                        "url": f"{settings.SITE_URL}{reverse('dvr:clip', args=[clip.pk])}",
                    },
                    **stream_webhook_data(clip.stream),
                },
            )
        return clip
    clip.refresh_from_db()
    return clip


def _cut(clip: Clip) -> dict:
    stream = clip.stream
    rendition = clip_source(stream)
    if rendition is None:
        raise FinalizeError("The broadcast's segments are gone.")
    # From the segment holding the start, on until they hold `seconds` of video (by their
    # durations, not the clock: see _media_start).
    rows: list[MediaSegment] = []
    media = 0.0
    for s in MediaSegment.objects.filter(
        stream=stream, rendition=rendition, started_at__gte=clip.starts_at - timedelta(minutes=1)
    ).order_by("position")[: int(clip.seconds / 0.5) + 40]:
        if s.ends_at <= clip.starts_at:
            continue
        if not rows:
            media = -max(0.0, (clip.starts_at - s.started_at).total_seconds())
        rows.append(s)
        media += s.duration
        if media >= clip.seconds:
            break
    if not rows:
        raise FinalizeError("That part of the broadcast is no longer kept.")
    storage = storages["live"]
    with tempfile.TemporaryDirectory(prefix="clip-") as tmp:
        work = Path(tmp)
        try:
            with local_copies(storage, rows, work / "src") as files:
                # A plain list (no durations): with them, FFmpeg 5.1's concat demuxer cut a
                # live clip of the DVR rung 4 s short (16 s for 20 s); the recording MP4 keeps them.
                listing = work / "concat.txt"
                listing.write_text("".join(f"file '{f.relative_to(work)}'\n" for f in files))
                mp4 = work / "clip.mp4"
                offset = max(0.0, (clip.starts_at - rows[0].started_at).total_seconds())
                run_ffmpeg(
                    [
                        *("-f", "concat", "-safe", "0", "-ss", f"{offset:.3f}", "-i", listing.name),
                        *("-t", str(clip.seconds), "-map", "0", "-c", "copy", "-bsf:a", "aac_adtstoasc"),
                        *("-movflags", "+faststart", mp4.name),
                    ],
                    workdir=work,
                )
        except FileNotFoundError as exc:
            raise FinalizeError("Some of the clip's segments are missing from storage.") from exc
        duration = probe_duration(mp4)
        thumb = work / "thumb.jpg"
        seek = f"{min(duration / 2, 2):.2f}"
        run_ffmpeg(
            ["-ss", seek, "-i", mp4.name, "-frames:v", "1", "-vf", "scale=-2:360", "-q:v", "4", thumb.name],
            workdir=work,
        )
        prefix = clip.mp4_path.rpartition("/")[0] or clip_folder(clip)
        upload(storage, mp4, f"{prefix}/clip.mp4")
        upload(storage, thumb, f"{prefix}/thumb.jpg")
        size = mp4.stat().st_size + thumb.stat().st_size
    return {
        "mp4_path": f"{prefix}/clip.mp4",
        "thumbnail_path": f"{prefix}/thumb.jpg",
        "duration_seconds": round(duration, 3),
        "size_bytes": size,
    }


def clip_delete(*, clip: Clip, by: User) -> None:
    """The clipper, the streamer or a moderator deletes a clip (its files too); anyone else
    is told it does not exist."""
    if not clip_can_delete(clip=clip, user=by):
        raise Http404("No such clip.")
    storage = storages["live"]
    for name in (clip.mp4_path, clip.thumbnail_path):
        if name:
            storage.delete(name)
    clip.delete()
