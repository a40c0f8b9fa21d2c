"""Writes for chatters: posting a message (rules, rate limits, persisted, then sent to every
socket) and reacting. What moderators do is in chat.moderation; who is watching in
chat.presence. Input is validated at the edge (chat.schemas) before it gets here."""

from __future__ import annotations

import math
import re
import time
import unicodedata
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from accounts import webhooks
from accounts.models import Follow, User, WebhookEvent
from chat import reactions
from chat.errors import ChatError
from chat.frames import message_payload
from chat.models import ChatBan, ChatMessage, Reaction, ReactionCount
from chat.selectors import chat_can_moderate, chat_settings_for
from socialflow.lib import ratelimit, realtime
from streams.models import Stream


def group_send(stream: Stream, payload: dict[str, Any], **meta: Any) -> None:
    """To every socket of the broadcast, once the transaction has committed."""
    realtime.send_on_commit(stream.pk, payload, **meta)


def _seconds(n: int) -> str:
    return f"{n} second" if n == 1 else f"{n} seconds"


def _closed() -> ChatError:
    return ChatError("This broadcast has ended; its chat is closed.", code="chat_closed", status_code=409)


def _rate_limit(user: User, stream: Stream) -> None:
    """At most CHAT_RATE_MESSAGES per CHAT_RATE_SECONDS per user and stream (Redis, shared
    by every web process); going over it times the user out for CHAT_RATE_TIMEOUT_SECONDS."""
    timeout_key = f"chat:rate:timeout:{stream.pk}:{user.pk}"
    until = ratelimit.recall(timeout_key)
    if until and until > time.time():
        raise ChatError(
            f"Slow down: you can chat again in {_seconds(math.ceil(until - time.time()))}.",
            code="rate_limited",
            status_code=429,
        )
    if ratelimit.hits_in_window(f"chat:rate:{stream.pk}:{user.pk}", settings.CHAT_RATE_SECONDS) > (
        settings.CHAT_RATE_MESSAGES
    ):
        seconds = settings.CHAT_RATE_TIMEOUT_SECONDS
        ratelimit.remember(timeout_key, time.time() + seconds, seconds)
        raise ChatError(
            f"Slow down: at most {settings.CHAT_RATE_MESSAGES} messages "
            f"every {_seconds(settings.CHAT_RATE_SECONDS)}. You can chat again in {_seconds(seconds)}.",
            code="rate_limited",
            status_code=429,
        )


def message_send(*, stream: Stream, user: User, content: str) -> ChatMessage:
    """Post `content` (validated by chat.schemas.ChatSendInput) to the broadcast's chat."""
    if not user.is_authenticated:
        raise ChatError("Log in to chat.", code="login_required", status_code=401)
    if not user.is_active:
        raise ChatError("Your account is suspended.", code="banned", status_code=403)
    if stream.is_over:
        raise _closed()
    check_not_banned(user=user, stream=stream)
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
        if status in Stream.OVER:  # ended since the socket opened
            raise _closed()
        prev = ChatMessage.objects.filter(stream=stream).aggregate(last=Max("id"))["last"]
        message = ChatMessage.objects.create(stream=stream, user=user, content=content)
    payload = message_payload(message)
    group_send(stream, {"type": realtime.CHAT_MESSAGE, **payload}, id=message.pk, prev=prev or 0)
    webhooks.webhooks_emit(
        owner_id=stream.owner_id,
        event=WebhookEvent.CHAT_MESSAGE,
        data={"stream": {"id": str(stream.pk), "title": stream.title}, "message": payload},
    )
    return message


def check_not_banned(*, user: User, stream: Stream) -> None:
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
    rules = chat_settings_for(stream=stream)
    if rules is None or chat_can_moderate(user=user, stream=stream):
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
    if rules.slow_mode_seconds and not ratelimit.first_in_window(
        f"chat:slow:{stream.pk}:{user.pk}", rules.slow_mode_seconds
    ):
        raise ChatError(
            f"Slow mode: one message every {rules.slow_mode_seconds} seconds.",
            code="slow_mode",
            status_code=429,
        )


def reaction_send(*, stream: Stream, user: User, reaction: Reaction) -> int:
    """Count a reaction and show it to everyone; returns the new count for that kind."""
    if not user.is_authenticated:
        raise ChatError("Log in to react.", code="login_required", status_code=401)
    if not stream.is_live:
        raise ChatError("Reactions are for live broadcasts.", code="chat_closed", status_code=409)
    check_not_banned(user=user, stream=stream)
    if not ratelimit.first_in_window(f"chat:reactions:{stream.pk}:{user.pk}", settings.REACTION_RATE_SECONDS):
        raise ChatError(
            "One reaction at a time: try again in a moment.", code="rate_limited", status_code=429
        )
    counter, _ = ReactionCount.objects.get_or_create(stream=stream, type=reaction)
    ReactionCount.objects.filter(pk=counter.pk).update(count=F("count") + 1)
    count = counter.count + 1
    # Coalesced with the others of its window: one frame, not one per reaction.
    transaction.on_commit(lambda: reactions.reaction_announce(stream_id=stream.pk, reaction=reaction))
    return count
