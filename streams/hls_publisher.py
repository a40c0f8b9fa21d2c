"""Publishing what FFmpeg writes locally to the "live" storage (local disk or S3).

Segments go up as soon as a playlist lists them (so they are complete), each playlist right
after its segments, the master once every variant exists. Segments that fall out of a live
playlist are removed from storage after a grace period, unless the broadcast keeps them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

log = logging.getLogger(__name__)

# A player may still fetch a segment that just left the playlist.
DROPPED_SEGMENT_GRACE_SECONDS = 30
# The recording (a stream copy of the source) is for DVR and replays, not the live edge:
# its ever-growing playlist goes up every few seconds, and its segments leave local disk
# once they are in storage.
RECORDING = "recording"
RECORDING_PLAYLIST_EVERY_SECONDS = 10


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
    keep_live_segments: bool = False
    uploaded: set[str] = field(default_factory=set)
    playlists: dict[str, str] = field(default_factory=dict)
    dropped: list[tuple[float, str]] = field(default_factory=list)
    master_text: str = ""
    thumbnail_mtime: float = 0.0
    recording_playlist_at: float = 0.0

    def _put(self, relative: str, content: bytes) -> None:
        self.storage.save(f"{self.prefix}/{relative}", ContentFile(content))

    def sync(self, *, final: bool = False) -> SyncResult:
        result = SyncResult()
        variants = sorted(self.work_dir.glob("*/index.m3u8"))
        for playlist in variants:
            self._sync_playlist(playlist, result, final=final)
        master = self.work_dir / "master.m3u8"
        ladder = [p for p in variants if p.parent.name != RECORDING]
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

    def _sync_playlist(self, playlist: Path, result: SyncResult, *, final: bool = False) -> None:
        rung = playlist.parent.name
        recording = rung == RECORDING
        if recording and not final and time.monotonic() < self.recording_playlist_at:
            return
        relative_playlist = f"{rung}/index.m3u8"
        try:
            text = playlist.read_text()
        except FileNotFoundError:
            return
        if not text.startswith("#EXTM3U"):
            return
        listed = [line for line in text.splitlines() if line and not line.startswith("#")]
        for name in listed:
            relative = f"{rung}/{name}"
            if relative in self.uploaded:
                continue
            segment = playlist.parent / name
            try:
                data = segment.read_bytes()
            except FileNotFoundError:
                return  # not there yet: publish this playlist on the next round
            self._put(relative, data)
            self.uploaded.add(relative)
            if recording:
                segment.unlink(missing_ok=True)  # kept in storage; FFmpeg only appends
            else:
                result.new_segments += 1
                result.new_bytes += len(data)
        if self.playlists.get(relative_playlist) != text:
            previous = self.playlists.get(relative_playlist, "")
            self._put(relative_playlist, text.encode())
            self.playlists[relative_playlist] = text
            if recording:
                self.recording_playlist_at = time.monotonic() + RECORDING_PLAYLIST_EVERY_SECONDS
            elif not self.keep_live_segments:
                gone = {line for line in previous.splitlines() if line and not line.startswith("#")} - set(
                    listed
                )
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
