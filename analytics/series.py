"""A time series per broadcast: a beat task samples every live broadcast every
SAMPLE_SECONDS into StreamSample (concurrent viewers, chat messages, chatters, reactions per
type, new followers), and raw samples older than ANALYTICS_RAW_RETENTION_DAYS are folded
into one sample per minute.

What is counted in apps above analytics (chat: viewers, messages, reactions) comes from a
source they register at start (`register_source`, chat.activity): analytics sits below chat,
whose presence writes analytics' viewer sessions.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts.models import Follow
from analytics.models import StreamSample
from streams.models import Stream

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 10
# A tick closer than this to the last sample (a beat that fired twice) adds nothing.
MIN_INTERVAL_SECONDS = SAMPLE_SECONDS / 2


class Source(Protocol):
    def sample(self, stream: Stream, last: StreamSample | None, now: datetime) -> dict[str, Any]:
        """StreamSample fields for a raw sample taken `now`; `last`: the previous sample."""

    def sample_many(
        self, streams: list[Stream], lasts: dict[str, StreamSample], now: datetime
    ) -> dict[str, dict[str, Any]]:
        """`sample` for many broadcasts at once, by stream id; `lasts`: their last samples."""

    def minute(
        self, stream_id: str, start: datetime, end: datetime, samples: list[StreamSample]
    ) -> dict[str, Any]:
        """StreamSample fields to set on a minute folded from `samples`, beside the sums."""

    def totals(self, stream: Stream) -> dict[str, Any]:
        """Summary fields over the whole broadcast (analytics.summaries)."""


_sources: list[Source] = []


def register_source(source: Source) -> None:
    """Add a source (once per class: app loading may run twice in tests)."""
    if not any(type(known) is type(source) for known in _sources):
        _sources.append(source)


def sources() -> list[Source]:
    return list(_sources)


def sample_live_streams(*, now: datetime | None = None) -> int:
    """One raw sample per live broadcast, counting what happened since its last one (or
    since it went live). Returns how many were written. All broadcasts are sampled
    together, in a fixed number of queries (a tick stays short with many live); if that
    fails, each is sampled on its own, and one failing (Redis away, say) is logged and does
    not stop the others."""
    now = now or timezone.now()
    streams = list(Stream.objects.live().only("pk", "owner_id", "started_at"))
    if not streams:
        return 0
    try:
        return _sample_together(streams, now)
    except Exception:
        log.exception("could not sample the live broadcasts together; one by one")
    written = 0
    for stream in streams:
        try:
            written += sample_stream(stream, now)
        except Exception:
            log.exception("could not sample broadcast %s", stream.pk)
    return written


def _sample_together(streams: list[Stream], now: datetime) -> int:
    ids = [stream.pk for stream in streams]
    newest = dict(
        StreamSample.objects.filter(stream_id__in=ids)
        .values("stream_id")
        .annotate(at=Max("at"))
        .values_list("stream_id", "at")
    )
    lasts: dict[str, StreamSample] = {}
    if newest:  # a minute sample carries the cursors too
        for sample in StreamSample.objects.filter(
            stream_id__in=list(newest), at__in=list(newest.values())
        ).only("stream_id", "at", "last_message_id", "reaction_totals"):
            if newest.get(sample.stream_id) == sample.at:
                lasts[sample.stream_id] = sample
    since = {
        s.pk: lasts[s.pk].at if s.pk in lasts else (s.started_at or now - timedelta(seconds=SAMPLE_SECONDS))
        for s in streams
    }
    due = [s for s in streams if (now - since[s.pk]).total_seconds() >= MIN_INTERVAL_SECONDS]
    if not due:
        return 0
    fields: dict[str, dict[str, Any]] = {s.pk: {} for s in due}
    for source in _sources:
        for stream_id, values in source.sample_many(due, lasts, now).items():
            fields[stream_id].update(values)
    followed = Q()
    for s in due:
        followed |= Q(followee_id=s.owner_id, created_at__gt=since[s.pk], created_at__lte=now)
    followers = dict(
        Follow.objects.filter(followed)
        .values("followee_id")
        .annotate(n=Count("pk"))
        .values_list("followee_id", "n")
    )
    StreamSample.objects.bulk_create(
        [
            StreamSample(
                stream_id=s.pk,
                at=now,
                seconds=StreamSample.Resolution.RAW,
                new_followers=followers.get(s.owner_id, 0),
                **fields[s.pk],
            )
            for s in due
        ],
        ignore_conflicts=True,  # another beat wrote this instant already
    )
    return len(due)


def sample_stream(stream: Stream, now: datetime) -> int:
    """One raw sample of `stream` ending at `now` (also the last one, at its end)."""
    last = (
        StreamSample.objects.filter(stream=stream)  # a minute sample carries the cursors too
        .order_by("-at")
        .only("at", "last_message_id", "reaction_totals")
        .first()
    )
    since = last.at if last else (stream.started_at or now - timedelta(seconds=SAMPLE_SECONDS))
    if (now - since).total_seconds() < MIN_INTERVAL_SECONDS:
        return 0
    fields: dict[str, Any] = {}
    for source in _sources:
        fields.update(source.sample(stream, last, now))
    fields["new_followers"] = Follow.objects.filter(
        followee_id=stream.owner_id, created_at__gt=since, created_at__lte=now
    ).count()
    try:
        with transaction.atomic():
            StreamSample.objects.create(stream=stream, at=now, seconds=StreamSample.Resolution.RAW, **fields)
    except IntegrityError:  # another beat wrote this instant already
        return 0
    return 1


def downsample(*, now: datetime | None = None) -> int:
    """Fold raw samples older than ANALYTICS_RAW_RETENTION_DAYS into one sample per minute
    (whole minutes only): viewers averaged, the peak kept, counts summed, chatters counted
    again by the sources (distinct over the minute). Returns the minute samples written.
    Running it twice changes nothing: the raw samples it folded are gone."""
    now = now or timezone.now()
    cutoff = (now - timedelta(days=settings.ANALYTICS_RAW_RETENTION_DAYS)).replace(second=0, microsecond=0)
    raw = StreamSample.objects.filter(seconds=StreamSample.Resolution.RAW, at__lte=cutoff).order_by(
        "stream_id", "at"
    )
    groups: dict[tuple[str, datetime], list[StreamSample]] = defaultdict(list)
    for sample in raw.iterator(chunk_size=2000):
        # A sample ending at 12:00:10 covers 12:00:00-12:00:10: the minute ending 12:01:00.
        start = sample.at - timedelta(seconds=sample.seconds)
        minute_end = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        groups[(sample.stream_id, minute_end)].append(sample)
    written = 0
    for (stream_id, minute_end), samples in groups.items():
        with transaction.atomic():
            reactions: dict[str, int] = defaultdict(int)
            for sample in samples:
                for kind, count in sample.reactions.items():
                    reactions[kind] += count
            fields: dict[str, Any] = {
                "viewers": round(sum(s.viewers for s in samples) / len(samples)),
                "viewers_peak": max(s.viewers_peak for s in samples),
                "chat_messages": sum(s.chat_messages for s in samples),
                # A lower bound, unless a source counts the minute's chatters again.
                "chatters": max(s.chatters for s in samples),
                "reactions": dict(reactions),
                "new_followers": sum(s.new_followers for s in samples),
                "last_message_id": max(s.last_message_id for s in samples),
                "reaction_totals": samples[-1].reaction_totals,
            }
            for source in _sources:
                fields.update(
                    source.minute(stream_id, minute_end - timedelta(minutes=1), minute_end, samples)
                )
            StreamSample.objects.update_or_create(
                stream_id=stream_id, seconds=StreamSample.Resolution.MINUTE, at=minute_end, defaults=fields
            )
            StreamSample.objects.filter(pk__in=[s.pk for s in samples]).delete()
        written += 1
    return written
