"""Writes for chat: posting a message (validated, rate limited, persisted, broadcast)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from chat import events
from chat.errors import ChatError
from chat.models import MAX_MESSAGE_LENGTH, ChatMessage
from streams.models import Stream

log = logging.getLogger(__name__)


def message_payload(message: ChatMessage) -> dict:
    return {
        "id": message.pk,
        "user": {"username": message.user.username, "display_name": message.user.display_name},
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def _rate_limit(user: User, stream: Stream) -> None:
    """At most CHAT_RATE_MESSAGES per CHAT_RATE_SECONDS per user and stream (Redis, shared
    by every web process)."""
    key = f"chat:rate:{stream.pk}:{user.pk}"
    try:
        added = cache.add(key, 1, settings.CHAT_RATE_SECONDS)
        count = 1 if added else cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, settings.CHAT_RATE_SECONDS)
        count = 1
    if count > settings.CHAT_RATE_MESSAGES:
        raise ChatError(
            f"Slow down: at most {settings.CHAT_RATE_MESSAGES} messages "
            f"every {settings.CHAT_RATE_SECONDS} seconds.",
            code="rate_limited",
            status_code=429,
        )


def message_send(*, stream: Stream, user: User, content: str) -> ChatMessage:
    if not user.is_authenticated:
        raise ChatError("Log in to chat.", code="login_required", status_code=401)
    if not user.is_active:
        raise ChatError("Your account is suspended.", code="banned", status_code=403)
    if stream.status in (Stream.Status.ENDED, Stream.Status.FAILED):
        raise ChatError("This broadcast has ended; its chat is closed.", code="chat_closed", status_code=409)
    if not isinstance(content, str):
        raise ChatError("content: Expected text.", code="invalid")
    content = content.replace("\x00", "").strip()
    if not content:
        raise ChatError("content: The message is empty.", code="empty")
    if len(content) > MAX_MESSAGE_LENGTH:
        raise ChatError(f"content: At most {MAX_MESSAGE_LENGTH} characters.", code="too_long")
    _rate_limit(user, stream)
    message = ChatMessage.objects.create(stream=stream, user=user, content=content)
    payload = {"type": events.CHAT_MESSAGE, **message_payload(message)}

    def broadcast():
        try:
            async_to_sync(get_channel_layer().group_send)(events.stream_group(stream.pk), payload)
        except Exception:  # persisted already: clients backfill by id
            log.exception("could not broadcast chat message %s", message.pk)

    transaction.on_commit(broadcast)
    return message
