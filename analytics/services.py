"""Viewer sessions and playback reports, fed by presence and the stream socket (chat) and by
REST for native players; stale sessions are closed by the sampler (analytics.series)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone
from user_agents import parse as parse_user_agent

from analytics.models import PlaybackReport, ViewerSession


@dataclass(frozen=True)
class Client:
    """Who a session is, as far as the request tells: all optional."""

    anonymous_id: str = ""  # the client's own random id (a browser's localStorage, an app install)
    user_agent: str = ""
    referrer: str = ""  # a host, "internal", or empty


def anonymous_key(raw: str) -> str:
    """What is stored of a client's anonymous id: a keyed hash, so the table holds no id a
    client could be recognised by elsewhere."""
    raw = raw.strip()[:128]
    if not raw:
        return ""
    return hashlib.blake2b(raw.encode(), key=settings.SECRET_KEY.encode()[:64], digest_size=16).hexdigest()


def device_class(user_agent: str) -> str:
    """desktop, mobile, tablet, tv, bot or other, from the User-Agent (ua-parser's rules)."""
    if not user_agent:
        return ViewerSession.Device.OTHER
    agent = parse_user_agent(user_agent[:512])
    lowered = user_agent.lower()
    if agent.is_bot:
        return ViewerSession.Device.BOT
    if any(
        word in lowered
        for word in ("smart-tv", "smarttv", "tizen", "webos", "appletv", "android tv", "crkey")
    ):
        return ViewerSession.Device.TV
    if agent.is_tablet:
        return ViewerSession.Device.TABLET
    if agent.is_mobile:
        return ViewerSession.Device.MOBILE
    if agent.is_pc:
        return ViewerSession.Device.DESKTOP
    return ViewerSession.Device.OTHER


def referrer_of(url: str, *, own_hosts: set[str]) -> str:
    """A page's referrer as analytics keeps it: the other site's host, "internal" for this
    site's own pages, empty for none (typed, bookmarked, an app)."""
    if not url:
        return ""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    if not host:
        return ""
    if host in own_hosts:
        return "internal"
    return host.removeprefix("www.")[:255]


def viewer_session_start(
    *, stream_id: str, user_id: int | None, client: Client | None = None, via: str = ViewerSession.Via.SOCKET
) -> int:
    client = client or Client()
    now = timezone.now()
    return ViewerSession.objects.create(
        stream_id=stream_id,
        user_id=user_id,
        anonymous_id="" if user_id else anonymous_key(client.anonymous_id),
        device=device_class(client.user_agent),
        referrer=client.referrer[:255],
        via=via,
        joined_at=now,
        last_seen_at=now,
    ).pk


def viewer_session_end(*, session_id: int) -> None:
    session = ViewerSession.objects.filter(pk=session_id, left_at__isnull=True).first()
    if session is None:
        return  # ended already (left twice, or closed by the timeout)
    session.left_at = timezone.now()
    session.watch_seconds = max(0, int((session.left_at - session.joined_at).total_seconds()))
    session.save(update_fields=["left_at", "watch_seconds"])


def viewer_sessions_seen(*, session_ids: list[int], at: datetime) -> int:
    """Presence still holds these sessions (their heartbeats arrive): one UPDATE."""
    if not session_ids:
        return 0
    return ViewerSession.objects.filter(pk__in=session_ids, left_at__isnull=True).update(last_seen_at=at)


def viewer_sessions_close_stale(*, now: datetime | None = None) -> int:
    """Close the sessions presence has not seen for ANALYTICS_SESSION_TIMEOUT_SECONDS, at
    the moment they were last seen (their web process died, their app went away without
    leaving); and every session still open on a broadcast that is over."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.ANALYTICS_SESSION_TIMEOUT_SECONDS)
    last_seen = Coalesce(F("last_seen_at"), F("joined_at"))
    stale = (
        ViewerSession.objects.filter(left_at__isnull=True).annotate(seen=last_seen).filter(seen__lt=cutoff)
    )
    closed = 0
    for session in stale.only("pk", "joined_at", "last_seen_at").iterator(chunk_size=500):
        left = max(session.last_seen_at or session.joined_at, session.joined_at)
        closed += ViewerSession.objects.filter(pk=session.pk, left_at__isnull=True).update(
            left_at=left, watch_seconds=max(0, int((left - session.joined_at).total_seconds()))
        )
    return closed


def viewer_sessions_close_for_stream(*, stream_id: str, at: datetime) -> int:
    """The broadcast ended: its open sessions end with it (one UPDATE per watch time)."""
    closed = 0
    for session in ViewerSession.objects.filter(stream_id=stream_id, left_at__isnull=True).only(
        "pk", "joined_at"
    ):
        left = max(at, session.joined_at)
        closed += ViewerSession.objects.filter(pk=session.pk, left_at__isnull=True).update(
            left_at=left, watch_seconds=max(0, int((left - session.joined_at).total_seconds()))
        )
    return closed


def playback_report_record(
    *,
    stream_id: str,
    session_id: int | None,
    first: bool,
    startup_ms: int,
    rebuffer_ms: int,
    played_ms: int,
    rung: str,
    dropped_frames: int,
) -> PlaybackReport:
    """One player's report (validated at the edge: chat.schemas.PlaybackReportInput).
    Start-up time is kept from a session's first report only."""
    return PlaybackReport.objects.create(
        stream_id=stream_id,
        session_id=session_id,
        at=timezone.now(),
        startup_ms=startup_ms if first else None,
        rebuffer_ms=rebuffer_ms,
        played_ms=played_ms,
        rung=rung,
        dropped_frames=dropped_frames,
    )
