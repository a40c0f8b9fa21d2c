#!/usr/bin/env python
"""Analytics on this machine, each figure beside a plain baseline from the same run:

1. Sampling: one beat tick (analytics.tasks.sample_live_streams_task's body: a sample of
   every live broadcast, stale sessions closed, live summaries refreshed) with 1,000
   concurrent viewers (1,000 open viewer sessions and 1,000 presence entries in Redis, as
   sockets make them) on one broadcast, and on 10 broadcasts of 100. Between ticks, as in
   a real 10 s: chat messages, reactions, viewers joining and leaving, and one viewer whose
   web process died (its presence entry gone, its session left open for the tick to
   close). The tick is timed when every summary is due (once a minute) and when none is
   (the other five ticks of the minute), with where it goes (the three calls) and one
   tick's queries. Baseline: the least a sampler must do, a Redis ZCARD and one INSERT per
   broadcast (and, batched, one pipeline of ZCARDs and one multi-row INSERT).
2. A 4-hour broadcast: 1,440 raw 10-s samples, 2,880 health samples (5 s), 3,000 viewer
   sessions, 500 playback reports. Timed: reading the stored summary, computing it
   afresh, the whole analytics dict at 60 s and 10 s resolution, and the API call
   (`GET /api/v1/streams/{id}/analytics/` through Django's test client, as the owner;
   60 s by default past two hours), each with its query count and time in SQL.
   Baseline: a bare SELECT of the same sample rows.
3. A channel with 500 past broadcasts (each with a summary and sessions): the channel
   totals over 90 days and the API call. Baseline: a bare aggregate over the summaries.

Targets (issue 12): the summary query under 50 ms, a sampling tick under 100 ms.

It uses a PostgreSQL database of its own (socialflow_bench_analytics, dropped at the end)
and a Redis of its own: a throwaway redis-server on a free port, killed at the end (every
numbered DB of the shared Redis is taken: development 0-1, the test suite's slots 1-9 and
12-14, bench/hooks.py 10, bench/dvr.py 11, bench/latency.py 15).

    .venv/bin/python bench/analytics.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from socialflow.tests.processes import RedisServer  # noqa: E402  (no Django needed yet)

DB_NAME = "socialflow_bench_analytics"
TMP = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
(TMP / "static").mkdir()  # whitenoise (DEBUG off) wants the folder
REDIS = RedisServer(TMP)
REDIS.start()
atexit.register(REDIS.kill)  # registered last: runs first
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "socialflow.settings",
        "ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS.url,
        "CACHE_URL": REDIS.url,
        "CHANNEL_LAYER_URL": REDIS.url,
        "CELERY_BROKER_URL": REDIS.url,
        "CELERY_RESULT_BACKEND": REDIS.url,
        "MEDIA_ROOT": str(TMP / "media"),
        "STATIC_ROOT": str(TMP / "static"),
        "GO_LIVE_MIN_FOLLOWERS": "0",
        "LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)
ADMIN = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c"]
PG_ENV = {**os.environ, "PGPASSWORD": "socialflow"}
# Fails (connections open) rather than drop it under another run of this bench.
subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True, env=PG_ENV)
subprocess.run([*ADMIN, f"CREATE DATABASE {DB_NAME}"], check=True, env=PG_ENV)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.db.models import Max, Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from analytics import selectors, series, services, summaries  # noqa: E402
from analytics.models import PlaybackReport, StreamSample, StreamSummary, ViewerSession  # noqa: E402
from chat import presence  # noqa: E402
from chat.models import ChatMessage, ReactionCount  # noqa: E402
from streams import services as stream_services  # noqa: E402
from streams.models import Stream, StreamHealthSample  # noqa: E402

TICK_PARTS = ("sample_live_streams", "viewer_sessions_close_stale", "summaries_refresh_live")


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


@dataclass
class Profile:
    queries: int  # counted by CaptureQueriesContext
    total_ms: float
    timed: list[tuple[float, str, str]]  # (ms, phase, SQL): execute and its round trip

    @property
    def sql_ms(self) -> float:
        return sum(ms for ms, _, _ in self.timed)

    def describe(self, top: int = 1) -> str:
        out = f"{self.queries} queries, {self.sql_ms:.1f} of {self.total_ms:.1f} ms in SQL"
        for ms, _, sql in sorted(self.timed, reverse=True)[:top]:
            out += f"; slowest {ms:.1f} ms: {sql[:100]}{'...' if len(sql) > 100 else ''}"
        return out

    def phases(self) -> str:
        counts: dict[str, list[float]] = defaultdict(list)
        for ms, phase, _ in self.timed:
            counts[phase].append(ms)
        return ", ".join(f"{phase} {len(v)} ({sum(v):.1f} ms)" for phase, v in counts.items())


class QueryTimer:
    """An execute wrapper timing each query, tagged with the part of the tick running."""

    phase = ""

    def __init__(self) -> None:
        self.timed: list[tuple[float, str, str]] = []

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.timed.append(((time.perf_counter() - started) * 1000, QueryTimer.phase, sql))


def profile(fn: Callable[[], Any]) -> Profile:
    """One more run of `fn` with every query counted and timed (not one of the timed runs)."""
    timer = QueryTimer()
    with CaptureQueriesContext(connection) as captured, connection.execute_wrapper(timer):
        started = time.perf_counter()
        fn()
        total = (time.perf_counter() - started) * 1000
    return Profile(len(captured), total, timer.timed)


def line(label: str, ms: float, baseline: float | None = None, extra: str = "") -> None:
    base = f"   baseline {baseline:6.2f} ms   ratio {ms / baseline:5.1f}x" if baseline else ""
    print(f"   {label:<62} {ms:8.2f} ms{base}{extra}")


def live_broadcast(owner: User, title: str) -> Stream:
    channel = stream_services.channel_get_or_create(user=owner)
    result = stream_services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id=title, ip="127.0.0.1"
    )
    assert result.allowed, result.reason
    return result.stream


# --- 1. Sampling ------------------------------------------------------------------------------


def sampling(repeats: int) -> None:
    print("1. sampling: one beat tick, 1,000 concurrent viewers")
    for broadcasts, per in ((1, 1000), (10, 100)):
        sampling_layout(broadcasts, per, repeats)
    print("   (target: under 100 ms a tick)")


class Audience:
    """Presence entries and open viewer sessions of the live broadcasts, and the 10 s
    between two ticks: chat, reactions, viewers joining, leaving, and one whose web
    process died (left for the tick to close)."""

    def __init__(self, streams: list[Stream], per: int, chatters: list[User]):
        self.redis = presence._sync_redis()
        self.streams = streams
        self.chatters = chatters
        self.members: dict[str, list[tuple[str, int]]] = {}
        self.reactions: dict[str, int] = defaultdict(int)
        self.messages_per_tick = max(2, per // 50)  # 20 a tick with 1,000 watching
        for stream in streams:
            now = timezone.now()
            sessions = ViewerSession.objects.bulk_create(
                ViewerSession(
                    stream=stream,
                    joined_at=now,
                    last_seen_at=now,
                    anonymous_id=secrets.token_hex(16),
                    device=random.choice(["desktop", "mobile", "tablet"]),
                )
                for _ in range(per)
            )
            self.members[stream.pk] = []
            for session in sessions:
                self._join(stream, session.pk)

    def _join(self, stream: Stream, session_id: int) -> None:
        member = presence.member_id(session_id)
        self.redis.zadd(presence._key(stream.pk), {member: time.time() + 3600})
        self.members[stream.pk].append((member, session_id))

    def _drop(self, stream: Stream) -> int:
        member, session_id = self.members[stream.pk].pop(random.randrange(len(self.members[stream.pk])))
        self.redis.zrem(presence._key(stream.pk), member)
        return session_id

    def between_ticks(self, tick: int) -> None:
        for stream in self.streams:
            ChatMessage.objects.bulk_create(
                ChatMessage(stream=stream, user=random.choice(self.chatters), content="hi")
                for _ in range(self.messages_per_tick)
            )
            for kind in ("fire", "clap"):
                self.reactions[f"{stream.pk}:{kind}"] += random.randint(0, 9)
                ReactionCount.objects.update_or_create(
                    stream=stream, type=kind, defaults={"count": self.reactions[f"{stream.pk}:{kind}"]}
                )
        for n in range(10):  # ten leave, ten join: the audience stays the same size
            stream = self.streams[(tick + n) % len(self.streams)]
            services.viewer_session_end(session_id=self._drop(stream))
            self._join(stream, services.viewer_session_start(stream_id=stream.pk, user_id=None))
        stream = self.streams[tick % len(self.streams)]  # one process died: its viewer, gone
        abandoned = self._drop(stream)
        seen = timezone.now() - timedelta(seconds=settings.ANALYTICS_SESSION_TIMEOUT_SECONDS + 60)
        ViewerSession.objects.filter(pk=abandoned).update(joined_at=seen, last_seen_at=seen)
        self._join(stream, services.viewer_session_start(stream_id=stream.pk, user_id=None))


def one_tick(at: Any) -> dict[str, float]:
    """The beat task's body (analytics.tasks.sample_live_streams_task), each call timed."""
    spent = {}
    started = time.perf_counter()
    QueryTimer.phase = TICK_PARTS[0]
    series.sample_live_streams(now=at)
    spent[TICK_PARTS[0]] = time.perf_counter()
    QueryTimer.phase = TICK_PARTS[1]
    services.viewer_sessions_close_stale()
    spent[TICK_PARTS[1]] = time.perf_counter()
    QueryTimer.phase = TICK_PARTS[2]
    summaries.summaries_refresh_live()
    spent[TICK_PARTS[2]] = time.perf_counter()
    QueryTimer.phase = ""
    out, before = {}, started
    for name in TICK_PARTS:
        out[name] = (spent[name] - before) * 1000
        before = spent[name]
    return out


def sampling_layout(broadcasts: int, per: int, repeats: int) -> None:
    streams = []
    for b in range(broadcasts):
        owner = User.objects.create_user(
            f"s{broadcasts}_{b}", f"s{broadcasts}_{b}@example.com", "x-bench-pass-1"
        )
        streams.append(live_broadcast(owner, f"c{broadcasts}-{b}"))
    chatters = User.objects.bulk_create(
        User(username=f"v{broadcasts}_{i}", email=f"v{broadcasts}_{i}@example.com") for i in range(50)
    )
    audience = Audience(streams, per, chatters)
    clock = timezone.now()

    def tick(i: int, due: bool) -> Callable[[], dict[str, float]]:
        if due:  # every summary older than a minute
            StreamSummary.objects.filter(stream__in=streams).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
        audience.between_ticks(i)
        # 10 s apart, as the beat ticks (a tick closer than 5 s to the last sample adds nothing)
        return lambda: one_tick(clock + timedelta(seconds=10 * (i + 1)))

    ticks: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for i in range(repeats):
        due = i % 2 == 0
        ticks[due].append(tick(i, due)())
    profiles = {due: profile(tick(repeats + (0 if due else 1), due)) for due in (True, False)}
    closed = ViewerSession.objects.filter(stream__in=streams, left_at__isnull=False).count()
    for stream in streams:  # the samples counted what presence held
        last = StreamSample.objects.filter(stream=stream).order_by("-at").first()
        assert last is not None and last.viewers == per, (per, last and last.viewers)
    samples = StreamSample.objects.filter(stream__in=streams).count()
    assert samples == broadcasts * (repeats + 2), samples

    later = timezone.now() + timedelta(days=1)
    n = iter(range(10**6))

    def bare() -> None:
        for stream in streams:
            viewers = audience.redis.zcard(presence._key(stream.pk))
            StreamSample.objects.create(stream=stream, at=later + timedelta(seconds=next(n)), viewers=viewers)

    def bare_batched() -> None:
        pipe = audience.redis.pipeline(transaction=False)
        for stream in streams:
            pipe.zcard(presence._key(stream.pk))
        at = later + timedelta(seconds=next(n))
        StreamSample.objects.bulk_create(
            StreamSample(stream=stream, at=at, viewers=viewers)
            for stream, viewers in zip(streams, pipe.execute(), strict=True)
        )

    base = median_ms(bare, repeats)
    # Not what the code does: the UPDATE marking the sessions presence holds, alone, for all
    # of them (every tick, as now) and for a third (were each row written every third tick).
    open_ids = [sid for stream in streams for _, sid in audience.members[stream.pk]]
    seen_at = iter(range(1, 10**6))

    def seen(ids: list[int]) -> Callable[[], Any]:
        return lambda: services.viewer_sessions_seen(
            session_ids=ids, at=later + timedelta(seconds=next(seen_at))
        )

    seen_all, seen_third = median_ms(seen(open_ids), repeats), median_ms(seen(open_ids[::3]), repeats)
    label = f"{broadcasts} broadcast{'s' if broadcasts > 1 else ''} x {per} viewers"
    for due, when in ((True, "summaries due (1 tick in 6)"), (False, "summaries fresh (5 ticks in 6)")):
        total = statistics.median(sum(t.values()) for t in ticks[due])
        line(f"tick, {label}, {when}", total, base)
        parts = ", ".join(
            f"{name} {statistics.median(t[name] for t in ticks[due]):.1f}" for name in TICK_PARTS
        )
        print(f"      medians, ms: {parts}")
        print(f"      one tick: {profiles[due].describe(top=2)}")
        print(f"      its queries (time in SQL): {profiles[due].phases()}")
    if broadcasts > 1:
        line(
            f"   (baseline batched: one ZCARD pipeline, one {broadcasts}-row INSERT)",
            median_ms(bare_batched, repeats),
        )
    print(
        f"      the sessions-seen UPDATE alone: {len(open_ids)} rows {seen_all:.1f} ms,"
        f" a third of them {seen_third:.1f} ms"
    )
    print(
        f"      {closed} sessions closed over the run ({repeats + 2} abandoned by a dead process,"
        f" {10 * (repeats + 2)} left); {samples} samples, each counting {per} viewers"
    )
    # Over, as summary_finalize leaves them: no open session left for the next layout's ticks.
    for stream in streams:
        audience.redis.delete(presence._key(stream.pk))
    ended = timezone.now()
    Stream.objects.filter(pk__in=[s.pk for s in streams]).update(status=Stream.Status.ENDED, ended_at=ended)
    ViewerSession.objects.filter(stream__in=streams, left_at__isnull=True).update(left_at=ended)


# --- 2. A 4-hour broadcast --------------------------------------------------------------------


def four_hours(repeats: int, owner: User, client: Client) -> None:
    print("2. a 4-hour broadcast: 1,440 raw samples, 2,880 health samples, 3,000 sessions, 500 reports")
    start = timezone.now() - timedelta(hours=5)
    stream = Stream.objects.create(
        channel=stream_services.channel_get_or_create(user=owner),
        owner=owner,
        title="Four hours",
        status=Stream.Status.ENDED,
        started_at=start,
        ended_at=start + timedelta(hours=4),
    )
    StreamSample.objects.bulk_create(
        StreamSample(
            stream=stream,
            at=start + timedelta(seconds=10 * (i + 1)),
            viewers=100 + i % 37,
            viewers_peak=110 + i % 37,
            chat_messages=40 if i % 300 == 0 else i % 5,
            chatters=i % 4,
            reactions={"fire": i % 3},
        )
        for i in range(1440)
    )
    StreamHealthSample.objects.bulk_create(
        StreamHealthSample(
            stream=stream,
            at=start + timedelta(seconds=5 * (i + 1)),
            fps=30,
            source_fps=30,
            speed=1.0,
            bitrate_kbps=3100,
            ingest_kbps=4500,
            ladder=["720p", "480p", "360p"],
        )
        for i in range(2880)
    )
    sessions = ViewerSession.objects.bulk_create(
        ViewerSession(
            stream=stream,
            joined_at=start + timedelta(seconds=random.randint(0, 12000)),
            left_at=start + timedelta(seconds=random.randint(12000, 14400)),
            anonymous_id=f"{i % 2000:032x}",
            device=random.choice(["desktop", "mobile", "tablet"]),
            referrer=random.choice(["", "internal", "x.com"]),
        )
        for i in range(3000)
    )
    PlaybackReport.objects.bulk_create(
        PlaybackReport(
            stream=stream,
            session=random.choice(sessions),
            at=start + timedelta(seconds=30 * i),
            startup_ms=1200 if i % 10 == 0 else None,
            rebuffer_ms=i % 3 * 200,
            played_ms=30000,
            rung=random.choice(["720p", "480p", "360p"]),
            dropped_frames=i % 4,
        )
        for i in range(500)
    )
    summaries.summary_refresh(stream=stream, final=True)
    window60 = selectors.analytics_window(stream=stream, start=None, end=None, resolution=60)
    window10 = selectors.analytics_window(stream=stream, start=None, end=None, resolution=10)
    fields = ("at", "viewers", "viewers_peak", "chat_messages", "chatters", "reactions")
    response = client.get(f"/api/v1/streams/{stream.pk}/analytics/")
    assert response.status_code == 200 and response.json()["resolution"] == 60, response.status_code

    base = median_ms(lambda: list(StreamSample.objects.filter(stream=stream).values_list(*fields)), repeats)
    for label, fn in (
        (
            "stream_summary: the stored summary (the API, the pages)",
            lambda: selectors.stream_summary(stream=stream),
        ),
        (
            "summary_compute: afresh (what a refresh computes)",
            lambda: summaries.summary_compute(stream=stream),
        ),
        (
            "stream_analytics at 60 s: summary, series, health, highlights",
            lambda: selectors.stream_analytics(stream=stream, window=window60),
        ),
        ("stream_analytics at 10 s", lambda: selectors.stream_analytics(stream=stream, window=window10)),
        (
            "GET /api/v1/streams/{id}/analytics/ (60 s), as the owner",
            lambda: client.get(f"/api/v1/streams/{stream.pk}/analytics/"),
        ),
    ):
        line(label, median_ms(fn, repeats), base)
        print(f"      {profile(fn).describe()}")
    print(
        f"   baseline: a bare SELECT of the 1,440 sample rows ({base:.2f} ms);"
        " target: the summary under 50 ms"
    )


# --- 3. A channel with 500 past broadcasts ---------------------------------------------------


def channel_500(repeats: int, owner: User, client: Client) -> None:
    print("3. a channel with 500 past broadcasts (summaries, 10 sessions each)")
    channel = stream_services.channel_get_or_create(user=owner)
    now = timezone.now()
    streams = Stream.objects.bulk_create(
        Stream(
            channel=channel,
            owner=owner,
            title=f"Broadcast {i}",
            status=Stream.Status.ENDED,
            started_at=now - timedelta(hours=4 * i + 6),
            ended_at=now - timedelta(hours=4 * i + 4),
        )
        for i in range(500)
    )
    StreamSummary.objects.bulk_create(
        StreamSummary(
            stream=s,
            peak_viewers=50 + i % 40,
            average_viewers=30.5,
            unique_viewers=80,
            total_watch_seconds=200000,
            live_seconds=7200,
            chat_messages=900,
            reactions_total=300,
        )
        for i, s in enumerate(streams)
    )
    ViewerSession.objects.bulk_create(
        ViewerSession(stream=s, joined_at=s.started_at, left_at=s.ended_at, anonymous_id=f"{j:032x}")
        for s in streams
        for j in range(10)
    )
    totals = selectors.channel_analytics(owner=owner, days=90)
    assert totals["broadcasts"] == 500 and len(totals["streams"]) == selectors.CHANNEL_BROADCASTS, totals[
        "broadcasts"
    ]
    assert client.get("/api/v1/channel/analytics/?days=90").status_code == 200

    base = median_ms(
        lambda: StreamSummary.objects.filter(stream__owner=owner).aggregate(
            w=Sum("total_watch_seconds"), p=Max("peak_viewers")
        ),
        repeats,
    )
    for label, fn in (
        ("channel_analytics(days=90)", lambda: selectors.channel_analytics(owner=owner, days=90)),
        ("GET /api/v1/channel/analytics/?days=90", lambda: client.get("/api/v1/channel/analytics/?days=90")),
    ):
        line(label, median_ms(fn, repeats), base)
        print(f"      {profile(fn).describe()}")
    print(f"   baseline: a bare aggregate over the 500 summaries ({base:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="runs per figure (medians)")
    args = parser.parse_args()
    random.seed(12)
    started = time.perf_counter()
    try:
        call_command("migrate", verbosity=0)
        sampling(args.repeats)
        owner = User.objects.create_user("benchowner", "o@example.com", "x-bench-pass-1", go_live_exempt=True)
        client = Client()
        client.force_login(owner)
        four_hours(args.repeats, owner, client)
        other = User.objects.create_user(
            "benchchannel", "c@example.com", "x-bench-pass-1", go_live_exempt=True
        )
        other_client = Client()
        other_client.force_login(other)
        channel_500(args.repeats, other, other_client)
    finally:
        connections.close_all()
        subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], env=PG_ENV, check=False)
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
