"""What the analytics API, pages and CSV read: a broadcast's summary, series, health and
highlights, and a channel's totals. Each reads a fixed number of queries, whatever the
number of samples (bucketing is done here, in Python, over one query's rows)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, Sum
from django.http import Http404
from django.utils import timezone
from redis.exceptions import RedisError

from accounts.models import Follow, User
from analytics import summaries
from analytics.models import StreamSample, StreamSummary, ViewerSession
from socialflow.lib.errors import DomainError
from streams import capacity
from streams.models import Stream, StreamEvent, StreamHealthSample
from streams.selectors import stream_get_for_manager

RESOLUTIONS = (10, 60, 300)  # seconds per point
MAX_RANGE = timedelta(days=31)
CHANNEL_DAYS = (7, 30, 90)
CHANNEL_BROADCASTS = 100  # the channel's table lists at most this many, newest first
SUMMARY_FIELDS = (
    "peak_viewers",
    "average_viewers",
    "unique_viewers",
    "total_watch_seconds",
    "average_watch_seconds",
    "live_seconds",
    "chat_messages",
    "chatters",
    "reactions",
    "reactions_total",
    "new_followers",
    "played_seconds",
    "rebuffer_seconds",
    "rebuffer_ratio",
    "startup_ms_median",
    "quality",
    "devices",
    "referrers",
)
STATUS_RANK = {"good": 0, "warning": 1, "bad": 2}


def analytics_stream_get(*, stream_id: str, user: User) -> Stream:
    """A broadcast for its streamer or a moderator; anyone else gets 404, as for one that
    does not exist (its numbers are not for them, nor is the fact that it exists)."""
    try:
        return stream_get_for_manager(stream_id=stream_id, user=user)
    except PermissionDenied:
        raise Http404("No such broadcast.") from None


class AnalyticsQueryError(DomainError):
    """A range, resolution or period the API cannot answer: 400 with the reason."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    resolution: int


def analytics_window(
    *, stream: Stream, start: datetime | None, end: datetime | None, resolution: int | None
) -> Window:
    """The range and resolution asked for, checked: by default the whole broadcast, at 10 s
    up to two hours and 60 s beyond."""
    begins = start or stream.started_at or stream.created_at
    ends = end or stream.ended_at or timezone.now()
    if ends <= begins:
        raise AnalyticsQueryError("`from` must be before `to`.", code="invalid_range")
    if ends - begins > MAX_RANGE:
        raise AnalyticsQueryError("At most 31 days at a time.", code="range_too_long")
    if resolution is None:
        resolution = 10 if ends - begins <= timedelta(hours=2) else 60
    if resolution not in RESOLUTIONS:
        raise AnalyticsQueryError(
            f"resolution: one of {', '.join(str(r) for r in RESOLUTIONS)} (seconds).",
            code="invalid_resolution",
        )
    return Window(begins, ends, resolution)


def _bucket(at: datetime, origin: datetime, resolution: int) -> datetime:
    """The end of the `resolution`-second bucket holding a point that ends at `at`."""
    steps = -(-(at - origin).total_seconds() // resolution)  # ceil: a point belongs to its end
    return origin + timedelta(seconds=max(1, steps) * resolution)


def stream_series(*, stream: Stream, window: Window, samples: list[StreamSample]) -> list[dict[str, Any]]:
    """Activity per point: concurrent viewers (sockets: two tabs are two) averaged and at
    their peak, and what happened in the interval."""
    origin = stream.started_at or window.start
    buckets: dict[datetime, list[StreamSample]] = defaultdict(list)
    for sample in samples:
        if window.start < sample.at <= window.end:
            key = (
                sample.at
                if sample.seconds >= window.resolution
                else _bucket(sample.at, origin, window.resolution)
            )
            buckets[key].append(sample)
    points = []
    for at in sorted(buckets):
        group = buckets[at]
        reactions: dict[str, int] = defaultdict(int)
        for sample in group:
            for kind, count in sample.reactions.items():
                reactions[kind] += count
        points.append(
            {
                "at": at.isoformat(),
                "seconds": max(window.resolution, max(s.seconds for s in group)),
                "viewers": round(sum(s.viewers for s in group) / len(group), 1),
                "viewers_peak": max(s.viewers_peak for s in group),
                "chat_messages": sum(s.chat_messages for s in group),
                "chatters": max(s.chatters for s in group),
                "reactions": sum(reactions.values()),
                "reactions_by_type": dict(reactions),
                "new_followers": sum(s.new_followers for s in group),
            }
        )
    return points


def stream_health(*, stream: Stream, window: Window) -> list[dict[str, Any]]:
    """The transcoder's health per point: means of the figures, the worst status and its
    reason (so a warning inside a minute is not averaged away)."""
    origin = stream.started_at or window.start
    buckets: dict[datetime, list[StreamHealthSample]] = defaultdict(list)
    for sample in StreamHealthSample.objects.filter(
        stream=stream, at__gt=window.start - timedelta(seconds=window.resolution), at__lte=window.end
    ).order_by("at"):
        buckets[_bucket(sample.at, origin, window.resolution)].append(sample)

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known) / len(known), 3) if known else None

    points = []
    for at in sorted(buckets):
        group = buckets[at]
        worst = max(group, key=lambda s: STATUS_RANK.get(s.status, 0))
        points.append(
            {
                "at": at.isoformat(),
                "ingest_kbps": mean([s.ingest_kbps for s in group]),
                "bitrate_kbps": mean([s.bitrate_kbps for s in group]),
                "fps": mean([s.fps for s in group]),
                "source_fps": group[-1].source_fps,
                "speed": mean([s.speed for s in group]),
                "dropped_frames": group[-1].dropped_frames,
                "restarts": group[-1].restarts,
                "ladder": group[-1].ladder,
                "status": worst.status,
                "reason": worst.reason,
            }
        )
    return points


def stream_summary(*, stream: Stream) -> dict[str, Any]:
    """The stored summary, or one computed now when none is stored yet."""
    stored = StreamSummary.objects.filter(stream=stream).first()
    if stored is not None:
        fields = {name: getattr(stored, name) for name in SUMMARY_FIELDS}
        return {**fields, "final": stored.final, "updated_at": stored.updated_at.isoformat()}
    fields = summaries.summary_compute(stream=stream)
    return {
        **{name: fields[name] for name in SUMMARY_FIELDS},
        "final": False,
        "updated_at": timezone.now().isoformat(),
    }


def stream_analytics(*, stream: Stream, window: Window) -> dict[str, Any]:
    samples = list(StreamSample.objects.filter(stream=stream).order_by("at"))  # highlights need all
    warnings = list(
        StreamEvent.objects.filter(
            stream=stream, severity__in=[StreamEvent.Severity.WARNING, StreamEvent.Severity.ERROR]
        )
        .order_by("created_at")
        .values("created_at", "message")[:200]
    )
    return {
        "stream": {
            "id": stream.pk,
            "title": stream.title,
            "status": stream.status,
            "started_at": stream.started_at.isoformat() if stream.started_at else None,
            "ended_at": stream.ended_at.isoformat() if stream.ended_at else None,
        },
        "from": window.start.isoformat(),
        "to": window.end.isoformat(),
        "resolution": window.resolution,
        "summary": stream_summary(stream=stream),
        "series": stream_series(stream=stream, window=window, samples=samples),
        "health": stream_health(stream=stream, window=window),
        "warnings": [{"at": w["created_at"].isoformat(), "message": w["message"]} for w in warnings],
        "highlights": [h.as_dict() for h in summaries.highlights(stream=stream, samples=samples)],
    }


def channel_analytics(*, owner: User, days: int, now: datetime | None = None) -> dict[str, Any]:
    """A channel's totals over the last `days` (7, 30 or 90) and its broadcasts in them."""
    if days not in CHANNEL_DAYS:
        raise AnalyticsQueryError(
            f"days: one of {', '.join(str(d) for d in CHANNEL_DAYS)}.", code="invalid_days"
        )
    now = now or timezone.now()
    since = now - timedelta(days=days)
    broadcasts = Stream.objects.filter(owner=owner, started_at__gt=since).exclude(started_at__isnull=True)
    totals = StreamSummary.objects.filter(stream__in=broadcasts).aggregate(
        watch=Sum("total_watch_seconds"),
        live=Sum("live_seconds"),
        messages=Sum("chat_messages"),
        reactions=Sum("reactions_total"),
        peak=Max("peak_viewers"),
    )
    people = ViewerSession.objects.filter(stream__in=broadcasts).aggregate(
        users=Count("user", distinct=True),
        anonymous=Count("anonymous_id", distinct=True, filter=~Q(anonymous_id="") & Q(user__isnull=True)),
        unnamed=Count("pk", filter=Q(anonymous_id="", user__isnull=True)),
    )
    rows = list(broadcasts.select_related("summary", "category").order_by("-started_at")[:CHANNEL_BROADCASTS])
    live = totals["live"] or 0
    return {
        "days": days,
        "from": since.isoformat(),
        "to": now.isoformat(),
        "broadcasts": broadcasts.count(),
        "hours_live": round(live / 3600, 2),
        "total_watch_seconds": totals["watch"] or 0,
        "average_viewers": round((totals["watch"] or 0) / live, 2) if live else 0.0,
        "peak_viewers": totals["peak"] or 0,
        "unique_viewers": people["users"] + people["anonymous"] + people["unnamed"],
        "chat_messages": totals["messages"] or 0,
        "reactions": totals["reactions"] or 0,
        "new_followers": Follow.objects.filter(followee=owner, created_at__gt=since).count(),
        "followers": Follow.objects.filter(followee=owner, follower__is_active=True).count(),
        "streams": [_broadcast_row(stream) for stream in rows],
    }


def _broadcast_row(stream: Stream) -> dict[str, Any]:
    summary = getattr(stream, "summary", None)
    return {
        "id": stream.pk,
        "title": stream.title,
        "status": stream.status,
        "category": stream.category.name if stream.category else None,
        "started_at": stream.started_at.isoformat() if stream.started_at else None,
        "ended_at": stream.ended_at.isoformat() if stream.ended_at else None,
        "live_seconds": summary.live_seconds if summary else 0,
        "peak_viewers": summary.peak_viewers if summary else stream.peak_viewer_count,
        "average_viewers": summary.average_viewers if summary else 0.0,
        "unique_viewers": summary.unique_viewers if summary else 0,
        "total_watch_seconds": summary.total_watch_seconds if summary else 0,
        "chat_messages": summary.chat_messages if summary else 0,
        "new_followers": summary.new_followers if summary else 0,
        "rebuffer_ratio": summary.rebuffer_ratio if summary else None,
    }


def series_csv_rows(*, stream: Stream) -> list[list[Any]]:
    """A broadcast's whole series for CSV export: one row per stored sample, with the
    nearest health sample's figures."""
    header = [
        "at",
        "seconds",
        "viewers",
        "viewers_peak",
        "chat_messages",
        "chatters",
        "reactions",
        "new_followers",
        "ingest_kbps",
        "bitrate_kbps",
        "fps",
        "speed",
        "health",
    ]
    samples = list(StreamSample.objects.filter(stream=stream).order_by("at"))
    health = list(StreamHealthSample.objects.filter(stream=stream).order_by("at"))
    rows: list[list[Any]] = [header]
    position = 0
    for sample in samples:
        begins = sample.at - timedelta(seconds=sample.seconds)
        inside = []
        while position < len(health) and health[position].at <= sample.at:
            if health[position].at > begins:
                inside.append(health[position])
            position += 1

        def mean(values: list[float | None]) -> str:
            known = [v for v in values if v is not None]
            return f"{sum(known) / len(known):.2f}" if known else ""

        rows.append(
            [
                sample.at.isoformat(),
                sample.seconds,
                sample.viewers,
                sample.viewers_peak,
                sample.chat_messages,
                sample.chatters,
                sum(sample.reactions.values()),
                sample.new_followers,
                mean([h.ingest_kbps for h in inside]),
                mean([h.bitrate_kbps for h in inside]),
                mean([h.fps for h in inside]),
                mean([h.speed for h in inside]),
                max((h.status for h in inside), key=lambda s: STATUS_RANK.get(s, 0), default=""),
            ]
        )
    return rows


def platform_numbers(*, now: datetime | None = None) -> dict[str, Any]:
    """For staff: live now, viewers now, broadcasts today (UTC), the transcoders' load."""
    now = now or timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    live = Stream.objects.live().aggregate(n=Count("pk"), viewers=Sum("viewer_count"))
    try:
        transcoders: list[dict[str, Any]] | None = capacity.workers_load()
    except RedisError:
        transcoders = None  # shown as unknown: the admin page still works with Redis away
    return {
        "live": live["n"],
        "viewers": live["viewers"] or 0,
        "broadcasts_today": Stream.objects.filter(started_at__gte=today).count(),
        "transcoders": transcoders,
        "transcode_cores": round(sum(float(w["used"] or 0) for w in transcoders), 2) if transcoders else 0.0,
    }
