"""Publishing what FFmpeg writes locally to the "live" storage (local disk or S3).

Segments go up as soon as a playlist lists them (so they are complete), each playlist right
after its segments, the ladder (and its index rows) before the source copy, the master once
every variant exists. Segments that fall out of a live
playlist are removed from storage after a grace period, unless the broadcast keeps them
(DVR or a recording): those are added to the segment index instead.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

from streams.models import MediaSegment
from streams.segments import Entry, SegmentIndex, parse_media_playlist

log = logging.getLogger(__name__)

# A player may still fetch a segment that just left the playlist.
DROPPED_SEGMENT_GRACE_SECONDS = 30
# The recording (a stream copy of the source) is not played live: its segments are
# indexed (streams.segments) and leave local disk once they are in storage.
RECORDING = MediaSegment.RECORDING


@dataclass
class SyncResult:
    new_segments: int = 0
    new_bytes: int = 0
    master_published: bool = False
    thumbnail_published: bool = False


@dataclass
class HlsPublisher:
    work_dir: Path
    prefix: str  # live/<stream id>/<media token>
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

    def _put(self, relative: str, content: bytes) -> None:
        self.storage.save(f"{self.prefix}/{relative}", ContentFile(content))

    def sync(self, *, final: bool = False) -> SyncResult:
        result = SyncResult()
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
                self.dropped += [(now, f"{rung}/{name}") for name in sorted(gone)]

    def _delete_expired(self) -> None:
        cutoff = time.monotonic() - DROPPED_SEGMENT_GRACE_SECONDS
        while self.dropped and self.dropped[0][0] < cutoff:
            _, relative = self.dropped.pop(0)
            try:
                self.storage.delete(f"{self.prefix}/{relative}")
            except OSError as exc:
                log.warning("could not delete %s: %s", relative, exc)
