#!/usr/bin/env python
"""Transcode capacity on this machine: K broadcasts at once through the whole stack, each
beside a plain FFmpeg ladder from the same run.

SocialFlow: K pre-encoded clips (H.264 at an OBS-like bitrate, a keyframe every 2 s, AAC),
published at once with `-re -c copy` (publishing costs almost nothing, as when OBS encodes
on another machine) to nginx-rtmp, whose hooks reach Django (Daphne); a Celery transcode
worker started as `make run` starts it (deploy/supervisord.conf) (a thread pool, its CPU budget and cost model
measured at start, default settings) runs FFmpeg; the HLS publisher copies into storage;
Django serves the playlists. Per broadcast:
  - the ladder it ended with (and how it got there: the ladder events),
  - first playable: from the publish to the master playlist answering 200 (as the player asks),
  - playlist advance: media seconds of the segments that appeared in the top variant's
    playlist, per wall-clock second between their appearances, over the measured window
    (1.00 = real time; below it viewers buffer); the first segment of each FFmpeg that
    takes over (make-before-break: it may repeat the last one) is left out,
  - CPU seconds per second of its FFmpeg processes over the same window.

Baseline, in the same run, after the broadcasts ended: the same K clips, each read with `-re`
by a plain FFmpeg 3-rung ladder (split, every rung scaled from the source, libx264
veryfast at the same bitrates, AAC encoded per rung, HLS into a folder): what a tutorial
writes. Measured the same way (first playable: the master and every variant with a
segment; advance from its top playlist; CPU of its process). Ratio: SocialFlow / plain.

A Redis of its own (a throwaway redis-server on a free port), a PostgreSQL database of its
own (socialflow_bench_capacity, dropped at the end) and a temporary folder; clips are kept
in /tmp/socialflow-bench-clips between runs (encoding one costs a minute here).

    .venv/bin/python bench/capacity.py [--clip 720p|1080p] [--broadcasts K] [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from socialflow.tests.processes import RedisServer  # noqa: E402  (no Django needed yet)

DB_NAME = "socialflow_bench_capacity"
TMP = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
(TMP / "static").mkdir()  # whitenoise (DEBUG off) wants the folder
CLIPS = Path("/tmp/socialflow-bench-clips")
REDIS = RedisServer(TMP)
REDIS.start()
HOOK_SECRET = secrets.token_urlsafe(24)
ENV = {
    "DJANGO_SETTINGS_MODULE": "socialflow.settings",  # the defaults, not the tests'
    "ENV_FILE": "/nonexistent",
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
    "REDIS_URL": REDIS.url,
    "CACHE_URL": REDIS.url,
    "CHANNEL_LAYER_URL": REDIS.url,
    "CELERY_BROKER_URL": REDIS.url,
    "CELERY_RESULT_BACKEND": REDIS.url,
    "MEDIA_ROOT": str(TMP / "media"),
    "TRANSCODE_WORK_DIR": str(TMP / "work"),
    "STATIC_ROOT": str(TMP / "static"),
    "MEDIA_HOOK_SECRET": HOOK_SECRET,
    "GO_LIVE_MIN_FOLLOWERS": "0",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)  # local storage, in MEDIA_ROOT
ADMIN = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c"]
PG_ENV = {**os.environ, "PGPASSWORD": "socialflow"}
subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True, env=PG_ENV)
subprocess.run([*ADMIN, f"CREATE DATABASE {DB_NAME}"], check=True, env=PG_ENV)

import django  # noqa: E402

django.setup()

import m3u8  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, connections  # noqa: E402

from accounts.models import User  # noqa: E402
from socialflow.tests import processes  # noqa: E402
from streams import capacity  # noqa: E402
from streams import services as stream_services  # noqa: E402
from streams.models import Stream, StreamEvent  # noqa: E402
from streams.transcoding import DEFAULT_LADDER  # noqa: E402

CLIP_KINDS = {  # size, OBS-like video bitrate (kbps)
    "720p": ((1280, 720), 4500),
    "1080p": ((1920, 1080), 6000),
}
FPS = 30
WARMUP = 6.0  # seconds after first playable before the window opens (probe, first burst)
TICK = os.sysconf("SC_CLK_TCK")


def clip_for(kind: str, seconds: int) -> Path:
    """The pre-encoded clip (kept between runs)."""
    (width, height), kbps = CLIP_KINDS[kind]
    path = CLIPS / f"{kind}{FPS}-{kbps}k-{seconds}s.flv"
    if path.exists():
        return path
    CLIPS.mkdir(exist_ok=True)
    print(f"encoding a {seconds}-s {kind}{FPS} clip (once; kept in {CLIPS}) ...", flush=True)
    partial = path.with_suffix(".part.flv")
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"),
            *("-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS), "-keyint_min", str(2 * FPS)),
            *("-sc_threshold", "0", "-b:v", f"{kbps}k", "-maxrate", f"{kbps}k", "-bufsize", f"{2 * kbps}k"),
            *("-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "160k", "-f", "flv", str(partial)),
        ],
        check=True,
    )
    partial.rename(path)
    return path


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (OSError, http.client.HTTPException):  # a playlist replaced while it was read
        return 0, ""


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


def children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


# A segment's FFmpeg run, from its name (streams.transcoding: seg_<run>_<n>.ts).
RUN_OF_SEGMENT = re.compile(r"seg_(\d+)_\d+\.ts")


@dataclass
class Advance:
    """Segments of a live playlist as they appear, by their first sighting."""

    # uri -> (when, duration, the FFmpeg run that made it)
    seen: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    switches: int = 0  # new runs that appeared in the last measured window

    def feed(self, text: str, now: float) -> None:
        for segment in m3u8.loads(text).segments:
            run = RUN_OF_SEGMENT.search(segment.uri or "")
            self.seen.setdefault(segment.uri, (now, segment.duration or 0.0, run.group(1) if run else ""))

    def rate(self, start: float, end: float) -> float | None:
        """Media seconds per wall second between the first and last segment that appeared
        within [start, end] (the first one's own duration is before the measured span).

        A ladder change is make-before-break: the new run's first segment may repeat up to
        a segment of what the old run published last. It is not counted, so the figure is a
        lower bound of how much new media reached viewers (a repeat counted would put the
        advance above 1.00)."""
        inside = sorted(entry for entry in self.seen.values() if start <= entry[0] <= end)
        if len(inside) < 3:
            return None
        span = inside[-1][0] - inside[0][0]
        known = {run for when, _, run in self.seen.values() if when <= inside[0][0]}
        media, self.switches = 0.0, 0
        for _, duration, run in inside[1:]:
            if run not in known:
                known.add(run)
                self.switches += 1
                continue
            media += duration
        return media / span if span > 0 else None


class CpuMeter:
    """CPU seconds of a key's processes (a broadcast's FFmpegs) between `mark(key)` and
    `seconds(key)`: sampled every second, so that a process which starts and ends in
    between counts too (from its start)."""

    def __init__(self, find) -> None:
        self.find = find  # () -> {pid: key}
        self.base: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.marked: dict[str, set[int]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        for pid, key in self.find().items():
            ticks = cpu_ticks(pid)
            if ticks is None:
                continue
            with self.lock:
                if key in self.marked and pid not in self.marked[key]:
                    self.marked[key].add(pid)
                    self.base[pid] = 0  # started after the mark: all of it counts
                self.last[pid] = ticks

    def _run(self) -> None:
        while not self.stopped.wait(1.0):
            self._sample()

    def mark(self, key: str) -> None:
        current = {pid: cpu_ticks(pid) for pid, k in self.find().items() if k == key}
        with self.lock:
            self.marked[key] = {pid for pid, ticks in current.items() if ticks is not None}
            for pid in self.marked[key]:
                self.base[pid] = self.last[pid] = current[pid] or 0

    def seconds(self, key: str) -> float:
        self._sample()
        with self.lock:
            return sum(self.last[pid] - self.base[pid] for pid in self.marked[key]) / TICK

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(3)


@dataclass
class Result:
    name: str
    ladder: str = "?"
    first_playable: float | None = None
    advance: float | None = None
    cpu: float | None = None
    notes: list[str] = field(default_factory=list)


def publish(url: str, clip: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(clip)),
            *("-c", "copy", "-f", "flv", url),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ladder_text(details: dict) -> str:
    copied = set(details.get("copied", []))
    presets = details.get("presets", {})
    return " ".join(
        f"{name}(copied)" if name in copied else f"{name}({presets.get(name, '?')})"
        for name in details["rungs"]
    )


# --- SocialFlow ------------------------------------------------------------------------------


def run_socialflow(clip: Path, count: int, seconds: int) -> tuple[list[Result], str]:
    with ExitStack() as stack:
        web = stack.enter_context(processes.web_server(TMP, **ENV))
        media = stack.enter_context(processes.nginx_rtmp(TMP / "nginx", web_url=web, secret=HOOK_SECRET))
        env = {**ENV, "MEDIA_SERVER_API_URL": media["api_url"], "RTMP_PULL_URL": media["rtmp_url"]}
        stack.enter_context(processes.celery_worker(TMP, queues="default", **env))
        transcode = stack.enter_context(
            processes.celery_worker(
                TMP,
                queues="transcode",
                pool=("--pool", "threads", "--concurrency", "16", "--prefetch-multiplier", "1"),
                **env,
            )
        )
        model = wait_for_the_cost_model()
        owners = [
            User.objects.create_user(
                f"bench{n}", f"bench{n}@example.com", "x-bench-pass-1", go_live_exempt=True
            )
            for n in range(count)
        ]
        channels = [stream_services.channel_get_or_create(user=owner) for owner in owners]

        def ffmpegs() -> dict[int, str]:
            found = {}
            for pid in children(transcode.pid):
                line = cmdline(pid)
                if "ffmpeg" in line.split(" ", 1)[0]:
                    # It runs in <TRANSCODE_WORK_DIR>/<stream id>/run<n> (the sandbox).
                    try:
                        work = Path(os.readlink(f"/proc/{pid}/cwd"))
                    except OSError:
                        continue
                    if work.parent.parent == TMP / "work":
                        found[pid] = work.parent.name
            return found

        meter = CpuMeter(ffmpegs)
        platform = {
            "transcode worker (Python)": [transcode.pid],
            "web (Daphne)": [web_pid(web)],
            "media server (nginx-rtmp)": nginx_pids(TMP / "nginx"),
        }
        platform_before = {name: sum(cpu_ticks(p) or 0 for p in pids) for name, pids in platform.items()}
        busy_before, platform_started = machine_busy(), time.monotonic()
        results = [Result(f"#{n + 1}") for n in range(count)]
        barrier = threading.Barrier(count)

        def broadcast(n: int) -> None:
            result = results[n]
            barrier.wait()
            started = time.monotonic()
            publisher = publish(f"{media['rtmp_url']}/{channels[n].stream_key}", clip)
            try:
                deadline = started + 30
                stream = None
                while stream is None and time.monotonic() < deadline:
                    stream = Stream.objects.live().filter(channel=channels[n]).first()
                    time.sleep(0.05)
                if stream is None:
                    result.notes.append("never went live")
                    return
                result.name = f"#{n + 1} {stream.pk[:8]}"
                advance = Advance()
                while time.monotonic() < deadline:
                    status, text = get(f"{web}/streams/{stream.pk}/live.m3u8")
                    if status == 200:
                        result.first_playable = time.monotonic() - started
                        break
                    time.sleep(0.05)
                else:
                    result.notes.append("no master playlist within 30 s")
                    return
                start = time.monotonic() + WARMUP
                end, marked = start + seconds, False
                while time.monotonic() < end and publisher.poll() is None:
                    if not marked and time.monotonic() >= start:
                        meter.mark(stream.pk)
                        marked = True
                    status, text = get(f"{web}/streams/{stream.pk}/live.m3u8")
                    if status == 200:
                        top = max(m3u8.loads(text).playlists, key=lambda p: p.stream_info.bandwidth)
                        status, variant = get(top.uri)
                        if status == 200:
                            advance.feed(variant, time.monotonic())
                    time.sleep(0.25)
                result.advance = advance.rate(start, end)
                if advance.switches:
                    result.notes.append(
                        f"{advance.switches} FFmpeg switch(es) in the window: each new run's first "
                        "segment (a possible repeat) left out of the advance"
                    )
                result.cpu = meter.seconds(stream.pk) / (time.monotonic() - start) if marked else None
                events = StreamEvent.objects.filter(stream=stream, details__has_key="ladder").order_by(
                    "created_at"
                )
                ladders = [ladder_text(e.details["ladder"]) for e in events]
                result.ladder = ladders[-1] if ladders else "?"
                if len(ladders) > 1:
                    result.notes.append("ladders: " + " → ".join(ladders))
                for event in StreamEvent.objects.filter(stream=stream, severity="warning").order_by(
                    "created_at"
                ):
                    at = (event.created_at - stream.started_at).total_seconds()
                    error = (event.details or {}).get("error")
                    result.notes.append(f"{at:5.1f} s {event.message}" + (f" ({error})" if error else ""))
            finally:
                publisher.kill()
                publisher.wait()
                close_old_connections()

        threads = [threading.Thread(target=broadcast, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        meter.stop()
        took = time.monotonic() - platform_started
        overhead = {
            name: (sum(cpu_ticks(p) or 0 for p in pids) - platform_before[name]) / TICK / took
            for name, pids in platform.items()
        }
        overhead["the whole machine (busy cores)"] = (machine_busy() - busy_before) / TICK / took
        model += "\n  meanwhile, cores used by " + ", ".join(f"{k} {v:.2f}" for k, v in overhead.items())
        deadline = time.monotonic() + 30  # the broadcasts end; their transcoders stop
        while Stream.objects.live().exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        return results, f"{model}; {learned_scale()}"


def machine_busy() -> int:
    """Busy ticks of the whole machine (all cores) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]


def web_pid(url: str) -> int:
    """The Daphne serving `url` (socialflow.web's child): by its listening port's owner."""
    port = url.rsplit(":", 1)[1]
    out = subprocess.run(["ss", "-ltnp", f"sport = :{port}"], capture_output=True, text=True).stdout
    pids = [int(x.split("=")[1]) for x in out.replace(")", ",").split(",") if x.startswith("pid=")]
    return pids[-1] if pids else os.getpid()


def nginx_pids(prefix: Path) -> list[int]:
    pid_file = prefix / "nginx.pid"
    master = int(pid_file.read_text()) if pid_file.exists() else 0
    return [master, *children(master)] if master else []


def wait_for_the_cost_model() -> str:
    """The transcode worker measures its machine at start (~10 s here): wait, so that the
    measurement is not part of the broadcasts' CPU."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        keys = capacity._redis().keys("streams:cost-model:*")
        if keys:
            worker = keys[0].decode().split(":", 2)[2]
            model = capacity.cost_model(worker)
            return f"{model.measured}; budget {capacity.budget():g} cores"
        time.sleep(0.5)
    return "the defaults (the worker's measurement did not finish within 120 s)"


def learned_scale() -> str:
    """What the worker learned from its live FFmpegs (capacity.learn): their real cost
    against the measured model's prices."""
    keys = capacity._redis().keys("streams:cost-scale:*")
    if not keys:
        return "nothing learned from the live FFmpegs"
    return f"live FFmpegs cost {float(capacity._redis().get(keys[0])):.2f}x the measured prices at the end"


# --- The plain FFmpeg ladder -----------------------------------------------------------------


def plain_rungs(height: int):
    return [r for r in DEFAULT_LADDER if r.height <= height][:3]


def plain_ladder_command(clip: Path, out: Path, height: int) -> list[str]:
    rungs = plain_rungs(height)
    split = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs)))
    scales = ";".join(f"[s{i}]scale=-2:{r.height}[v{i}]" for i, r in enumerate(rungs))
    args = [
        *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-i", str(clip)),
        *("-filter_complex", f"{split};{scales}"),
    ]
    for i, rung in enumerate(rungs):
        args += ["-map", f"[v{i}]", "-map", "0:a"]
        args += [f"-b:v:{i}", f"{rung.video_kbps}k", f"-maxrate:v:{i}", f"{rung.video_kbps}k"]
        args += [f"-bufsize:v:{i}", f"{2 * rung.video_kbps}k", f"-b:a:{i}", f"{rung.audio_kbps}k"]
    args += [
        *("-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FPS), "-keyint_min", str(2 * FPS)),
        *("-sc_threshold", "0", "-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "6"),
        *("-hls_flags", "delete_segments+independent_segments", "-master_pl_name", "master.m3u8"),
        *("-var_stream_map", " ".join(f"v:{i},a:{i}" for i in range(len(rungs)))),
        *("-hls_segment_filename", str(out / "%v" / "seg_%d.ts"), str(out / "%v" / "index.m3u8")),
    ]
    return args


def run_plain(clip: Path, count: int, seconds: int, height: int) -> list[Result]:
    outs = [TMP / f"plain{n}" for n in range(count)]
    procs: dict[int, str] = {}
    meter = CpuMeter(lambda: {pid: key for pid, key in procs.items()})
    results = [Result(f"#{n + 1}") for n in range(count)]
    names = "/".join(r.name for r in plain_rungs(height))
    barrier = threading.Barrier(count)

    def ladder(n: int) -> None:
        result, out = results[n], outs[n]
        result.ladder = f"{names} (veryfast, split+scale from the source, AAC per rung)"
        for i in range(len(plain_rungs(height))):
            (out / str(i)).mkdir(parents=True)
        barrier.wait()
        started = time.monotonic()
        proc = subprocess.Popen(plain_ladder_command(clip, out, height), stdout=subprocess.DEVNULL)
        procs[proc.pid] = str(n)
        try:
            variants = [out / str(i) / "index.m3u8" for i in range(len(plain_rungs(height)))]
            deadline = started + 30
            while time.monotonic() < deadline:
                if (out / "master.m3u8").exists() and all(
                    v.exists() and m3u8.loads(v.read_text()).segments for v in variants
                ):
                    result.first_playable = time.monotonic() - started
                    break
                time.sleep(0.05)
            else:
                result.notes.append("no playable ladder within 30 s")
                return
            advance = Advance()
            start = time.monotonic() + WARMUP
            end, marked = start + seconds, False
            while time.monotonic() < end and proc.poll() is None:
                if not marked and time.monotonic() >= start:
                    meter.mark(str(n))
                    marked = True
                with suppress(OSError):
                    advance.feed(variants[0].read_text(), time.monotonic())
                time.sleep(0.25)
            result.advance = advance.rate(start, end)
            result.cpu = meter.seconds(str(n)) / (time.monotonic() - start) if marked else None
        finally:
            proc.kill()
            proc.wait()

    threads = [threading.Thread(target=ladder, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    meter.stop()
    return results


# --- Report ------------------------------------------------------------------------------


def table(title: str, results: list[Result]) -> None:
    print(title)
    print(f"  {'broadcast':<14} {'first playable':>14} {'advance':>8} {'CPU s/s':>8}  ladder")
    for r in results:
        playable = f"{r.first_playable:.1f} s" if r.first_playable is not None else "-"
        advance = f"{r.advance:.3f}" if r.advance is not None else "-"
        cpu = f"{r.cpu:.2f}" if r.cpu is not None else "-"
        print(f"  {r.name:<14} {playable:>14} {advance:>8} {cpu:>8}  {r.ladder}")
        for note in r.notes:
            print(f"  {'':<14} {note}")


def summary(results: list[Result]) -> dict[str, float | None]:
    def values(name: str) -> list[float]:
        return [getattr(r, name) for r in results if getattr(r, name) is not None]

    playable, advance, cpu = values("first_playable"), values("advance"), values("cpu")
    return {
        "worst first playable": max(playable) if playable else None,
        "slowest advance": min(advance) if advance else None,
        "median advance": statistics.median(advance) if advance else None,
        "CPU s/s in all": sum(cpu) if cpu else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", choices=sorted(CLIP_KINDS), default="720p")
    parser.add_argument("--broadcasts", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=60, help="the measured window per broadcast")
    parser.add_argument("--skip-plain", action="store_true", help="no baseline")
    args = parser.parse_args()
    began = time.perf_counter()
    (_, height), kbps = CLIP_KINDS[args.clip]
    try:
        clip = clip_for(args.clip, args.seconds + 30)
        call_command("migrate", verbosity=0)
        load = os.getloadavg()[0]
        print(
            f"{args.broadcasts} x {args.clip}{FPS} (H.264 {kbps} kbps + AAC, published with -re -c copy), "
            f"a {args.seconds}-s window each; {os.cpu_count()} cores, load {load:.2f} before the run"
        )
        ours, model = run_socialflow(clip, args.broadcasts, args.seconds)
        table(f"SocialFlow (nginx-rtmp, hooks, Celery, FFmpeg, storage, Django); cost model {model}:", ours)
        if args.skip_plain:
            return
        plain = run_plain(clip, args.broadcasts, args.seconds, height)
        table("Plain FFmpeg ladder, the same clips read with -re:", plain)
        a, b = summary(ours), summary(plain)
        print("Side by side (SocialFlow / plain):")
        for name in a:
            x, y = a[name], b[name]
            ratio = f"{x / y:.2f}x" if x is not None and y else "-"
            print(
                f"  {name:<22} {x if x is None else round(x, 3)!s:>8} vs "
                f"{y if y is None else round(y, 3)!s:>8}  ratio {ratio}"
            )
    finally:
        connections.close_all()
        subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], env=PG_ENV, check=False)
        REDIS.kill()
        shutil.rmtree(TMP, ignore_errors=True)
    print(f"({time.perf_counter() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
