"""Players' playback reports (`playback.report` on the socket, POST .../playback/ for native
apps), stored by analytics. Validated at the edge (chat.schemas.PlaybackReportInput)."""

from __future__ import annotations

from django.conf import settings

from analytics.models import PlaybackReport
from analytics.services import playback_report_record
from chat.errors import ChatError
from socialflow.lib.ratelimit import first_in_window
from streams.models import Stream


def playback_report(
    *, stream: Stream, reporter: str, session_id: int | None, first: bool | None = None, **fields: int | str
) -> PlaybackReport:
    """Store one report; `reporter` names the socket or REST session, which may report once
    every PLAYBACK_REPORT_MIN_SECONDS. `first`: whether it is the session's first report
    (its start-up time counts); None to look it up."""
    if stream.status != Stream.Status.LIVE:
        raise ChatError("This broadcast is not live.", code="not_live", status_code=409)
    seconds = settings.PLAYBACK_REPORT_MIN_SECONDS
    if not first_in_window(f"playback:{stream.pk}:{reporter}", seconds):
        raise ChatError(
            f"Playback reports come at most every {seconds} s.", code="rate_limited", status_code=429
        )
    if first is None:
        first = session_id is None or not PlaybackReport.objects.filter(session_id=session_id).exists()
    return playback_report_record(stream_id=stream.pk, session_id=session_id, first=first, **fields)  # type: ignore[arg-type]
