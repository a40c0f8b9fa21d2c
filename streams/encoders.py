"""Whether the configured H.264 encoder (TRANSCODE_ENCODER) works in this process.

A transcode worker checks it when it starts (streams.transcoder.worker_check_encoder): a
few frames of a test pattern through the encoder with the options a rung gets. An encoder
that does not work here (no GPU, no driver, no device) leaves this process encoding with
libx264; the verdict is per process, as the GPU and its driver are.
"""

from __future__ import annotations

import re
import subprocess
import threading
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from socialflow.lib import ffmpeg
from streams.transcoding import ENCODERS, LIBX264, build_probe_command

PROBE_TIMEOUT_SECONDS = 20.0
# "[h264_nvenc @ 0x5616a40e17c0] Cannot load libcuda.so.1": the address says nothing.
_CONTEXT = re.compile(r"^\[[^\]]+ @ 0x[0-9a-f]+\]\s*")


@dataclass(frozen=True)
class EncoderCheck:
    configured: str
    works: bool
    why: str = ""  # FFmpeg's error, when it does not work

    @property
    def encoder(self) -> str:
        """What this process encodes with."""
        return self.configured if self.works else LIBX264

    @property
    def fell_back(self) -> bool:
        return self.encoder != self.configured


def probe(encoder: str, *, timeout: float = PROBE_TIMEOUT_SECONDS) -> tuple[bool, str]:
    """(works, why): five frames through `encoder`, to nowhere. `why` is FFmpeg's first
    error line (the cause) and its last one (what failed) when it does not work."""
    try:
        result = subprocess.run(
            build_probe_command(encoder),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            **ffmpeg.spawn_kwargs(),
        )
    except subprocess.TimeoutExpired:
        return False, f"FFmpeg did not finish in {timeout:g} s"
    except OSError as exc:
        return False, str(exc)
    if result.returncode == 0:
        return True, ""
    lines = [_CONTEXT.sub("", line).strip() for line in result.stderr.splitlines() if line.strip()]
    if not lines:
        return False, f"FFmpeg exited with {result.returncode}"
    cause, last = lines[0].rstrip("."), lines[-1]
    return False, (cause if cause == last.rstrip(".") else f"{cause}; {last}")[:500]


def validate(encoder: str) -> None:
    if encoder not in ENCODERS:
        raise ImproperlyConfigured(
            f"TRANSCODE_ENCODER must be one of {', '.join(ENCODERS)}, not {encoder!r}."
        )


_checks: dict[str, EncoderCheck] = {}
_lock = threading.Lock()  # a threads pool's transcoders probe once between them


def check(encoder: str) -> EncoderCheck:
    """This process's verdict on `encoder`: probed the first time, then remembered.
    ImproperlyConfigured for a name that is no encoder of ours."""
    validate(encoder)
    with _lock:
        if encoder not in _checks:
            _checks[encoder] = EncoderCheck(encoder, *probe(encoder))
        return _checks[encoder]


def effective() -> EncoderCheck:
    """TRANSCODE_ENCODER as this process uses it. A hardware encoder is checked before its
    first use (a pool process that did not run the start-up check checks it here); libx264
    needs no check, being what every other falls back to."""
    configured = settings.TRANSCODE_ENCODER
    if configured == LIBX264 and LIBX264 not in _checks:
        return EncoderCheck(LIBX264, works=True)
    return check(configured)


def in_use() -> str:
    """The encoder this process encodes with, as far as it knows without a probe (the
    capacity planner prices with it): TRANSCODE_ENCODER unless its check here failed."""
    configured = settings.TRANSCODE_ENCODER
    found = _checks.get(configured)
    return found.encoder if found is not None else configured
