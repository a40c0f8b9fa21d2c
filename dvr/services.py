"""Recordings: started with the broadcast, finalized into a VOD at its end, recovered when
a worker vanished, deleted when retention runs out.

A recording is made of the segments the transcoder indexed (streams.segments): the ladder's
rungs, kept as they were encoded (adaptive VOD with no second encode), and the stream copy
of the source (the MP4 and clips). Finalizing only writes playlists, remuxes the MP4 and
grabs a thumbnail, so running it again gives the same files.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts import webhooks
from accounts.models import WebhookEvent
from dvr.errors import DvrError
from dvr.models import Recording
from dvr.tasks import recording_finalize_task
from socialflow.lib import ffmpeg, ratelimit
from streams import segments
from streams.models import MediaSegment, Stream, StreamEvent, Visibility
from streams.services import stream_event_record, stream_media_make_private, stream_webhook_data
from streams.transcoder import transcoder_running

log = logging.getLogger(__name__)

Status = Recording.Status
# After the end, the transcoder's last round: finalizing waits for it, this long at most.
TRANSCODER_STOP_WAIT_SECONDS = 60
# A recording left "processing" this long was abandoned by a lost worker.
STUCK_PROCESSING = timedelta(minutes=30)
FINALIZE_TIMEOUT_SECONDS = 1800


class FinalizeError(Exception):
    """The recording cannot be made a VOD; the message says why (shown to the streamer)."""


def live_storage() -> Storage:
    return storages["live"]


# --- Lifecycle -----------------------------------------------------------------------


def recording_start(*, stream: Stream) -> Recording | None:
    """A recorded broadcast went live: its recording starts growing (the transcoder's
    segments). An unrecorded one gets nothing."""
    if not stream.record:
        return None
    recording, _ = Recording.objects.get_or_create(
        stream=stream,
        defaults={"title": stream.title, "started_at": stream.started_at or timezone.now()},
    )
    return recording


def recording_end(*, stream: Stream) -> None:
    """The broadcast is over: finalize its recording once the transcoder has stopped."""
    if not stream.record:
        return
    Recording.objects.filter(stream=stream, status=Status.RECORDING).update(ended_at=stream.ended_at)
    stream_id = stream.pk
    transaction.on_commit(
        lambda: recording_finalize_task.apply_async(args=(stream_id,), countdown=2), robust=True
    )


def retention_days(stream: Stream) -> int:
    days = stream.channel.recording_retention_days
    return settings.RECORDING_RETENTION_DAYS if days is None else days


def _retention_until(recording: Recording) -> datetime | None:
    days = retention_days(recording.stream)
    if recording.kept or days == 0:
        return None
    return (recording.ended_at or timezone.now()) + timedelta(days=days)


# --- Finalizing ----------------------------------------------------------------------


def recording_finalize_for_stream(*, stream_id: str, waited: float = 0) -> str:
    """The task's body: finalize the broadcast's recording, unless its transcoder is still
    writing (then the caller asks again in a few seconds)."""
    recording = Recording.objects.filter(stream_id=stream_id).first()
    if recording is None:
        return "no recording"
    if transcoder_running(stream_id) and waited < TRANSCODER_STOP_WAIT_SECONDS:
        return "wait"
    return recording_finalize(recording=recording).status


def recording_finalize(*, recording: Recording, again: bool = False) -> Recording:
    """Make the recording a VOD: playlists (VOD, ENDLIST), an MP4 by stream copy with
    +faststart, a thumbnail, the real duration. Idempotent: a ready recording is left as it
    is unless `again`, and the files always get the same names. Files partly missing: FAILED
    with the reason, and what exists is kept."""
    lock = f"dvr:finalizing:{recording.pk}"
    if not ratelimit.first_in_window(lock, FINALIZE_TIMEOUT_SECONDS):
        return recording  # another worker is on it
    try:
        with transaction.atomic():
            recording = (
                Recording.objects.select_for_update().select_related("stream__channel").get(pk=recording.pk)
            )
            if recording.files_deleted_at is not None or recording.stream.is_live:
                return recording
            if recording.status == Status.READY and not again:
                return recording
            recording.status = Status.PROCESSING
            recording.reason = ""
            recording.ended_at = recording.ended_at or recording.stream.ended_at or timezone.now()
            recording.save(update_fields=["status", "reason", "ended_at", "updated_at"])
        try:
            made = _make_vod(recording)
        except FinalizeError as exc:
            return _finalized(recording, status=Status.FAILED, reason=str(exc))
        except Exception as exc:  # a bug or the storage failing: never stuck in "processing"
            log.exception("finalizing recording %s failed", recording.pk)
            return _finalized(recording, status=Status.FAILED, reason=f"Finalizing failed: {exc}"[:300])
        return _finalized(recording, status=Status.READY, **made)
    finally:
        ratelimit.forget(lock)


def _finalized(recording: Recording, *, status: str, reason: str = "", **fields: Any) -> Recording:
    with transaction.atomic():
        recording = (
            Recording.objects.select_for_update().select_related("stream__channel").get(pk=recording.pk)
        )
        recording.status = status
        recording.reason = reason
        for name, value in fields.items():
            setattr(recording, name, value)
        if status == Status.READY:
            recording.retention_until = _retention_until(recording)
        recording.save()
        stream_event_record(
            stream=recording.stream,
            kind=StreamEvent.Type.RECORDING,
            severity=StreamEvent.Severity.INFO if status == Status.READY else StreamEvent.Severity.ERROR,
            message="The recording is ready."
            if status == Status.READY
            else f"The recording could not be finished: {reason}"[:300],
            details={"recording": recording.pk, "status": status},
        )
        if status == Status.READY:
            webhooks.webhooks_emit(
                owner_id=recording.stream.owner_id,
                event=WebhookEvent.RECORDING_READY,
                data={
                    "recording": {
                        "id": recording.pk,
                        "title": recording.title,
                        "duration_seconds": recording.duration_seconds,
                        "visibility": recording.effective_visibility,
                        "url": f"{settings.SITE_URL}{reverse('dvr:recording', args=[recording.pk])}",
                    },
                    **stream_webhook_data(recording.stream),
                },
            )
    return recording


def vod_prefix(stream: Stream) -> str:
    return f"{stream.media_prefix}/vod"


def _make_vod(recording: Recording) -> dict:
    stream = recording.stream
    storage = live_storage()
    if stream.media_private:
        # Narrowed to followers-only while live: nothing of it left in public storage, and
        # every segment where the VOD playlists expect it (S-04).
        segments.media_move_private(stream=stream, storage=storage)
    source = segments.segments_of(stream=stream, rendition=MediaSegment.RECORDING)
    if not source:
        raise FinalizeError("Nothing was recorded: the transcoder never wrote a segment of the source.")
    rungs = [r for r in segments.renditions_of(stream=stream) if r != MediaSegment.RECORDING]
    by_rung = {rung: segments.segments_of(stream=stream, rendition=rung) for rung in rungs}
    missing = _missing(storage, [*source, *(s for rows in by_rung.values() for s in rows)])
    if missing:
        raise FinalizeError(
            f"{len(missing)} segment(s) are missing from storage (first: {PurePosixPath(missing[0]).name}); "
            "what exists is kept."
        )
    prefix = vod_prefix(stream)
    # Variant playlists next to each other in vod/, their segments where they were written.
    for rung, rows in by_rung.items():
        text = segments.render_media_playlist(rows, url=_relative_to_vod(rung), vod=True)
        storage.save(f"{prefix}/{rung}.m3u8", ContentFile(text.encode()))
    source_text = segments.render_media_playlist(
        source, url=_relative_to_vod(MediaSegment.RECORDING), vod=True
    )
    storage.save(f"{prefix}/{MediaSegment.RECORDING}.m3u8", ContentFile(source_text.encode()))
    master = _vod_master(stream, by_rung) if by_rung else None
    if master is None:  # no ladder kept (only the source): the source is the one variant
        master = _master_line(source, MediaSegment.RECORDING)
    storage.save(f"{prefix}/master.m3u8", ContentFile(master.encode()))

    with tempfile.TemporaryDirectory(prefix="finalize-") as tmp:
        work = Path(tmp)
        with local_copies(storage, source, work / "src") as files:
            listing = concat_listing(work / "concat.txt", files, source)
            mp4 = work / "recording.mp4"
            run_ffmpeg(  # in `work`: every path relative to it
                [
                    *("-f", "concat", "-safe", "0", "-i", listing.name),
                    *("-map", "0", "-c", "copy", "-bsf:a", "aac_adtstoasc"),
                    *("-movflags", "+faststart", mp4.name),
                ],
                workdir=work,
            )
        duration = probe_duration(mp4)
        thumb = work / "thumb.jpg"
        seek = f"{min(duration * 0.1, 30):.2f}"
        run_ffmpeg(
            ["-ss", seek, "-i", mp4.name, "-frames:v", "1", "-vf", "scale=-2:360", "-q:v", "4", thumb.name],
            workdir=work,
        )
        mp4_path, thumb_path = f"{prefix}/recording.mp4", f"{prefix}/thumb.jpg"
        upload(storage, mp4, mp4_path)
        upload(storage, thumb, thumb_path)
        extra = mp4.stat().st_size + thumb.stat().st_size
    kept = sum(s.size_bytes for s in source) + sum(s.size_bytes for rows in by_rung.values() for s in rows)
    return {
        # The first frame recorded: chat replay offsets count from here.
        "started_at": source[0].started_at,
        "playlist_path": f"{prefix}/master.m3u8",
        "mp4_path": mp4_path,
        "thumbnail_path": thumb_path,
        "duration_seconds": round(duration, 3),
        "size_bytes": kept + extra,
    }


def _relative_to_vod(rendition: str) -> Callable[[MediaSegment], str]:
    """A segment's URI as a playlist in vod/ sees it: ../<rendition>/<file>."""
    return lambda segment: f"../{rendition}/{PurePosixPath(segment.name).name}"


def _missing(storage: Storage, rows: list[MediaSegment]) -> list[str]:
    """Names of indexed segments not in storage (one listing per folder)."""
    present: dict[str, set[str]] = {}
    missing = []
    for row in rows:
        folder, _, name = row.name.rpartition("/")
        if folder not in present:
            try:
                present[folder] = set(storage.listdir(folder)[1])
            except (FileNotFoundError, OSError):
                present[folder] = set()
        if name not in present[folder]:
            missing.append(row.name)
    return missing


def _vod_master(stream: Stream, by_rung: dict[str, list[MediaSegment]]) -> str | None:
    """The live master's variants (bandwidth, resolution, codecs as FFmpeg wrote them),
    pointing at the VOD playlists; None if the live master never made it to storage."""
    try:
        with live_storage().open(f"{stream.media_prefix}/master.m3u8") as f:
            live = f.read().decode()
    except (FileNotFoundError, OSError):
        live = ""
    lines: list[str] = []
    kept = 0
    for line in live.splitlines():
        if line and not line.startswith("#"):
            rung = line.split("/", 1)[0]
            if rung not in by_rung:
                lines.pop()  # its #EXT-X-STREAM-INF
                continue
            line, kept = f"{rung}.m3u8", kept + 1
        lines.append(line)
    if not kept:
        return "#EXTM3U\n" + "".join(
            _master_line(rows, rung).split("\n", 1)[1] for rung, rows in by_rung.items()
        )
    return "\n".join(lines) + "\n"


def _master_line(rows: list[MediaSegment], rendition: str) -> str:
    seconds = sum(s.duration for s in rows) or 1
    bandwidth = int(sum(s.size_bytes for s in rows) * 8 / seconds) or 1
    return f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}\n{rendition}.m3u8\n"


@contextmanager
def local_copies(storage: Storage, rows: list[MediaSegment], folder: Path) -> Iterator[list[Path]]:
    """The segments as files in `folder`, where FFmpeg runs (its sandbox reaches nothing
    else): hard links to the stored files on a local disk (no copy; they stay the worker's
    and read-only to FFmpeg), copies where a link cannot be made, downloads from S3."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, row in enumerate(rows):
        path = folder / f"{index:06d}.ts"
        if not _link(storage, row.name, path):
            with storage.open(row.name) as src, path.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        paths.append(path)
    yield paths


def _link(storage: Storage, name: str, path: Path) -> bool:
    """Hard-link a stored file that others may read (Django stores 0644) to `path`."""
    try:
        stored = Path(storage.path(name))
        if not stored.stat().st_mode & stat.S_IROTH:
            return False
        os.link(stored, path)
    except (NotImplementedError, OSError):  # S3; another file system
        return False
    return True


def concat_listing(path: Path, files: list[Path], rows: list[MediaSegment]) -> Path:
    """FFmpeg's concat list with each segment's indexed duration.

    Without it the demuxer starts each file where the previous one's last packet ended; the
    audio of a source-copy segment starts ~55 ms before its video, so every joint would add
    that much (a one-hour MP4 came out 97 s long). The indexed duration is the video's.
    """
    path.write_text(  # relative to the listing's folder, where FFmpeg runs
        "".join(
            f"file '{f.relative_to(path.parent)}'\nduration {row.duration:.6f}\n"
            for f, row in zip(files, rows, strict=True)
        )
    )
    return path


def upload(storage: Storage, path: Path, name: str) -> None:
    with path.open("rb") as f:
        storage.save(name, File(f))


def run_ffmpeg(args: list[str], *, workdir: Path) -> None:
    """FFmpeg on files in `workdir` (handed over to FFmpeg's user first: the sandbox)."""
    try:
        ffmpeg.run(args, timeout=FINALIZE_TIMEOUT_SECONDS, workdir=workdir)
    except (ffmpeg.FFmpegError, subprocess.TimeoutExpired) as exc:
        raise FinalizeError(str(exc)) from exc


def probe_duration(path: Path) -> float:
    try:
        return ffmpeg.duration(path.name, workdir=path.parent)
    except (ffmpeg.FFmpegError, subprocess.TimeoutExpired) as exc:
        raise FinalizeError(str(exc)) from exc


# --- Recovery and retention ------------------------------------------------------------


def recordings_recover(*, now: datetime | None = None) -> int:
    """Finalize recordings nobody finalized: left "recording" after their broadcast ended
    (the end task was lost), or "processing" long after a worker took them (it vanished)."""
    now = now or timezone.now()
    ended = Recording.objects.filter(
        status=Status.RECORDING,
        stream__status__in=Stream.OVER,
        stream__ended_at__lt=now - timedelta(seconds=TRANSCODER_STOP_WAIT_SECONDS),
    )
    stuck = Recording.objects.filter(status=Status.PROCESSING, updated_at__lt=now - STUCK_PROCESSING)
    count = 0
    for recording in [*ended, *stuck]:
        recording_finalize(recording=recording, again=True)
        count += 1
    return count


def recording_delete_files(*, recording: Recording) -> int:
    """Remove everything the recording keeps in storage (its segments and VOD files)."""
    storage = live_storage()
    deleted = segments.segments_delete(stream=recording.stream)
    prefix = vod_prefix(recording.stream)
    try:
        names = storage.listdir(prefix)[1]
    except (FileNotFoundError, OSError):
        names = []
    for name in names:
        storage.delete(f"{prefix}/{name}")
        deleted += 1
    return deleted


def recordings_expire(*, now: datetime | None = None) -> int:
    """Delete the files of recordings past their retention (kept ones stay), and mark them."""
    now = now or timezone.now()
    expired = Recording.objects.filter(
        kept=False, retention_until__lt=now, files_deleted_at__isnull=True
    ).select_related("stream")
    count = 0
    for recording in expired:
        recording_expire(recording=recording, now=now)
        count += 1
    return count


def recording_expire(*, recording: Recording, now: datetime | None = None) -> Recording:
    """Delete the recording's files and mark it (retention, or the admin's action)."""
    recording_delete_files(recording=recording)
    recording.files_deleted_at, recording.size_bytes = now or timezone.now(), 0
    recording.save(update_fields=["files_deleted_at", "size_bytes", "updated_at"])
    return recording


# --- The streamer's (and moderators') changes -------------------------------------------


def recording_update(
    *, recording: Recording, title: str | None = None, visibility: str | None = None
) -> Recording:
    """Rename a recording, or change who may watch it ("" follows the broadcast)."""
    fields: list[str] = []
    if title is not None:
        title = title.strip()
        if not title:
            raise DvrError("title: The title can't be empty.", code="invalid")
        recording.title, fields = title[:140], [*fields, "title"]
    if visibility is not None:
        if visibility not in {"", *Visibility.values}:
            raise DvrError(f"visibility: Choose one of {', '.join(Visibility.values)}.", code="invalid")
        recording.visibility, fields = visibility, [*fields, "visibility"]
    if fields:
        recording.save(update_fields=[*fields, "updated_at"])
    if "visibility" in fields and recording.effective_visibility == Visibility.FOLLOWERS:
        # Narrowed on its own: its files leave public storage, so a link to its MP4 or
        # segments copied while it was public stops working (S-04). The broadcast's other
        # media goes with it (one place per broadcast); its pages stay as they were.
        stream_media_make_private(stream=recording.stream)
    return recording


def recording_paths_follow(*, stream: Stream, public: str, private: str) -> int:
    """The broadcast's files moved from `public` to `private` (S-04): its recordings' stored
    names follow (the VOD playlists inside name their segments relatively)."""
    changed = 0
    for recording in Recording.objects.filter(stream=stream):
        fields = []
        for name in ("playlist_path", "mp4_path", "thumbnail_path"):
            path = getattr(recording, name)
            if path.startswith(public + "/"):
                setattr(recording, name, private + path[len(public) :])
                fields.append(name)
        if fields:
            recording.save(update_fields=[*fields, "updated_at"])
            changed += 1
    return changed


def recording_keep(*, recording: Recording) -> Recording:
    """Keep forever: past any retention (the seeds' "convert to VOD")."""
    if recording.files_deleted_at is not None:
        raise DvrError("This recording's files are already gone.", code="expired", status_code=409)
    recording.kept, recording.retention_until = True, None
    recording.save(update_fields=["kept", "retention_until", "updated_at"])
    return recording


def recording_delete(*, recording: Recording) -> None:
    """Delete a recording and its files. Its clips stay (files of their own)."""
    if recording.status in (Status.RECORDING, Status.PROCESSING) and recording.stream.is_live:
        raise DvrError("The broadcast is still live; end it first.", code="still_live", status_code=409)
    recording_delete_files(recording=recording)
    recording.delete()


def recording_count_view(*, recording: Recording) -> None:
    Recording.objects.filter(pk=recording.pk).update(views=F("views") + 1)
