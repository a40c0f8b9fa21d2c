"""The index of kept segments (streams.models.MediaSegment): what rewinding, recordings and
clips are made of.

The transcoder adds segments as it publishes them; rows and files leave together (the
DVR window sliding on, an unrecorded broadcast ending, a recording expiring). Media
playlists for DVR and VOD are rendered from the rows, so a restarted FFmpeg, or a new
worker after a lost one, continues the same timeline instead of replacing it.

The playlist parser here is a few lines on purpose: it reads FFmpeg's own short playlists
several times a second, where the `m3u8` library's full model would cost more than the
work it does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.files.storage import Storage, storages
from django.db.models import Max, QuerySet, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from socialflow.lib.media_urls import PRIVATE_ROOT
from streams.models import MediaSegment, Stream

log = logging.getLogger(__name__)

# A player may still fetch a segment that just left the window.
TRIM_GRACE_SECONDS = 30
# The rewind playlist reaches this far beyond the window: its live edge is already a few
# seconds old (the transcode), so without it a viewer could not go back the whole window
# behind the edge, and one who did would lose the segment under the playhead at once.
DVR_EDGE_MARGIN_SECONDS = 12


@dataclass(frozen=True)
class Entry:
    """One segment as a media playlist lists it."""

    uri: str
    duration: float
    started_at: datetime | None


def parse_media_playlist(text: str) -> list[Entry]:
    """The segments of an HLS media playlist with their duration and program date-time
    (FFmpeg writes one per segment with hls_flags program_date_time)."""
    entries: list[Entry] = []
    duration, started = 0.0, None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#EXTINF:"):
            try:
                duration = float(line[8:].split(",", 1)[0])
            except ValueError:
                duration = 0.0
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            started = parse_datetime(line[25:])
        elif not line.startswith("#"):
            entries.append(Entry(line, duration, started))
            duration, started = 0.0, None
    return entries


@dataclass
class _Tail:
    position: int
    run: int
    discontinuity: int
    ends_at: datetime | None


class SegmentIndex:
    """Adds one FFmpeg run's published segments to the index, continuing each rendition's
    positions and timelines. `on_gap(seconds)` hears how long nothing was made between the
    previous run's last segment and this run's first."""

    def __init__(self, *, stream: Stream, run: int, on_gap: Callable[[float], None] | None = None):
        self.stream = stream
        self.run = run
        self.on_gap = on_gap
        self.tails: dict[str, _Tail | None] = {}
        self.gap_reported = False
        self._discontinuity: int | None = None

    def discontinuity(self) -> int:
        """This run's discontinuity sequence number: the runs of the broadcast before it that
        made segments, whatever their rungs. The same in every rendition, so that a player
        switching to a rung that started in a later run lines its timeline up with the one
        it leaves (hls.js aligns renditions on their discontinuity numbers)."""
        if self._discontinuity is None:
            self._discontinuity = (
                MediaSegment.objects.filter(stream=self.stream, run__lt=self.run)
                .values("run")
                .distinct()
                .count()
            )
        return self._discontinuity

    def _tail(self, rendition: str) -> _Tail | None:
        if rendition not in self.tails:
            last = (
                MediaSegment.objects.filter(stream=self.stream, rendition=rendition)
                .order_by("-position")
                .first()
            )
            self.tails[rendition] = (
                _Tail(last.position, last.run, last.discontinuity, last.ends_at) if last else None
            )
        return self.tails[rendition]

    def add(self, rendition: str, published: Sequence[tuple[str, Entry, int]]) -> None:
        """`published`: (storage name, playlist entry, size in bytes), in playlist order."""
        if not published:
            return
        tail = self._tail(rendition)
        rows = []
        for name, entry, size in published:
            started = entry.started_at or timezone.now()
            discontinuity = self.discontinuity()
            if tail is None:
                position = 0
            else:
                position = tail.position + 1
                if tail.run != self.run and tail.ends_at and not self.gap_reported and self.on_gap:
                    self.gap_reported = True
                    self.on_gap(max(0.0, (started - tail.ends_at).total_seconds()))
            rows.append(
                MediaSegment(
                    stream=self.stream,
                    rendition=rendition,
                    position=position,
                    run=self.run,
                    discontinuity=discontinuity,
                    started_at=started,
                    duration=entry.duration,
                    name=name,
                    size_bytes=size,
                )
            )
            tail = _Tail(position, self.run, discontinuity, started + timedelta(seconds=entry.duration))
        MediaSegment.objects.bulk_create(rows)
        self.tails[rendition] = tail


def segments_trim(*, stream: Stream, window_seconds: int, now: datetime | None = None) -> int:
    """Remove the segments that left the DVR window (and a grace) from storage and the index.
    Recorded broadcasts keep theirs."""
    if stream.record:
        return 0
    cutoff = (now or timezone.now()) - timedelta(
        seconds=window_seconds + DVR_EDGE_MARGIN_SECONDS + TRIM_GRACE_SECONDS
    )
    return _delete(MediaSegment.objects.filter(stream=stream, started_at__lt=cutoff))


def segments_delete(*, stream: Stream) -> int:
    """Every kept segment of a broadcast, from storage and the index."""
    return _delete(MediaSegment.objects.filter(stream=stream))


def _delete(rows: QuerySet[MediaSegment], storage: Storage | None = None) -> int:
    storage = storage or storages["live"]
    deleted = 0
    for pk, name in list(rows.values_list("pk", "name").iterator(chunk_size=2000)):
        try:
            storage.delete(name)
        except OSError as exc:  # keep the row: a later pass tries again
            log.warning("could not delete segment %s: %s", name, exc)
            continue
        MediaSegment.objects.filter(pk=pk).delete()
        deleted += 1
    return deleted


def media_move_private(*, stream: Stream, storage: Storage | None = None) -> int:
    """Move what a broadcast published under its public place (`live/<id>/<token>/`) to its
    private one (`private/<id>/<token>/`, the same names below it): the broadcast was narrowed
    to followers-only while live (S-04). Returns the number of files moved.

    Each file is copied first (one already at its private name, which the transcoder
    republished, is kept: it is the fresher), then the index rows are renamed, then the
    public files are deleted, so a follower's player always finds each segment under one
    name or the other, and a URL copied from the public place stops working. Running it again
    moves what a transcoder wrote under `live/` meanwhile (the transcoder asks for a second
    pass once it writes under `private/`)."""
    storage = storage or storages["live"]
    public = f"live/{stream.pk}/{stream.media_token}"
    private = f"{PRIVATE_ROOT}/{stream.pk}/{stream.media_token}"
    copied: list[str] = []
    for name in _walk(storage, public):
        target = private + name[len(public) :]
        try:
            if not storage.exists(target):
                _copy(storage, name, target)
        except FileNotFoundError:
            continue  # gone meanwhile (the window slid on, or another pass moved it)
        except Exception as exc:  # the storage failing: left public, a later pass tries again
            log.warning("could not move %s to private storage: %s", name, exc)
            continue
        copied.append(name)
    for start in range(0, len(copied), 500):
        MediaSegment.objects.filter(stream=stream, name__in=copied[start : start + 500]).update(
            name=Concat(Value(private), Substr("name", len(public) + 1))
        )
    for name in copied:
        try:
            storage.delete(name)
        except Exception as exc:
            log.warning("could not delete %s from public storage: %s", name, exc)
    return len(copied)


def _walk(storage: Storage, folder: str) -> Iterator[str]:
    """Every file's name below `folder` (none when it does not exist)."""
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _walk(storage, f"{folder}/{sub}")


def _copy(storage: Storage, source: str, target: str) -> None:
    """A copy inside the storage: server-side on S3 (its headers go with it), else by
    reading the file."""
    bucket = getattr(storage, "bucket", None)
    if bucket is not None and hasattr(storage, "_normalize_name"):
        from botocore.exceptions import ClientError
        from storages.utils import clean_name

        def key(name: str) -> str:
            return storage._normalize_name(clean_name(name))

        try:
            bucket.meta.client.copy_object(
                Bucket=bucket.name, Key=key(target), CopySource={"Bucket": bucket.name, "Key": key(source)}
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise FileNotFoundError(source) from exc
            raise
        return
    with storage.open(source) as content:
        storage.save(target, content)


def segments_of(*, stream: Stream, rendition: str, since: datetime | None = None) -> list[MediaSegment]:
    rows = MediaSegment.objects.filter(stream=stream, rendition=rendition)
    if since is not None:
        rows = rows.filter(started_at__gte=since)
    return list(rows.order_by("position"))


def renditions_of(*, stream: Stream) -> list[str]:
    return list(
        MediaSegment.objects.filter(stream=stream).values_list("rendition", flat=True).distinct().order_by()
    )


def last_position(*, stream: Stream, rendition: str) -> int | None:
    return MediaSegment.objects.filter(stream=stream, rendition=rendition).aggregate(p=Max("position"))["p"]


def render_media_playlist(
    listed: Sequence[MediaSegment],
    *,
    url: Callable[[MediaSegment], str],
    first: MediaSegment | None = None,
    previous: MediaSegment | None = None,
    skipped: int = 0,
    vod: bool = False,
    endlist: bool = False,
    can_skip_until: float | None = None,
    target: int | None = None,
) -> str:
    """An HLS media playlist of `listed` (consecutive positions of one rendition).

    first: the playlist's first segment, listed or skipped (its media and discontinuity
    sequence numbers head the playlist); `skipped` segments before `listed` are left out
    with EXT-X-SKIP (a delta update), and `previous` is the one just before `listed` (so a
    discontinuity right there is still marked). vod: a finished VOD playlist; endlist: a
    live one that will not grow again. can_skip_until: offer delta updates.
    """
    if not listed:
        return "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n" + (
            "#EXT-X-ENDLIST\n" if vod or endlist else ""
        )
    first = first or listed[0]
    target = target or max(1, round(max(s.duration for s in listed)))
    version = 9 if (can_skip_until or skipped) else 3
    lines = ["#EXTM3U", f"#EXT-X-VERSION:{version}", f"#EXT-X-TARGETDURATION:{target}"]
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    if can_skip_until:
        lines.append(f"#EXT-X-SERVER-CONTROL:CAN-SKIP-UNTIL={can_skip_until:g}")
    lines += [
        f"#EXT-X-MEDIA-SEQUENCE:{first.position}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{first.discontinuity}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if skipped:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    before = previous
    for segment in listed:
        if before is not None and segment.discontinuity != before.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if before is None or segment is listed[0] or segment.discontinuity != before.discontinuity:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{_pdt(segment.started_at)}")
        lines += [f"#EXTINF:{segment.duration:.3f},", url(segment)]
        before = segment
    if vod or endlist:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _pdt(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
