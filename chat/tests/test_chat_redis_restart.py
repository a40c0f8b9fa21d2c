"""Fault test: Redis dies (losing everything) and comes back while viewers are connected.

Two Daphne processes (as `make run` starts them) on their own throwaway redis-server. Plain
WebSocket viewers behave like the watch page: history on (re)connect, then REST backfill by
id, heartbeats. A sender keeps posting over REST throughout. Every persisted message must
reach every viewer, none twice, none out of order; no request may fail; live delivery must
work again afterwards (not just the heartbeat catch-up); and the viewer count recovers.
"""

import asyncio
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from chat import hub
from chat.models import ChatMessage
from chat.tests.helpers import Viewer, post_chat, token_for
from socialflow.tests.processes import redis_server, web_server

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def heartbeat_hook(base: str, stream) -> tuple[int, str]:
    """nginx-rtmp's on_update for the broadcast's publisher, as nginx sends it."""
    channel = stream.channel
    form = {"app": "live", "addr": "127.0.0.1", "clientid": stream.publisher_client_id}
    form |= {"call": "update_publish", "name": channel.stream_name, "key": channel.key_secret}
    request = urllib.request.Request(
        f"{base}/hooks/nginx-rtmp/?secret={settings.MEDIA_HOOK_SECRET}",
        data=urllib.parse.urlencode(form).encode(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.parametrize("layer", ["pubsub", "core"])
def test_redis_restart_loses_no_message(tmp_path, channel, alice, layer, go_live):
    stream = go_live()
    token = token_for(alice)

    with redis_server(tmp_path) as redis:
        env = {"TEST_REDIS_URL": redis.url, "TEST_CACHE_URL": redis.url, "CHANNEL_LAYER": layer}
        env["CHAT_RATE_MESSAGES"] = "1000"
        with web_server(tmp_path, workers=2, **env) as base:

            async def post(n: int) -> int:
                return await post_chat(base, stream.pk, token, n)

            hooks: list[tuple[int, str]] = []

            async def scenario():
                viewers = [Viewer(base, stream.pk) for _ in range(4)]
                tasks = [asyncio.create_task(v.run()) for v in viewers]
                try:
                    while not all(v.connects for v in viewers):
                        await asyncio.sleep(0.05)
                    sent = []
                    for n in range(5):
                        sent.append(await post(n))
                        await asyncio.sleep(0.2)
                    redis.kill()  # everything in Redis is gone: groups, presence, limits
                    for n in range(5, 15):
                        sent.append(await post(n))  # persisted; nobody hears of it yet
                        await asyncio.sleep(0.2)
                    # The media server's heartbeat hook still answers, and keeps the broadcast.
                    hooks.append(await asyncio.to_thread(heartbeat_hook, base, stream))
                    redis.start()
                    for n in range(15, 20):
                        sent.append(await post(n))
                        await asyncio.sleep(0.2)
                    deadline = time.monotonic() + 20
                    while any(v.ids != sent for v in viewers) and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    caught_up = [list(v.ids) for v in viewers]

                    # Live delivery is back, not only the heartbeat catch-up (with `core`,
                    # once the processes have renewed their group membership).
                    for v in viewers:
                        v.heartbeats = False
                    await asyncio.sleep(hub.REFRESH_SECONDS + 0.5)
                    posted_at = time.monotonic()
                    last = await post(99)
                    deadline = time.monotonic() + 5
                    while any(last not in v.arrived for v in viewers) and time.monotonic() < deadline:
                        await asyncio.sleep(0.02)
                    live = [v.arrived.get(last, float("inf")) - posted_at for v in viewers]

                    # The count comes back as heartbeats re-register the viewers.
                    for v in viewers:
                        v.heartbeats = True
                    counted = Viewer(base, stream.pk)
                    counter = asyncio.create_task(counted.run())
                    deadline = time.monotonic() + 10
                    while counted.viewers != 5 and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    counter.cancel()
                    return sent, caught_up, live, counted.viewers
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)

            sent, caught_up, live, count = asyncio.run(scenario())

    assert hooks == [(200, "OK")]
    stream.refresh_from_db()
    assert stream.status == "live"
    persisted = list(ChatMessage.objects.filter(stream=stream).order_by("id").values_list("id", flat=True))
    assert persisted == [*sent, persisted[-1]]
    for ids in caught_up:
        assert ids == sent  # all of them, once each, in order
    assert max(live) < 1.0, live
    assert count == 5
