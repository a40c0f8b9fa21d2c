#!/usr/bin/env python
"""Transcoder figures on this machine: ladder speed, time to first playable, latency.

1. Speed: the real ladder command (streams.transcoding) on a recorded 720p30 clip, as fast
   as it goes: media seconds per wall second (target >= 1.5x for 720p/480p/360p).
2. Live: a bare nginx-rtmp, a real-time 720p30 test-pattern publish, the same FFmpeg pulling
   it and the HLS publisher copying output to storage as in production. Reports the time from
   the publish to the first playable ladder (master + every variant with a segment; target
   <= 6 s) and, per 720p segment, the wall clock when viewers could fetch it minus its
   EXT-X-PROGRAM-DATE-TIME, p50/p95; plus the glass-to-glass latency of a player holding
   back `liveSyncDurationCount` segments behind the live edge (target p95 <= 8 s at 2-s
   segments, <= 5 s with 1-s segments). Ingest (OBS's encoder and the RTMP hop) comes on top.

    .venv/bin/python bench/transcode.py [--seconds 40] [--low-latency] [--skip-speed]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialflow.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ENV_FILE", "/nonexistent")

import django  # noqa: E402

django.setup()

from django.core.files.storage import FileSystemStorage  # noqa: E402

from socialflow.lib import ffmpeg as ff  # noqa: E402
from streams.hls_publisher import HlsPublisher  # noqa: E402
from streams.transcoding import HlsOptions, Source, build_transcode_command  # noqa: E402

PLAYER_HOLDBACK_SEGMENTS = 3  # static/js/player.js: liveSyncDurationCount
SOURCE = Source(1280, 720, 30)
PATTERN = [
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=1280x720:rate=30",
    "-f",
    "lavfi",
    "-i",
    "sine=sample_rate=48000",
]
SOURCE_ENCODE = [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-g",
    "60",
    "-b:v",
    "3000k",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def speed_test(tmp: Path, seconds: int, options: HlsOptions) -> None:
    clip = tmp / "clip.flv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *PATTERN, "-t", str(seconds), *SOURCE_ENCODE, "-f", "flv", str(clip)],
        check=True,
    )
    out = tmp / "speed"
    (out / "recording").mkdir(parents=True)
    argv = build_transcode_command(input_url=str(clip), out_dir=out, source=SOURCE, options=options)
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    rungs = sorted(p.name for p in out.iterdir() if p.is_dir() and p.name != "recording")
    print(
        f"speed: {seconds} s of 720p30 through the {'/'.join(rungs)} ladder (+ thumbnail, + source copy), "
        f"preset {options.preset}: {wall:.1f} s wall = {seconds / wall:.2f}x real time   (target >= 1.5x)"
    )


def live_test(tmp: Path, seconds: int, options: HlsOptions) -> None:
    rtmp_port = free_port()
    prefix = tmp / "nginx"
    (prefix / "logs").mkdir(parents=True)
    (prefix / "nginx.conf").write_text(f"""
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off; worker_processes 1; pid {prefix}/nginx.pid; error_log {prefix}/logs/error.log warn;
events {{}}
rtmp {{ server {{ listen 127.0.0.1:{rtmp_port};
  application live {{ live on; record off; idle_streams off; }} }} }}
""")
    nginx = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf")])
    time.sleep(0.5)
    url = f"rtmp://127.0.0.1:{rtmp_port}/live/bench"
    work = tmp / "live"
    media = tmp / "media"
    t0 = time.time()
    publisher = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", *PATTERN, "-t", str(seconds), *SOURCE_ENCODE, "-f", "flv", url]
    )
    time.sleep(0.3)  # what the on_publish hook and the task queue take, roughly
    (work / "recording").mkdir(parents=True)
    argv = build_transcode_command(input_url=url, out_dir=work, source=SOURCE, options=options)
    transcoder = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(transcoder.stdout.readline, "")), daemon=True).start()
    storage = FileSystemStorage(location=str(media), base_url="/media/", allow_overwrite=True)
    hls = HlsPublisher(work_dir=work, prefix="live/bench/token", storage=storage)
    first_playable = None
    seen: dict[str, float] = {}
    speeds: list[float] = []
    progress = ff.Progress()
    try:
        while publisher.poll() is None or transcoder.poll() is None:
            hls.sync()
            now = time.time()
            published = media / "live/bench/token"
            variants = [p for p in published.glob("*/index.m3u8") if p.parent.name != "recording"]
            if first_playable is None and (published / "master.m3u8").exists() and variants:
                first_playable = now - t0
            top = published / f"{'720p'}/index.m3u8"
            if top.exists():
                pdt = None
                for line in top.read_text().splitlines():
                    if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
                        pdt = datetime.fromisoformat(
                            line.split(":", 1)[1].replace("+0000", "+00:00")
                        ).timestamp()
                    elif line and not line.startswith("#") and line not in seen and pdt is not None:
                        seen[line] = now - pdt
            while lines:
                block = progress.feed(lines.pop(0))
                if block and (speed := ff.number(block.get("speed"))) and now - t0 > 8:
                    speeds.append(speed)
            if publisher.poll() is not None and transcoder.poll() is None and now - t0 > seconds + 12:
                ff.stop(transcoder)
            time.sleep(0.05)
    finally:
        for proc in (publisher, transcoder):
            if proc.poll() is None:
                proc.kill()
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(10)
    latencies = list(seen.values())[1:]  # the first segment includes the start-up
    seg = options.segment_seconds
    print(f"live ({seg}-s segments, {seconds} s publish):")
    print(f"  first playable ladder {first_playable:.1f} s after the publish began   (target <= 6 s)")
    print(
        f"  segment available - its program-date-time over {len(latencies)} segments: "
        f"p50 {pct(latencies, 50):.2f} s  p95 {pct(latencies, 95):.2f} s  max {max(latencies):.2f} s"
    )
    # FFmpeg 5.1 stamps a segment's PROGRAM-DATE-TIME about when it closes it, so the
    # difference above is how long after its newest frame a segment is fetchable; a player
    # plays `liveSyncDurationCount` segments behind that edge.
    hold = PLAYER_HOLDBACK_SEGMENTS * seg
    target = 5 if seg == 1 else 8
    print(
        f"  glass-to-glass at a player holding back {PLAYER_HOLDBACK_SEGMENTS} segments (+{hold} s): "
        f"p50 {pct(latencies, 50) + hold:.2f} s  p95 {pct(latencies, 95) + hold:.2f} s"
        f"   (target p95 <= {target} s)"
    )
    if speeds:
        print(
            f"  transcoder speed while live: mean {statistics.fmean(speeds):.2f}x"
            " (paced by the real-time source)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40)
    parser.add_argument("--low-latency", action="store_true", help="1-second segments")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    options = HlsOptions(segment_seconds=1 if args.low_latency else 2, ladder=HlsOptions().ladder)
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        if not args.skip_speed:
            speed_test(Path(tmp), 30, options)
        live_test(Path(tmp), args.seconds, options)


if __name__ == "__main__":
    main()
