"""Viewer sessions, fed by presence (chat.presence); the analytics work builds on them."""

from __future__ import annotations

from django.utils import timezone

from analytics.models import ViewerSession


def viewer_session_start(*, stream_id: str, user_id: int | None) -> int:
    return ViewerSession.objects.create(stream_id=stream_id, user_id=user_id, joined_at=timezone.now()).pk


def viewer_session_end(*, session_id: int) -> None:
    session = ViewerSession.objects.filter(pk=session_id, left_at__isnull=True).first()
    if session is None:
        return
    session.left_at = timezone.now()
    session.watch_seconds = max(0, int((session.left_at - session.joined_at).total_seconds()))
    session.save(update_fields=["left_at", "watch_seconds"])
