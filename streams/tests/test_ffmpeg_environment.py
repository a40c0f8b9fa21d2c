"""S-12: FFmpeg and ffprobe parse media a publisher controls; they run with no platform secret.

Every way the platform starts them is called here with `ffmpeg`/`ffprobe` on PATH being a
script that writes down the environment it got. (The live transcoder's real FFmpeg is
checked the same way, through /proc, in test_transcode_e2e.)
"""

import contextlib
import stat
from pathlib import Path

import pytest

from socialflow.lib import ffmpeg
from streams import capacity, encoders

SECRETS = {
    "SECRET_KEY": "s3cret-key",
    "DATABASE_URL": "postgres://socialflow:pw@db/socialflow",
    "AWS_SECRET_ACCESS_KEY": "minio-root-password",
    "MEDIA_HOOK_SECRET": "hook-secret",
    "CELERY_BROKER_URL": "redis://:pw@redis:6379/0",
}


@pytest.fixture
def recording_binaries(tmp_path, monkeypatch, settings):
    """`ffmpeg` and `ffprobe` that record their environment (one file per run) and fail.
    The rest of the sandbox is off: it would not let a stand-in of our own run, or write
    where this one writes (test_ffmpeg_confinement checks it); the environment is the same."""
    settings.FFMPEG_SANDBOX = False
    bin_dir, seen = tmp_path / "bin", tmp_path / "seen"
    bin_dir.mkdir()
    seen.mkdir()
    for name in ("ffmpeg", "ffprobe"):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nenv > "{seen}/{name}.$$"\nexit 1\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("LIBVA_DRIVER_NAME", "iHD")  # a hardware encoder's driver setting
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return seen


def environments(seen: Path) -> list[dict[str, str]]:
    return [
        dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
        for path in sorted(seen.iterdir())
    ]


def test_every_ffmpeg_and_ffprobe_run_gets_only_the_minimal_environment(recording_binaries):
    runs = [
        lambda: ffmpeg.run(["-i", "in.ts", "out.mp4"], workdir=recording_binaries),
        lambda: ffmpeg.duration("x.mp4", workdir=recording_binaries),
        lambda: ffmpeg.probe("rtmp://127.0.0.1/live/x", attempts=1, delay=0),
        lambda: encoders.probe("libx264"),
        lambda: capacity._cpu_seconds(["-i", "in.ts", "-f", "null", "-"]),
        lambda: capacity.measure_cost_model(seconds=0.1),
    ]
    for start in runs:
        with contextlib.suppress(Exception):  # the recording binaries fail on purpose
            start()
    seen = environments(recording_binaries)
    assert len(seen) == len(runs)
    for env in seen:
        assert not set(SECRETS) & set(env), f"FFmpeg saw {sorted(set(SECRETS) & set(env))}"
        assert env["PATH"].startswith(str(recording_binaries.parent / "bin"))
        assert env["LIBVA_DRIVER_NAME"] == "iHD"  # hardware encoders still find their driver
        assert "DJANGO_SETTINGS_MODULE" not in env
