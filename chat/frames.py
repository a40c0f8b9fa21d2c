"""What chat objects look like on the wire (socket frames and REST bodies alike): pure
functions, no database."""

from __future__ import annotations

from typing import Any

from chat.models import ChatMessage, ChatSettings


def message_payload(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.pk,
        "user": {"username": message.user.username, "display_name": message.user.display_name},
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }


def chat_modes(rules: ChatSettings | None) -> dict[str, Any]:
    return {
        "slow_mode_seconds": rules.slow_mode_seconds if rules else 0,
        "followers_only": rules.followers_only if rules else False,
        "follow_min_minutes": rules.follow_min_minutes if rules else 0,
        "emote_only": rules.emote_only if rules else False,
    }
