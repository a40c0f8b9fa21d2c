"""Reaction frames, coalesced (R-03): at most one `reaction` frame per REACTION_FRAME_SECONDS
per broadcast, whatever the number of reactions and web processes.

A thousand viewers each reacting once a second used to make a thousand frames a second,
each written to a thousand sockets. Now every reaction is counted in the database at once
(chat.services.reaction_send) and added to a Redis hash per broadcast; the first reaction
of a window claims it (SET NX PX) and, a window later, sends one frame with everything the
window gathered, from whichever process or thread it runs in:

    {"type": "reaction", "reaction": <the kind most sent>, "count": <its total>,
     "added": {kind: reactions in this window}, "counts": {kind: its total}}

With Redis away the frame goes out at once, one per reaction, as before: the count is
persisted already, and a frame is worth less than the reaction.
"""

from __future__ import annotations

import logging
import threading
from functools import cache

import redis
from django.conf import settings
from django.db import connection

from chat.models import ReactionCount
from socialflow.lib import realtime

log = logging.getLogger(__name__)


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)


def _pending_key(stream_id: str) -> str:
    return f"chat:reactions:pending:{stream_id}"


def _window_key(stream_id: str) -> str:
    return f"chat:reactions:window:{stream_id}"


def reaction_announce(*, stream_id: str, reaction: str) -> None:
    """A reaction was counted: it goes out in its window's frame."""
    window = settings.REACTION_FRAME_SECONDS
    try:
        pipe = _redis().pipeline()
        pipe.hincrby(_pending_key(stream_id), reaction, 1)
        pipe.expire(_pending_key(stream_id), 60)
        pipe.set(_window_key(stream_id), 1, nx=True, px=max(1, int(window * 1000)))
        *_, opened = pipe.execute()
    except redis.RedisError as exc:
        log.warning("reactions of %s sent one by one (Redis: %s)", stream_id, exc)
        _send(stream_id, {reaction: 1})
        return
    if opened:  # the first of its window: send the window's frame when it closes
        timer = threading.Timer(window, _flush, kwargs={"stream_id": stream_id})
        timer.daemon = True
        timer.start()


def _flush(*, stream_id: str) -> None:
    try:
        pipe = _redis().pipeline(transaction=True)
        pipe.hgetall(_pending_key(stream_id))
        pipe.delete(_pending_key(stream_id))
        pending, _ = pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not send the reactions of %s: %s", stream_id, exc)
        return
    added = {kind.decode(): int(n) for kind, n in pending.items()}
    if added:
        try:
            _send(stream_id, added)
        finally:
            connection.close()  # this timer thread's own connection


def _send(stream_id: str, added: dict[str, int]) -> None:
    counts = dict(
        ReactionCount.objects.filter(stream_id=stream_id, type__in=list(added)).values_list("type", "count")
    )
    top = max(added, key=lambda kind: (added[kind], kind))
    realtime.send_on_commit(
        stream_id,
        {
            "type": realtime.REACTION,
            "reaction": top,
            "count": counts.get(top, 0),
            "added": added,
            "counts": counts,
        },
    )
