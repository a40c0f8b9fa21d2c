#!/usr/bin/env python
"""DVR, recordings and clips on this machine, each beside a plain baseline from the same run:

1. Storage per broadcast hour: the real ladder command (streams.transcoding, 720p30 source,
   recording on) over a pre-encoded 720p30 clip at an OBS-like 4.5 Mbps, fed as a file;
   bytes per output folder (each rung, the source copy) and the MP4 remux, per hour.
   Option A (what the code does): keep the ladder's segments + the source copy + the MP4.
   Option B: keep the source copy + the MP4, and transcode a VOD ladder later.
2. Finalize a one-hour recording: 1800 segments per rendition (the source copy and the
   three rungs; hard links to the real segments of 1), indexed as the transcoder does,
   the broadcast ended, then dvr.services.recording_finalize; against bare FFmpeg (concat
   demuxer, stream copy, +faststart) making an MP4 of the same 1800 source segments.
3. Playlist bytes per refresh at a two-hour window: a live broadcast with DVR on (the site's
   default window, 7200 s) and 3600 indexed 2-second segments of one rung; its DVR variant
   through Django's test client: the full playlist (first load, plain and gzipped) and the
   delta refresh hls.js asks for (`_HLS_skip=YES`), against a naive server sending the full
   playlist on every refresh. Median render time over 50 requests each.
4. Clip creation: dvr.clips.clip_create + clip_make for 20 s and 60 s of the one-hour
   recording (median of 3 each), against bare FFmpeg cutting the same segments.

Where finalize and clip time goes (FFmpeg, ffprobe, the copy to storage, the rest) is
measured by wrapping the helpers dvr.services and dvr.clips call, in this process only.

It uses a PostgreSQL database of its own (socialflow_bench_dvr, dropped at the end), Redis
DB 11 (refused if it holds keys; flushed at the end) and temporary folders (MEDIA_ROOT,
TRANSCODE_WORK_DIR; about 5 GB at the peak, removed at the end).

    .venv/bin/python bench/dvr.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "socialflow_bench_dvr"
# Taken elsewhere: 0 and 1 (development), 10 (bench/hooks.py) and the test suite's slots
# (socialflow/settings_test.py: 14/12/13, 9/8/7, 6/5/4, 3/2/1). 11 is nobody's.
REDIS_DB = 11
REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"
HOST = "live.socialflow.example"  # playlists carry absolute URLs: a realistic host name
if redis.Redis.from_url(REDIS).dbsize():
    raise SystemExit(f"Redis DB {REDIS_DB} holds keys: someone else uses it (or a run was killed).")
TMP = Path(tempfile.mkdtemp(prefix="bench-dvr-"))
(TMP / "static").mkdir()  # whitenoise (DEBUG off) wants the folder
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "socialflow.settings",
        "ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": f"testserver,{HOST}",
        "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS,
        "CACHE_URL": REDIS,
        "CHANNEL_LAYER_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "MEDIA_ROOT": str(TMP / "media"),
        "TRANSCODE_WORK_DIR": str(TMP / "work"),
        "STATIC_ROOT": str(TMP / "static"),
        "GO_LIVE_MIN_FOLLOWERS": "0",
        "LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)  # local storage, in MEDIA_ROOT
ADMIN = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c"]
PG_ENV = {**os.environ, "PGPASSWORD": "socialflow"}
subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True, env=PG_ENV)
subprocess.run([*ADMIN, f"CREATE DATABASE {DB_NAME}"], check=True, env=PG_ENV)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from dvr import clips, services  # noqa: E402
from dvr.models import Recording  # noqa: E402
from socialflow.lib import ffmpeg  # noqa: E402
from streams import services as stream_services  # noqa: E402
from streams.models import MediaSegment, Stream  # noqa: E402
from streams.transcoding import HlsOptions, Source, build_transcode_command  # noqa: E402

HOUR = 3600
SEGMENT = 2.0
SOURCE = Source(1280, 720, 30)
SOURCE_CLIP = [  # what OBS sends: x264 at 4.5 Mbps, a keyframe every 2 s, AAC 160 kbps
    *("-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000"),
    *("-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0"),
    *("-b:v", "4500k", "-maxrate", "4500k", "-bufsize", "9000k", "-c:a", "aac", "-b:a", "160k"),
]
REPEATS = 50  # playlist renders per kind
CLIP_REPEATS = 3


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    return statistics.median(timed(fn)[0] for _ in range(repeats))


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


class Phases:
    """Seconds spent in the helpers dvr.services and dvr.clips call (FFmpeg, ffprobe, the
    copy into storage, the missing-segment check), by wrapping them in this process."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._wrap("run_ffmpeg", lambda args: "ffmpeg concat" if "concat" in args else "ffmpeg thumbnail")
        self._wrap("probe_duration", lambda *_: "ffprobe")
        self._wrap("upload", lambda *_: "copy to storage")
        self._wrap("_missing", lambda *_: "missing check")

    def _wrap(self, name: str, label: Callable[..., str]) -> None:
        original = getattr(services, name)

        def wrapper(*args: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args)
            finally:
                self.seconds[label(*args)] += time.perf_counter() - started

        for module in (services, clips):
            if hasattr(module, name):
                setattr(module, name, wrapper)

    def measure(self, fn: Callable[..., Any], **kwargs: Any) -> tuple[float, Any, dict[str, float]]:
        self.seconds.clear()
        took, result = timed(fn, **kwargs)
        spent = dict(self.seconds)
        spent["the rest (index, playlists, database)"] = took - sum(spent.values())
        return took, result, spent


def breakdown(spent: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in spent.items())


def concat_mp4(files: list[Path], out: Path, *before_input: str, after_input: tuple[str, ...] = ()) -> None:
    """Bare FFmpeg: concat demuxer, stream copy, +faststart."""
    listing = out.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in files))
    ffmpeg.run(
        [
            *("-f", "concat", "-safe", "0", *before_input, "-i", str(listing), *after_input),
            *("-c", "copy", "-movflags", "+faststart", str(out)),
        ],
        workdir=TMP,  # FFmpeg's own folder (the sandbox, as the platform runs it)
    )


def segment_number(path: Path) -> int:
    return int(path.stem.rsplit("_", 1)[1])


# --- 1. Storage per broadcast hour ----------------------------------------------------------


def storage_per_hour(seconds: int) -> Path:
    """The real ladder command over `seconds` of 720p30 at 4.5 Mbps; GB per broadcast hour."""
    clip = TMP / "source.flv"
    ffmpeg.run([*SOURCE_CLIP[:8], "-t", str(seconds), *SOURCE_CLIP[8:], "-f", "flv", str(clip)], workdir=TMP)
    out = TMP / "ladder"
    (out / "recording").mkdir(parents=True)
    # list_size=0: every segment stays in the work folder (the live publisher copies each one
    # to storage before FFmpeg deletes it; the bytes are the same).
    options = HlsOptions(list_size=0, record_source=True)
    argv = build_transcode_command(input_url=str(clip), out_dir=out, source=SOURCE, options=options)
    took, result = timed(subprocess.run, argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(result.stderr[-2000:])
    per_hour = {
        folder.name: sum(f.stat().st_size for f in folder.glob("*.ts")) * HOUR / seconds
        for folder in sorted(out.iterdir(), key=lambda p: (p.name == "recording", -len(p.name), p.name))
        if folder.is_dir()
    }
    recording = sorted((out / "recording").glob("*.ts"), key=segment_number)
    concat_mp4(recording, TMP / "storage.mp4")
    mp4 = (TMP / "storage.mp4").stat().st_size * HOUR / seconds
    ladder = sum(v for k, v in per_hour.items() if k != "recording")
    source = per_hour["recording"]
    print(
        f"1. storage per broadcast hour: {seconds} s of 720p30 at 4.5 Mbps through the real ladder"
        f" command ({took:.1f} s wall, {seconds / took:.2f}x real time), scaled to an hour:"
    )
    for name, size in per_hour.items():
        label = "source copy (recording/)" if name == "recording" else f"{name} rung"
        print(f"   {label:<25} {gb(size)}/h  ({size * 8 / HOUR / 1e6:.2f} Mbit/s)")
    print(f"   {'MP4 remux of the source':<25} {gb(mp4)}/h  ({mp4 * 8 / HOUR / 1e6:.2f} Mbit/s)")
    print(f"   option A (what the code does: ladder + source copy + MP4): {gb(ladder + source + mp4)}/h")
    print(
        f"   option B (source copy + MP4 now, the VOD ladder later): {gb(source + mp4)}/h now,"
        f" {gb(ladder + source + mp4)}/h once the ladder is made"
        f"   (A / B now: {(ladder + source + mp4) / (source + mp4):.2f}x)"
    )
    return out


# --- Broadcasts with indexed segments ----------------------------------------------------------


def segment_name(stream: Stream, rendition: str, run: int, n: int) -> str:
    """As the transcoder names them: seg_<run: epoch ms>_<number from the epoch>.ts."""
    return f"{stream.media_prefix}/{rendition}/seg_{run}_{run // 1000 + n}.ts"


def live_stream(user: User, title: str, started: Any) -> Stream:
    stream = stream_services.stream_create(owner=user, title=title)
    Stream.objects.filter(pk=stream.pk).update(
        status=Stream.Status.LIVE, started_at=started, hls_ready_at=started
    )
    stream.refresh_from_db()
    return stream


def make_recording(user: User, ladder: Path, segments: int) -> Stream:
    """A live broadcast with `segments` 2-second segments of every rendition of `ladder` in
    storage (hard links to its whole segments, cycled) and the index; recording on."""
    started = timezone.now() - timedelta(seconds=segments * SEGMENT)
    stream = live_stream(user, "One hour", started)
    services.recording_start(stream=stream)
    run = int(started.timestamp() * 1000)
    root = Path(settings.MEDIA_ROOT)
    for folder in sorted(p for p in ladder.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.ts"), key=segment_number)[:-1]  # the last may be short
        rows = []
        for n in range(segments):
            source = files[n % len(files)]
            name = segment_name(stream, folder.name, run, n)
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            os.link(source, root / name)
            rows.append(
                MediaSegment(
                    stream=stream,
                    rendition=folder.name,
                    position=n,
                    run=run,
                    started_at=started + timedelta(seconds=n * SEGMENT),
                    duration=SEGMENT,
                    name=name,
                    size_bytes=source.stat().st_size,
                )
            )
        MediaSegment.objects.bulk_create(rows, batch_size=2000)
    (root / stream.media_prefix / "master.m3u8").write_text((ladder / "master.m3u8").read_text())
    return stream


# --- 2. Finalize a one-hour recording --------------------------------------------------------


def finalize_hour(user: User, ladder: Path, phases: Phases) -> Recording:
    segments = HOUR // int(SEGMENT)
    stream = make_recording(user, ladder, segments)
    Stream.objects.filter(pk=stream.pk).update(
        status=Stream.Status.ENDED, ended_at=stream.started_at + timedelta(seconds=HOUR)
    )
    renditions = sorted({r for r in MediaSegment.objects.filter(stream=stream).values_list("rendition")})
    recording = Recording.objects.get(stream=stream)
    sources = [
        Path(settings.MEDIA_ROOT) / row.name
        for row in MediaSegment.objects.filter(stream=stream, rendition="recording").order_by("position")
    ]
    made, bare, spent_all = [], [], []
    for again in (False, True):  # alternated with the baseline: the machine's drift hits both
        took, recording, spent = phases.measure(services.recording_finalize, recording=recording, again=again)
        assert recording.status == Recording.Status.READY, recording.reason
        made.append(took)
        spent_all.append(spent)
        bare.append(timed(concat_mp4, sources, TMP / "bare.mp4")[0])
        bare_size = (TMP / "bare.mp4").stat().st_size
        (TMP / "bare.mp4").unlink()
    mp4 = Path(settings.MEDIA_ROOT) / recording.mp4_path
    took, baseline = statistics.fmean(made), statistics.fmean(bare)
    typical = {k: statistics.fmean(s[k] for s in spent_all) for k in spent_all[0]}
    print(
        f"2. finalize a one-hour recording ({segments} segments x {len(renditions)} renditions:"
        f" {', '.join(r for (r,) in renditions)}), mean of 2 alternated runs: recording_finalize {took:.1f} s"
        f" ({' / '.join(f'{t:.1f}' for t in made)}); bare FFmpeg concat stream copy to MP4 +faststart"
        f" {baseline:.1f} s ({' / '.join(f'{b:.1f}' for b in bare)}); ratio {took / baseline:.2f}x"
    )
    print(f"   where the finalize went: {breakdown(typical)}")
    indexed = segments * SEGMENT
    print(
        f"   MP4 {recording.duration_seconds:.1f} s by ffprobe for {indexed:.0f} s of indexed segments"
        f" ({recording.duration_seconds - indexed:+.1f} s), {gb(mp4.stat().st_size)} (bare: {gb(bare_size)});"
        f" the recording keeps {gb(recording.size_bytes)}"
    )
    return recording


# --- 3. Playlist bytes per refresh at a two-hour window ----------------------------------------


def playlist_bytes(user: User) -> None:
    stream = stream_services.stream_create(owner=user, title="Two hours live")
    assert stream.dvr_enabled and stream.dvr_window_seconds is None, "DVR on, the site's window"
    window = stream.dvr_window
    segments = int(window // SEGMENT)
    # The first segment starts a little inside the window, so all of them stay in it while
    # this part runs (a few seconds).
    started = timezone.now() - timedelta(seconds=window - 60)
    stream = live_stream(user, "Two hours live", started)
    run = int(started.timestamp() * 1000)
    MediaSegment.objects.bulk_create(
        [
            MediaSegment(
                stream=stream,
                rendition="720p",
                position=n,
                run=run,
                started_at=started + timedelta(seconds=n * SEGMENT),
                duration=SEGMENT,
                name=segment_name(stream, "720p", run, n),
                size_bytes=750_000,
            )
            for n in range(segments)
        ],
        batch_size=2000,
    )
    client = Client(HTTP_HOST=HOST)
    url = f"/streams/{stream.pk}/dvr/720p.m3u8"
    delta_url = f"{url}?_HLS_skip=YES"

    def get(path: str, gzip: bool = False) -> bytes:
        extra = {"HTTP_ACCEPT_ENCODING": "gzip"} if gzip else {}
        response = client.get(path, secure=True, **extra)
        assert response.status_code == 200, (response.status_code, response.content[:200])
        assert (response.get("Content-Encoding") == "gzip") == gzip, response.headers
        return response.content

    full, delta = get(url), get(delta_url)
    listed = full.count(b"#EXTINF")
    assert listed == segments, f"the full playlist lists {listed} segments, not {segments}"
    assert b"#EXT-X-SKIP:SKIPPED-SEGMENTS=" in delta and b"CAN-SKIP-UNTIL=" in full
    full_gzip, delta_gzip = len(get(url, gzip=True)), len(get(delta_url, gzip=True))
    times = {
        "full": median_time(lambda: get(url), REPEATS),
        "full gzip": median_time(lambda: get(url, gzip=True), REPEATS),
        "delta": median_time(lambda: get(delta_url), REPEATS),
        "delta gzip": median_time(lambda: get(delta_url, gzip=True), REPEATS),
    }
    assert get(url).count(b"#EXTINF") == segments, "segments left the window while measuring"
    ms = {k: f"{v * 1000:.1f} ms" for k, v in times.items()}
    print(
        f"3. live DVR playlist of one rung at a two-hour window ({window} s, the site default):"
        f" {segments} segments, through Django (median of {REPEATS} renders each):"
    )
    print(
        f"   delta refresh (_HLS_skip=YES, {delta.count(b'#EXTINF')} segments listed):"
        f" {len(delta):,} B plain in {ms['delta']}, {delta_gzip:,} B gzipped in {ms['delta gzip']}"
        f"   (target <= 8 KB per refresh: {'met' if len(delta) <= 8192 else 'MISSED'})"
    )
    print(
        f"   full playlist (the first load): {len(full):,} B plain in {ms['full']},"
        f" {full_gzip:,} B gzipped in {ms['full gzip']}"
    )
    print(
        f"   baseline, the naive full playlist on every refresh: {len(full):,} B"
        f" ({full_gzip:,} B gzipped); the delta is {len(full) / len(delta):.0f}x smaller plain,"
        f" {full_gzip / delta_gzip:.0f}x gzipped; renders {times['full'] / times['delta']:.0f}x faster"
    )
    print(
        f"   a viewer refreshing every {SEGMENT:g} s: {len(delta) * 8 / SEGMENT / 1000:.1f} kbit/s"
        f" ({delta_gzip * 8 / SEGMENT / 1000:.1f} gzipped) instead of"
        f" {len(full) * 8 / SEGMENT / 1e6:.2f} Mbit/s ({full_gzip * 8 / SEGMENT / 1000:.0f} kbit/s gzipped)"
    )


# --- 4. Clips ------------------------------------------------------------------------------


def clip_times(recording: Recording, phases: Phases) -> None:
    stream = recording.stream
    root = Path(settings.MEDIA_ROOT)
    for seconds in (20, 60):
        # A viewer of their own per length: clip_create allows 5 clips in 10 minutes.
        clipper = User.objects.create_user(f"clipper{seconds}", f"c{seconds}@example.com", "x-bench-pass-1")
        made, bare, spent_all, durations = [], [], [], []
        for i in range(CLIP_REPEATS):
            end_offset = 900 * (i + 1) + seconds  # 15, 30 and 45 minutes in
            clip = clips.clip_create(stream=stream, by=clipper, seconds=seconds, end_offset=end_offset)
            took, clip, spent = phases.measure(clips.clip_make, clip_id=clip.pk)
            assert clip.status == clip.Status.READY, clip.reason
            made.append(took)
            spent_all.append(spent)
            durations.append(clip.duration_seconds)
            # The same segments and cut as clip_make (dvr/clips.py _cut), bare.
            rows = [
                s
                for s in MediaSegment.objects.filter(
                    stream=stream,
                    rendition="recording",
                    started_at__lt=clip.starts_at + timedelta(seconds=seconds),
                    started_at__gte=clip.starts_at - timedelta(minutes=1),
                ).order_by("position")
                if s.ends_at > clip.starts_at
            ]
            offset = max(0.0, (clip.starts_at - rows[0].started_at).total_seconds())
            bare.append(
                timed(
                    concat_mp4,
                    [root / s.name for s in rows],
                    TMP / "bare-clip.mp4",
                    *("-ss", f"{offset:.3f}"),
                    after_input=("-t", str(seconds)),
                )[0]
            )
        took, baseline = statistics.median(made), statistics.median(bare)
        typical = {k: statistics.median(s[k] for s in spent_all) for k in spent_all[0]}
        print(
            f"4. clip of {seconds} s from the one-hour recording (median of {CLIP_REPEATS}):"
            f" clip_make {took:.2f} s ({', '.join(f'{t:.2f}' for t in made)});"
            f" bare FFmpeg concat stream copy of the same segments {baseline:.2f} s"
            f" ({', '.join(f'{t:.2f}' for t in bare)}); ratio {took / baseline:.1f}x;"
            f" clip duration by ffprobe {', '.join(f'{d:.2f}' for d in durations)} s"
        )
        print(f"   where clip_make went: {breakdown(typical)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=30, help="length of the measured 720p30 clip")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        call_command("migrate", verbosity=0)
        user = User.objects.create_user(
            "benchstreamer", "b@example.com", "x-bench-pass-1", go_live_exempt=True
        )
        phases = Phases()
        ladder = storage_per_hour(args.seconds)
        recording = finalize_hour(user, ladder, phases)
        playlist_bytes(user)
        clip_times(recording, phases)
    finally:
        connections.close_all()
        subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], env=PG_ENV, check=False)
        shutil.rmtree(TMP, ignore_errors=True)
        redis.Redis.from_url(REDIS).flushdb()
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
