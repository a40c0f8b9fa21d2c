"""Talking to the media server: who is publishing, and dropping a publisher.

nginx-rtmp (local, `make run`) through its loopback control and stat endpoints; SRS
(docker-compose) through its HTTP API. Publishers are identified by (channel id, client
id): client ids alone repeat (nginx numbers connections from 1 again after a restart), and
the channel id comes from the stream's name (`live_<channel>`: OBS sends the secret as the
`key` argument, which no media-server listing shows), so no secret travels in a task message.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from django.conf import settings

log = logging.getLogger(__name__)

Publisher = tuple[int, str]  # (channel id, client id)
_NAME = re.compile(r"^live_([0-9]{1,18})$")


class MediaServerError(Exception):
    """The media server could not be reached or answered something unexpected."""


def _request(url: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=settings.MEDIA_SERVER_TIMEOUT) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise MediaServerError(f"{method} {urllib.parse.urlsplit(url).path}: {exc}") from exc


def _channel_of(name: str) -> int | None:
    match = _NAME.match(name or "")
    return int(match.group(1)) if match else None


class NginxRtmp:
    name = "nginx-rtmp"
    # nginx-rtmp calls on_update for every publisher: a silent one is gone.
    sends_heartbeats = True
    # /stat shows what the publisher announced (source_info): no probe needed.
    announces_source = True

    def __init__(self, api_url: str):
        self.api_url = api_url.rstrip("/")

    def _publishing(self) -> dict[Publisher, str]:
        """{(channel id, client id): stream name} of every publishing client."""
        try:
            root = ET.fromstring(_request(f"{self.api_url}/stat"))
        except ET.ParseError as exc:
            raise MediaServerError(f"unreadable /stat: {exc}") from exc
        found = {}
        for stream in root.iter("stream"):
            name = stream.findtext("name", "")
            channel_id = _channel_of(name)
            for client in stream.iter("client"):
                if channel_id is not None and client.find("publishing") is not None:
                    found[(channel_id, client.findtext("id", ""))] = name
        return found

    def publishers(self) -> set[Publisher] | None:
        try:
            return set(self._publishing())
        except MediaServerError as exc:
            log.warning("nginx-rtmp stat unavailable: %s", exc)
            return None

    def source_info(self, *, channel_id: int) -> dict | None:
        """What the publisher announced (width, height, frame rate, codecs), from /stat:
        instant, where probing the feed would wait for a keyframe."""
        try:
            root = ET.fromstring(_request(f"{self.api_url}/stat"))
        except (MediaServerError, ET.ParseError):
            return None
        for stream in root.iter("stream"):
            if _channel_of(stream.findtext("name", "")) != channel_id:
                continue
            video = stream.find("meta/video")
            if video is None or not video.findtext("width"):
                return None
            return {
                "width": int(video.findtext("width", "0")),
                "height": int(video.findtext("height", "0")),
                "fps": float(video.findtext("frame_rate", "0") or 0),
                "video_codec": video.findtext("codec", "").lower(),
                "has_audio": stream.find("meta/audio/codec") is not None,
                "audio_codec": stream.findtext("meta/audio/codec", "").lower(),
            }
        return None

    def ingest_kbps(self, *, channel_id: int) -> float | None:
        """What the publisher sends, in kbit/s (nginx-rtmp's `bw_in`, measured over its
        last few seconds); None when /stat cannot tell."""
        try:
            root = ET.fromstring(_request(f"{self.api_url}/stat"))
        except (MediaServerError, ET.ParseError):
            return None
        for stream in root.iter("stream"):
            if _channel_of(stream.findtext("name", "")) == channel_id:
                try:
                    return int(stream.findtext("bw_in", "")) / 1000
                except ValueError:
                    return None
        return None

    def drop_publisher(self, *, channel_id: int, client_id: str) -> bool:
        name = self._publishing().get((channel_id, client_id))
        if name is None:
            return False  # already gone (or that id is someone else's now)
        query = urllib.parse.urlencode({"app": "live", "name": name, "clientid": client_id})
        dropped = _request(f"{self.api_url}/control/drop/publisher?{query}").strip() not in (b"", b"0")
        log.info("nginx-rtmp drop publisher %s of channel %s: %s", client_id, channel_id, dropped)
        return dropped


class Srs:
    name = "srs"
    # SRS calls no hook while a publisher is connected; its API is the only sign of life.
    sends_heartbeats = False
    # Its API lacks the frame rate (source_info is None): the transcoder probes at once.
    announces_source = False

    def __init__(self, api_url: str):
        self.api_url = api_url.rstrip("/")

    def _json(self, path: str, method: str = "GET") -> dict:
        try:
            body = json.loads(_request(f"{self.api_url}{path}", method=method))
        except ValueError as exc:
            raise MediaServerError(f"SRS answered a non-JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise MediaServerError("SRS answered an unexpected body")
        return body

    def _publishing(self) -> set[Publisher]:
        body = self._json("/api/v1/clients/?start=0&count=10000")
        if body.get("code") != 0:
            raise MediaServerError(f"SRS clients API answered code {body.get('code')}")
        return {
            (channel_id, str(client.get("id")))
            for client in body.get("clients", [])
            if client.get("publish") and (channel_id := _channel_of(str(client.get("name", "")))) is not None
        }

    def publishers(self) -> set[Publisher] | None:
        try:
            return self._publishing()
        except MediaServerError as exc:
            log.warning("SRS clients unavailable: %s", exc)
            return None

    def source_info(self, *, channel_id: int) -> dict | None:
        return None  # SRS's API lacks the frame rate: the transcoder probes the feed instead

    def ingest_kbps(self, *, channel_id: int) -> float | None:
        """What the publisher sends, in kbit/s (SRS's 30-s receive rate)."""
        try:
            body = self._json("/api/v1/streams/?start=0&count=10000")
        except MediaServerError:
            return None
        for stream in body.get("streams", []):
            if _channel_of(str(stream.get("name", ""))) == channel_id:
                kbps = (stream.get("kbps") or {}).get("recv_30s")
                return float(kbps) if isinstance(kbps, int | float) else None
        return None

    def drop_publisher(self, *, channel_id: int, client_id: str) -> bool:
        if (channel_id, client_id) not in self._publishing():
            return False
        body = self._json(f"/api/v1/clients/{urllib.parse.quote(client_id, safe='')}", method="DELETE")
        dropped = body.get("code") == 0
        log.info("srs kick client %s of channel %s: %s", client_id, channel_id, dropped)
        return dropped


def is_publishing(*, media_server: str, channel_id: int, client_id: str) -> bool | None:
    """Whether that publisher is still connected: True, False, or None when the media
    server cannot tell (its API did not answer). Callers decide what "cannot tell" means."""
    publishers = get_media_server(media_server).publishers()
    return None if publishers is None else (channel_id, client_id) in publishers


def get_media_server(name: str | None = None) -> NginxRtmp | Srs:
    kind = name or settings.MEDIA_SERVER
    if kind == Srs.name:
        return Srs(settings.MEDIA_SERVER_API_URL)
    return NginxRtmp(settings.MEDIA_SERVER_API_URL)
