"""The stream socket as the chat tests drive it: in process through the whole ASGI stack
(channels' WebsocketCommunicator), or over HTTP against a real Daphne."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import websockets
from channels.testing import WebsocketCommunicator
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tokens import CLAIM, password_fingerprint
from socialflow.asgi import application

ORIGIN = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]


def token_for(user) -> str:
    """An access token as sign-in mints it (with its password claim), without the refresh
    token: that one is recorded in the database (the blacklist), which async tests cannot
    touch."""
    access = AccessToken.for_user(user)
    access[CLAIM] = password_fingerprint(user)
    return str(access)


def socket(stream, user=None, headers=ORIGIN) -> WebsocketCommunicator:
    """A socket on the broadcast, as `user` (a JWT in the query string) or anonymous."""
    query = f"?token={token_for(user)}" if user else ""
    return WebsocketCommunicator(application, f"/ws/streams/{stream.pk}/{query}", headers=headers)


async def next_frame(communicator: WebsocketCommunicator, timeout: float = 5) -> dict[str, Any]:
    """The next frame, skipping viewer-count updates (they arrive on their own schedule)."""
    while True:
        got = await communicator.receive_json_from(timeout=timeout)
        if got["type"] != "viewers":
            return got


async def connected(communicator: WebsocketCommunicator) -> dict[str, Any]:
    """Connect, and return the chat.history frame every socket gets first."""
    ok, _ = await communicator.connect()
    assert ok
    history = await next_frame(communicator)
    assert history["type"] == "chat.history"
    return history


def http(method: str, url: str, *, token: str | None = None, body: dict | None = None) -> tuple[int, object]:
    """A JSON request to a real server: (status, decoded body, or the error's text)."""
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


class Viewer:
    """What static/js/chat.js does, minus the page."""

    def __init__(self, base: str, stream_id: str):
        self.ws_url = base.replace("http://", "ws://") + f"/ws/streams/{stream_id}/"
        self.api = f"{base}/api/v1/streams/{stream_id}/chat/"
        self.origin = base
        self.ids: list[int] = []
        self.arrived: dict[int, float] = {}
        self.connects = 0
        self.heartbeats = True
        self.viewers = None

    def add(self, message: dict) -> None:
        if message["id"] in self.arrived:
            return
        self.ids.append(message["id"])
        self.arrived[message["id"]] = time.monotonic()

    async def run(self) -> None:
        while True:
            try:
                async with websockets.connect(self.ws_url, origin=self.origin, open_timeout=5) as ws:
                    self.connects += 1
                    beat = asyncio.create_task(self.beat(ws))
                    try:
                        await self.listen(ws)
                    finally:
                        beat.cancel()
            except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
                pass
            await asyncio.sleep(0.3)

    async def listen(self, ws) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "chat.history":
                last = self.ids[-1] if self.ids else None
                for message in frame["messages"]:
                    self.add(message)
                if last is not None:  # reconnected: fetch what the history does not hold
                    status, missed = await asyncio.to_thread(http, "GET", f"{self.api}?after={last}")
                    assert status == 200, missed
                    for message in missed:
                        self.add(message)
            elif frame["type"] == "chat.message":
                self.add(frame)
            elif frame["type"] == "viewers":
                self.viewers = frame["count"]

    async def beat(self, ws) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.heartbeats:
                await ws.send(json.dumps({"type": "heartbeat"}))


async def post_chat(base: str, stream_id: str, token: str, n: int) -> int:
    """Message `m<n>` posted over REST to a real server, as a sender beside the viewers; its id."""
    url = f"{base}/api/v1/streams/{stream_id}/chat/"
    status, body = await asyncio.to_thread(http, "POST", url, token=token, body={"content": f"m{n}"})
    assert status == 201, (n, status, body)
    return body["id"]  # type: ignore[index]
