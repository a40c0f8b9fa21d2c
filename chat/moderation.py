"""Writes for moderators (the streamer, the channel's moderators, site staff): delete, pin
and clear messages, time users out or ban them, and set the channel's chat modes. Each is
recorded in the audit log and shown to every socket. Input is validated at the edge
(chat.schemas) before it gets here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import User
from chat.errors import ChatError
from chat.frames import chat_modes, message_payload
from chat.models import ChannelModerator, ChatBan, ChatMessage, ChatSettings, ModerationAction
from chat.selectors import chat_can_moderate
from chat.services import group_send
from socialflow.lib import realtime
from socialflow.lib.updates import model_update
from streams.models import Stream

CHAT_SETTINGS_FIELDS = (
    "slow_mode_seconds",
    "followers_only",
    "follow_min_minutes",
    "emote_only",
    "blocked_terms",
)


def _require_moderator(user: User, stream: Stream) -> None:
    if not chat_can_moderate(user=user, stream=stream):
        raise ChatError(
            "Only the streamer and moderators can do this.", code="permission_denied", status_code=403
        )


def _record(stream: Stream, by: User, kind: str, **fields: Any) -> None:
    ModerationAction.objects.create(
        stream=stream, channel_id=stream.channel_id, actor=by, kind=kind, **fields
    )


def _message_in(stream: Stream, message_id: int) -> ChatMessage:
    message = ChatMessage.objects.select_related("user").filter(pk=message_id, stream=stream).first()
    if message is None:
        raise ChatError("No such message.", code="not_found", status_code=404)
    return message


def message_delete(*, stream: Stream, by: User, message_id: int) -> ChatMessage:
    """Remove a message for everyone; its author may delete their own."""
    message = _message_in(stream, message_id)
    if message.user_id != by.pk:
        _require_moderator(by, stream)
    if message.deleted_at is None:
        message.deleted_at = timezone.now()
        message.save(update_fields=["deleted_at"])
        _record(
            stream,
            by,
            ModerationAction.Kind.DELETE,
            target_user=message.user,
            message=message,
            details={"content": message.content[:200]},
        )
        group_send(stream, {"type": realtime.CHAT_DELETED, "id": message.pk})
    return message


def message_pin(*, stream: Stream, by: User, message_id: int) -> ChatMessage:
    _require_moderator(by, stream)
    message = _message_in(stream, message_id)
    if message.deleted_at is not None:
        raise ChatError("That message was deleted.", code="deleted", status_code=409)
    with transaction.atomic():
        ChatMessage.objects.filter(stream=stream, pinned_at__isnull=False).update(pinned_at=None)
        message.pinned_at = timezone.now()
        message.save(update_fields=["pinned_at"])
        _record(stream, by, ModerationAction.Kind.PIN, target_user=message.user, message=message)
    group_send(stream, {"type": realtime.CHAT_PINNED, "message": message_payload(message)})
    return message


def chat_clear(*, stream: Stream, by: User) -> int:
    """Remove every message of the broadcast for everyone; returns how many went.

    Clients drop the messages up to `up_to`: one sent while the chat was being cleared has a
    larger id, stays in the history, and must stay on screen too.
    """
    _require_moderator(by, stream)
    up_to = ChatMessage.objects.filter(stream=stream).aggregate(up_to=Max("id"))["up_to"] or 0
    with transaction.atomic():
        count = ChatMessage.objects.filter(stream=stream, id__lte=up_to, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        _record(stream, by, ModerationAction.Kind.CLEAR, details={"count": count, "up_to": up_to})
    group_send(stream, {"type": realtime.CHAT_CLEARED, "up_to": up_to})
    return count


def user_timeout(
    *, stream: Stream, by: User, username: str, seconds: int | None = None, reason: str = ""
) -> ChatBan:
    """Keep `username` out of this channel's chat for `seconds`, or for good (None)."""
    _require_moderator(by, stream)
    target = User.objects.filter(username__iexact=username).first()
    if target is None:
        raise ChatError("No such user.", code="not_found", status_code=404)
    if target.pk == stream.owner_id or target.pk == by.pk:
        raise ChatError("That user can't be timed out here.", code="invalid")
    # Moderators do not silence each other or site staff: that is the streamer's call (S-18).
    protected = (
        target.is_staff
        or target.is_superuser
        or ChannelModerator.objects.filter(channel_id=stream.channel_id, user=target).exists()
    )
    if protected and by.pk != stream.owner_id and not by.is_superuser:
        raise ChatError(
            "Only the streamer can time out or ban a moderator or site staff.",
            code="permission_denied",
            status_code=403,
        )
    until = timezone.now() + timedelta(seconds=seconds) if seconds else None
    ban, _ = ChatBan.objects.update_or_create(
        channel_id=stream.channel_id,
        user=target,
        defaults={"until": until, "reason": reason[:200], "created_by": by},
    )
    kind = ModerationAction.Kind.TIMEOUT if seconds else ModerationAction.Kind.BAN
    _record(stream, by, kind, target_user=target, details={"seconds": seconds, "reason": reason[:200]})
    return ban


def chat_settings_update(*, stream: Stream, by: User, **changes: Any) -> ChatSettings:
    """Slow mode, followers-only chat (with a minimum follow age), emote-only and blocked
    terms; `changes` are CHAT_SETTINGS_FIELDS, validated by chat.schemas.ChatSettingsInput."""
    _require_moderator(by, stream)
    unknown = set(changes) - set(CHAT_SETTINGS_FIELDS)
    if unknown:  # a programming error, not client input
        raise TypeError(f"chat_settings_update: unknown settings {sorted(unknown)}")
    rules, _ = ChatSettings.objects.get_or_create(channel_id=stream.channel_id)
    model_update(instance=rules, fields=CHAT_SETTINGS_FIELDS, data=changes)
    group_send(stream, {"type": realtime.CHAT_MODE, **chat_modes(rules)})
    return rules
