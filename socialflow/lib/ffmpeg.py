"""Running FFmpeg and ffprobe: probing a live source, reading -progress, stopping cleanly."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from socialflow.lib import sandbox

# What FFmpeg and ffprobe may see of the worker's environment. They parse media a publisher
# controls, so a decoder exploit must find no platform secret there (SECRET_KEY, the
# database URL, storage credentials): only the locale, the search path, the temp dir and
# the hardware encoders' driver settings (VA-API, CUDA, Quick Sync).
_PASSED = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"})
_PASSED_PREFIXES = ("LIBVA_", "CUDA_", "NVIDIA_", "MFX_", "ONEVPL_", "INTEL_MEDIA_", "VDPAU_")


def environment() -> dict[str, str]:
    """The minimal environment every FFmpeg and ffprobe runs with (`env=` of subprocess)."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in _PASSED or name.startswith(_PASSED_PREFIXES)
    }


def spawn_kwargs(workdir: Path | None = None, *, pulls: bool = False) -> dict[str, Any]:
    """What every FFmpeg and ffprobe is started with (`subprocess.run/Popen(**...)`): the
    minimal environment, and the sandbox (its own user, no new privileges, Landlock, a
    seccomp filter: socialflow.lib.sandbox). With `workdir`, FFmpeg runs there, handed over
    to its user, and may write nowhere else: give it paths relative to that folder (the
    folders above may be closed to it). `pulls`: it reads the media server (RTMP_PULL_URL),
    the one TCP port it may connect to."""
    if workdir is not None:
        sandbox.hand_over(workdir)
    return {"env": environment(), **sandbox.popen_kwargs(workdir, pull_port() if pulls else None)}


def pull_port() -> int:
    """The media server's port in RTMP_PULL_URL (RTMP's 1935 when it names none)."""
    return urlsplit(settings.RTMP_PULL_URL).port or 1935


class ProbeError(Exception):
    pass


class FFmpegError(Exception):
    """An FFmpeg or ffprobe run failed; the message ends with what it said."""


def run(args: list[str], *, timeout: float = 1800, workdir: Path | None = None) -> None:
    """Run FFmpeg with `args` (overwriting outputs, quiet but for errors), in `workdir`
    (the folder of its inputs and outputs: `args` name them relative to it)."""
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **spawn_kwargs(workdir),
    )
    if result.returncode != 0:
        raise FFmpegError(f"FFmpeg failed: {result.stderr.strip()[-200:]}")


def duration(name: str, *, workdir: Path) -> float:
    """The real duration of the media file `name` in `workdir`, by ffprobe."""
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", name],
        capture_output=True,
        text=True,
        timeout=60,
        **spawn_kwargs(workdir),
    )
    try:
        return float(json.loads(result.stdout)["format"]["duration"])
    except (ValueError, KeyError, TypeError) as exc:
        raise FFmpegError(
            f"ffprobe could not read {name.rsplit('/', 1)[-1]}: {result.stderr.strip()[-200:]}"
        ) from exc


class NoVideoError(ProbeError):
    """The feed was read, and it has no video track (an audio-only OBS setup)."""


def probe(
    url: str,
    *,
    attempts: int = 10,
    delay: float = 0.5,
    ffprobe: str = "ffprobe",
    before_each: Callable[[], None] | None = None,
) -> dict:
    """ffprobe's streams of a live URL. on_publish fires before the stream is readable,
    so a fresh publish is retried for a few seconds ("No such stream"). `before_each` runs
    before every attempt (a caller renews its lock there)."""
    last_error, error = "", ProbeError
    for _ in range(attempts):
        if before_each is not None:
            before_each()
        result = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-rw_timeout",
                "5000000",
                # RTMP sends metadata and codec headers first: a little is enough.
                "-analyzeduration",
                "500000",
                "-probesize",
                "200000",
                "-show_streams",
                "-of",
                "json",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=20,
            **spawn_kwargs(pulls=True),
        )
        if result.returncode == 0:
            streams = json.loads(result.stdout or "{}").get("streams", [])
            if any(s.get("codec_type") == "video" for s in streams):
                return {"streams": streams}
            last_error, error = "the feed has no video", NoVideoError
        else:
            last_error = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "ffprobe failed"
            error = ProbeError
        time.sleep(delay)
    raise error(last_error)


def parse_rate(rate: str | None) -> float:
    try:
        num, _, den = (rate or "0/1").partition("/")
        return float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0


@dataclass
class Progress:
    """The latest block of `-progress` key=value lines."""

    values: dict[str, str] = field(default_factory=dict)

    def feed(self, line: str) -> dict[str, str] | None:
        """Add one line; returns the finished block at its `progress=` line."""
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self.values[key] = value
        if key == "progress":
            block, self.values = self.values, {}
            return block
        return None


def number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip().rstrip("x").replace("kbits/s", ""))
    except ValueError:
        return None


def stop(proc: subprocess.Popen, *, grace: float = 6.0) -> int:
    """SIGINT (FFmpeg finishes its files), a second SIGINT, then SIGKILL. A stopped process
    (SIGSTOP, a debugger) is resumed first, or it would sit out every SIGINT until the kill."""
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGINT, 3.0)):
        if proc.poll() is not None:
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
        proc.send_signal(sig)
        try:
            return proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    proc.kill()
    return proc.wait()
