"""Viewer sessions: one row per stay, with the watch time counted when it ends."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics.models import ViewerSession
from analytics.services import viewer_session_end, viewer_session_start

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_a_session_counts_the_seconds_between_join_and_leave(live_stream, carol):
    with time_machine.travel(START, tick=False):
        session_id = viewer_session_start(stream_id=live_stream.pk, user_id=carol.pk)
    with time_machine.travel(START + timedelta(minutes=12, seconds=30), tick=False):
        viewer_session_end(session_id=session_id)
    session = ViewerSession.objects.get(pk=session_id)
    assert (session.user, session.joined_at, session.left_at) == (
        carol,
        START,
        START + timedelta(seconds=750),
    )
    assert session.watch_seconds == 750


@pytest.mark.django_db
def test_ending_twice_keeps_the_first_end_and_anonymous_viewers_count(live_stream):
    with time_machine.travel(START, tick=False):
        session_id = viewer_session_start(stream_id=live_stream.pk, user_id=None)
    with time_machine.travel(START + timedelta(seconds=40), tick=False):
        viewer_session_end(session_id=session_id)
    with time_machine.travel(START + timedelta(hours=1), tick=False):
        viewer_session_end(session_id=session_id)  # a late second leave changes nothing
        viewer_session_end(session_id=session_id + 1000)  # nor does an unknown one
    session = ViewerSession.objects.get(pk=session_id)
    assert (session.user, session.watch_seconds) == (None, 40)
