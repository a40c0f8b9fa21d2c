"""A broadcast's time series: raw 10-s samples while it is live, folded into minutes later.
Real PostgreSQL and Redis (presence); the clock is time-machine's."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Follow
from accounts.tests.factories import UserFactory
from analytics import series
from analytics.models import StreamSample
from chat import presence
from chat.models import ChatMessage, ReactionCount
from streams.models import Stream

START = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
RAW, MINUTE = StreamSample.Resolution.RAW, StreamSample.Resolution.MINUTE


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def say(stream, user, when: float, text: str = "hi") -> None:
    with time_machine.travel(at(when), tick=False):
        ChatMessage.objects.create(stream=stream, user=user, content=text)


def sample(when: float) -> int:
    with time_machine.travel(at(when), tick=False):
        return series.sample_live_streams()


@pytest.fixture
def broadcast(live_stream):
    Stream.objects.filter(pk=live_stream.pk).update(started_at=START)
    live_stream.refresh_from_db()
    yield live_stream
    presence._sync_redis().delete(presence._key(live_stream.pk))


@pytest.mark.django_db
def test_each_sample_counts_what_happened_since_the_last_one(broadcast, bob, carol):
    dave = UserFactory(username="dave")
    # Two sockets now (bob in two tabs: concurrent sockets count twice).
    with time_machine.travel(at(5), tick=False):
        for member in ("bob-tab-1", "bob-tab-2"):
            presence.touch_sync(broadcast.pk, member)
    say(broadcast, bob, 3)
    say(broadcast, bob, 4)
    say(broadcast, carol, 6)
    ReactionCount.objects.create(stream=broadcast, type="fire", count=4)
    with time_machine.travel(at(7), tick=False):
        Follow.objects.create(follower=dave, followee=broadcast.owner)
    assert sample(10) == 1

    say(broadcast, carol, 12)
    ReactionCount.objects.filter(stream=broadcast, type="fire").update(count=5)
    ReactionCount.objects.create(stream=broadcast, type="clap", count=2)
    assert sample(12) == 0  # 2 s after the last: a beat that fired twice adds nothing
    assert sample(20) == 1

    first, second = StreamSample.objects.filter(stream=broadcast).order_by("at")
    assert (first.at, first.seconds) == (at(10), RAW)
    assert (first.viewers, first.chat_messages, first.chatters, first.new_followers) == (2, 3, 2, 1)
    assert first.reactions == {"fire": 4}
    # The second counts only what came after the first: by message id, reaction totals, time.
    assert (second.chat_messages, second.chatters, second.new_followers) == (1, 1, 0)
    assert second.reactions == {"fire": 1, "clap": 2}
    assert second.viewers == 2  # the sockets' heartbeats are still fresh


@pytest.mark.django_db
def test_only_live_broadcasts_are_sampled_and_gone_viewers_are_not_counted(broadcast, bob):
    with time_machine.travel(at(1), tick=False):
        presence.touch_sync(broadcast.pk, "gone")  # no heartbeat after this one
    assert sample(10) == 1
    assert StreamSample.objects.get(stream=broadcast).viewers == 1
    assert sample(10 + 3600) == 1
    assert StreamSample.objects.filter(stream=broadcast).order_by("at").last().viewers == 0
    Stream.objects.filter(pk=broadcast.pk).update(status=Stream.Status.ENDED)
    assert sample(3620) == 0


@pytest.mark.django_db
def test_old_raw_samples_fold_into_minutes_and_folding_twice_changes_nothing(broadcast, bob, carol, settings):
    settings.ANALYTICS_RAW_RETENTION_DAYS = 30
    for n, viewers in enumerate([2, 4, 6, 8, 10, 12]):  # 20:00:10 ... 20:01:00: one minute
        StreamSample.objects.create(
            stream=broadcast,
            at=at(10 * (n + 1)),
            viewers=viewers,
            viewers_peak=viewers,
            chat_messages=2,
            chatters=1,
            reactions={"fire": 1} if n % 2 else {"fire": 1, "wow": 2},
            new_followers=1 if n == 0 else 0,
            last_message_id=n,
        )
    StreamSample.objects.create(stream=broadcast, at=at(70), viewers=99, viewers_peak=99)  # the next minute
    say(broadcast, bob, 15)
    say(broadcast, carol, 25)
    say(broadcast, bob, 35)

    with time_machine.travel(at(60) + timedelta(days=30), tick=False):
        assert series.downsample() == 1
        assert series.downsample() == 0
    minute = StreamSample.objects.get(stream=broadcast, seconds=MINUTE)
    assert minute.at == at(60)
    assert (minute.viewers, minute.viewers_peak, minute.chat_messages, minute.new_followers) == (7, 12, 12, 1)
    assert minute.chatters == 2  # counted again, distinct over the minute (bob and carol)
    assert minute.reactions == {"fire": 6, "wow": 6}
    assert minute.last_message_id == 5
    # The raw samples of that minute are gone; the next minute's is younger than 30 days.
    assert list(StreamSample.objects.filter(stream=broadcast, seconds=RAW).values_list("at", flat=True)) == [
        at(70)
    ]


@pytest.mark.django_db
def test_a_tick_samples_every_live_broadcast_in_a_fixed_number_of_queries(go_live):
    """The beat's tick stays short with many broadcasts live: its queries do not grow with
    them (bench/analytics.py measures the time)."""
    streams = []
    counts = []
    for tick, names in enumerate((["ann", "ben"], [], ["cat", "dan", "eve", "fay", "gus", "hal"])):
        streams += [go_live(name) for name in names]
        for stream in streams:
            presence.touch_sync(stream.pk, presence.member_id(None))
        with CaptureQueriesContext(connection) as queries:
            written = series.sample_live_streams(now=timezone.now() + timedelta(seconds=30 * (tick + 1)))
        counts.append(len(queries))
        assert written == len(streams)
    for stream in streams:
        presence._sync_redis().delete(presence._key(stream.pk))
    assert counts[1] == counts[2], counts  # 2 broadcasts with samples, then 8
    assert StreamSample.objects.filter(viewers__gte=1).count() == 2 + 2 + 8
