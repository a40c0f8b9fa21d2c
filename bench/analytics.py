"""Analytics on this machine, each figure beside a plain baseline from the same run:

1. Sampling: one beat tick (analytics.tasks.sample_live_streams_task's body: a sample of
   every live broadcast, stale sessions closed, live summaries refreshed) with 1,000
   concurrent viewers (1,000 open viewer sessions and 1,000 presence entries in Redis, as
   sockets make them) on one broadcast, and on 10 broadcasts of 100; chat messages and
   reactions arrive between ticks. The tick is timed when every summary is due (once a
   minute) and when none is (the other five ticks of the minute). Baseline: the least a
   sampler must do, a Redis ZCARD and one INSERT per broadcast.
2. A 4-hour broadcast: 1,440 raw 10-s samples, 2,880 health samples (5 s), 3,000 viewer
   sessions, 500 playback reports. Timed: reading the stored summary, computing it
   afresh, the whole analytics dict at 60 s and 10 s resolution, and the API call
   (`GET /api/v1/streams/{id}/analytics/` through Django's test client, as the owner), each
   with its query count. Baseline: a bare SELECT of the same sample rows.
3. A channel with 500 past broadcasts (each with a summary and sessions): the channel
   totals over 90 days and the API call. Baseline: a bare aggregate over the summaries.

Targets (issue 12): the summary query under 50 ms, a sampling tick under 100 ms.

It uses a PostgreSQL database of its own (socialflow_bench_analytics, dropped at the end)
and Redis DB 12 (refused if it holds keys; flushed at the end).

    .venv/bin/python bench/analytics.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "socialflow_bench_analytics"
REDIS_DB = 12
REDIS = f"redis://127.0.0.1:6379/{REDIS_DB}"
if redis.Redis.from_url(REDIS).dbsize():
    raise SystemExit(f"Redis DB {REDIS_DB} holds keys: someone else uses it (or a run was killed).")
TMP = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
(TMP / "static").mkdir()
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "socialflow.settings",
        "ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
        "REDIS_URL": REDIS,
        "CACHE_URL": REDIS,
        "CHANNEL_LAYER_URL": REDIS,
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "MEDIA_ROOT": str(TMP / "media"),
        "STATIC_ROOT": str(TMP / "static"),
        "GO_LIVE_MIN_FOLLOWERS": "0",
        "LOG_LEVEL": "WARNING",
    }
)
os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)
ADMIN = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c"]
PG_ENV = {**os.environ, "PGPASSWORD": "socialflow"}
subprocess.run([*ADMIN, f"DROP DATABASE IF EXISTS {DB_NAME}"], check=True, env=PG_ENV)
subprocess.run([*ADMIN, f"CREATE DATABASE {DB_NAME}"], check=True, env=PG_ENV)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
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


def median_ms(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def queries(fn: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def line(label: str, ms: float, baseline: float | None = None, extra: str = "") -> None:
    ratio = f"   ratio {ms / baseline:.1f}x" if baseline else ""
    base = f"   baseline {baseline:.2f} ms" if baseline is not None else ""
    print(f"   {label:<58} {ms:8.2f} ms{base}{ratio}{extra}")


def live_broadcast(owner: User, title: str) -> Stream:
    channel = stream_services.channel_get_or_create(user=owner)
    result = stream_services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id=title, ip="127.0.0.1"
    )
    assert result.allowed, result.reason
    return result.stream


def sampling(repeats: int) -> None:
    print("1. sampling: one beat tick, 1,000 concurrent viewers")
    for broadcasts, per in ((1, 1000), (10, 100)):
        sampling_layout(broadcasts, per, repeats)
    print("   (target: under 100 ms a tick)")


def sampling_layout(broadcasts: int, per: int, repeats: int) -> None:
    client = presence._sync_redis()
    streams = []
    for b in range(broadcasts):
        owner = User.objects.create_user(
            f"s{broadcasts}_{b}", f"s{broadcasts}_{b}@example.com", "x-bench-pass-1"
        )
        stream = live_broadcast(owner, f"c{broadcasts}-{b}")
        now = timezone.now()
        sessions = ViewerSession.objects.bulk_create(
            ViewerSession(stream=stream, joined_at=now, last_seen_at=now) for _ in range(per)
        )
        expiry = time.time() + 3600
        client.zadd(presence._key(stream.pk), {presence.member_id(s.pk): expiry for s in sessions})
        streams.append(stream)
    viewers = User.objects.bulk_create(
        User(username=f"v{broadcasts}_{i}", email=f"v{broadcasts}_{i}@example.com") for i in range(20)
    )
    ticks: dict[bool, list[float]] = {True: [], False: []}
    for i in range(repeats):
        due = i % 2 == 0
        if due:  # every summary older than a minute
            StreamSummary.objects.filter(stream__in=streams).update(
                updated_at=timezone.now() - timedelta(hours=1)
            )
        for stream in streams:  # what arrives between two ticks
            ChatMessage.objects.bulk_create(
                ChatMessage(stream=stream, user=random.choice(viewers), content="hi") for _ in range(5)
            )
            ReactionCount.objects.update_or_create(
                stream=stream, type="fire", defaults={"count": random.randint(1, 99)}
            )
        started = time.perf_counter()
        # 10 s apart, as the beat ticks
        series.sample_live_streams(now=timezone.now() + timedelta(seconds=10 * (i + 1)))
        services.viewer_sessions_close_stale()
        summaries.summaries_refresh_live()
        ticks[due].append((time.perf_counter() - started) * 1000)

    later = timezone.now() + timedelta(days=1)
    samples = iter(range(10**6))

    def bare() -> None:
        for stream in streams:
            count = client.zcard(presence._key(stream.pk))
            StreamSample.objects.create(
                stream=stream, at=later + timedelta(seconds=next(samples)), viewers=count
            )

    base, _ = median_ms(bare, repeats)
    label = f"{broadcasts} broadcast{'s' if broadcasts > 1 else ''} x {per} viewers"
    line(f"{label}, summaries due (once a minute)", statistics.median(ticks[True]), base)
    line(f"{label}, summaries fresh (5 ticks in 6)", statistics.median(ticks[False]), base)
    for stream in streams:
        client.delete(presence._key(stream.pk))
    Stream.objects.filter(pk__in=[s.pk for s in streams]).update(
        status=Stream.Status.ENDED, ended_at=timezone.now()
    )


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

    base, _ = median_ms(
        lambda: list(StreamSample.objects.filter(stream=stream).values_list(*fields)), repeats
    )
    for label, fn in (
        ("the stored summary (what the API and page read)", lambda: selectors.stream_summary(stream=stream)),
        ("the summary computed afresh (a live refresh)", lambda: summaries.summary_compute(stream=stream)),
        (
            "everything at 60 s: summary, series, health, highlights",
            lambda: selectors.stream_analytics(stream=stream, window=window60),
        ),
        ("everything at 10 s", lambda: selectors.stream_analytics(stream=stream, window=window10)),
        (
            "GET /api/v1/streams/{id}/analytics/?resolution=60",
            lambda: client.get(f"/api/v1/streams/{stream.pk}/analytics/?resolution=60"),
        ),
    ):
        ms, _ = median_ms(fn, repeats)
        line(label, ms, base, f"   {queries(fn)} queries")
    print(
        f"   baseline: a bare SELECT of the 1,440 sample rows ({base:.2f} ms);"
        " target: the summary under 50 ms"
    )


def channel_500(repeats: int, owner: User, client: Client) -> None:
    print("3. a channel with 500 past broadcasts")
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
    base, _ = median_ms(
        lambda: StreamSummary.objects.filter(stream__owner=owner).aggregate(
            w=django.db.models.Sum("total_watch_seconds"), p=django.db.models.Max("peak_viewers")
        ),
        repeats,
    )
    for label, fn in (
        (
            "channel totals over 90 days (channel_analytics)",
            lambda: selectors.channel_analytics(owner=owner, days=90),
        ),
        ("GET /api/v1/channel/analytics/?days=90", lambda: client.get("/api/v1/channel/analytics/?days=90")),
    ):
        ms, _ = median_ms(fn, repeats)
        line(label, ms, base, f"   {queries(fn)} queries")
    print(f"   baseline: a bare aggregate over the 500 summaries ({base:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20, help="runs per figure (medians)")
    args = parser.parse_args()
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
        redis.Redis.from_url(REDIS).flushdb()
    print(f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
