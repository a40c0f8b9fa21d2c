"""What the streams tests share besides fixtures: the hook secret, SRS's documented hook
payloads, and the FFmpeg command that plays OBS in the end-to-end tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HOOK_SECRET = "test-hook-secret"

SRS_PAYLOADS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "srs_payloads.json").read_text()
)["hooks"]


def srs(client: Any, action: str, stream: str | None = None, secret: str = HOOK_SECRET, **overrides: Any):
    """POST SRS's documented `action` hook body (with `stream` and `overrides`) to /hooks/srs/."""
    body = copy.deepcopy(SRS_PAYLOADS[action])
    body.update(stream=stream, **overrides)
    return client.post(f"/hooks/srs/?secret={secret}", data=json.dumps(body), content_type="application/json")


# OBS, played by FFmpeg: a 640x360 test pattern with a tone, for a minute, to an RTMP URL
# appended by the caller.
FFMPEG_PUBLISH = [
    "ffmpeg",
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-re",
    "-f",
    "lavfi",
    "-i",
    "testsrc2=size=640x360:rate=30",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:sample_rate=48000",
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-g",
    "60",
    "-c:a",
    "aac",
    "-b:a",
    "64k",
    "-t",
    "60",
    "-f",
    "flv",
]
