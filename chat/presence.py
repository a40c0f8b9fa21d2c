"""Who is watching: one entry per socket in a Redis sorted set per broadcast, scored by
when it expires. Heartbeats push the expiry forward; a process that dies leaves entries
that simply expire. The count is pushed to the broadcast's group at most once a second,
whichever web process notices the change first."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from functools import cache

import redis
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import F
from django.db.models.functions import Greatest

from chat import broadcast, events
from streams.models import Stream

log = logging.getLogger(__name__)

PUSH_EVERY_SECONDS = 1.0


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def _redis() -> aioredis.Redis:
    # redis.asyncio clients belong to one event loop (Celery tasks and sync views run
    # short-lived loops; their clients go with them).
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(settings.REDIS_URL)
    return client


def _key(stream_id: str) -> str:
    return f"presence:{stream_id}"


async def join(stream_id: str, member: str) -> None:
    await _redis().zadd(_key(stream_id), {member: time.time() + settings.PRESENCE_TTL_SECONDS})
    await changed(stream_id)


async def beat(stream_id: str, member: str) -> None:
    # Not xx: after Redis lost its data (a restart), the next heartbeat counts the viewer again.
    await _redis().zadd(_key(stream_id), {member: time.time() + settings.PRESENCE_TTL_SECONDS})


async def leave(stream_id: str, member: str) -> None:
    await _redis().zrem(_key(stream_id), member)
    await changed(stream_id)


async def count(stream_id: str) -> int:
    client = _redis()
    now = time.time()
    await client.zremrangebyscore(_key(stream_id), "-inf", now)
    return int(await client.zcard(_key(stream_id)))


async def claim_push(stream_id: str) -> bool:
    """True for the first change of this second, whose caller schedules the push."""
    return bool(
        await _redis().set(f"presence:push:{stream_id}", 1, nx=True, px=int(PUSH_EVERY_SECONDS * 1000))
    )


async def changed(stream_id: str) -> None:
    """Schedule one push for this second, unless some process has already."""
    if await claim_push(stream_id):
        asyncio.get_running_loop().create_task(_push_later(stream_id))


# --- The same from synchronous code (REST presence, Celery tasks), with a plain client: an
# asyncio client in a short-lived event loop would outlive it.


@cache
def _sync_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _claim_push_sync(stream_id: str) -> bool:
    return bool(
        _sync_redis().set(f"presence:push:{stream_id}", 1, nx=True, px=int(PUSH_EVERY_SECONDS * 1000))
    )


def touch_sync(stream_id: str, member: str) -> bool:
    """Join or heartbeat for a viewer without a socket (REST); True if the caller must
    schedule the push (chat.tasks.presence_push_task)."""
    _sync_redis().zadd(_key(stream_id), {member: time.time() + settings.PRESENCE_TTL_SECONDS})
    return _claim_push_sync(stream_id)


def drop_sync(stream_id: str, member: str) -> bool:
    _sync_redis().zrem(_key(stream_id), member)
    return _claim_push_sync(stream_id)


def count_sync(stream_id: str) -> int:
    client = _sync_redis()
    client.zremrangebyscore(_key(stream_id), "-inf", time.time())
    return int(client.zcard(_key(stream_id)))


def push_sync(stream_id: str) -> int:
    viewers = count_sync(stream_id)
    _store(stream_id, viewers)
    broadcast.send_on_commit(stream_id, {"type": events.VIEWERS, "count": viewers})
    return viewers


async def _push_later(stream_id: str) -> None:
    await asyncio.sleep(PUSH_EVERY_SECONDS)
    try:
        await push(stream_id)
    except Exception:  # a missed push is corrected by the next change or the sweep
        log.exception("viewer count push failed for %s", stream_id)


async def push(stream_id: str) -> int:
    viewers = await count(stream_id)
    await database_sync_to_async(_store)(stream_id, viewers)
    await broadcast.send(stream_id, {"type": events.VIEWERS, "count": viewers})
    return viewers


def _store(stream_id: str, viewers: int) -> None:
    Stream.objects.filter(pk=stream_id).update(
        viewer_count=viewers, peak_viewer_count=Greatest(F("peak_viewer_count"), viewers)
    )
