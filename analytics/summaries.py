"""A broadcast's summary (refreshed while live by the sampler, final at its end) and its
highlights: the minutes where chat and reactions spiked above the broadcast's baseline.

Definitions (docs/architecture.md, "Analytics"):
- peak viewers: the most sessions open at once (concurrent sockets and REST players: a
  viewer with two tabs is two), or the most presence counted, whichever is higher;
- average viewers: total watch time / time live (the mean of concurrent viewers);
- unique viewers: distinct users, plus distinct anonymous ids, plus anonymous sessions that
  sent no id (each counts once);
- average watch time: total watch time / unique viewers;
- rebuffering ratio: stalled time / (played + stalled time), from the players' reports.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Follow
from analytics import series
from analytics.models import PlaybackReport, StreamSample, StreamSummary, ViewerSession
from analytics.services import viewer_sessions_close_for_stream
from streams.models import Stream

REFRESH_SECONDS = 60  # while live, the summary is at most this old

# A highlight: a minute whose activity (chat messages + reactions) is at least HIGHLIGHT_FACTOR
# times the broadcast's typical minute (the median), and at least HIGHLIGHT_MIN_ACTIVITY.
HIGHLIGHT_FACTOR = 3.0
HIGHLIGHT_MIN_ACTIVITY = 10
HIGHLIGHTS_MAX = 10


def _live_span(stream: Stream, now: datetime) -> tuple[datetime | None, datetime]:
    end = stream.ended_at or now
    return stream.started_at, end


def summary_compute(*, stream: Stream, now: datetime | None = None) -> dict[str, Any]:
    """The summary's fields from the sessions, samples, reports and the sources' totals."""
    now = now or timezone.now()
    start, end = _live_span(stream, now)
    sessions = list(
        ViewerSession.objects.filter(stream=stream).values_list(
            "joined_at", "left_at", "user_id", "anonymous_id", "device", "referrer"
        )
    )
    events: list[tuple[datetime, int]] = []
    total_watch = 0.0
    people: set[tuple[str, Any]] = set()
    devices: Counter[str] = Counter()
    referrers: Counter[str] = Counter()
    for index, (joined, left, user_id, anonymous_id, device, referrer) in enumerate(sessions):
        until = max(min(left or end, end), joined)
        total_watch += (until - joined).total_seconds()
        events += [(joined, 1), (until, -1)]
        if user_id:
            people.add(("user", user_id))
        elif anonymous_id:
            people.add(("anonymous", anonymous_id))
        else:
            people.add(("session", index))
        devices[device] += 1
        referrers[referrer or "direct"] += 1
    peak = current = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):  # leaves first
        current += change
        peak = max(peak, current)
    sampled = StreamSample.objects.filter(stream=stream).aggregate(peak=Max("viewers_peak"))
    peak = max(peak, sampled["peak"] or 0, stream.peak_viewer_count)
    live_seconds = max(0.0, (end - start).total_seconds()) if start else 0.0
    unique = len(people)
    fields: dict[str, Any] = {
        "peak_viewers": peak,
        "average_viewers": round(total_watch / live_seconds, 2) if live_seconds else 0.0,
        "unique_viewers": unique,
        "total_watch_seconds": int(total_watch),
        "average_watch_seconds": round(total_watch / unique, 1) if unique else 0.0,
        "live_seconds": int(live_seconds),
        "devices": dict(devices),
        "referrers": dict(referrers.most_common(10)),
        "new_followers": Follow.objects.filter(
            followee_id=stream.owner_id, created_at__gt=start, created_at__lte=end
        ).count()
        if start
        else 0,
        "chat_messages": 0,
        "chatters": 0,
        "reactions": {},
    }
    for source in series.sources():
        fields.update(source.totals(stream))
    fields["reactions_total"] = sum(fields["reactions"].values())
    fields.update(_playback(stream))
    return fields


def _playback(stream: Stream) -> dict[str, Any]:
    played = rebuffer = 0
    quality: dict[str, float] = defaultdict(float)
    startups: list[int] = []
    for startup_ms, rebuffer_ms, played_ms, rung in PlaybackReport.objects.filter(stream=stream).values_list(
        "startup_ms", "rebuffer_ms", "played_ms", "rung"
    ):
        played += played_ms
        rebuffer += rebuffer_ms
        quality[rung] += played_ms / 1000
        if startup_ms is not None:
            startups.append(startup_ms)
    return {
        "played_seconds": round(played / 1000, 1),
        "rebuffer_seconds": round(rebuffer / 1000, 1),
        "rebuffer_ratio": round(rebuffer / (played + rebuffer), 4) if played + rebuffer else None,
        "startup_ms_median": int(statistics.median(startups)) if startups else None,
        "quality": {rung: round(seconds, 1) for rung, seconds in sorted(quality.items())},
    }


def summary_refresh(*, stream: Stream, final: bool = False, now: datetime | None = None) -> StreamSummary:
    """Write the summary; `final` once the broadcast is over (it is not refreshed again)."""
    fields = summary_compute(stream=stream, now=now)
    with transaction.atomic():
        summary, _ = StreamSummary.objects.update_or_create(
            stream=stream, defaults={**fields, "final": final}
        )
    return summary


def summaries_refresh_live(*, now: datetime | None = None) -> int:
    """The live summaries older than REFRESH_SECONDS, the oldest first, a sixth of the live
    broadcasts a tick at most: broadcasts that went live together would otherwise all fall
    due on the same tick every minute (bench/analytics.py)."""
    now = now or timezone.now()
    live = list(Stream.objects.live().only("pk", "owner_id", "started_at", "ended_at", "peak_viewer_count"))
    if not live:
        return 0
    updated = dict(StreamSummary.objects.filter(stream__in=live).values_list("stream_id", "updated_at"))
    cutoff = now - timedelta(seconds=REFRESH_SECONDS)
    due = [s for s in live if s.pk not in updated or updated[s.pk] <= cutoff]
    due.sort(key=lambda s: updated.get(s.pk) or s.started_at or now)
    per_tick = -(-len(live) * series.SAMPLE_SECONDS // REFRESH_SECONDS)  # ceil: all within a minute
    for stream in due[:per_tick]:
        summary_refresh(stream=stream, now=now)
    return min(len(due), per_tick)


def summary_finalize(*, stream_id: str) -> StreamSummary | None:
    """The broadcast is over: its last sample (what happened since the one before), its
    sessions closed at its end, and the final summary. Running it again changes nothing."""
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None or stream.started_at is None:
        return None
    end = stream.ended_at or timezone.now()
    series.sample_stream(stream, end)
    viewer_sessions_close_for_stream(stream_id=stream.pk, at=end)
    return summary_refresh(stream=stream, final=True, now=end)


@dataclass(frozen=True)
class Highlight:
    start: datetime  # the minute's start
    offset_seconds: int  # from the broadcast's start
    chat_messages: int
    reactions: int
    score: float  # activity / the typical minute's

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.start.isoformat(),
            "offset_seconds": self.offset_seconds,
            "chat_messages": self.chat_messages,
            "reactions": self.reactions,
            "score": round(self.score, 1),
        }


def highlights(*, stream: Stream, samples: list[StreamSample] | None = None) -> list[Highlight]:
    """The minutes where chat and reactions spiked: activity at least HIGHLIGHT_FACTOR times
    the broadcast's median minute (every minute live counts, quiet ones as 0) and at least
    HIGHLIGHT_MIN_ACTIVITY; the strongest first, at most HIGHLIGHTS_MAX, none within two
    minutes of a stronger one (a spike across a minute boundary is one moment)."""
    if stream.started_at is None:
        return []
    if samples is None:
        samples = list(StreamSample.objects.filter(stream=stream).order_by("at"))
    start = stream.started_at
    minutes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for sample in samples:
        begins = sample.at - timedelta(seconds=sample.seconds)
        index = max(0, int((begins - start).total_seconds() // 60))
        minutes[index][0] += sample.chat_messages
        minutes[index][1] += sum(sample.reactions.values())
    if not minutes:
        return []
    span = max(max(minutes) + 1, int(((stream.ended_at or samples[-1].at) - start).total_seconds() // 60))
    activity = [sum(minutes[i]) if i in minutes else 0 for i in range(span)]
    baseline = statistics.median(activity)
    found: list[Highlight] = []
    for index in sorted(range(span), key=lambda i: -activity[i]):
        value = activity[index]
        if value < HIGHLIGHT_MIN_ACTIVITY or value < HIGHLIGHT_FACTOR * max(baseline, 1):
            break
        if any(abs(index - h.offset_seconds // 60) <= 2 for h in found):
            continue
        messages, reactions = minutes[index]
        found.append(
            Highlight(
                start=start + timedelta(minutes=index),
                offset_seconds=index * 60,
                chat_messages=messages,
                reactions=reactions,
                score=value / max(baseline, 1),
            )
        )
        if len(found) == HIGHLIGHTS_MAX:
            break
    return sorted(found, key=lambda h: h.start)
