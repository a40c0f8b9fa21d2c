"""A live broadcast's health, judged from what the transcoder sees every few seconds: the
encoder's speed and frame rate over the last interval (FFmpeg's own `speed` and `fps` are
averages since it started, which hide a slowdown for minutes), the ingest bitrate the media
server reports, and restarts. The transcoder stores each reading (StreamHealthSample) and
sends it to the streamer's dashboard (a `stream.health` frame with `metrics`)."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from streams.models import StreamHealthSample

Status = StreamHealthSample.Status

SLOW_SPEED = 1.0  # below real time, the live playlist falls behind the clock
FPS_SHARE = 0.9  # frames made per second below this share of the source's: viewers see it
BITRATE_DROP = 0.5  # ingest below half of what it was: the streamer's upload is struggling
BASELINE_READINGS = 24  # the ingest it was: the median of about the last two minutes
MIN_BASELINE_READINGS = 3
OVER_LIMIT_READINGS = 2  # about 10 s of readings (the media servers average over 10-30 s)


@dataclass
class Reading:
    speed: float | None
    fps: float | None
    status: str
    reason: str


@dataclass
class HealthMeter:
    """One per FFmpeg run: what changed since the last reading. The ingest history spans
    runs (the caller keeps one meter per broadcast and calls `new_run`)."""

    source_fps: float | None = None
    # S-21: an ingest above this (kbit/s, as the media server measures it) is refused.
    ingest_limit_kbps: float | None = None
    restarts: int = 0  # FFmpeg runs before this one (failures and ladder changes)
    ladder: list[str] = field(default_factory=list)
    _last: tuple[float, float, float, float] | None = None  # wall, media s, frames, dups
    _ingest: deque[float] = field(default_factory=lambda: deque(maxlen=BASELINE_READINGS))
    _over_limit: int = 0  # readings in a row above ingest_limit_kbps

    @property
    def ingest_over_limit(self) -> float | None:
        """The ingest (kbit/s) when it stayed above the limit for OVER_LIMIT_READINGS
        readings in a row: a keyframe burst at the start is not enough."""
        if self._over_limit >= OVER_LIMIT_READINGS and self._ingest:
            return self._ingest[-1]
        return None

    def new_run(self) -> None:
        self._last = None  # FFmpeg's counters start again from zero

    def read(
        self, *, now: float, out_seconds: float, frames: float, dups: float, ingest_kbps: float | None
    ) -> Reading:
        speed = fps = None
        if self._last is not None:
            wall, media, frames_before, dups_before = self._last
            elapsed = now - wall
            if elapsed > 0 and out_seconds >= media:
                speed = (out_seconds - media) / elapsed
                # Frames made from the source: duplicates FFmpeg inserts to fill gaps are not.
                fps = max(0.0, (frames - frames_before) - (dups - dups_before)) / elapsed
        self._last = (now, out_seconds, frames, dups)
        problems: list[str] = []
        bad = False
        if speed is not None and speed < SLOW_SPEED:
            problems.append(f"the transcoder runs at {speed:.2f}x real time, so viewers buffer")
            bad = speed < 0.8
        if fps is not None and self.source_fps and fps < FPS_SHARE * self.source_fps:
            problems.append(f"{fps:.0f} frames a second are made of the source's {self.source_fps:g}")
        if ingest_kbps is not None:
            if len(self._ingest) >= MIN_BASELINE_READINGS:
                baseline = statistics.median(self._ingest)
                if baseline > 0 and ingest_kbps < BITRATE_DROP * baseline:
                    problems.append(
                        f"the ingest bitrate fell to {ingest_kbps:.0f} kbit/s from {baseline:.0f}: "
                        "check the streamer's upload"
                    )
            self._ingest.append(ingest_kbps)
            over = self.ingest_limit_kbps is not None and ingest_kbps > self.ingest_limit_kbps
            self._over_limit = self._over_limit + 1 if over else 0
        if not problems:
            return Reading(speed, fps, Status.GOOD, "")
        reason = "; ".join(problems)
        return Reading(
            speed, fps, Status.BAD if bad else Status.WARNING, reason[0].upper() + reason[1:] + "."
        )
