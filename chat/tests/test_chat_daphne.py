"""The chat against a real Daphne process and real Redis, with a plain WebSocket client."""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import async_to_sync

from chat.tests.test_consumer import token_for
from streams import services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def next_of(ws, kind, timeout=5):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


def test_two_plain_clients_through_daphne(daphne, channel, alice, carol):
    stream = services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None
    ).stream
    base = daphne.replace("http://", "ws://") + f"/ws/streams/{stream.pk}/"
    origin = daphne

    async def scenario():
        async with (
            websockets.connect(f"{base}?token={token_for(alice)}", origin=origin) as a,
            websockets.connect(f"{base}?token={token_for(carol)}", origin=origin) as c,
        ):
            await next_of(a, "chat.history")
            await next_of(c, "chat.history")
            assert (await next_of(a, "viewers"))["count"] == 2
            await c.send(json.dumps({"type": "chat.send", "content": "<script>alert(1)</script>"}))
            got = await next_of(a, "chat.message")
            await c.send(json.dumps({"type": "chat.send", "content": "x" * 501}))
            refused = await next_of(c, "error")
        async with websockets.connect(base, origin=origin) as watcher:
            await next_of(watcher, "chat.history")
            alone = (await next_of(watcher, "viewers"))["count"]
        try:
            async with websockets.connect(base, origin="http://evil.example"):
                foreign = "accepted"
        except websockets.exceptions.InvalidStatus as exc:
            foreign = exc.response.status_code
        return got, refused, alone, foreign

    got, refused, alone, foreign = async_to_sync(scenario)()
    assert got["content"] == "<script>alert(1)</script>" and isinstance(got["id"], int)
    assert refused["code"] == "too_long"
    assert alone == 1
    assert foreign == 403
