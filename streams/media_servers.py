"""Talking to the media server: drop a publisher, list who is publishing.

nginx-rtmp (local, `make run`) through its loopback control and stat endpoints; SRS
(docker-compose) through its HTTP API. `MEDIA_SERVER` picks the default.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

from django.conf import settings

log = logging.getLogger(__name__)


class MediaServerError(Exception):
    """The media server could not be reached or answered something unexpected."""


def _request(url: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=settings.MEDIA_SERVER_TIMEOUT) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise MediaServerError(f"{method} {urllib.parse.urlsplit(url).path}: {exc}") from exc


class NginxRtmp:
    name = "nginx-rtmp"

    def __init__(self, api_url: str):
        self.api_url = api_url.rstrip("/")

    def drop_publisher(self, *, client_id: str) -> bool:
        query = urllib.parse.urlencode({"app": "live", "clientid": client_id})
        body = _request(f"{self.api_url}/control/drop/publisher?{query}")
        dropped = body.strip() not in (b"", b"0")
        log.info("nginx-rtmp drop publisher %s: %s", client_id, "dropped" if dropped else "not connected")
        return dropped

    def publishing_client_ids(self) -> set[str] | None:
        try:
            root = ET.fromstring(_request(f"{self.api_url}/stat"))
        except (MediaServerError, ET.ParseError) as exc:
            log.warning("nginx-rtmp stat unavailable: %s", exc)
            return None
        return {
            client.findtext("id", "")
            for client in root.iter("client")
            if client.find("publishing") is not None
        }


class Srs:
    name = "srs"

    def __init__(self, api_url: str):
        self.api_url = api_url.rstrip("/")

    def drop_publisher(self, *, client_id: str) -> bool:
        quoted = urllib.parse.quote(client_id, safe="")
        try:
            body = json.loads(_request(f"{self.api_url}/api/v1/clients/{quoted}", method="DELETE"))
        except ValueError as exc:
            raise MediaServerError(f"SRS answered a non-JSON body: {exc}") from exc
        dropped = body.get("code") == 0
        log.info("srs kick client %s: %s", client_id, "dropped" if dropped else body)
        return dropped

    def publishing_client_ids(self) -> set[str] | None:
        try:
            body = json.loads(_request(f"{self.api_url}/api/v1/clients/?start=0&count=10000"))
        except (MediaServerError, ValueError) as exc:
            log.warning("SRS clients unavailable: %s", exc)
            return None
        return {str(client.get("id")) for client in body.get("clients", []) if client.get("publish")}


def get_media_server(name: str | None = None) -> NginxRtmp | Srs:
    kind = name or settings.MEDIA_SERVER
    if kind == Srs.name:
        return Srs(settings.MEDIA_SERVER_API_URL)
    return NginxRtmp(settings.MEDIA_SERVER_API_URL)
