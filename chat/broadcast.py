"""Sending frames to everyone watching a broadcast.

Every event on a stream's group is one `stream.frame` carrying the frame already encoded as
JSON text, so each web process forwards the same string to each of its sockets without
decoding or encoding anything per socket (see StreamConsumer.dispatch). Chat messages also
carry their id and the id of the message before them in the broadcast, so a socket that
missed one (the pub/sub layer drops what is published while Redis is away) notices the gap
and catches up from the database.
"""

from __future__ import annotations

import json
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from redis.exceptions import RedisError

from chat import events

log = logging.getLogger(__name__)


def encode(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def group_event(payload: dict, **meta) -> dict:
    return {"type": events.FRAME, "text": encode(payload), **meta}


def send_on_commit(stream_id: str, payload: dict, **meta) -> None:
    """From synchronous code (services, hooks, tasks): once the transaction has committed.
    A failure is logged, never raised: what matters is persisted already, and clients catch
    up by id or re-fetch."""

    def send():
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(events.stream_group(stream_id), group_event(payload, **meta))
        except RedisError as exc:
            log.warning("could not broadcast %s for %s: %s", payload.get("type"), stream_id, exc)
        except Exception:
            log.exception("could not broadcast %s for %s", payload.get("type"), stream_id)

    transaction.on_commit(send)


async def send(stream_id: str, payload: dict) -> None:
    """From async code (consumers, presence)."""
    await get_channel_layer().group_send(events.stream_group(stream_id), group_event(payload))
