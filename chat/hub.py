"""Fan-out inside one web process: one channel-layer subscription per broadcast, however
many of its viewers this process holds.

Channels' usual pattern puts every socket in the group, so a message to 500 viewers is 500
deliveries through the layer and 500 consumer wake-ups. Here each process joins a stream's
group once, with one reader task, and hands each event straight to its sockets' consumers
(`StreamConsumer.stream_frame`, which only forwards the pre-encoded text). Works with both
channels-redis layers; with `core` a message costs one queue entry per process instead of
one per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat import selectors
from socialflow.lib import realtime

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
# How often a process renews its group membership: the `core` layer keeps groups in Redis,
# which forgets them when it restarts without persistence (and expires them after a day).
REFRESH_SECONDS = 2.0
LATEST_ID_MAX_AGE = 1.0
MISSED_KEEP_SECONDS = 5.0


async def _fetch_missed(stream_id: str, after: int, before: int) -> list[tuple[int, str]]:
    return await database_sync_to_async(selectors.missed_frames)(
        stream_id=stream_id, after=after, before=before
    )


async def _fetch_latest(stream_id: str) -> int:
    return await database_sync_to_async(selectors.latest_message_id)(stream_id=stream_id)


class Hub:
    def __init__(self) -> None:
        self.members: dict[str, set] = {}
        self.subscriptions: dict[str, asyncio.Future] = {}
        # Shared by the sockets of this process (one query serves them all).
        self._missed: dict[tuple[str, int, int], tuple[float, asyncio.Future]] = {}
        self._latest: dict[str, tuple[float, asyncio.Future]] = {}
        self._background: set[asyncio.Task] = set()

    async def join(self, stream_id: str, consumer) -> None:
        """Returns once this process receives the stream's events."""
        self.members.setdefault(stream_id, set()).add(consumer)
        subscription = self.subscriptions.get(stream_id)
        if subscription is None or (subscription.done() and subscription.exception()):
            subscription = asyncio.ensure_future(self._subscribe(stream_id))
            self.subscriptions[stream_id] = subscription
        try:
            await asyncio.shield(subscription)
        except BaseException:  # failed or cancelled: not a member
            self.discard(stream_id, consumer)
            raise

    def discard(self, stream_id: str, consumer) -> None:
        """Synchronous, so it also runs for a consumer that died or was cancelled; the last
        one out unsubscribes the process in the background."""
        members = self.members.get(stream_id)
        if members is None:
            return
        members.discard(consumer)
        if members:
            return
        del self.members[stream_id]
        self._latest.pop(stream_id, None)
        subscription = self.subscriptions.pop(stream_id, None)
        if subscription is not None:
            task = asyncio.ensure_future(self._unsubscribe(stream_id, subscription))
            self._background.add(task)  # a reference, so it is not collected mid-way
            task.add_done_callback(self._background.discard)

    async def _unsubscribe(self, stream_id: str, subscription: asyncio.Future) -> None:
        try:
            channel, runner = await subscription
        except BaseException:
            return
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)  # the keeper stops first
        try:
            await get_channel_layer().group_discard(realtime.stream_group(stream_id), channel)
        except Exception as exc:  # the layer forgets it with the connection anyway
            log.warning("could not leave the group of %s: %s", stream_id, exc)

    # --- catching up, shared by the process's sockets ------------------------------------

    async def missed(self, stream_id: str, after: int, before: int) -> list[tuple[int, str]]:
        """Chat frames with after < id < before, as (id, text). The result is kept a few
        seconds: the reader hands an event to one socket after another, and each asks."""
        now = time.monotonic()
        for key in [k for k, (at, _) in self._missed.items() if now - at > MISSED_KEEP_SECONDS]:
            del self._missed[key]
        key = (stream_id, after, before)
        cached = self._missed.get(key)
        if cached is None or (cached[1].done() and cached[1].exception()):
            cached = self._missed[key] = (now, asyncio.ensure_future(_fetch_missed(stream_id, after, before)))
        return await asyncio.shield(cached[1])

    async def latest_id(self, stream_id: str) -> int:
        """The broadcast's newest message id, at most LATEST_ID_MAX_AGE old."""
        cached = self._latest.get(stream_id)
        stale = cached is None or time.monotonic() - cached[0] > LATEST_ID_MAX_AGE
        if stale or (cached[1].done() and (cached[1].cancelled() or cached[1].exception())):
            cached = self._latest[stream_id] = (
                time.monotonic(),
                asyncio.ensure_future(_fetch_latest(stream_id)),
            )
        return await asyncio.shield(cached[1])

    # --- the subscription ------------------------------------------------------------------

    async def _subscribe(self, stream_id: str) -> tuple[str, asyncio.Task]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(realtime.stream_group(stream_id), channel)
        return channel, asyncio.ensure_future(self._run(stream_id, channel))

    async def _run(self, stream_id: str, channel: str) -> None:
        keeper = asyncio.ensure_future(self._keep(stream_id, channel))
        try:
            await self._read(stream_id, channel)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _keep(self, stream_id: str, channel: str) -> None:
        layer = get_channel_layer()
        group = realtime.stream_group(stream_id)
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            with contextlib.suppress(Exception):  # Redis away: the next round tries again
                await layer.group_add(group, channel)

    async def _read(self, stream_id: str, channel: str) -> None:
        layer = get_channel_layer()
        group = realtime.stream_group(stream_id)
        while True:
            try:
                event = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis went away. Once it is back, join the group again (the `core` layer
                # keeps groups in Redis, which may have lost them); consumers catch up on
                # what was missed from the database.
                log.warning("stream %s: channel layer receive failed: %s", stream_id, exc)
                while True:
                    await asyncio.sleep(RETRY_SECONDS)
                    try:
                        await layer.group_add(group, channel)
                        break
                    except Exception:
                        continue
                continue
            for consumer in list(self.members.get(stream_id, ())):
                try:
                    await consumer.stream_frame(event)
                except Exception:  # one broken socket must not starve the others
                    log.exception("stream %s: could not deliver %s", stream_id, event.get("type"))


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def hub() -> Hub:
    """This process's hub (one per event loop: the tests run several loops)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        for old in [old for old in _hubs if old.is_closed()]:
            del _hubs[old]
        found = _hubs[loop] = Hub()
    return found
