"""Reads for chat: history and catch-up for sockets and REST, who may moderate, the rules."""

from __future__ import annotations

from typing import Any

from django.db.models import Max

from accounts.models import User
from chat.frames import chat_modes, message_payload
from chat.models import ChannelModerator, ChatMessage, ChatSettings
from socialflow.lib import realtime
from streams.models import Channel, Stream

HISTORY_SIZE = 50
MAX_CATCH_UP = 500


def messages_after(
    *, stream: Stream, after: int | None = None, limit: int = 100, upto: int | None = None
) -> list[ChatMessage]:
    """Messages oldest first; everything after `after` (for backfill), else the latest (up
    to id `upto`)."""
    qs = ChatMessage.objects.filter(stream=stream, deleted_at__isnull=True).select_related("user")
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    if after is not None:
        return list(qs.filter(id__gt=after).order_by("id")[:limit])
    latest = list(qs.order_by("-id")[:HISTORY_SIZE])
    return list(reversed(latest))


def latest_message_id(*, stream_id: str) -> int:
    """The newest message id of the broadcast, deleted ones included (0 if none)."""
    last: int | None = ChatMessage.objects.filter(stream_id=stream_id).aggregate(last=Max("id"))["last"]
    return last or 0


def messages_between(*, stream_id: str, after: int, before: int) -> list[ChatMessage]:
    """What a socket missed: messages with after < id < before, oldest first (at most the
    last MAX_CATCH_UP)."""
    qs = ChatMessage.objects.filter(
        stream_id=stream_id, id__gt=after, id__lt=before, deleted_at__isnull=True
    ).select_related("user")
    return list(reversed(qs.order_by("-id")[:MAX_CATCH_UP]))


def missed_frames(*, stream_id: str, after: int, before: int) -> list[tuple[int, str]]:
    """The chat.message frames a socket missed, encoded, as (id, text)."""
    return [
        (m.pk, realtime.encode({"type": realtime.CHAT_MESSAGE, **message_payload(m)}))
        for m in messages_between(stream_id=stream_id, after=after, before=before)
    ]


def pinned_message(*, stream: Stream) -> ChatMessage | None:
    return (
        ChatMessage.objects.filter(stream=stream, pinned_at__isnull=False, deleted_at__isnull=True)
        .select_related("user")
        .first()
    )


def chat_history(*, stream: Stream) -> tuple[dict[str, Any], int]:
    """The chat.history frame a new socket gets (the last messages, the pinned one, the chat
    modes), and the id it has seen up to (deleted ones included)."""
    # The id first: a message committed after it comes as an event, not in the history.
    last_id = latest_message_id(stream_id=stream.pk)
    pinned = pinned_message(stream=stream)
    frame = {
        "type": realtime.CHAT_HISTORY,
        "messages": [message_payload(m) for m in messages_after(stream=stream, upto=last_id)],
        "pinned": pinned and message_payload(pinned),
        "modes": chat_modes(chat_settings_for(stream=stream)),
    }
    return frame, last_id


def chat_settings_for(*, stream: Stream) -> ChatSettings | None:
    return ChatSettings.objects.filter(channel_id=stream.channel_id).first()


def chat_can_moderate(*, user: User, stream: Stream) -> bool:
    """The streamer, the channel's moderators, and site staff who moderate chat."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.pk == stream.owner_id or user.is_superuser:
        return True
    if user.is_staff and user.has_perm("chat.change_chatmessage"):
        return True
    return ChannelModerator.objects.filter(channel_id=stream.channel_id, user=user).exists()


def is_channel_moderator(user: User, channel: Channel) -> bool:
    """One of the channel's own moderators (streams asks, through register_channel_managers)."""
    return ChannelModerator.objects.filter(channel=channel, user=user).exists()
