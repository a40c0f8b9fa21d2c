"""The chat against a real Daphne process and real Redis, with a plain WebSocket client."""

import asyncio
import json

import pytest
import websockets
from asgiref.sync import async_to_sync

from chat.tests.helpers import http, token_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


async def next_of(ws, kind, timeout=5):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == kind:
            return frame


def test_two_plain_clients_through_daphne(daphne, channel, alice, carol, go_live):
    stream = go_live()
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
        # A client must see "not found" (and stop retrying), not an abnormal closure.
        unknown = base.replace(stream.pk, "A" * 12)
        async with websockets.connect(unknown, origin=origin) as missing:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(missing.recv(), 5)
            not_found = missing.close_code
        return got, refused, alone, foreign, not_found

    got, refused, alone, foreign, not_found = async_to_sync(scenario)()
    assert got["content"] == "<script>alert(1)</script>" and isinstance(got["id"], int)
    assert refused["code"] == "too_long"
    assert alone == 1
    assert foreign == 403
    assert not_found == 4404


def test_moderation_and_reconnect_backfill_through_daphne(daphne, channel, alice, carol, settings, go_live):
    """alice streams and moderates, carol chats, a viewer misses messages and catches up."""
    from django.db import connection

    from chat.models import ChatMessage
    from chat.services import message_send

    settings.CHAT_RATE_MESSAGES = 1000  # messages posted from this process below
    stream = go_live()
    base = daphne.replace("http://", "ws://") + f"/ws/streams/{stream.pk}/"
    api = f"{daphne}/api/v1/streams/{stream.pk}/chat/"
    origin = daphne

    def post_while_away():
        try:
            for n in range(60):
                message_send(stream=stream, user=alice, content=f"while away {n}")
        finally:
            connection.close()  # this thread's own connection

    async def scenario():
        async with (
            websockets.connect(f"{base}?token={token_for(alice)}", origin=origin) as mod,
            websockets.connect(f"{base}?token={token_for(carol)}", origin=origin) as c,
            websockets.connect(base, origin=origin) as watcher,
        ):
            for ws in (mod, c, watcher):
                await next_of(ws, "chat.history")
            await c.send(json.dumps({"type": "chat.send", "content": "rude"}))
            rude = await next_of(watcher, "chat.message")
            await mod.send(json.dumps({"type": "chat.delete", "id": rude["id"]}))
            deleted = await next_of(watcher, "chat.deleted")
            await mod.send(json.dumps({"type": "chat.timeout", "username": "carol", "seconds": 60}))
            await mod.send(json.dumps({"type": "heartbeat"}))
            await next_of(mod, "heartbeat")
            await c.send(json.dumps({"type": "chat.send", "content": "muted?"}))
            timed_out = await next_of(c, "error")
            await mod.send(json.dumps({"type": "chat.ban", "username": "carol"}))
            await mod.send(json.dumps({"type": "heartbeat"}))
            await next_of(mod, "heartbeat")
            await c.send(json.dumps({"type": "chat.send", "content": "banned?"}))
            banned = await next_of(c, "error")

            seen = [m["id"] async for m in _messages_until(watcher, "heartbeat", send_first=True)]
        last_seen = max([rude["id"], *seen])
        # The viewer is gone; 60 messages are posted (more than the 50 of the history).
        await asyncio.to_thread(post_while_away)
        async with websockets.connect(base, origin=origin) as back:
            history = (await next_of(back, "chat.history"))["messages"]
            status, missed = await asyncio.to_thread(http, "GET", f"{api}?after={last_seen}")
        return deleted, rude, timed_out, banned, history, status, missed, last_seen

    deleted, rude, timed_out, banned, history, status, missed, last_seen = async_to_sync(scenario)()
    assert deleted["id"] == rude["id"]
    assert rude["id"] not in [m["id"] for m in history]
    assert timed_out["code"] == "timed_out" and banned["code"] == "banned"
    assert status == 200
    got = sorted({m["id"] for m in history} | {m["id"] for m in missed})
    expected = list(
        ChatMessage.objects.filter(stream=stream, id__gt=last_seen, deleted_at__isnull=True)
        .order_by("id")
        .values_list("id", flat=True)
    )
    assert len(expected) == 60 and [i for i in got if i > last_seen] == expected  # no gap


async def _messages_until(ws, kind, send_first=False):
    if send_first:
        await ws.send(json.dumps({"type": kind}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == kind:
            return
        if frame["type"] == "chat.message":
            yield frame
