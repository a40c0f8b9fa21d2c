"""Writes for chat: posting a message (validated, rate limited, persisted, broadcast)."""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
import unicodedata
import uuid
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import Follow, User
from analytics.services import viewer_session_end, viewer_session_start
from chat import broadcast, events, presence
from chat.errors import ChatError
from chat.models import (
    MAX_MESSAGE_LENGTH,
    ChannelModerator,
    ChatBan,
    ChatMessage,
    ChatSettings,
    ModerationAction,
    Reaction,
    ReactionCount,
)
from streams.models import Stream

log = logging.getLogger(__name__)


def message_payload(message: ChatMessage) -> dict:
    return {
        "id": message.pk,
        "user": {"username": message.user.username, "display_name": message.user.display_name},
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def _first_in_window(key: str, seconds: int) -> bool:
    """True if nothing used `key` in the last `seconds` (and claims it). With Redis away the
    limits fail open: a lost message is worse than a fast one, and Redis is back soon."""
    try:
        return cache.add(key, 1, seconds)
    except RedisError as exc:
        log.warning("rate limit skipped, Redis unavailable: %s", exc)
        return True


def _count_in_window(key: str, seconds: int) -> int:
    """Count a hit; the counter starts when the first hit comes and lasts `seconds`. One
    MULTI on Redis: Django's incr() checks, then increments, and a key expiring in between
    would come back without an expiry (muting the user for good)."""
    client_of = getattr(getattr(cache, "_cache", None), "get_client", None)
    if client_of is None:  # not Redis (a developer's locmem cache)
        if cache.add(key, 1, seconds):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired just now: a new window
            return int(cache.add(key, 1, seconds))
    full = cache.make_and_validate_key(key)
    with client_of(full, write=True).pipeline() as pipe:
        pipe.set(full, 0, ex=seconds, nx=True)
        pipe.incr(full)
        return pipe.execute()[1]


def _seconds(n: int) -> str:
    return f"{n} second" if n == 1 else f"{n} seconds"


def _rate_limit(user: User, stream: Stream) -> None:
    """At most CHAT_RATE_MESSAGES per CHAT_RATE_SECONDS per user and stream (Redis, shared
    by every web process); going over it times the user out for CHAT_RATE_TIMEOUT_SECONDS."""
    key = f"chat:rate:{stream.pk}:{user.pk}"
    timeout_key = f"chat:rate:timeout:{stream.pk}:{user.pk}"
    try:
        until = cache.get(timeout_key)
        if until and until > time.time():
            raise ChatError(
                f"Slow down: you can chat again in {_seconds(math.ceil(until - time.time()))}.",
                code="rate_limited",
                status_code=429,
            )
        count = _count_in_window(key, settings.CHAT_RATE_SECONDS)
    except RedisError as exc:
        log.warning("rate limit skipped, Redis unavailable: %s", exc)
        count = 1
    if count > settings.CHAT_RATE_MESSAGES:
        seconds = settings.CHAT_RATE_TIMEOUT_SECONDS
        with contextlib.suppress(RedisError):
            cache.set(timeout_key, time.time() + seconds, seconds)
        raise ChatError(
            f"Slow down: at most {settings.CHAT_RATE_MESSAGES} messages "
            f"every {_seconds(settings.CHAT_RATE_SECONDS)}. You can chat again in {_seconds(seconds)}.",
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
    _check_not_banned(user, stream)
    _check_rules(user, stream, content)
    _rate_limit(user, stream)
    with transaction.atomic():
        # One insert at a time per broadcast, so ids follow commit order and `prev` is exact:
        # a socket that sees a message whose `prev` it never got knows it missed one.
        # NO KEY UPDATE: rows referring to the stream (viewer sessions, events) are not held up.
        status = (
            Stream.objects.select_for_update(no_key=True)
            .filter(pk=stream.pk)
            .values_list("status", flat=True)
            .first()
        )
        if status in (Stream.Status.ENDED, Stream.Status.FAILED):  # ended since the socket opened
            raise ChatError(
                "This broadcast has ended; its chat is closed.", code="chat_closed", status_code=409
            )
        prev = ChatMessage.objects.filter(stream=stream).aggregate(last=Max("id"))["last"]
        message = ChatMessage.objects.create(stream=stream, user=user, content=content)
    _group_send(
        stream, {"type": events.CHAT_MESSAGE, **message_payload(message)}, id=message.pk, prev=prev or 0
    )
    return message


# --- Moderation ---------------------------------------------------------------------


def can_moderate(*, user: User, stream: Stream) -> bool:
    """The streamer, the channel's moderators, and site staff who moderate."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.pk == stream.owner_id or user.is_superuser:
        return True
    if user.is_staff and user.has_perm("chat.change_chatmessage"):
        return True
    return ChannelModerator.objects.filter(channel_id=stream.channel_id, user=user).exists()


def _require_moderator(user: User, stream: Stream) -> None:
    if not can_moderate(user=user, stream=stream):
        raise ChatError(
            "Only the streamer and moderators can do this.", code="permission_denied", status_code=403
        )


def _group_send(stream: Stream, payload: dict, **meta) -> None:
    """To every socket of the broadcast, once the transaction has committed."""
    broadcast.send_on_commit(stream.pk, payload, **meta)


def _record(stream: Stream, by: User, kind: str, **fields) -> None:
    ModerationAction.objects.create(
        stream=stream, channel_id=stream.channel_id, actor=by, kind=kind, **fields
    )


def _message_in(stream: Stream, message_id) -> ChatMessage:
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise ChatError("id: Expected a message id.", code="invalid") from None
    message = ChatMessage.objects.select_related("user").filter(pk=message_id, stream=stream).first()
    if message is None:
        raise ChatError("No such message.", code="not_found", status_code=404)
    return message


def message_delete(*, stream: Stream, by: User, message_id) -> ChatMessage:
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
        _group_send(stream, {"type": events.CHAT_DELETED, "id": message.pk})
    return message


def message_pin(*, stream: Stream, by: User, message_id) -> ChatMessage:
    _require_moderator(by, stream)
    message = _message_in(stream, message_id)
    if message.deleted_at is not None:
        raise ChatError("That message was deleted.", code="deleted", status_code=409)
    with transaction.atomic():
        ChatMessage.objects.filter(stream=stream, pinned_at__isnull=False).update(pinned_at=None)
        message.pinned_at = timezone.now()
        message.save(update_fields=["pinned_at"])
        _record(stream, by, ModerationAction.Kind.PIN, target_user=message.user, message=message)
    _group_send(stream, {"type": events.CHAT_PINNED, "message": message_payload(message)})
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
    _group_send(stream, {"type": events.CHAT_CLEARED, "up_to": up_to})
    return count


def user_timeout(*, stream: Stream, by: User, username, seconds=None, reason: str = "") -> ChatBan:
    """Keep `username` out of this channel's chat for `seconds`, or for good (None)."""
    _require_moderator(by, stream)
    target = User.objects.filter(username__iexact=str(username or "")[:30]).first()
    if target is None:
        raise ChatError("No such user.", code="not_found", status_code=404)
    if target.pk == stream.owner_id or target.pk == by.pk:
        raise ChatError("That user can't be timed out here.", code="invalid")
    valid_seconds = (
        isinstance(seconds, int) and not isinstance(seconds, bool) and 1 <= seconds <= 14 * 24 * 3600
    )
    if seconds is not None and not valid_seconds:
        raise ChatError("seconds: Between 1 second and 14 days.", code="invalid")
    until = timezone.now() + timedelta(seconds=seconds) if seconds else None
    ban, _ = ChatBan.objects.update_or_create(
        channel_id=stream.channel_id,
        user=target,
        defaults={"until": until, "reason": reason[:200], "created_by": by},
    )
    kind = ModerationAction.Kind.TIMEOUT if seconds else ModerationAction.Kind.BAN
    _record(stream, by, kind, target_user=target, details={"seconds": seconds, "reason": reason[:200]})
    return ban


def _check_not_banned(user: User, stream: Stream) -> None:
    ban = ChatBan.objects.filter(channel_id=stream.channel_id, user=user).first()
    if ban is None:
        return
    if ban.until is None:
        raise ChatError("You are banned from this chat.", code="banned", status_code=403)
    left = (ban.until - timezone.now()).total_seconds()
    if left > 0:
        raise ChatError(
            f"You are timed out for {int(left) + 1} more seconds.", code="timed_out", status_code=403
        )


# --- Reactions ----------------------------------------------------------------------


def reaction_send(*, stream: Stream, user: User, type) -> int:
    """Count a reaction and show it to everyone; returns the new count for that type."""
    if not user.is_authenticated:
        raise ChatError("Log in to react.", code="login_required", status_code=401)
    if type not in Reaction.values:
        raise ChatError(f"type: One of {', '.join(Reaction.values)}.", code="invalid")
    if not stream.is_live:
        raise ChatError("Reactions are for live broadcasts.", code="chat_closed", status_code=409)
    _check_not_banned(user, stream)
    key = f"chat:reactions:{stream.pk}:{user.pk}"
    if not _first_in_window(key, settings.REACTION_RATE_SECONDS):
        raise ChatError(
            "One reaction at a time: try again in a moment.", code="rate_limited", status_code=429
        )
    counter, _ = ReactionCount.objects.get_or_create(stream=stream, type=type)
    ReactionCount.objects.filter(pk=counter.pk).update(count=F("count") + 1)
    count = counter.count + 1
    _group_send(stream, {"type": events.REACTION, "reaction": type, "count": count})
    return count


# --- Chat modes and the word filter -------------------------------------------------


def chat_settings_for(stream: Stream) -> ChatSettings | None:
    return ChatSettings.objects.filter(channel_id=stream.channel_id).first()


def chat_settings_update(*, stream: Stream, by: User, **changes) -> ChatSettings:
    """Slow mode, followers-only chat (with a minimum follow age), emote-only and blocked terms."""
    _require_moderator(by, stream)
    rules, _ = ChatSettings.objects.get_or_create(channel_id=stream.channel_id)
    limits = {"slow_mode_seconds": 3600, "follow_min_minutes": 60 * 24 * 90}
    for name, value in changes.items():
        if name in limits:
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limits[name]:
                raise ChatError(f"{name}: A whole number from 0 to {limits[name]}.", code="invalid")
        elif name in ("followers_only", "emote_only"):
            if not isinstance(value, bool):
                raise ChatError(f"{name}: true or false.", code="invalid")
        elif name == "blocked_terms":
            if not isinstance(value, str) or len(value) > 5000:
                raise ChatError("blocked_terms: Text, one term per line.", code="invalid")
        else:
            raise ChatError(f"{name}: Unknown chat setting.", code="invalid")
        setattr(rules, name, value)
    rules.save()
    _group_send(stream, {"type": events.CHAT_MODE, **chat_modes(rules)})
    return rules


def chat_modes(rules: ChatSettings | None) -> dict:
    return {
        "slow_mode_seconds": rules.slow_mode_seconds if rules else 0,
        "followers_only": rules.followers_only if rules else False,
        "follow_min_minutes": rules.follow_min_minutes if rules else 0,
        "emote_only": rules.emote_only if rules else False,
    }


# Emoji are symbols (So), joined and varied by marks and format characters (ZWJ, variation
# selectors, skin tones are So too, keycaps are Me); whitespace may separate them.
_EMOJI_PARTS = {"So", "Sk", "Mn", "Me", "Cf"}


def is_emote_only(content: str) -> bool:
    has_symbol = False
    for char in content:
        if char.isspace():
            continue
        category = unicodedata.category(char)
        if category not in _EMOJI_PARTS:
            return False
        has_symbol = has_symbol or category == "So"
    return has_symbol


def _check_rules(user: User, stream: Stream, content: str) -> None:
    """The channel's chat modes; the streamer and moderators are exempt from them."""
    rules = chat_settings_for(stream)
    if rules is None or can_moderate(user=user, stream=stream):
        return
    lowered = content.lower()
    # Whole words and phrases: "class" must not trip over "ass".
    if any(re.search(rf"(?<!\w){re.escape(term)}(?!\w)", lowered) for term in rules.blocked()):
        raise ChatError("That message contains a blocked word.", code="blocked_term")
    if rules.emote_only and not is_emote_only(content):
        raise ChatError("Emote-only mode: messages may hold only emoji.", code="emote_only")
    if rules.followers_only:
        follow = Follow.objects.filter(follower=user, followee_id=stream.owner_id).first()
        if follow is None:
            raise ChatError(
                "Only followers can chat here. Follow the channel to join in.",
                code="followers_only",
                status_code=403,
            )
        needed = timedelta(minutes=rules.follow_min_minutes)
        if timezone.now() - follow.created_at < needed:
            raise ChatError(
                f"Followers can chat after following for {rules.follow_min_minutes} minutes.",
                code="followers_only",
                status_code=403,
            )
    if rules.slow_mode_seconds and not _first_in_window(
        f"chat:slow:{stream.pk}:{user.pk}", rules.slow_mode_seconds
    ):
        raise ChatError(
            f"Slow mode: one message every {rules.slow_mode_seconds} seconds.",
            code="slow_mode",
            status_code=429,
        )


# --- Presence for players without the socket (REST) ------------------------------------

PRESENCE_SALT = "chat.presence"


def _presence_push_later(stream_id: str) -> None:
    from chat.tasks import presence_push_task

    presence_push_task.apply_async((stream_id,), countdown=presence.PUSH_EVERY_SECONDS)


def viewer_join(*, stream: Stream, user: User, session: str | None = None) -> dict:
    """Count a native player as a viewer. Without `session` it starts one (and an analytics
    viewer session); with one it is the heartbeat. The session token is signed, so nobody
    can end or extend someone else's."""
    if stream.status != Stream.Status.LIVE:
        raise ChatError("This broadcast is not live.", code="not_live", status_code=409)
    joined = not session
    if session:
        data = _presence_session(stream, session)
    else:
        viewer_session = viewer_session_start(
            stream_id=stream.pk, user_id=user.pk if user.is_authenticated else None
        )
        data = {"s": stream.pk, "m": f"api:{uuid.uuid4().hex}", "v": viewer_session}
    session = signing.dumps(data, salt=PRESENCE_SALT)  # fresh each time: an old one expires
    if presence.touch_sync(stream.pk, data["m"]):
        _presence_push_later(stream.pk)
    viewers = presence.count_sync(stream.pk)
    if joined:  # the peak, even if it lasts less than the second between pushes
        Stream.objects.filter(pk=stream.pk).update(
            peak_viewer_count=Greatest(F("peak_viewer_count"), viewers)
        )
    return {
        "session": session,
        "viewers": viewers,
        "heartbeat_seconds": max(1, settings.PRESENCE_TTL_SECONDS // 3),
    }


def viewer_leave(*, stream: Stream, session) -> None:
    data = _presence_session(stream, session)
    if presence.drop_sync(stream.pk, data["m"]):
        _presence_push_later(stream.pk)
    viewer_session_end(session_id=data["v"])


def _presence_session(stream: Stream, session) -> dict:
    try:
        data = (
            signing.loads(session, salt=PRESENCE_SALT, max_age=2 * settings.PRESENCE_TTL_SECONDS)
            if isinstance(session, str)
            else None
        )
    except signing.BadSignature:
        data = None
    if not isinstance(data, dict) or data.get("s") != stream.pk:
        raise ChatError("session: Not a viewer session of this broadcast.", code="invalid_session")
    return data


def viewer_counts(*, stream: Stream) -> dict:
    live = stream.status == Stream.Status.LIVE
    viewers = presence.count_sync(stream.pk) if live else 0
    return {"viewers": viewers, "peak_viewers": max(stream.peak_viewer_count, viewers)}
