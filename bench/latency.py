#!/usr/bin/env python
"""Glass-to-glass latency of a live broadcast in Chromium, beside the RTMP hop alone.

A publisher (this script, writing raw frames into an x264 FFmpeg) paints the wall clock
(ms since the epoch) into every frame of a 1280x720 30-fps feed as black/white boxes and
publishes it to the stack's nginx-rtmp, as OBS would. The stack is started as the e2e tests
start it (socialflow.tests.processes.live_stack: Daphne, nginx-rtmp, a default and a
transcode Celery worker); the broadcast goes live through the real publish hook and the
real transcoder. Chromium (Playwright) opens the watch page, and every 200 ms the frame on
screen is drawn onto a canvas, its boxes read back, and the delay is Date.now() minus the
clock in the frame. Beside it, in the same run, an FFmpeg pulls the RTMP feed itself and
the same boxes are read from its frames: the latency of OBS's encoder and the RTMP hop.

Per mode (default: 2-s segments; low: the broadcast's "low latency" option, 1-s segments)
it prints p50/p95/max after a warm-up, hls.js's own `latency` (from the playlist's live
edge, which leaves out everything before the playlist), the rebuffering while sampling
(`waiting` events and the time until `playing`), and the start-up. The broadcast takes the
channel's defaults (DVR and recording on) unless `--dvr off`.

It uses a PostgreSQL database of its own (socialflow_bench_latency, dropped at the end),
Redis DB 15 (refused if it holds keys; flushed at the end) and a temporary folder.

    .venv/bin/python bench/latency.py [--seconds 45] [--mode both|default|low] [--dvr on|off]
        [--max-height 360]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "socialflow_bench_latency"
# Taken elsewhere: 0 and 1 (development), 10 (bench/hooks.py), 11 (bench/dvr.py) and the test
# suite's slots (socialflow/settings_test.py: 14/12/13, 9/8/7, 6/5/4, 3/2/1). 15 is nobody's.
REDIS_DB = 15
REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"

WIDTH, HEIGHT, FPS = 1280, 720, 30
# The clock: 44 bits of ms since the epoch and a 4-bit check, each bit as a pair of boxes
# (white/black or black/white, so no threshold to guess), 8 pairs a row, 6 rows of 80-px
# boxes in the top 480 lines. At the 360p rung a box is still 40 px.
BOX = 80
COLUMNS, ROWS = WIDTH // BOX, 6
TIME_BITS, CHECK_BITS = 44, 4
# What the page and the RTMP reader read the boxes from: a quarter of 720p (a box is 20 px).
READ_WIDTH, READ_HEIGHT = 320, 180
SAMPLE_MS = 200
WARMUP_SECONDS = 10
AUDIO_RATE = 48000
# A 480 Hz tone: 16 whole periods per video frame, so each frame's audio is the same bytes.
TONE = b"".join(
    int(8000 * math.sin(2 * math.pi * 480 * n / AUDIO_RATE)).to_bytes(2, "little", signed=True) * 2
    for n in range(AUDIO_RATE // FPS)
)
AUDIO_LEAD_FRAMES = 10
# OBS: x264 as a streamer sets it up, a keyframe every 2 s, AAC. Video and audio both come
# from this process, frame by frame, so their timestamps advance together (an audio input
# paced on its own would make the muxer hold video back to interleave).
PUBLISHER = [
    *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"),
    # Raw inputs need no probing; FFmpeg's default would read seconds of both first.
    *("-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS)),
    *("-probesize", "32", "-analyzeduration", "0", "-i", "pipe:0"),
    *("-f", "s16le", "-ar", str(AUDIO_RATE), "-ac", "2"),
    *("-probesize", "32", "-analyzeduration", "0", "-i", "pipe:{audio_fd}"),
    *("-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"),
    *("-pix_fmt", "yuv420p", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0"),
    *("-b:v", "3000k", "-maxrate", "3000k", "-bufsize", "3000k", "-c:a", "aac", "-b:a", "128k"),
    *("-f", "flv"),
]
# The RTMP hop alone: the feed as nginx-rtmp relays it, decoded without buffering (~5% of a
# core here). Every frame is decoded: with `-skip_frame nokey` the decoder hands out each
# keyframe only when the next arrives, 2 s late.
RTMP_READER = [
    *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"),
    *("-fflags", "nobuffer", "-flags", "low_delay", "-probesize", "32768", "-threads", "1"),
]
RTMP_READER_OUTPUT = [  # every third frame is read (10 a second): select holds no frame back
    *("-map", "0:v:0", "-vf", f"select='not(mod(n,3))',scale={READ_WIDTH}:{READ_HEIGHT}", "-pix_fmt", "gray"),
    *("-fps_mode", "passthrough", "-f", "rawvideo", "-flush_packets", "1", "pipe:1"),
]
# The tests' Chromium flags, and autoplay: nobody clicks play here.
AUTOPLAY = "--autoplay-policy=no-user-gesture-required"


# --- The clock in the picture ---------------------------------------------------------------


def clock_bits(ms: int) -> list[int]:
    value = ms & ((1 << TIME_BITS) - 1)
    check = sum((value >> shift) & 0xF for shift in range(0, TIME_BITS, 4)) & 0xF
    word = value << CHECK_BITS | check
    return [(word >> (TIME_BITS + CHECK_BITS - 1 - i)) & 1 for i in range(TIME_BITS + CHECK_BITS)]


def clock_from_levels(pairs: list[tuple[float, float]]) -> int | None:
    """The clock from the brightness of each pair of boxes; None when a pair is unclear
    or the check fails (a frame the scaler or the encoder smeared)."""
    word = 0
    for left, right in pairs:
        if abs(left - right) < 64:
            return None
        word = word << 1 | (left > right)
    value, check = word >> CHECK_BITS, word & 0xF
    if sum((value >> shift) & 0xF for shift in range(0, TIME_BITS, 4)) & 0xF != check:
        return None
    return value


def box_centres(width: int, height: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where each pair's two boxes are, in a picture of `width` x `height`."""
    sx, sy = width / WIDTH, height / HEIGHT
    centres = []
    for bit in range(TIME_BITS + CHECK_BITS):
        row, pair = divmod(bit, COLUMNS // 2)
        y = int((row + 0.5) * BOX * sy)
        left = int((2 * pair + 0.5) * BOX * sx)
        right = int((2 * pair + 1.5) * BOX * sx)
        centres.append(((left, y), (right, y)))
    return centres


CENTRES = box_centres(READ_WIDTH, READ_HEIGHT)


# The same reading in the page (a canvas of READ_WIDTH x READ_HEIGHT, the red channel).
SAMPLER_JS = """
(() => {
  const { W, H, BOX, COLUMNS, TIME_BITS, CHECK_BITS, SAMPLE_MS, MAX_HEIGHT } = window.__latencyConfig;
  const out = { samples: [], unreadable: 0, events: [], firstFrame: null };
  window.__latency = out;
  function level(data, x, y) {
    let sum = 0;
    for (let dy = -2; dy < 2; dy++) for (let dx = -2; dx < 2; dx++) sum += data[((y + dy) * W + x + dx) * 4];
    return sum / 16;
  }
  function decode(data) {
    const s = W / 1280;
    let value = 0, check = 0;
    for (let bit = 0; bit < TIME_BITS + CHECK_BITS; bit++) {
      const row = Math.floor(bit / (COLUMNS / 2)), pair = bit % (COLUMNS / 2);
      const y = Math.floor((row + 0.5) * BOX * s);
      const a = level(data, Math.floor((2 * pair + 0.5) * BOX * s), y);
      const b = level(data, Math.floor((2 * pair + 1.5) * BOX * s), y);
      if (Math.abs(a - b) < 64) return null;
      if (bit < TIME_BITS) value = value * 2 + (a > b ? 1 : 0);
      else check = check * 2 + (a > b ? 1 : 0);
    }
    let sum = 0;
    for (let rest = value, i = 0; i < TIME_BITS / 4; i++) { sum += rest % 16; rest = Math.floor(rest / 16); }
    return (sum & 15) === check ? value : null;
  }
  document.addEventListener("DOMContentLoaded", () => {
    const video = document.getElementById("player");
    if (!video) return;
    const canvas = document.createElement("canvas");
    canvas.width = W;
    canvas.height = H;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    for (const type of ["waiting", "playing", "seeking", "seeked"]) {
      video.addEventListener(type, () => out.events.push([type, Date.now()]));
    }
    let hooked = null;
    setInterval(() => {
      const hls = window.socialflowPlayer;
      if (hls && hooked !== hls) {
        hooked = hls;
        if (MAX_HEIGHT) {  // --max-height: the automatic quality no higher than that
          const cap = () => {
            hls.autoLevelCapping = hls.levels.reduce((top, l, i) => (l.height <= MAX_HEIGHT ? i : top), 0);
          };
          if (hls.levels.length) cap();
          hls.on(Hls.Events.MANIFEST_PARSED, cap);
        }
        hls.on(Hls.Events.ERROR, (event, data) => {
          const stall = data.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR;
          if (stall) out.events.push(["hls-stall", Date.now()]);
        });
      }
      if (video.readyState < 2 || video.paused) return;
      context.drawImage(video, 0, 0, W, H);
      const now = Date.now();
      const clock = decode(context.getImageData(0, 0, W, H).data);
      if (clock === null) { out.unreadable++; return; }
      if (out.firstFrame === null) out.firstFrame = now;
      const buffered = video.buffered;
      const ahead = buffered.length ? buffered.end(buffered.length - 1) - video.currentTime : 0;
      const level = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : null;
      out.samples.push([now, now - clock, hls ? hls.latency : null, hls ? hls.targetLatency : null,
                        video.playbackRate, level ? level.height : 0, ahead]);
    }, SAMPLE_MS);
  });
})();
"""
SAMPLER_CONFIG = {
    "W": READ_WIDTH,
    "H": READ_HEIGHT,
    "BOX": BOX,
    "COLUMNS": COLUMNS,
    "TIME_BITS": TIME_BITS,
    "CHECK_BITS": CHECK_BITS,
    "SAMPLE_MS": SAMPLE_MS,
    "MAX_HEIGHT": 0,
}


# --- The publisher and the RTMP reader ------------------------------------------------------


class Publisher:
    """OBS with a clock in the picture: frames painted in this process, paced by the wall
    clock, x264 in FFmpeg, RTMP to `url`. The clock painted is the time the frame is made."""

    def __init__(self, url: str) -> None:
        audio_in, audio_out = os.pipe()
        argv = [arg.format(audio_fd=audio_in) for arg in PUBLISHER]
        self.proc = subprocess.Popen(
            [*argv, url], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, pass_fds=(audio_in,)
        )
        os.close(audio_in)
        self.audio = os.fdopen(audio_out, "wb")
        self.frame = bytearray(WIDTH * HEIGHT)
        self.frame[:] = b"\x80" * (WIDTH * HEIGHT)
        self.black, self.white = b"\x10" * BOX, b"\xeb" * BOX
        # Below the boxes a grey field with one moving box: a cheap picture on purpose. On this
        # 2-core machine the browser and this publisher share the cores with the transcoder,
        # which a camera's picture would push below real time (a production transcoder has
        # its cores to itself); what is measured here is latency, not encoding cost.
        self.mover = 0
        self.painted: list[list[int]] = [[] for _ in range(ROWS)]
        self.frames = 0
        self.late_frames = 0  # written more than a frame after they were due
        self.stop = threading.Event()
        # The audio goes on its own thread, one frame's worth per video frame painted and a
        # little ahead: FFmpeg reads its two inputs in its own order (probing one while the
        # other's pipe is full), so one writer for both would deadlock. Audio ahead of video
        # costs no latency (the muxer holds audio, not video, to interleave).
        self.audio_allowed = threading.Semaphore(AUDIO_LEAD_FRAMES)
        self.started = time.time()
        self.threads = [
            threading.Thread(target=self._run, name="publisher-video", daemon=True),
            threading.Thread(target=self._run_audio, name="publisher-audio", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _paint(self, ms: int, n: int) -> None:
        bits = clock_bits(ms)
        line_bytes = WIDTH
        for row in range(ROWS):
            row_bits = bits[row * COLUMNS // 2 : (row + 1) * COLUMNS // 2]
            if row_bits == self.painted[row]:
                continue  # the high bits of the clock change seldom
            self.painted[row] = row_bits
            line = b"".join(self.white + self.black if bit else self.black + self.white for bit in row_bits)
            start = row * BOX * line_bytes
            self.frame[start : start + BOX * line_bytes] = line * BOX
        top = (ROWS + 1) * BOX * line_bytes
        grey = b"\x80" * BOX
        for x, colour in ((self.mover, grey), ((n * 8) % (WIDTH - BOX), self.white)):
            for y in range(BOX):
                start = top + y * line_bytes + x
                self.frame[start : start + BOX] = colour
        self.mover = (n * 8) % (WIDTH - BOX)

    def _write(self) -> None:
        assert self.proc.stdin is not None
        self._paint(int(time.time() * 1000), self.frames)
        self.proc.stdin.write(self.frame)
        self.proc.stdin.flush()
        self.audio_allowed.release()
        self.frames += 1

    def _run_audio(self) -> None:
        try:
            while not self.stop.is_set():
                if self.audio_allowed.acquire(timeout=0.5):
                    self.audio.write(TONE)
                    self.audio.flush()
        except (BrokenPipeError, ValueError):
            pass

    def _run(self) -> None:
        try:
            self._write()  # waits for FFmpeg to start reading: the pace counts from there
            t0 = time.monotonic() - 1 / FPS
            while not self.stop.is_set():
                wait = t0 + self.frames / FPS - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -1 / FPS:
                    self.late_frames += 1
                self._write()
        except (BrokenPipeError, ValueError):
            pass

    def close(self) -> None:
        self.stop.set()
        for pipe in (self.proc.stdin, self.audio):
            try:
                if pipe is not None:
                    pipe.close()
            except (BrokenPipeError, ValueError):
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for thread in self.threads:
            thread.join(5)


class RtmpReader:
    """The baseline: the painted clock read from the RTMP feed directly."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [*RTMP_READER, "-i", url, *RTMP_READER_OUTPUT],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.samples: list[tuple[float, float]] = []  # (wall time, latency s)
        self.unreadable = 0
        self.thread = threading.Thread(target=self._run, name="rtmp-reader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.proc.stdout is not None
        size = READ_WIDTH * READ_HEIGHT
        while True:
            data = self.proc.stdout.read(size)
            if len(data) < size:
                return
            now = time.time()
            clock = read_clock(data)
            if clock is None:
                self.unreadable += 1
            else:
                self.samples.append((now, now - clock / 1000))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.thread.join(5)


# Media playlist requests (not the master) the page made in [start, end] (ms since the epoch).
PLAYLIST_REQUESTS_JS = """([start, end]) => performance.getEntriesByType("resource")
  .filter((e) => /\\.m3u8/.test(e.name) && !/(live|dvr|master)\\.m3u8/.test(e.name))
  .filter((e) => start <= performance.timeOrigin + e.startTime && performance.timeOrigin + e.startTime <= end)
  .length"""


def read_clock(frame: bytes) -> int | None:
    """The clock in a READ_WIDTH x READ_HEIGHT grey frame."""

    def level(x: int, y: int) -> float:
        return (
            sum(frame[(y + dy) * READ_WIDTH + x + dx] for dy in (-2, -1, 0, 1) for dx in (-2, -1, 0, 1)) / 16
        )

    return clock_from_levels([(level(*a), level(*b)) for a, b in CENTRES])


class SegmentWatcher:
    """When FFmpeg closes each segment of a rung: the files in the transcoder's work folder,
    looked at every 50 ms (FFmpeg renames a segment into place when it closes it, and deletes
    it once it leaves its short playlist)."""

    def __init__(self, work: Path, pattern: str) -> None:
        self.work, self.pattern = work, pattern  # a glob: each FFmpeg run has a folder of its own
        self.closed: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="segment-watcher", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            for segment in self.work.glob(self.pattern):
                if segment.name not in self.closed:
                    with contextlib.suppress(FileNotFoundError):
                        self.closed[segment.name] = segment.stat().st_mtime

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


def segment_timing(
    media: Path, closed: dict[str, float], start: float, end: float
) -> list[tuple[float, float]]:
    """(FFmpeg closed it - its last frame painted, in storage - FFmpeg closed it) for each
    segment of the rung published in [start, end]. The publisher writes the playlists, and
    the DVR index, right after the segments."""
    size = READ_WIDTH * READ_HEIGHT
    timing = []
    for segment in sorted(media.glob("*.ts")):
        stored = segment.stat().st_mtime
        if not start <= stored <= end or segment.name not in closed:
            continue
        decode = [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(segment),
            "-an",
            "-vf",
            f"scale={READ_WIDTH}:{READ_HEIGHT}",
        ]
        frames = subprocess.run(
            [*decode, "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"], capture_output=True
        ).stdout
        if len(frames) < size:
            continue
        clock = read_clock(frames[len(frames) // size * size - size :])
        if clock is not None:
            timing.append((closed[segment.name] - (clock / 1000 + 1 / FPS), stored - closed[segment.name]))
    return timing


# --- Figures --------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def spread(values: list[float]) -> str:
    if not values:
        return "no samples"
    return f"p50 {pct(values, 50):.2f} s  p95 {pct(values, 95):.2f} s  max {max(values):.2f} s"


@dataclass
class Run:
    mode: str
    segment_seconds: int
    samples: list[list[Any]] = field(default_factory=list)  # the page's, in the window
    baseline: list[float] = field(default_factory=list)
    stalls: int = 0
    stalled_seconds: float = 0.0
    hls_stalls: int = 0
    # When the player stalled, in seconds from the first frame (warm-up included).
    stalled_at: list[float] = field(default_factory=list)
    ready_after: float = 0.0  # publish -> the master playlist out (hls_ready_at)
    first_frame_after_page: float = 0.0
    startup_latency: list[float] = field(default_factory=list)  # the warm-up's samples
    unreadable: int = 0
    publisher_fps: float = 0.0
    publisher_late: int = 0
    playlist_requests: int = 0  # media playlist requests in the window
    # Per segment of the 360p rung: (FFmpeg closed it - its last frame, in storage - closed).
    segments: list[tuple[float, float]] = field(default_factory=list)

    @property
    def latency(self) -> list[float]:
        return [s[1] / 1000 for s in self.samples]


def stalls_in(events: list[list[Any]], start_ms: float, end_ms: float) -> tuple[int, float, int]:
    """`waiting` events in [start, end], the time from each to the next `playing` (clipped
    to the window), and hls.js's own stall reports."""
    count, stalled, hls_stalls = 0, 0.0, 0
    since = None
    for kind, at in events:
        if kind == "hls-stall" and start_ms <= at <= end_ms:
            hls_stalls += 1
        elif kind == "waiting" and since is None:
            since = at
            if start_ms <= at <= end_ms:
                count += 1
        elif kind == "playing" and since is not None:
            stalled += max(0.0, min(at, end_ms) - max(since, start_ms)) / 1000
            since = None
    if since is not None:
        stalled += max(0.0, end_ms - max(since, start_ms)) / 1000
    return count, stalled, hls_stalls


def report(runs: list[Run], args: argparse.Namespace, load: tuple[float, float]) -> None:
    seconds = args.seconds
    quality = f"the player's quality capped at {args.max_height}p" if args.max_height else "automatic quality"
    print(
        f"\nglass-to-glass, 1280x720 30 fps publish, {seconds} s sampled every {SAMPLE_MS} ms after a"
        f" {WARMUP_SECONDS}-s warm-up; DVR {args.dvr}; {quality}; load average {load[0]:.2f} before,"
        f" {load[1]:.2f} after"
    )
    for run in runs:
        hls_latency = [s[2] for s in run.samples if s[2] is not None]
        target = [s[3] for s in run.samples if s[3] is not None]
        heights = sorted({s[5] for s in run.samples})
        rates = [s[4] for s in run.samples]
        print(f"{run.mode} ({run.segment_seconds}-s segments):")
        print(f"   watch page (Chromium)   {spread(run.latency)}   ({len(run.samples)} samples)")
        print(f"   RTMP hop alone          {spread(run.baseline)}   ({len(run.baseline)} frames)")
        if run.latency and run.baseline:
            print(
                f"   ratio                   p50 {pct(run.latency, 50) / pct(run.baseline, 50):.1f}x"
                f"  p95 {pct(run.latency, 95) / pct(run.baseline, 95):.1f}x;"
                f" above the hop: p50 {pct(run.latency, 50) - pct(run.baseline, 50):.2f} s"
            )
        if hls_latency:
            print(
                f"   hls.js latency          {spread(hls_latency)}"
                f"  (target {statistics.median(target) if target else float('nan'):.2f} s; from the"
                " playlist's edge: leaves out the encode, the segment and the publish)"
            )
        if run.segments:
            transcode = [closed for closed, _ in run.segments]
            publish = [stored for _, stored in run.segments]
            ready = [closed + stored for closed, stored in run.segments]
            print(f"   segment closed by FFmpeg {spread(transcode)} after its last frame was painted")
            if pct(transcode, 95) > 2 * run.segment_seconds:
                print(
                    "   (FFmpeg fell behind real time: the machine was too busy for these figures to count)"
                )
            print(
                f"   ... in storage          {spread(publish)} after FFmpeg closed it (the transcoder's poll)"
            )
            share = pct(run.latency, 50) - run.segment_seconds - pct(ready, 50)
            print(
                f"   player's share          p50 {share:.2f} s (glass-to-glass - the segment - the above:"
                " refresh, download, the holdback's margin)"
            )
        segments = seconds / run.segment_seconds
        print(
            f"   playlist requests       {run.playlist_requests / segments:.1f} per segment (media playlists)"
        )
        print(
            f"   rebuffering             {run.stalls} waiting events, {run.stalled_seconds:.2f} s stalled"
            f" ({run.hls_stalls} hls.js stall reports); playback rate {min(rates, default=1):.2f}-"
            f"{max(rates, default=1):.2f}; levels {', '.join(f'{h}p' for h in heights)}"
        )
        print(
            f"   stalls at               {run.stalled_at or 'none'} s from the first frame (warm-up included)"
        )
        print(
            f"   start-up                master playlist {run.ready_after:.1f} s after the publish;"
            f" first frame {run.first_frame_after_page:.1f} s after the page opened;"
            f" warm-up latency {spread(run.startup_latency)}"
        )
        print(
            f"   publisher               {run.publisher_fps:.1f} fps, {run.publisher_late} frames late;"
            f" {run.unreadable} unreadable page samples"
        )


# --- The run ------------------------------------------------------------------------------


def environment(tmp: Path) -> None:
    """Settings for this process and the stack's (socialflow.tests.processes.process_env
    copies this environment and runs socialflow.settings_test)."""
    (tmp / "static").mkdir()  # whitenoise (DEBUG off) wants the folder
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "socialflow.settings_test",
            "ENV_FILE": "/nonexistent",
            "TEST_SLOT": "",
            "TEST_CACHE_URL": REDIS,
            "TEST_REDIS_URL": REDIS,
            "TEST_CELERY_BROKER_URL": REDIS,
            "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
            "MEDIA_ROOT": str(tmp / "media"),
            "STATIC_ROOT": str(tmp / "static"),
            "MEDIA_HOOK_SECRET": secrets.token_urlsafe(24),
            "GO_LIVE_MIN_FOLLOWERS": "2",
            "LOG_LEVEL": "WARNING",
        }
    )
    os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)


def measure(
    stack: dict, browser: Any, owner: Any, *, mode: str, seconds: int, dvr: bool, max_height: int
) -> Run:
    # Django is set up in main() first: these imports need the app registry.
    from django.conf import settings

    from streams import services
    from streams.models import Stream
    from streams.transcoder import transcoder_running

    low = mode == "low"
    run = Run(mode=mode, segment_seconds=1 if low else 2)
    # As the dashboard prepares the next broadcast; OBS connecting makes it live.
    options = {} if dvr else {"dvr_enabled": False, "record": False}
    stream = services.stream_create(owner=owner, title=f"Latency, {mode}", low_latency=low, **options)
    url = f"{stack['rtmp_url']}/{services.channel_get_or_create(user=owner).stream_key}"
    publisher = Publisher(url)
    reader = watcher = None
    page = None
    try:
        deadline = time.monotonic() + 30
        while not Stream.objects.filter(pk=stream.pk, hls_ready_at__isnull=False).exists():
            if time.monotonic() > deadline or publisher.proc.poll() is not None:
                raise SystemExit(f"{mode}: no playable ladder after 30 s")
            time.sleep(0.05)
        run.ready_after = time.time() - publisher.started
        # A viewer who comes once the live playlist is full (HLS_LIST_SIZE segments): earlier,
        # the playlist is too short for the player to hold back as far as it means to.
        time.sleep(settings.HLS_LIST_SIZE * run.segment_seconds)
        reader = RtmpReader(url)
        watcher = SegmentWatcher(stack["work_dir"] / stream.pk, "*/360p/*.ts")
        # The sampler's waits compile in the page, which the site's CSP (no eval) refuses.
        page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        config = {**SAMPLER_CONFIG, "MAX_HEIGHT": max_height}
        page.add_init_script(f"window.__latencyConfig = {json.dumps(config)};\n{SAMPLER_JS}")
        page.add_init_script("performance.setResourceTimingBufferSize(100000)")
        opened = time.time()
        page.goto(f"{stack['web']}/streams/{stream.pk}/")
        page.wait_for_function("window.__latency && window.__latency.firstFrame !== null", timeout=30000)
        first = page.evaluate("window.__latency.firstFrame") / 1000
        run.first_frame_after_page = first - opened
        until = first + WARMUP_SECONDS + seconds
        page.wait_for_timeout(max(0.0, until - time.time()) * 1000 + SAMPLE_MS)
        data = page.evaluate("window.__latency")
        start, end = first + WARMUP_SECONDS, until
        run.samples = [s for s in data["samples"] if start * 1000 <= s[0] <= end * 1000]
        run.startup_latency = [s[1] / 1000 for s in data["samples"] if s[0] < start * 1000]
        run.unreadable = data["unreadable"]
        run.stalls, run.stalled_seconds, run.hls_stalls = stalls_in(data["events"], start * 1000, end * 1000)
        run.stalled_at = [round(at / 1000 - first, 1) for kind, at in data["events"] if kind == "waiting"]
        run.baseline = [latency for at, latency in reader.samples if start <= at <= end]
        run.playlist_requests = page.evaluate(PLAYLIST_REQUESTS_JS, [start * 1000, end * 1000])
        watcher.close()
        media = Path(os.environ["MEDIA_ROOT"]) / stream.media_prefix / "360p"
        run.segments = segment_timing(media, watcher.closed, start, end)
        run.publisher_fps = publisher.frames / (time.time() - publisher.started)
        run.publisher_late = publisher.late_frames
    finally:
        if page is not None:
            page.close()
        if reader is not None:
            reader.close()
        if watcher is not None:
            watcher.close()
        publisher.close()
    # The publisher left: the broadcast ends and its transcoder stops before the next run.
    deadline = time.monotonic() + 30
    while Stream.objects.filter(pk=stream.pk, status=Stream.Status.LIVE).exists() or transcoder_running(
        stream.pk
    ):
        if time.monotonic() > deadline:
            print(f"warning: the {mode} broadcast had not ended 30 s after the publisher left")
            break
        time.sleep(0.2)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=45, help="how long each mode is sampled")
    parser.add_argument("--mode", choices=["both", "default", "low"], default="both")
    parser.add_argument("--dvr", choices=["on", "off"], default="on", help="on: the channel's defaults")
    parser.add_argument(
        "--max-height",
        type=int,
        default=0,
        help="cap the player's automatic quality (e.g. 360: the browser decodes less, leaving the"
        " transcoder more of a small machine's cores); 0: as a viewer gets it",
    )
    args = parser.parse_args()
    # A SIGTERM (timeout, a CI job cancelled) still cleans up: processes, database, Redis.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    if redis.Redis.from_url(REDIS).dbsize():
        raise SystemExit(f"Redis DB {REDIS_DB} holds keys: someone else uses it (or a run was killed).")
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    environment(tmp)
    admin = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c"]
    pg_env = {**os.environ, "PGPASSWORD": "socialflow"}
    subprocess.run([*admin, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True, env=pg_env)
    subprocess.run([*admin, f"CREATE DATABASE {DB_NAME}"], check=True, env=pg_env)
    import django

    django.setup()
    # After django.setup(): these need the app registry.
    from django.core.management import call_command
    from django.db import connections
    from playwright.sync_api import sync_playwright

    from accounts.models import User
    from accounts.services import follow_create
    from socialflow.tests.processes import CHROMIUM_ARGS, live_stack

    runs: list[Run] = []
    load_before = os.getloadavg()[0]
    try:
        call_command("migrate", verbosity=0)
        owner = User.objects.create_user("latencybench", "owner@example.com", "x-bench-pass-1")
        for n in range(2):
            fan = User.objects.create_user(f"fan{n}", f"fan{n}@example.com", "x-bench-pass-1")
            follow_create(follower=fan, followee=owner)
        with live_stack(tmp / "stack", transcode=True) as stack:
            # Playwright's sync API runs an event loop in this thread; the ORM calls here are
            # still plain synchronous code (set after the stack started: not for its processes).
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                    args=[*CHROMIUM_ARGS, AUTOPLAY],
                )
                try:
                    for mode in ("default", "low") if args.mode == "both" else (args.mode,):
                        runs.append(
                            measure(
                                stack,
                                browser,
                                owner,
                                mode=mode,
                                seconds=args.seconds,
                                dvr=args.dvr == "on",
                                max_height=args.max_height,
                            )
                        )
                finally:
                    browser.close()
                    # While Playwright's loop runs, Django keys its connections by that
                    # async context: close them here, or they outlive the database.
                    connections.close_all()
    finally:
        connections.close_all()
        subprocess.run([*admin, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)"], env=pg_env, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        redis.Redis.from_url(REDIS).flushdb()
    report(runs, args, (load_before, os.getloadavg()[0]))
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
