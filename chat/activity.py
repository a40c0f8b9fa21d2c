"""What chat adds to a broadcast's analytics samples (analytics.series): concurrent viewers
(presence: sockets, so a viewer in two tabs counts twice), chat messages and distinct
chatters, and reactions per type. Registered at start (ChatConfig.ready)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q

from analytics.models import StreamSample
from analytics.services import viewer_sessions_seen
from chat import presence
from chat.models import ChatMessage, ReactionCount
from streams.models import Stream


class ChatActivity:
    def sample(self, stream: Stream, last: StreamSample | None, now: datetime) -> dict[str, Any]:
        return self.sample_many([stream], {stream.pk: last} if last else {}, now)[stream.pk]

    def sample_many(
        self, streams: list[Stream], lasts: dict[str, StreamSample], now: datetime
    ) -> dict[str, dict[str, Any]]:
        """Every live broadcast's sample in a fixed number of round trips (one query each
        for chat and reactions, one Redis pipeline, one UPDATE of the sessions seen)."""
        ids = [stream.pk for stream in streams]
        cursors = {pk: (lasts[pk].last_message_id if pk in lasts else 0) for pk in ids}
        # By id (the (stream, id) index), not by time: a tick reads only the new messages.
        new = Q()
        for pk, after_id in cursors.items():
            new |= Q(stream_id=pk, id__gt=after_id)
        chat = {
            row["stream_id"]: row
            for row in ChatMessage.objects.filter(new)
            .values("stream_id")
            .annotate(messages=Count("id"), chatters=Count("user", distinct=True), last_id=Max("id"))
        }
        totals: dict[str, dict[str, int]] = {pk: {} for pk in ids}
        for pk, kind, count in ReactionCount.objects.filter(stream_id__in=ids).values_list(
            "stream_id", "type", "count"
        ):
            totals[pk][kind] = count
        members = presence.members_many(ids)
        # The sessions presence holds are alive: the rest close after the timeout.
        viewer_sessions_seen(
            session_ids=[sid for pk in ids for sid in presence.session_ids(members[pk])], at=now
        )
        out = {}
        for pk in ids:
            before = lasts[pk].reaction_totals if pk in lasts else {}
            row = chat.get(pk, {"messages": 0, "chatters": 0, "last_id": None})
            viewers = len(members[pk])
            out[pk] = {
                "viewers": viewers,
                "viewers_peak": viewers,
                "chat_messages": row["messages"],
                "chatters": row["chatters"],
                "reactions": {
                    kind: n - before.get(kind, 0) for kind, n in totals[pk].items() if n > before.get(kind, 0)
                },
                "last_message_id": row["last_id"] or cursors[pk],
                "reaction_totals": totals[pk],
            }
        return out

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
