"""What chat adds to a broadcast's analytics samples (analytics.series): concurrent viewers
(presence: sockets, so a viewer in two tabs counts twice), chat messages and distinct
chatters, and reactions per type. Registered at start (ChatConfig.ready)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Max

from analytics.models import StreamSample
from analytics.services import viewer_sessions_seen
from chat import presence
from chat.models import ChatMessage, ReactionCount
from streams.models import Stream


class ChatActivity:
    def sample(self, stream: Stream, last: StreamSample | None, now: datetime) -> dict[str, Any]:
        after_id = last.last_message_id if last else 0
        # By id (the (stream, id) index), not by time: a tick reads only the new messages.
        chat = ChatMessage.objects.filter(stream=stream, id__gt=after_id).aggregate(
            messages=Count("id"), chatters=Count("user", distinct=True), last_id=Max("id")
        )
        totals = dict(ReactionCount.objects.filter(stream=stream).values_list("type", "count"))
        before = last.reaction_totals if last else {}
        members = presence.members_sync(stream.pk)
        viewers = len(members)
        # The sessions presence holds are alive: the rest close after the timeout.
        viewer_sessions_seen(session_ids=presence.session_ids(members), at=now)
        return {
            "viewers": viewers,
            "viewers_peak": viewers,
            "chat_messages": chat["messages"],
            "chatters": chat["chatters"],
            "reactions": {
                kind: n - before.get(kind, 0) for kind, n in totals.items() if n > before.get(kind, 0)
            },
            "last_message_id": chat["last_id"] or after_id,
            "reaction_totals": totals,
        }

    def totals(self, stream: Stream) -> dict[str, Any]:
        chat = ChatMessage.objects.filter(stream=stream).aggregate(
            messages=Count("id"), chatters=Count("user", distinct=True)
        )
        reactions = dict(
            ReactionCount.objects.filter(stream=stream, count__gt=0).values_list("type", "count")
        )
        return {"chat_messages": chat["messages"], "chatters": chat["chatters"], "reactions": reactions}

    def minute(
        self, stream_id: str, start: datetime, end: datetime, samples: list[StreamSample]
    ) -> dict[str, Any]:
        chatters = (
            ChatMessage.objects.filter(stream_id=stream_id, created_at__gt=start, created_at__lte=end)
            .values("user")
            .distinct()
            .count()
        )
        # The messages may be gone since (the broadcast deleted): keep the lower bound then.
        return {"chatters": chatters} if chatters else {}
