from django.db.models import QuerySet

from chat.models import ChatMessage
from streams.models import Stream

HISTORY_SIZE = 50


def messages_after(*, stream: Stream, after: int | None = None, limit: int = 100) -> QuerySet[ChatMessage]:
    """Messages oldest first; everything after `after` (for backfill), else the latest."""
    qs = ChatMessage.objects.filter(stream=stream, deleted_at__isnull=True).select_related("user")
    if after is not None:
        return qs.filter(id__gt=after).order_by("id")[:limit]
    latest = list(qs.order_by("-id")[:HISTORY_SIZE])
    return list(reversed(latest))
