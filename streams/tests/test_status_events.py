"""Status changes reach the stream's WebSocket group (real Redis channel layer)."""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from socialflow.lib.realtime import FRAME, STREAM_STATUS, stream_group
from streams import services


@pytest.mark.django_db(transaction=True)
def test_going_live_edits_and_ending_are_broadcast_to_the_group(channel, streamer):
    stream = services.stream_create(owner=streamer, title="Group test")

    async def scenario():
        # One event loop for every layer call, as in a consumer.
        layer = get_channel_layer()
        inbox = await layer.new_channel()
        await layer.group_add(stream_group(stream.pk), inbox)

        async def next_message():
            event = await asyncio.wait_for(layer.receive(inbox), timeout=5)
            assert event["type"] == FRAME  # the frame travels encoded, once for every socket
            return json.loads(event["text"])

        try:
            await sync_to_async(services.broadcast_publish)(
                dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None
            )
            went_live = await next_message()
            live = await sync_to_async(lambda: type(stream).objects.get(pk=stream.pk))()
            await sync_to_async(services.stream_update)(stream=live, title="New title")
            edited = await next_message()
            await sync_to_async(services.broadcast_unpublish)(
                dialect="nginx-rtmp", key=channel.stream_key, client_id="1"
            )
            ended = await next_message()
            return went_live, edited, ended
        finally:
            await layer.group_discard(stream_group(stream.pk), inbox)

    went_live, edited, ended = async_to_sync(scenario)()
    assert went_live["type"] == STREAM_STATUS and went_live["status"] == "live"
    assert (edited["status"], edited["title"]) == ("live", "New title")
    assert (ended["status"], ended["end_reason"]) == ("ended", "publisher_left")
    assert channel.key_secret not in f"{went_live}{edited}{ended}"
