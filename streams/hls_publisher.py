"""Publishing what FFmpeg writes locally to the "live" storage (local disk or S3).

Segments go up as soon as a playlist lists them (so they are complete), each playlist right
after its segments, the ladder (and its index rows) before the source copy, the master once
every variant exists. Segments that fall out of a live
playlist are removed from storage after a grace period, unless the broadcast keeps them
(DVR or a recording): those are added to the segment index instead.

Given the broadcast, the publisher follows its place in storage: a broadcast narrowed to
followers-only while live (streams.services.stream_update) is marked `media_private`, and
within PLACE_CHECK_SECONDS the publisher writes under `private/` instead of `live/`,
republishes the live window there (FFmpeg and its local folder carry on untouched), and
asks for what stayed under `live/` to be moved (streams.segments.media_move_private, S-04).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from socialflow.lib.media_urls import is_private
from streams.models import MediaSegment, Stream
from streams.segments import Entry, SegmentIndex, parse_media_playlist
from streams.tasks import stream_media_private_task

log = logging.getLogger(__name__)

# A player may still fetch a segment that just left the playlist.
DROPPED_SEGMENT_GRACE_SECONDS = 30
# The recording (a stream copy of the source) is not played live: its segments are
# indexed (streams.segments) and leave local disk once they are in storage.
RECORDING = MediaSegment.RECORDING
# How often the publisher asks where the broadcast's media goes (S-04: narrowed while live).
PLACE_CHECK_SECONDS = 1.0


@dataclass
class SyncResult:
    new_segments: int = 0
    new_bytes: int = 0
    master_published: bool = False
    thumbnail_published: bool = False


@dataclass
class HlsPublisher:
    work_dir: Path
    prefix: str  # live/<stream id>/<media token>, or private/... (Stream.media_prefix)
    storage: Storage
    # Kept segments (DVR or a recording) are added here and stay in storage after they
    # leave the live playlist; without an index they are deleted after a grace period.
    index: SegmentIndex | None = None
    uploaded: set[str] = field(default_factory=set)
    pending: dict[str, list[tuple[str, Entry, int]]] = field(default_factory=dict)
    playlists: dict[str, str] = field(default_factory=dict)
    dropped: list[tuple[float, str]] = field(default_factory=list)
    master_text: str = ""
    thumbnail_mtime: float = 0.0
    # The wall-clock span of the ladder published so far (what a restart gap is measured by).
    first_segment_at: datetime | None = None
    last_segment_end: datetime | None = None
    # The broadcast, when the publisher is to follow its place in storage (the transcoder's
    # object: its media_private is set here when the place changes).
    stream: Stream | None = None
    place_checked_at: float = 0.0

    def _put(self, relative: str, content: bytes) -> None:
        self.storage.save(f"{self.prefix}/{relative}", ContentFile(content))

    def sync(self, *, final: bool = False) -> SyncResult:
        result = SyncResult()
        self._follow_place()
        variants = sorted(self.work_dir.glob("*/index.m3u8"))
        ladder = [p for p in variants if p.parent.name != RECORDING]
        # What viewers play first: the ladder's segments and playlists, then their index rows
        # (the rewind playlists the watch page plays list a segment once it is indexed). The
        # source copy is not played live; on S3 its upload would hold the rest back.
        for playlist in ladder:
            self._sync_playlist(playlist, result)
        self._flush_index()
        for playlist in variants:
            if playlist not in ladder:
                self._sync_playlist(playlist, result)
        self._flush_index()
        master = self.work_dir / "master.m3u8"
        ready = ladder and all(f"{p.parent.name}/index.m3u8" in self.playlists for p in ladder)
        if ready and master.exists():
            text = master.read_text()
            if text and text != self.master_text:
                self._put("master.m3u8", text.encode())
                result.master_published = not self.master_text
                self.master_text = text
        thumbnail = self.work_dir / "thumb.jpg"
        if thumbnail.exists():
            mtime = thumbnail.stat().st_mtime
            if mtime != self.thumbnail_mtime:
                self._put("thumb.jpg", thumbnail.read_bytes())
                self.thumbnail_mtime = mtime
                result.thumbnail_published = True
        self._delete_expired()
        return result

    def _follow_place(self) -> None:
        """Write under `private/` from now on when the broadcast was narrowed to
        followers-only while live: republish the live window there (so a follower's next
        playlist finds its segments), then have the rest moved and the public copies
        deleted. Only this way: a broadcast widened again stays private."""
        if self.stream is None or is_private(self.prefix):
            return
        now = time.monotonic()
        if now - self.place_checked_at < PLACE_CHECK_SECONDS:
            return
        self.place_checked_at = now
        if not Stream.objects.filter(pk=self.stream.pk, media_private=True).exists():
            return
        # Index rows of what went up under the old place first: the move renames them.
        self._flush_index()
        old = self.prefix
        self.stream.media_private = True
        self.prefix = self.stream.media_prefix
        try:
            self._republish(old)
        except Exception:  # the storage failing: the whole switch again next round
            self.prefix, self.stream.media_private, self.place_checked_at = old, False, 0.0
            raise
        # The public ways in go at once (the move takes the segments, even if it runs late).
        for relative in [*self.playlists, "master.m3u8", "thumb.jpg"]:
            try:
                self.storage.delete(f"{old}/{relative}")
            except Exception as exc:
                log.warning("could not delete %s/%s: %s", old, relative, exc)
        # What leaves the window later leaves both places.
        self.dropped += [(at, self.prefix + name[len(old) :]) for at, name in self.dropped]
        self.dropped.sort()
        log.info("publishing %s under %s from now on", self.stream.pk, self.prefix)
        try:
            stream_media_private_task.delay(self.stream.pk)
        except Exception as exc:  # the broker away: the narrowing's own pass still runs
            log.warning("could not ask for the move of %s: %s", self.stream.pk, exc)

    def _republish(self, old: str) -> None:
        """The live window as viewers have it now, under the new place."""
        for relative_playlist, text in self.playlists.items():
            rung = relative_playlist.split("/", 1)[0]
            for entry in parse_media_playlist(text):
                relative = f"{rung}/{entry.uri}"
                try:
                    data = (self.work_dir / relative).read_bytes()
                except FileNotFoundError:
                    try:  # FFmpeg removed it already: from the old place
                        with self.storage.open(f"{old}/{relative}") as published:
                            data = published.read()
                    except Exception:
                        continue  # the move brings it if it is anywhere
                self._put(relative, data)
            self._put(relative_playlist, text.encode())
        if self.master_text:
            self._put("master.m3u8", self.master_text.encode())
        self.thumbnail_mtime = 0.0  # republished in this round

    def _flush_index(self) -> None:
        """Index what was uploaded; a failure (the database blinked) leaves it pending for
        the next round, so no published segment goes unindexed."""
        if self.index is None:
            return
        for rendition, published in self.pending.items():
            if published:
                self.index.add(rendition, published)
                self.pending[rendition] = []

    def _sync_playlist(self, playlist: Path, result: SyncResult) -> None:
        rung = playlist.parent.name
        recording = rung == RECORDING
        relative_playlist = f"{rung}/index.m3u8"
        try:
            text = playlist.read_text()
        except FileNotFoundError:
            return
        if not text.startswith("#EXTM3U"):
            return
        entries = parse_media_playlist(text)
        listed = [entry.uri for entry in entries]
        for entry in entries:
            relative = f"{rung}/{entry.uri}"
            if relative in self.uploaded:
                continue
            segment = playlist.parent / entry.uri
            try:
                data = segment.read_bytes()
            except FileNotFoundError:
                return  # not there yet: publish this playlist on the next round
            self._put(relative, data)
            self.uploaded.add(relative)
            if self.index is not None:
                self.pending.setdefault(rung, []).append((f"{self.prefix}/{relative}", entry, len(data)))
            if recording:
                segment.unlink(missing_ok=True)  # in storage now; FFmpeg does not list it again
            else:
                result.new_segments += 1
                result.new_bytes += len(data)
                if entry.started_at is not None:
                    self.first_segment_at = self.first_segment_at or entry.started_at
                    end = entry.started_at + timedelta(seconds=entry.duration)
                    self.last_segment_end = max(self.last_segment_end or end, end)
        if recording:
            return  # the index is its playlist: recordings and clips are rendered from it
        if self.playlists.get(relative_playlist) != text:
            previous = self.playlists.get(relative_playlist, "")
            self._put(relative_playlist, text.encode())
            self.playlists[relative_playlist] = text
            if self.index is None:
                gone = {e.uri for e in parse_media_playlist(previous)} - set(listed)
                now = time.monotonic()
                self.dropped += [(now, f"{self.prefix}/{rung}/{name}") for name in sorted(gone)]

    def _delete_expired(self) -> None:
        cutoff = time.monotonic() - DROPPED_SEGMENT_GRACE_SECONDS
        while self.dropped and self.dropped[0][0] < cutoff:
            _, name = self.dropped.pop(0)
            try:
                self.storage.delete(name)
            except OSError as exc:
                log.warning("could not delete %s: %s", name, exc)
