#!/usr/bin/env python
"""DVR, recordings and clips on this machine, each beside a plain baseline:

1. Storage per broadcast hour: the real ladder command (streams.transcoding, recording on)
   on a 720p30 clip; bytes per rendition, per hour. Option A (what the code does): keep the
   ladder's segments + the source copy + the MP4. Option B: keep the source copy + the MP4,
   and transcode a VOD ladder later at low priority.
2. Finalize time for a one-hour recording: 1800 segments per rendition (copies of the real
   ones from 1) indexed like the transcoder does; dvr.services.recording_finalize, against
   bare FFmpeg remuxing the same 1800 source segments to an MP4.
3. Playlist bytes per refresh at a two-hour window: the DVR variant through Django (full
   first load, plain and gzipped; the delta refresh hls.js asks for), against a naive full
   playlist on every refresh; and the time to render each.
4. Clip creation time: dvr.clips.clip_make for 20 s and 60 s of the one-hour recording,
   against bare FFmpeg cutting the same segments.

It uses a database of its own (socialflow_bench_dvr), Redis DB 12 and temporary folders.

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
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "socialflow_bench_dvr"
REDIS = "redis://127.0.0.1:6379/12"
TMP = Path(tempfile.mkdtemp(prefix="bench-dvr-"))
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "socialflow.settings",
        "ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver,127.0.0.1",
        "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS,
        "CACHE_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "MEDIA_ROOT": str(TMP / "media"),
        "TRANSCODE_WORK_DIR": str(TMP / "work"),
        "GO_LIVE_MIN_FOLLOWERS": "0",
        "LOG_LEVEL": "WARNING",
    }
)
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
from dvr.models import Clip, Recording  # noqa: E402
from socialflow.lib import ffmpeg  # noqa: E402
from streams import services as stream_services  # noqa: E402
from streams.models import MediaSegment, Stream  # noqa: E402
from streams.transcoding import HlsOptions, Source, build_transcode_command  # noqa: E402

HOUR = 3600
SEGMENT = 2.0


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def storage_per_hour(seconds: int) -> Path:
    """Transcode a 720p30 clip with the real ladder command; print GB per broadcast hour."""
    clip = TMP / "clip.flv"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"),
            *("-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-b:v", "4500k", "-maxrate", "4500k"),
            *("-bufsize", "9000k", "-c:a", "aac", "-b:a", "160k", "-f", "flv", str(clip)),
        ],
        check=True,
    )
    out = TMP / "ladder"
    (out / "recording").mkdir(parents=True)
    argv = build_transcode_command(
        input_url=str(clip), out_dir=out, source=Source(1280, 720, 30), options=HlsOptions(list_size=0)
    )
    subprocess.run(argv, check=True, capture_output=True)
    per_hour = {
        folder.name: sum(f.stat().st_size for f in folder.glob("*.ts")) * HOUR / seconds / 1e9
        for folder in sorted(out.iterdir())
        if folder.is_dir()
    }
    ladder = sum(v for k, v in per_hour.items() if k != "recording")
    source = per_hour["recording"]
    print(f"1. storage per broadcast hour (720p30 source at 4.5 Mbps, {seconds} s measured):")
    for name, gb in per_hour.items():
        print(f"   {name:>9}: {gb:5.2f} GB/h")
    print(
        f"   option A (kept ladder + source copy + MP4 remux): {ladder + 2 * source:.2f} GB/h"
        f"   option B (source copy + MP4 now; the ladder later): {2 * source:.2f} GB/h now,"
        f" {ladder + 2 * source:.2f} GB/h once its ladder is made"
    )
    return out


def make_recording(user: User, ladder: Path, segments: int) -> Stream:
    """A broadcast with `segments` 2-second segments per rendition in storage and the index,
    copies of the real output in `ladder`, ended (not yet finalized)."""
    stream = stream_services.stream_create(owner=user, title="One hour")
    started = timezone.now() - timedelta(seconds=segments * SEGMENT)
    Stream.objects.filter(pk=stream.pk).update(status="live", started_at=started, hls_ready_at=started)
    stream.refresh_from_db()
    root = Path(settings.MEDIA_ROOT)
    for folder in sorted(p for p in ladder.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.ts"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))[:-1]  # whole ones
        target = root / stream.media_prefix / folder.name
        target.mkdir(parents=True, exist_ok=True)
        rows = []
        for n in range(segments):
            source = files[n % len(files)]
            name = f"seg_1_{n}.ts"
            os.link(source, target / name)  # same bytes, no disk to spare: hard links
            rows.append(
                MediaSegment(
                    stream=stream,
                    rendition=folder.name,
                    position=n,
                    run=1,
                    started_at=started + timedelta(seconds=n * SEGMENT),
                    duration=SEGMENT,
                    name=f"{stream.media_prefix}/{folder.name}/{name}",
                    size_bytes=source.stat().st_size,
                )
            )
        MediaSegment.objects.bulk_create(rows, batch_size=2000)
    (root / stream.media_prefix / "master.m3u8").write_text((ladder / "master.m3u8").read_text())
    return stream


def finalize_hour(user: User, ladder: Path) -> Recording:
    stream = make_recording(user, ladder, HOUR // int(SEGMENT))
    Recording.objects.create(stream=stream, title=stream.title, started_at=stream.started_at)
    Stream.objects.filter(pk=stream.pk).update(status="ended", ended_at=timezone.now())
    recording = Recording.objects.get(stream=stream)
    took, recording = timed(services.recording_finalize, recording=recording)
    assert recording.status == "ready", recording.reason
    sources = [
        Path(settings.MEDIA_ROOT) / row.name
        for row in MediaSegment.objects.filter(stream=stream, rendition="recording").order_by("position")
    ]
    listing = TMP / "concat.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in sources))
    bare, _ = timed(
        ffmpeg.run,
        [
            *("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", "-movflags", "+faststart"),
            str(TMP / "bare.mp4"),
        ],
    )
    renditions = MediaSegment.objects.filter(stream=stream).values("rendition").distinct().count()
    print(
        f"2. finalize a one-hour recording (1800 segments x {renditions} renditions):"
        f" {took:.1f} s; bare FFmpeg remux of the source: {bare:.1f} s (ratio {took / bare:.2f});"
        f" MP4 {recording.duration_seconds:.0f} s, {recording.size_bytes / 1e9:.2f} GB kept"
    )
    return recording


def playlist_bytes(user: User, ladder: Path) -> None:
    stream = make_recording(user, ladder, 2 * HOUR // int(SEGMENT))
    Stream.objects.filter(pk=stream.pk).update(status="live")
    client = Client()
    url = f"/streams/{stream.pk}/dvr/720p.m3u8"

    def get(**extra):
        response = client.get(url, **extra)
        assert response.status_code == 200, response.status_code
        return response

    full_plain = len(get().content)
    full_gzip = len(get(HTTP_ACCEPT_ENCODING="gzip").content)
    delta = get(QUERY_STRING="_HLS_skip=YES").content
    assert b"#EXT-X-SKIP" in delta
    full_times = [timed(get)[0] for _ in range(10)]
    delta_times = [timed(get, QUERY_STRING="_HLS_skip=YES")[0] for _ in range(50)]
    print(
        f"3. live playlist at a two-hour window: delta refresh {len(delta)} B in"
        f" {statistics.median(delta_times) * 1000:.1f} ms; naive full playlist every refresh"
        f" {full_plain / 1024:.0f} KB ({full_gzip / 1024:.1f} KB gzipped, the first load) in"
        f" {statistics.median(full_times) * 1000:.0f} ms; ratio {full_plain / len(delta):.0f}x smaller"
        f" (target <= 8 KB); a viewer's refresh every 2 s: {len(delta) * 8 / 2 / 1000:.1f} kbit/s"
        f" instead of {full_plain * 8 / 2 / 1e6:.2f} Mbit/s"
    )


def clip_times(user: User, recording: Recording) -> None:
    stream = recording.stream
    for seconds in (20, 60):
        clip = Clip.objects.create(
            stream=stream,
            recording=recording,
            creator=user,
            title=f"{seconds} s",
            starts_at=stream.started_at + timedelta(seconds=1800),
            seconds=seconds,
        )
        took, clip = timed(clips.clip_make, clip_id=clip.pk)
        assert clip.status == "ready", clip.reason
        rows = [
            Path(settings.MEDIA_ROOT) / r.name
            for r in MediaSegment.objects.filter(
                stream=stream,
                rendition="recording",
                started_at__gte=clip.starts_at - timedelta(seconds=SEGMENT),
                started_at__lt=clip.starts_at + timedelta(seconds=seconds),
            ).order_by("position")
        ]
        listing = TMP / "clip.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in rows))
        bare, _ = timed(
            ffmpeg.run,
            [
                *("-f", "concat", "-safe", "0", "-i", str(listing), "-t", str(seconds), "-c", "copy"),
                str(TMP / "c.mp4"),
            ],
        )
        print(
            f"4. clip of {seconds} s from the one-hour recording: {took:.2f} s"
            f" (MP4 {clip.duration_seconds:.1f} s,"
            f" with thumbnail); bare FFmpeg cut: {bare:.2f} s (ratio {took / bare:.1f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=30, help="length of the measured 720p30 clip")
    args = parser.parse_args()
    try:
        call_command("migrate", verbosity=0)
        user = User.objects.create_user(
            "benchstreamer", "b@example.com", "x-bench-pass-1", go_live_exempt=True
        )
        ladder = storage_per_hour(args.seconds)
        recording = finalize_hour(user, ladder)
        playlist_bytes(user, ladder)
        clip_times(user, recording)
    finally:
        connections.close_all()
        subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], env=PG_ENV, check=False)
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
