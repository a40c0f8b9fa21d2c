from django.db.models import Max, QuerySet

from chat.models import ChatMessage
from streams.models import Stream

HISTORY_SIZE = 50


def messages_after(
    *, stream: Stream, after: int | None = None, limit: int = 100, upto: int | None = None
) -> QuerySet[ChatMessage]:
    """Messages oldest first; everything after `after` (for backfill), else the latest (up
    to id `upto`)."""
    qs = ChatMessage.objects.filter(stream=stream, deleted_at__isnull=True).select_related("user")
    if upto is not None:
        qs = qs.filter(id__lte=upto)
    if after is not None:
        return qs.filter(id__gt=after).order_by("id")[:limit]
    latest = list(qs.order_by("-id")[:HISTORY_SIZE])
    return list(reversed(latest))


def latest_message_id(*, stream_id: str) -> int:
    """The newest message id of the broadcast, deleted ones included (0 if none)."""
    return ChatMessage.objects.filter(stream_id=stream_id).aggregate(last=Max("id"))["last"] or 0


MAX_CATCH_UP = 500


def messages_between(*, stream_id: str, after: int, before: int) -> list[ChatMessage]:
    """What a socket missed: messages with after < id < before, oldest first (at most the
    last MAX_CATCH_UP)."""
    qs = ChatMessage.objects.filter(
        stream_id=stream_id, id__gt=after, id__lt=before, deleted_at__isnull=True
    ).select_related("user")
    return list(reversed(qs.order_by("-id")[:MAX_CATCH_UP]))


def pinned_message(*, stream: Stream) -> ChatMessage | None:
    return (
        ChatMessage.objects.filter(stream=stream, pinned_at__isnull=False, deleted_at__isnull=True)
        .select_related("user")
        .first()
    )
