"""A broadcast's summary, viewer sessions closed by the timeout, and highlights. Real
PostgreSQL and Redis (presence); the clock is time-machine's."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics import series, services, summaries
from analytics.models import PlaybackReport, StreamSample, StreamSummary, ViewerSession
from analytics.services import Client
from chat import presence
from chat.models import ChatMessage, ReactionCount
from streams.models import Stream

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def join(stream, when: float, user=None, client: Client | None = None) -> int:
    with time_machine.travel(at(when), tick=False):
        return services.viewer_session_start(
            stream_id=stream.pk, user_id=user.pk if user else None, client=client
        )


def leave(session_id: int, when: float) -> None:
    with time_machine.travel(at(when), tick=False):
        services.viewer_session_end(session_id=session_id)


@pytest.fixture
def broadcast(live_stream):
    Stream.objects.filter(pk=live_stream.pk).update(started_at=START)
    live_stream.refresh_from_db()
    yield live_stream
    presence._sync_redis().delete(presence._key(live_stream.pk))


def end(stream: Stream, when: float) -> Stream:
    Stream.objects.filter(pk=stream.pk).update(status=Stream.Status.ENDED, ended_at=at(when))
    stream.refresh_from_db()
    return stream


@pytest.mark.django_db
def test_three_viewers_give_the_exact_peak_average_unique_and_watch_time(broadcast, bob, carol):
    # Live 0-600 s. bob 0-300, carol 100-400, an anonymous browser 200-600 (left with the end).
    bob_session = join(broadcast, 0, bob)
    carol_session = join(broadcast, 100, carol)
    join(broadcast, 200, client=Client(anonymous_id="browser-1"))
    leave(bob_session, 300)
    leave(carol_session, 400)
    end(broadcast, 600)
    with time_machine.travel(at(600), tick=False):
        summary = summaries.summary_finalize(stream_id=broadcast.pk)
    assert summary is not None and summary.final
    assert summary.peak_viewers == 3  # 200-300 s: all three
    assert summary.total_watch_seconds == 300 + 300 + 400
    assert summary.average_viewers == pytest.approx(1000 / 600, abs=0.01)
    assert summary.unique_viewers == 3
    assert summary.average_watch_seconds == pytest.approx(1000 / 3, abs=0.1)
    assert summary.live_seconds == 600
    # The open session ended with the broadcast.
    assert ViewerSession.objects.filter(left_at__isnull=True).count() == 0
    assert sorted(ViewerSession.objects.values_list("watch_seconds", flat=True)) == [300, 300, 400]


@pytest.mark.django_db
def test_two_tabs_count_once_as_unique_and_twice_as_concurrent(broadcast, bob):
    join(broadcast, 0, bob)
    join(broadcast, 10, bob)  # a second tab
    join(broadcast, 0, client=Client(anonymous_id="same-browser"))
    join(broadcast, 5, client=Client(anonymous_id="same-browser"))
    join(broadcast, 5)  # a client that sent no id: counted on its own
    end(broadcast, 100)
    with time_machine.travel(at(100), tick=False):
        summary = summaries.summary_finalize(stream_id=broadcast.pk)
    assert summary.unique_viewers == 3
    assert summary.peak_viewers == 5
    # The anonymous id is stored hashed, the same for the same browser.
    ids = set(ViewerSession.objects.exclude(anonymous_id="").values_list("anonymous_id", flat=True))
    assert len(ids) == 1 and "same-browser" not in ids


@pytest.mark.django_db
def test_a_viewer_whose_heartbeats_stop_is_closed_at_the_timeout(broadcast, bob, settings):
    settings.PRESENCE_TTL_SECONDS = 45
    settings.ANALYTICS_SESSION_TIMEOUT_SECONDS = 90
    session_id = join(broadcast, 0, bob)
    member = presence.member_id(session_id)
    for beat in (0, 15, 30, 45, 60):  # heartbeats every 15 s until 60 s, then nothing
        with time_machine.travel(at(beat), tick=False):
            presence.touch_sync(broadcast.pk, member)
    for tick in range(10, 300, 10):  # the sampler every 10 s
        with time_machine.travel(at(tick), tick=False):
            series.sample_live_streams()
            services.viewer_sessions_close_stale()
        session = ViewerSession.objects.get(pk=session_id)
        if tick <= 60 + 45:  # presence still holds it (its last heartbeat lasts 45 s)
            assert session.left_at is None, tick
        if tick > 100 + 90:  # last seen at 100 s, timeout 90 s
            assert session.left_at is not None, tick
    session = ViewerSession.objects.get(pk=session_id)
    assert session.left_at == at(100)  # the last sample that saw it
    assert session.watch_seconds == 100


@pytest.mark.django_db
def test_devices_and_referrers_are_counted(broadcast):
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    desktop = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
    )
    join(broadcast, 0, client=Client(user_agent=iphone, referrer="x.com"))
    join(broadcast, 0, client=Client(user_agent=desktop, referrer="internal"))
    join(broadcast, 0, client=Client(user_agent=desktop))
    with time_machine.travel(at(60), tick=False):
        summary = summaries.summary_refresh(stream=broadcast)
    assert summary.devices == {"mobile": 1, "desktop": 2}
    assert summary.referrers == {"x.com": 1, "internal": 1, "direct": 1}
    assert not summary.final


def test_referrers_keep_the_host_only():
    own = {"socialflow.example"}
    assert services.referrer_of("https://www.reddit.com/r/x?utm=1", own_hosts=own) == "reddit.com"
    assert services.referrer_of("https://socialflow.example/directory/", own_hosts=own) == "internal"
    assert services.referrer_of("", own_hosts=own) == ""
    assert services.referrer_of("not a url", own_hosts=own) == ""


@pytest.mark.django_db
def test_chat_reactions_followers_and_playback_are_in_the_summary(broadcast, bob, carol):
    for when, user in ((5, bob), (6, bob), (7, carol)):
        with time_machine.travel(at(when), tick=False):
            ChatMessage.objects.create(stream=broadcast, user=user, content="hi")
    ReactionCount.objects.create(stream=broadcast, type="fire", count=4)
    session_id = join(broadcast, 0, bob)
    with time_machine.travel(at(30), tick=False):
        services.playback_report_record(
            stream_id=broadcast.pk,
            session_id=session_id,
            first=True,
            startup_ms=1200,
            rebuffer_ms=1000,
            played_ms=29000,
            rung="720p",
            dropped_frames=3,
        )
    with time_machine.travel(at(60), tick=False):
        services.playback_report_record(
            stream_id=broadcast.pk,
            session_id=session_id,
            first=False,
            startup_ms=1200,
            rebuffer_ms=0,
            played_ms=30000,
            rung="480p",
            dropped_frames=0,
        )
    end(broadcast, 60)
    summary = summaries.summary_finalize(stream_id=broadcast.pk)
    assert (summary.chat_messages, summary.chatters, summary.reactions, summary.reactions_total) == (
        3,
        2,
        {"fire": 4},
        4,
    )
    assert summary.rebuffer_ratio == pytest.approx(1 / 60, abs=1e-4)
    assert summary.quality == {"480p": 30.0, "720p": 29.0}
    assert summary.startup_ms_median == 1200
    assert PlaybackReport.objects.filter(startup_ms__isnull=True).count() == 1
    # The final sample at the end counted the chat too.
    assert StreamSample.objects.filter(stream=broadcast).count() == 1
    # Finalizing twice changes nothing.
    again = summaries.summary_finalize(stream_id=broadcast.pk)
    assert StreamSummary.objects.count() == 1 and again.chat_messages == 3


def activity(stream, per_minute: list[int]) -> None:
    """Samples every 10 s with `per_minute[i]` chat messages spread over minute i."""
    samples = []
    for minute, count in enumerate(per_minute):
        for tick in range(6):
            share = count // 6 + (1 if tick < count % 6 else 0)
            samples.append(
                StreamSample(
                    stream=stream, at=at(minute * 60 + (tick + 1) * 10), chat_messages=share, viewers=10
                )
            )
    StreamSample.objects.bulk_create(samples)


@pytest.mark.django_db
def test_a_spike_of_30_messages_in_a_minute_is_a_highlight(broadcast):
    activity(broadcast, [5] * 12 + [30] + [5] * 12)
    end(broadcast, 25 * 60)
    found = summaries.highlights(stream=broadcast)
    assert [(h.offset_seconds, h.chat_messages) for h in found] == [(12 * 60, 30)]
    assert found[0].score == pytest.approx(6.0)


@pytest.mark.django_db
def test_a_steady_chat_has_no_highlight(broadcast):
    activity(broadcast, [12, 14, 11, 13, 15, 12, 14, 13, 12, 16, 14, 13])
    end(broadcast, 12 * 60)
    assert summaries.highlights(stream=broadcast) == []


@pytest.mark.django_db
def test_reactions_spike_too_and_a_spike_across_a_minute_boundary_is_one_moment(broadcast):
    activity(broadcast, [2] * 10 + [20, 25] + [2] * 10)
    StreamSample.objects.filter(stream=broadcast, at=at(5 * 60 + 10)).update(reactions={"fire": 40})
    end(broadcast, 22 * 60)
    found = summaries.highlights(stream=broadcast)
    assert [h.offset_seconds for h in found] == [5 * 60, 11 * 60]
    assert found[0].reactions == 40


@pytest.mark.django_db
def test_the_live_summary_refreshes_once_a_minute(broadcast, bob):
    join(broadcast, 0, bob)
    with time_machine.travel(at(10), tick=False):
        assert summaries.summaries_refresh_live() == 1
        assert summaries.summaries_refresh_live() == 0  # fresh
    with time_machine.travel(at(75), tick=False):
        assert summaries.summaries_refresh_live() == 1
    assert StreamSummary.objects.get(stream=broadcast).total_watch_seconds == 75


@pytest.mark.django_db
def test_live_summaries_are_spread_over_the_minute(go_live):
    """Twelve broadcasts that went live together: two summaries a tick, the oldest first,
    all of them within the minute (six ticks)."""
    for i in range(12):
        go_live(f"streamer{i}")
    refreshed = []
    for tick in range(7):
        with time_machine.travel(at(10 * (tick + 1)), tick=False):
            refreshed.append(summaries.summaries_refresh_live())
    assert refreshed[:6] == [2] * 6 and StreamSummary.objects.count() == 12
