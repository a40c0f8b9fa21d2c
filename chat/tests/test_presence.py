"""Presence and the viewer count, on the real Redis and the real consumer."""

import asyncio
import time

import pytest
from asgiref.sync import async_to_sync

from analytics.models import ViewerSession
from chat import presence
from chat.tests.test_consumer import connected, socket
from streams import services
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_stream(channel):
    return services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None
    ).stream


async def next_viewers(communicator, timeout=4):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "viewers":
            return frame["count"]
    raise AssertionError("no viewers frame")


def test_the_viewer_count_follows_sockets_joining_and_leaving(live_stream, carol):
    async def scenario():
        a, b, c = socket(live_stream), socket(live_stream, carol), socket(live_stream)
        for s in (a, b, c):
            await connected(s)
        after_join = await next_viewers(a)
        await c.disconnect()
        await b.disconnect()
        after_leave = await next_viewers(a)
        await a.disconnect()
        return after_join, after_leave

    after_join, after_leave = async_to_sync(scenario)()
    assert (after_join, after_leave) == (3, 1)
    stream = Stream.objects.get(pk=live_stream.pk)
    assert stream.peak_viewer_count == 3
    sessions = ViewerSession.objects.filter(stream=live_stream)
    assert sessions.count() == 3 and not sessions.filter(left_at__isnull=True).exists()
    assert sessions.filter(user__username="carol").exists()


def test_entries_of_a_dead_process_expire(live_stream, settings):
    settings.PRESENCE_TTL_SECONDS = 1

    async def scenario():
        await presence.join(live_stream.pk, "socket-of-a-crashed-process")
        first = await presence.count(live_stream.pk)
        await asyncio.sleep(1.2)
        return first, await presence.count(live_stream.pk)

    assert async_to_sync(scenario)() == (1, 0)


def test_heartbeats_keep_a_viewer(live_stream, settings):
    settings.PRESENCE_TTL_SECONDS = 1

    async def scenario():
        await presence.join(live_stream.pk, "socket")
        for _ in range(3):
            await asyncio.sleep(0.5)
            await presence.beat(live_stream.pk, "socket")
        return await presence.count(live_stream.pk)

    assert async_to_sync(scenario)() == 1


def test_the_sweep_recounts_live_broadcasts(live_stream):
    from chat.tasks import presence_sweep_task

    async def add():
        await presence.join(live_stream.pk, "x")
        await presence.join(live_stream.pk, "y")

    async_to_sync(add)()
    Stream.objects.filter(pk=live_stream.pk).update(viewer_count=0)
    assert presence_sweep_task() == 1
    assert Stream.objects.get(pk=live_stream.pk).viewer_count == 2
