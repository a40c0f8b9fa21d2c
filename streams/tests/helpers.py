"""What the streams tests share besides fixtures: the hook secret, SRS's documented hook
payloads, the FFmpeg command that plays OBS in the end-to-end tests, and what makes an
oEmbed answer valid."""

from __future__ import annotations

import copy
import json
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

HOOK_SECRET = "test-hook-secret"

SRS_PAYLOADS: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "srs_payloads.json").read_text()
)["hooks"]
# SRS 7's bodies (compose's pin), field for field from its source; see the file's "source".
SRS7 = json.loads((Path(__file__).parent / "srs7_payloads.json").read_text())
SRS7_PAYLOADS: dict[str, dict[str, Any]] = SRS7["hooks"]


def srs(
    client: Any,
    action: str,
    stream: str | None = None,
    secret: str = HOOK_SECRET,
    payloads: dict[str, dict[str, Any]] = SRS_PAYLOADS,
    **overrides: Any,
):
    """POST SRS's `action` hook body from `payloads` (with `stream` and `overrides`) to
    /hooks/srs/. `stream` is what OBS sent: SRS splits `live_1?key=s` into stream `live_1`,
    param `?key=s`."""
    body = copy.deepcopy(payloads[action])
    if stream is not None and "?" in stream:
        stream, arguments = stream.split("?", 1)
        body["param"] = f"?{arguments}"
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


def encode_clip(path: Path, *, size: str = "1280x720", seconds: int = 8, fps: int = 30) -> Path:
    """A clip as OBS sends it (x264, a keyframe every 2 s, AAC), encoded ahead of time, so
    that publishing it (publish_clip) costs no CPU that the transcoder needs. Short: the
    publisher loops it (a few seconds of 720p cost this machine several of encoding)."""
    args = [*FFMPEG_PUBLISH]
    args.remove("-re")
    args[args.index("testsrc2=size=640x360:rate=30")] = f"testsrc2=size={size}:rate={fps}"
    args[args.index("-g") + 1] = str(2 * fps)
    args[args.index("-t") + 1] = str(seconds)
    subprocess.run([*args, str(path)], check=True, timeout=300)
    return path


def publish_clip(url: str, clip: Path, *, seconds: float) -> subprocess.Popen:
    """OBS publishing a pre-encoded clip in real time to `url` for `seconds` (looped; stream
    copy: no encode), then leaving."""
    return subprocess.Popen(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1"),
            *("-i", str(clip), "-t", str(seconds), "-c", "copy", "-f", "flv", url),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str, name: str) -> list[dict[str, str | None]]:
    parser = _Tags()
    parser.feed(html)
    return [attrs for tag, attrs in parser.tags if tag == name]


def assert_oembed_video(body: dict) -> dict[str, str | None]:
    """A valid oEmbed 1.0 "video" response (https://oembed.com/, sections 2.3.4 and 2.3.4.4):
    version "1.0"; type "video" with html, width and height (required); the optional fields
    of the right types; thumbnail_url, _width and _height all or none. The html is one
    iframe of that size; its attributes."""
    assert body["version"] == "1.0" and body["type"] == "video"
    for name in ("html", "title", "author_name", "author_url", "provider_name", "provider_url"):
        assert isinstance(body[name], str) and body[name], name
    for name in ("width", "height"):
        assert isinstance(body[name], int) and body[name] > 0, name
    thumbnail = {"thumbnail_url", "thumbnail_width", "thumbnail_height"}
    assert len(thumbnail & body.keys()) in (0, 3), body.keys()
    if "thumbnail_url" in body:
        assert body["thumbnail_url"].startswith(("http://", "https://"))
        assert isinstance(body["thumbnail_width"], int) and isinstance(body["thumbnail_height"], int)
    if "cache_age" in body:
        assert isinstance(body["cache_age"], int) and body["cache_age"] > 0
    known = {"version", "type", "title", "author_name", "author_url", "provider_name", "provider_url"}
    known |= {"cache_age", "html", "width", "height", *thumbnail}
    assert body.keys() <= known, body.keys() - known
    frames = tags(body["html"], "iframe")
    assert len(frames) == 1 and body["html"].startswith("<iframe ") and body["html"].endswith("</iframe>")
    frame = frames[0]
    assert frame["width"] == str(body["width"]) and frame["height"] == str(body["height"])
    return frame
