"""Who is watching: one entry per socket in a Redis sorted set per broadcast, scored by
when it expires. Heartbeats push the expiry forward; a process that dies leaves entries
that simply expire. The count is pushed to the broadcast's group at most once a second,
whichever web process notices the change first. Native players without the socket join,
beat and leave over REST (viewer_join/viewer_leave, with a signed session token)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from functools import cache

import redis
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from django.conf import settings
from django.core import signing
from django.db.models import F
from django.db.models.functions import Greatest
from kombu.exceptions import OperationalError

from accounts.models import User
from analytics.models import ViewerSession
from analytics.services import Client, viewer_session_end, viewer_session_start
from chat.errors import ChatError
from chat.tasks import presence_push_task
from socialflow.lib import realtime
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


# --- Anonymous viewers: at most PRESENCE_MAX_PER_ADDRESS counted per address (S-10) -------
#
# A logged-out viewer costs nothing to make, so one machine could open sockets (or REST
# joins) by the thousand and top the directory. Each address holds a sorted set of the
# anonymous viewers it has counted, scored by expiry like the presence set; past the cap,
# more viewers from it watch and chat as usual but are not counted (and get no analytics
# session). Logged-in viewers are counted per account, as before.

_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _address_key(stream_id: str, address: str) -> str:
    return f"presence:address:{stream_id}:{address}"


def _admit_args(member: str) -> list[object]:
    now = time.time()
    ttl = settings.PRESENCE_TTL_SECONDS
    return [member, now + ttl, now, settings.PRESENCE_MAX_PER_ADDRESS, 2 * ttl]


async def admit(stream_id: str, address: str, member: str) -> bool:
    """Whether one more anonymous viewer (`member`) from `address` is counted; a viewer
    already counted is kept (its expiry pushed forward)."""
    keys = [_address_key(stream_id, address)]
    return bool(await _redis().eval(_ADMIT, 1, *keys, *_admit_args(member)))


def admit_sync(stream_id: str, address: str, member: str) -> bool:
    keys = [_address_key(stream_id, address)]
    return bool(_sync_redis().eval(_ADMIT, 1, *keys, *_admit_args(member)))


async def release(stream_id: str, address: str, member: str) -> None:
    await _redis().zrem(_address_key(stream_id, address), member)


def release_sync(stream_id: str, address: str, member: str) -> None:
    _sync_redis().zrem(_address_key(stream_id, address), member)


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
    schedule the push."""
    _sync_redis().zadd(_key(stream_id), {member: time.time() + settings.PRESENCE_TTL_SECONDS})
    return _claim_push_sync(stream_id)


def drop_sync(stream_id: str, member: str) -> bool:
    _sync_redis().zrem(_key(stream_id), member)
    return _claim_push_sync(stream_id)


def count_sync(stream_id: str) -> int:
    client = _sync_redis()
    client.zremrangebyscore(_key(stream_id), "-inf", time.time())
    return int(client.zcard(_key(stream_id)))


def members_sync(stream_id: str) -> list[str]:
    """The entries counted now (expired ones dropped): one per socket or REST player."""
    client = _sync_redis()
    now = time.time()
    client.zremrangebyscore(_key(stream_id), "-inf", now)
    return [member.decode() for member in client.zrangebyscore(_key(stream_id), now, "+inf")]


def members_many(stream_ids: list[str]) -> dict[str, list[str]]:
    """`members_sync` for many broadcasts in one round trip (the sampler's tick)."""
    now = time.time()
    pipe = _sync_redis().pipeline(transaction=False)
    for stream_id in stream_ids:
        pipe.zremrangebyscore(_key(stream_id), "-inf", now)
        pipe.zrangebyscore(_key(stream_id), now, "+inf")
    replies = pipe.execute()
    return {
        stream_id: [member.decode() for member in replies[2 * i + 1]]
        for i, stream_id in enumerate(stream_ids)
    }


def new_token() -> str:
    return uuid.uuid4().hex


def member_id(session_id: int | None, token: str | None = None) -> str:
    """A presence entry's name: its analytics viewer session first, so the sampler can tell
    which sessions are alive (`session_ids`), then the viewer's token."""
    return f"{session_id or 0}.{token or new_token()}"


def session_ids(members: list[str]) -> list[int]:
    ids = []
    for member in members:
        head = member.split(".", 1)[0]
        if head.isdigit() and head != "0":
            ids.append(int(head))
    return ids


def push_sync(stream_id: str) -> int:
    viewers = count_sync(stream_id)
    _store(stream_id, viewers)
    realtime.send_on_commit(stream_id, {"type": realtime.VIEWERS, "count": viewers})
    return viewers


def sweep_sync() -> int:
    """Recount every live broadcast: viewers of a web process that died expire here."""
    ids = list(Stream.objects.live().values_list("pk", flat=True))
    for stream_id in ids:
        push_sync(stream_id)
    return len(ids)


async def _push_later(stream_id: str) -> None:
    await asyncio.sleep(PUSH_EVERY_SECONDS)
    try:
        await push(stream_id)
    except Exception:  # a missed push is corrected by the next change or the sweep
        log.exception("viewer count push failed for %s", stream_id)


async def push(stream_id: str) -> int:
    viewers = await count(stream_id)
    await database_sync_to_async(_store)(stream_id, viewers)
    await realtime.send(stream_id, {"type": realtime.VIEWERS, "count": viewers})
    return viewers


def _store(stream_id: str, viewers: int) -> None:
    Stream.objects.filter(pk=stream_id).update(
        viewer_count=viewers, peak_viewer_count=Greatest(F("peak_viewer_count"), viewers)
    )


# --- Viewers without the socket (native players, over REST) -----------------------------

PRESENCE_SALT = "chat.presence"


def heartbeat_seconds() -> int:
    """How often a viewer must beat to stay counted: well inside PRESENCE_TTL_SECONDS."""
    return max(1, settings.PRESENCE_TTL_SECONDS // 3)


def _push_later_in_worker(stream_id: str) -> None:
    try:
        presence_push_task.apply_async((stream_id,), countdown=PUSH_EVERY_SECONDS)
    except OperationalError as exc:  # the broker is away: the 15-s sweep pushes the count
        log.warning("viewer count push for %s not queued: %s", stream_id, exc)


def viewer_join(
    *,
    stream: Stream,
    user: User,
    session: str | None = None,
    client: Client | None = None,
    address: str = "",
) -> dict:
    """Count a native player as a viewer. Without `session` it starts one (and an analytics
    viewer session); with one it is the heartbeat. The session token is signed, so nobody
    can end or extend someone else's.

    A logged-out player is counted only within its address's PRESENCE_MAX_PER_ADDRESS
    (S-10): past it, it gets a session that is not counted, and each heartbeat asks again."""
    if stream.status != Stream.Status.LIVE:
        raise ChatError("This broadcast is not live.", code="not_live", status_code=409)
    if session:
        data = _presence_session(stream, session)
    elif user.is_authenticated:
        viewer_session = viewer_session_start(
            stream_id=stream.pk, user_id=user.pk, client=client, via=ViewerSession.Via.API
        )
        data = {"s": stream.pk, "m": member_id(viewer_session), "v": viewer_session}
    else:  # logged out: counted below if its address has room
        data = {
            "s": stream.pk,
            "m": None,
            "v": None,
            "t": new_token(),
            "a": address,
            "c": _client_data(client),
        }
    if "a" in data:  # a logged-out player: counted within its address's cap
        data = _admit_anonymous(stream, data)
    if data["m"] is not None and touch_sync(stream.pk, data["m"]):
        _push_later_in_worker(stream.pk)
    session = signing.dumps(data, salt=PRESENCE_SALT)  # fresh each time: an old one expires
    viewers = count_sync(stream.pk)
    if data["m"] is not None:  # the peak, even if it lasts less than the second between pushes
        Stream.objects.filter(pk=stream.pk).update(
            peak_viewer_count=Greatest(F("peak_viewer_count"), viewers)
        )
    return {"session": session, "viewers": viewers, "heartbeat_seconds": heartbeat_seconds()}


def _client_data(client: Client | None) -> list[str]:
    client = client or Client()
    return [client.anonymous_id, client.user_agent[:300], client.referrer]


def _admit_anonymous(stream: Stream, data: dict) -> dict:
    """A logged-out player's heartbeat: counted (and its analytics session started) once its
    address has room; one counted already keeps its place."""
    if not admit_sync(stream.pk, data["a"], data["t"]):
        return data  # over the cap: watches uncounted, asks again next time
    if data["m"] is None:
        anonymous_id, user_agent, referrer = data.get("c") or ["", "", ""]
        viewer_session = viewer_session_start(
            stream_id=stream.pk,
            user_id=None,
            client=Client(anonymous_id=anonymous_id, user_agent=user_agent, referrer=referrer),
            via=ViewerSession.Via.API,
        )
        data = {**data, "m": member_id(viewer_session, data["t"]), "v": viewer_session}
    return data


def viewer_leave(*, stream: Stream, session: str) -> None:
    data = _presence_session(stream, session)
    if "a" in data:
        release_sync(stream.pk, data["a"], data["t"])
    if data["m"] is not None:
        if drop_sync(stream.pk, data["m"]):
            _push_later_in_worker(stream.pk)
        viewer_session_end(session_id=data["v"])


def viewer_session_of(*, stream: Stream, session: str) -> tuple[str, int | None]:
    """A REST viewer session's presence entry and analytics session id (for its reports)."""
    data = _presence_session(stream, session)
    return data["m"] or member_id(None, data.get("t")), data.get("v")


def _presence_session(stream: Stream, session: str) -> dict:
    try:
        data = signing.loads(session, salt=PRESENCE_SALT, max_age=2 * settings.PRESENCE_TTL_SECONDS)
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("s") != stream.pk:
        raise ChatError("session: Not a viewer session of this broadcast.", code="invalid_session")
    return data


def viewer_counts(*, stream: Stream) -> dict:
    live = stream.status == Stream.Status.LIVE
    viewers = count_sync(stream.pk) if live else 0
    return {"viewers": viewers, "peak_viewers": max(stream.peak_viewer_count, viewers)}
