"""Writes for streams: channels and keys, preparing broadcasts, and the live lifecycle
driven by the media server's hooks (publish, unpublish, heartbeat, play)."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, When
from django.urls import reverse
from django.utils import timezone

from accounts import push as account_push
from accounts import services as account_services
from accounts import webhooks
from accounts.models import Notification, User, WebhookEvent
from accounts.selectors import user_go_live_eligibility
from socialflow.lib import ratelimit, realtime
from socialflow.lib.updates import model_update
from streams import segments
from streams.errors import StreamError
from streams.media_servers import get_media_server, is_publishing
from streams.models import (
    STREAM_KEY_PREFIX,
    Category,
    Channel,
    Stream,
    StreamEvent,
    Visibility,
    new_key_secret,
)
from streams.signals import broadcast_ended, broadcast_started, media_moved_private
from streams.tasks import (
    media_drop_publisher_task,
    stream_media_private_task,
    stream_notify_followers_task,
    stream_segments_purge_task,
    transcode_stream_task,
)

log = logging.getLogger(__name__)

Status = Stream.Status
EndReason = Stream.EndReason
EventType = StreamEvent.Type
Severity = StreamEvent.Severity

CHANNEL_DEFAULT_FIELDS = (
    "default_title",
    "default_category",
    "default_visibility",
    "record_by_default",
    "dvr_by_default",
    "clips_enabled",
    "recording_retention_days",
)
MAX_RETENTION_DAYS = 3650
STREAM_EDITABLE_FIELDS = (
    "title",
    "description",
    "category",
    "tags",
    "visibility",
    "record",
    "dvr_enabled",
    "low_latency",
    "source_passthrough",
    "dvr_window_seconds",
)
# What the transcoder reads when it starts: fixed while the broadcast is live.
STREAM_MEDIA_FIELDS = ("record", "dvr_enabled", "low_latency", "source_passthrough", "dvr_window_seconds")
MIN_DVR_WINDOW_SECONDS = 30
MAX_TAGS = 10
TAG_RE = re.compile(r"^[\w-]{1,25}$")
# Remember a publisher that has gone for this long, so a late publish hook cannot revive it.
# Short: nginx-rtmp numbers connections from 1 again after a restart.
GONE_TTL_SECONDS = 120


@dataclass(frozen=True)
class Ingest:
    server_url: str
    stream_key: str


@dataclass(frozen=True)
class HookResult:
    allowed: bool
    reason: str = ""
    stream: Stream | None = None


# --- Channels and keys -------------------------------------------------------------


def channel_get_or_create(*, user: User) -> Channel:
    channel, _ = Channel.objects.select_related("user").get_or_create(user=user)
    return channel


def channel_ingest(*, channel: Channel) -> Ingest:
    return Ingest(server_url=settings.RTMP_PUBLIC_URL, stream_key=channel.stream_key)


def channel_update_defaults(
    *,
    channel: Channel,
    default_title: str | None = None,
    default_category: Category | None = None,
    default_visibility: str | None = None,
    record_by_default: bool | None = None,
    dvr_by_default: bool | None = None,
    clips_enabled: bool | None = None,
    recording_retention_days: int | None = None,
    clear_category: bool = False,
    clear_retention: bool = False,
) -> Channel:
    """A channel's defaults. `recording_retention_days` 0 keeps recordings forever;
    `clear_retention` goes back to the site's RECORDING_RETENTION_DAYS."""
    if recording_retention_days is not None and not 0 <= recording_retention_days <= MAX_RETENTION_DAYS:
        raise StreamError(
            f"recording_retention_days: Choose 0 (forever) to {MAX_RETENTION_DAYS} days.", code="invalid"
        )
    data: dict[str, object] = {
        name: value
        for name, value in (
            ("default_title", default_title.strip() if default_title is not None else None),
            ("default_visibility", default_visibility),
            ("record_by_default", record_by_default),
            ("dvr_by_default", dvr_by_default),
            ("default_category", default_category),
            ("clips_enabled", clips_enabled),
            ("recording_retention_days", recording_retention_days),
        )
        if value is not None
    }
    if clear_category:
        data["default_category"] = None
    if clear_retention:
        data["recording_retention_days"] = None
    model_update(instance=channel, fields=CHANNEL_DEFAULT_FIELDS, data=data)
    return channel


def channel_rotate_key(*, channel: Channel, by: User) -> Channel:
    """A new stream key. The old one stops working at once; a broadcast on it is ended."""
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        channel.key_secret = new_key_secret()
        channel.key_rotated_at = timezone.now()
        channel.save(update_fields=["key_secret", "key_rotated_at"])
        stream_event_record(
            channel=channel, kind=EventType.KEY_ROTATED, message=f"Stream key rotated by {by.username}."
        )
        live = channel.streams.live().select_for_update().first()
        if live is not None:
            _end(live, reason=EndReason.KEY_ROTATED, drop_publisher=True)
    return channel


KEY_RE = re.compile(rf"^{STREAM_KEY_PREFIX}_([0-9]{{1,18}})\?key=([A-Za-z0-9_-]{{1,100}})$")
NAME_RE = re.compile(rf"^{STREAM_KEY_PREFIX}_([0-9]{{1,18}})$")
# Keys before S-06 carried the secret in the stream's name, and so in the transcoder's
# command line: refused with a reason that says where the new one is.
OLD_KEY_RE = re.compile(rf"^{STREAM_KEY_PREFIX}_([0-9]{{1,18}})_([A-Za-z0-9_-]{{1,100}})$")
OLD_KEY_REASON = (
    "This stream key is in an old form that exposed it on the server: copy the new one from "
    "the dashboard (it looks like live_<number>?key=...)."
)


def parse_stream_key(key: str) -> tuple[int, str] | None:
    """(channel id, secret) from `live_<channel id>?key=<secret>`, or None for anything else."""
    match = KEY_RE.match(key or "")
    return (int(match.group(1)), match.group(2)) if match else None


def stream_key_from_hook(name: str | None, secret: str | None) -> str:
    """The key OBS sent, put back together from what a media server's hook carries: the
    stream's name and its `key` argument (nginx-rtmp sends the arguments as fields, SRS as
    `param`)."""
    name = (name or "").partition("?")[0]  # a media server never names a stream with a "?"
    return f"{name}?key={secret}" if secret is not None else name


def _channel_by_old_key(key: str) -> Channel | None:
    """The channel of a right secret in the form before S-06 (`live_<channel>_<secret>`)."""
    match = OLD_KEY_RE.match(key or "")
    channel = Channel.objects.filter(pk=int(match.group(1))).first() if match else None
    if channel is None or match is None:
        return None
    return channel if hmac.compare_digest(channel.key_secret.encode(), match.group(2).encode()) else None


def channel_by_stream_name(name: str) -> Channel | None:
    """The channel whose public stream name (`live_<channel id>`) this is; no secret needed:
    for what only the platform's own pulls or the media server's heartbeats ask."""
    match = NAME_RE.match(name or "")
    return Channel.objects.select_related("user").filter(pk=int(match.group(1))).first() if match else None


def channel_by_stream_key(key: str) -> Channel | None:
    """The channel a stream key belongs to, or None; the secret is compared in constant time."""
    parsed = parse_stream_key(key)
    if parsed is None:
        return None
    channel_id, secret = parsed
    channel = Channel.objects.select_related("user").filter(pk=channel_id).first()
    if channel is None or not hmac.compare_digest(channel.key_secret.encode(), secret.encode()):
        return None
    return channel


# --- Preparing broadcasts ----------------------------------------------------------


def _clean_tags(tags: list[str] | None) -> list[str]:
    cleaned: list[str] = []
    for tag in tags or []:
        tag = str(tag).strip().lstrip("#").lower()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise StreamError(f"tags: '{tag[:30]}' is not a valid tag (letters, digits, - and _, up to 25).")
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise StreamError(f"tags: At most {MAX_TAGS} tags.")
    return cleaned


def _require_eligible(user: User) -> None:
    eligibility = user_go_live_eligibility(user=user)
    if not eligibility.eligible:
        raise StreamError(eligibility.reason, code="not_eligible", status_code=403)


def _check_schedule(scheduled_for: datetime | None) -> None:
    if scheduled_for is not None and scheduled_for <= timezone.now():
        raise StreamError("scheduled_for: Pick a time in the future.", code="invalid_schedule")


def _check_dvr_window(seconds: int | None) -> None:
    if seconds is not None and not MIN_DVR_WINDOW_SECONDS <= seconds <= settings.DVR_WINDOW_SECONDS:
        limit = settings.DVR_WINDOW_SECONDS
        raise StreamError(
            f"dvr_window_seconds: Choose between {MIN_DVR_WINDOW_SECONDS} and {limit}.", code="invalid"
        )


def stream_create(
    *,
    owner: User,
    title: str = "",
    description: str = "",
    category: Category | None = None,
    tags: list[str] | None = None,
    visibility: str | None = None,
    scheduled_for: datetime | None = None,
    record: bool | None = None,
    dvr_enabled: bool | None = None,
    low_latency: bool = False,
    source_passthrough: bool = False,
    dvr_window_seconds: int | None = None,
) -> Stream:
    """Prepare a broadcast; OBS connecting activates it (or the API's start)."""
    _require_eligible(owner)
    _check_schedule(scheduled_for)
    _check_dvr_window(dvr_window_seconds)
    stream = _stream_from_defaults(
        channel_get_or_create(user=owner),
        title=title,
        description=description,
        category=category,
        tags=_clean_tags(tags),
        visibility=visibility,
        scheduled_for=scheduled_for,
        record=record,
        dvr_enabled=dvr_enabled,
    )
    stream.low_latency = low_latency
    stream.source_passthrough = source_passthrough
    stream.dvr_window_seconds = dvr_window_seconds
    stream.save(force_insert=True)
    return stream


def _stream_from_defaults(
    channel: Channel,
    *,
    title: str = "",
    description: str = "",
    category: Category | None = None,
    tags: list[str] | None = None,
    visibility: str | None = None,
    scheduled_for: datetime | None = None,
    record: bool | None = None,
    dvr_enabled: bool | None = None,
) -> Stream:
    """An unsaved broadcast for `channel`; what is not given comes from its defaults."""
    return Stream(
        channel=channel,
        owner=channel.user,
        title=title.strip() or channel.title_or_default,
        description=description.strip(),
        category=category if category is not None else channel.default_category,
        tags=tags or [],
        visibility=visibility or channel.default_visibility,
        status=Status.SCHEDULED if scheduled_for else Status.IDLE,
        scheduled_for=scheduled_for,
        record=channel.record_by_default if record is None else record,
        dvr_enabled=channel.dvr_by_default if dvr_enabled is None else dvr_enabled,
    )


def _locked(stream: Stream) -> Stream:
    """The stream's row, re-read and locked until the transaction ends."""
    return Stream.objects.select_for_update().select_related("channel", "owner").get(pk=stream.pk)


def stream_update(*, stream: Stream, moderating: bool = False, **changes: Any) -> Stream:
    """Edit a broadcast's details (STREAM_EDITABLE_FIELDS and `scheduled_for`); viewers of
    a live one see the change at once. The API, the dashboard and the admin all come here.

    Streamers cannot edit a broadcast that is over; moderators (`moderating`, the admin)
    still can correct its details, such as a title that breaks the rules."""
    unknown = [name for name in changes if name not in STREAM_EDITABLE_FIELDS and name != "scheduled_for"]
    if unknown:
        raise StreamError(f"{unknown[0]}: This field can't be changed.", code="invalid")
    with transaction.atomic():
        stream = _locked(stream)  # a publish or an end may have moved it meanwhile
        if stream.is_over and (not moderating or "scheduled_for" in changes):
            raise StreamError(
                "This broadcast has ended; it can no longer be edited.", code="stream_ended", status_code=409
            )
        data = dict(changes)
        if "scheduled_for" in data:
            scheduled_for = data.pop("scheduled_for")
            if stream.is_live and scheduled_for is not None:
                raise StreamError("scheduled_for: The broadcast is already live.", code="invalid_schedule")
            if not stream.is_live:
                _check_schedule(scheduled_for)
                data["scheduled_for"] = scheduled_for
                data["status"] = Status.SCHEDULED if scheduled_for else Status.IDLE
        if stream.is_live:
            fixed = [
                name for name in STREAM_MEDIA_FIELDS if name in data and data[name] != getattr(stream, name)
            ]
            if fixed:
                raise StreamError(
                    f"{fixed[0]}: This can't be changed while the broadcast is live; it applies from the "
                    "next broadcast.",
                    code="live_setting",
                    status_code=409,
                )
        _check_dvr_window(data.get("dvr_window_seconds"))
        if "tags" in data:
            data["tags"] = _clean_tags(data["tags"])
        for name in ("title", "description"):
            if name in data:
                data[name] = data[name].strip()
        if "title" in data and not data["title"]:
            raise StreamError("title: The title can't be empty.", code="invalid")
        _, fields = model_update(
            instance=stream, fields=(*STREAM_EDITABLE_FIELDS, "scheduled_for", "status"), data=data
        )
        if fields:
            stream_event_record(
                stream=stream, kind=EventType.UPDATED, message="Details changed.", details={"fields": fields}
            )
            if "visibility" in fields:
                _follow_visibility(stream)
            _broadcast_status(stream)
    return stream


def _follow_visibility(stream: Stream) -> None:
    """A broadcast narrowed to followers-only (live, or over, by a moderator) takes its media
    out of public storage (S-04). Widened again, it stays private: its playlists go through
    the check and hand out signed URLs to everyone who may watch, which is all a public
    broadcast needs."""
    if stream.visibility == Visibility.FOLLOWERS:
        stream_media_make_private(stream=stream)


def stream_media_make_private(*, stream: Stream) -> bool:
    """Move a live or finished broadcast's media from `live/` to `private/` (S-04), so a
    link copied while it was public stops working: live, the transcoder writes under
    `private/` from now on, and what it published (the live window, the rewind window, the
    recording so far, the thumbnail) moves there; over, what it left (its recording's VOD,
    the thumbnail) does. dvr asks for it when a recording is narrowed on its own. False when
    there is nothing to do (already private; not live yet: going live writes private)."""
    if stream.media_private or not (stream.is_live or stream.is_over):
        return False
    stream.media_private = True
    stream.save(update_fields=["media_private"])
    stream_event_record(
        stream=stream,
        kind=EventType.UPDATED,
        message=(
            "Followers only while live: the broadcast's media moves"
            if stream.is_live
            else "Followers only: the broadcast's files move"
        )
        + " to private storage, and links to it shared while it was public stop working.",
        details={"media_private": True},
    )
    stream_id = stream.pk
    transaction.on_commit(lambda: stream_media_private_task.delay(stream_id), robust=True)
    if stream.is_live:
        # Players read the master again (static/js/ladder.js): a public master pointed them
        # straight at storage, and those addresses are going; the new one goes through the check.
        realtime.send_on_commit(
            stream_id, {"type": realtime.STREAM_LADDER, "stream_id": stream_id, "rungs": None}
        )
    return True


def stream_media_move_private(*, stream_id: str) -> int:
    """Move what a broadcast narrowed to followers-only published under `live/` to
    `private/` (the narrowing asks for it, and the transcoder again once it writes there)."""
    stream = Stream.objects.filter(pk=stream_id, media_private=True).first()
    if stream is None:
        return 0
    moved = segments.media_move_private(stream=stream)
    # What other apps stored by name (dvr's recording paths) follows, moved now or before.
    media_moved_private.send(
        sender=Stream,
        stream=stream,
        public=f"live/{stream.pk}/{stream.media_token}",
        private=stream.media_prefix,
    )
    if moved:
        stream_event_record(
            stream=stream,
            kind=EventType.UPDATED,
            message=f"{moved} file(s) of the broadcast moved from public to private storage.",
            details={"media_private": True, "moved": moved},
        )
    return moved


def stream_start(*, stream: Stream) -> Ingest:
    """Make this the broadcast OBS goes live into; eligibility is checked again."""
    _require_eligible(stream.owner)
    with transaction.atomic():
        stream = _locked(stream)
        if stream.is_over:
            raise StreamError(
                "This broadcast has ended; prepare a new one.", code="stream_ended", status_code=409
            )
        if stream.status == Status.SCHEDULED:
            stream.status = Status.IDLE
        # Saving bumps updated_at: the newest ready broadcast is the one OBS goes live into.
        stream.save(update_fields=["status", "updated_at"])
    return channel_ingest(channel=stream.channel)


def stream_end(*, stream: Stream, by: User) -> Stream:
    """End a broadcast (dropping the publisher) or cancel one that has not started."""
    with transaction.atomic():
        stream = _locked(stream)
        if stream.is_over:
            return stream  # ending twice changes nothing
        if stream.is_live:
            reason = EndReason.OWNER_ENDED if by.pk == stream.owner_id else EndReason.MODERATOR_ENDED
            _end(stream, reason=reason, drop_publisher=True, by=by)
        else:
            _end(stream, reason=EndReason.CANCELLED, drop_publisher=False, by=by)
    return stream


def stream_fail(*, stream: Stream, reason: str) -> Stream:
    """The platform cannot carry this broadcast (its feed cannot be transcoded): FAILED,
    and the publisher is dropped so OBS shows the streamer something is wrong."""
    with transaction.atomic():
        stream = _locked(stream)
        if not stream.can_become(Status.FAILED):
            return stream
        stream.status = Status.FAILED
        stream.ended_at = timezone.now()
        stream.save(update_fields=["status", "ended_at", "updated_at"])
        stream_event_record(
            stream=stream, kind=EventType.ENDED, severity=Severity.ERROR, message=f"Failed: {reason}"
        )
        _broadcast_status(stream)
        _after_live(stream)
        _drop_publisher_on_commit(stream)
    return stream


def stream_cancel(*, stream: Stream, by: User) -> Stream:
    if stream.is_live:
        raise StreamError("The broadcast is live; end it instead.", code="stream_live", status_code=409)
    return stream_end(stream=stream, by=by)


# --- The live lifecycle, from media-server hooks ---------------------------------------


def _gone_key(dialect: str, client_id: str, channel_id: int) -> str:
    return f"streams:gone:{dialect}:{channel_id}:{client_id}"


def _gone(dialect: str, client_id: str, channel_id: int) -> bool:
    # Redis away: the database alone still keeps hooks correct.
    return bool(ratelimit.recall(_gone_key(dialect, client_id, channel_id)))


def _mark_gone(dialect: str, client_id: str, channel_id: int) -> None:
    if not ratelimit.remember(_gone_key(dialect, client_id, channel_id), 1, GONE_TTL_SECONDS):
        log.warning("a late publish hook for client %s will not be caught", client_id)


def _publisher_still_there(stream: Stream) -> bool:
    """Ask the media server; when it cannot tell, assume the publisher is still there."""
    publishing = is_publishing(
        media_server=stream.media_server, channel_id=stream.channel_id, client_id=stream.publisher_client_id
    )
    return publishing is not False


def broadcast_publish(*, dialect: str, key: str, client_id: str, ip: str | None) -> HookResult:
    """OBS connected with `key`: allow it and go live, or refuse with a reason.

    Idempotent: the same connection publishing again changes nothing. Safe against
    order: a publish for a connection already reported gone is refused.
    """
    channel = channel_by_stream_key(key)
    if channel is None:
        old = _channel_by_old_key(key)
        if old is not None:
            return _refuse(old, OLD_KEY_REASON, ip=ip, client_id=client_id)
        return _refuse(None, "Unknown or rotated stream key.", ip=ip, client_id=client_id)
    owner = channel.user
    if not owner.is_active:
        return _refuse(channel, "The account is suspended.", ip=ip, client_id=client_id)
    eligibility = user_go_live_eligibility(user=owner)
    if not eligibility.eligible:
        return _refuse(channel, eligibility.reason, ip=ip, client_id=client_id)

    _, secret = parse_stream_key(key) or (0, "")  # parsed already by channel_by_stream_key
    already = "The channel is already live from another connection."
    try:
        with transaction.atomic():
            # One publish, unpublish or rotation per channel at a time.
            channel = Channel.objects.select_for_update().select_related("user").get(pk=channel.pk)
            if not hmac.compare_digest(channel.key_secret.encode(), secret.encode()):
                return _refuse(channel, "Unknown or rotated stream key.", ip=ip, client_id=client_id)
            if _gone(dialect, client_id, channel.pk):
                return _refuse(channel, "This connection has already closed.", ip=ip, client_id=client_id)
            live = channel.streams.live().select_for_update().first()
            if live is not None:
                if live.media_server == dialect and live.publisher_client_id == client_id:
                    return HookResult(True, "Already live on this connection.", live)
                if _publisher_still_there(live):
                    return _refuse(channel, already, ip=ip, client_id=client_id)
                # Its unpublish was lost (OBS reconnected first): end it, take the new one.
                _end(live, reason=EndReason.REAPED, drop_publisher=False)
            stream = _prepared_stream(channel) or _stream_from_defaults(channel)
            now = timezone.now()
            stream.status = Status.LIVE
            stream.started_at = now
            stream.last_seen_at = now
            stream.media_server = dialect
            stream.publisher_client_id = client_id
            stream.publisher_ip = ip
            if stream.hls_ready_at is None:  # nothing written yet: followers-only goes private
                stream.media_private = stream.visibility == Visibility.FOLLOWERS
            if stream._state.adding:
                stream.save(force_insert=True)
            else:
                live_fields = ["status", "started_at", "last_seen_at", "media_server", "publisher_client_id"]
                stream.save(update_fields=[*live_fields, "publisher_ip", "media_private", "updated_at"])
            stream_event_record(
                stream=stream,
                kind=EventType.WENT_LIVE,
                message="Went live.",
                details={"ip": ip, "client_id": client_id, "media_server": dialect},
            )
            _broadcast_status(stream)
            broadcast_started.send(sender=Stream, stream=stream)
            webhooks.webhooks_emit(
                owner_id=stream.owner_id, event=WebhookEvent.STREAM_STARTED, data=stream_webhook_data(stream)
            )
            transaction.on_commit(lambda: _enqueue_notify_followers(stream.pk), robust=True)
            transaction.on_commit(lambda: _enqueue_transcode(stream.pk), robust=True)
    except IntegrityError:  # a concurrent publish won the one-live-per-channel constraint
        return _refuse(channel, already, ip=ip, client_id=client_id)
    log.info("stream %s live (channel %s, client %s, %s)", stream.pk, channel.pk, client_id, ip)
    return HookResult(True, "", stream)


def _prepared_stream(channel: Channel) -> Stream | None:
    """The broadcast OBS goes live into: the newest ready one, else the next scheduled one."""
    ready_first = Case(When(status=Status.IDLE, then=0), default=1)
    return (
        channel.streams.prepared()
        .select_for_update()
        .order_by(ready_first, "-updated_at", "scheduled_for")
        .first()
    )


def broadcast_unpublish(*, dialect: str, key: str, client_id: str) -> Stream | None:
    """The publisher left. Ends its broadcast; a late or repeated call changes nothing."""
    channel = channel_by_stream_key(key)
    if channel is None:
        return None  # a rotated key: its broadcast was ended by the rotation
    with transaction.atomic():
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        stream = (
            Stream.objects.select_for_update()
            .filter(channel=channel, status=Status.LIVE, media_server=dialect, publisher_client_id=client_id)
            .first()
        )
        if stream is not None:
            _end(stream, reason=EndReason.PUBLISHER_LEFT, drop_publisher=False)
    # Whatever arrives later for this connection (a late publish) is refused.
    _mark_gone(dialect, client_id, channel.pk)
    if stream is not None:
        log.info("stream %s ended: publisher left (client %s)", stream.pk, client_id)
    return stream


def broadcast_heartbeat(*, dialect: str, key: str, client_id: str) -> bool:
    """The publisher is still there; keeps its broadcast from being reaped.

    False (no live broadcast for this connection: ended by its owner, a moderator, a key
    rotation or a ban) tells the media server to drop the publisher.
    """
    channel = channel_by_stream_key(key)
    if channel is None:
        return False
    live = Stream.objects.live().filter(channel=channel, media_server=dialect, publisher_client_id=client_id)
    if not channel.user.is_active:
        with transaction.atomic():
            for stream in live.select_for_update():
                _end(stream, reason=EndReason.INELIGIBLE, drop_publisher=False)
        return False
    return bool(live.update(last_seen_at=timezone.now()))


def broadcast_is_live(*, name: str) -> bool:
    """Whether the stream a platform pull reads (by its public name) is still live."""
    channel = channel_by_stream_name(name)
    return channel is not None and Stream.objects.live().filter(channel=channel).exists()


def _allowed_pull(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return any(address in network for network in settings.MEDIA_PULL_ALLOWED_NETWORKS)


def raw_feed_play_authorize(*, name: str, ip: str | None, client_id: str) -> HookResult:
    """Only the platform's own workers may pull the raw RTMP feed (by its public name)."""
    if _allowed_pull(ip):
        return HookResult(True)
    reason = "Only platform workers may pull the raw feed."
    channel = channel_by_stream_name(name)
    # Strangers pulling names at random: no event (no channel to tell), and one log line a
    # minute per address (S-14).
    if channel is None:
        if ratelimit.first_in_window(f"streams:play-refused:{ip}", 60):
            log.warning("raw feed pull refused from %s (client %s): no such stream", ip, client_id)
        return HookResult(False, reason)
    if not ratelimit.first_in_window(f"streams:play-refused:{ip}:{channel.pk}", 60):
        return HookResult(False, reason)  # one event a minute per address and channel
    stream_event_record(
        channel=channel,
        kind=EventType.PLAY_REFUSED,
        severity=Severity.WARNING,
        message="Refused a raw-feed pull from an address that is not a platform worker.",
        details={"ip": ip, "client_id": client_id},
    )
    log.warning("raw feed pull refused from %s (client %s)", ip, client_id)
    return HookResult(False, reason)


def broadcasts_reap_stale(*, now: datetime | None = None) -> int:
    """End live broadcasts whose publisher vanished without an unpublish hook, and those
    of suspended accounts."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.MEDIA_HEARTBEAT_TIMEOUT)
    candidates = list(
        Stream.objects.live()
        .filter(Q(last_seen_at__lt=cutoff) | Q(owner__is_active=False))
        .select_related("owner")
    )
    publishers_by_server: dict[str, set | None] = {}
    reaped = 0
    for stream in candidates:
        server = get_media_server(stream.media_server)
        if stream.owner.is_active:
            if stream.media_server not in publishers_by_server:
                publishers_by_server[stream.media_server] = server.publishers()
            publishers = publishers_by_server[stream.media_server]
            if publishers is None and not server.sends_heartbeats:
                continue  # SRS's API did not answer: no evidence either way, try next round
            if publishers is not None and (stream.channel_id, stream.publisher_client_id) in publishers:
                Stream.objects.filter(pk=stream.pk).update(last_seen_at=now)  # SRS: its API is the beat
                continue
            reason, drop = EndReason.REAPED, False
        else:
            reason, drop = EndReason.INELIGIBLE, True
        with transaction.atomic():
            current = Stream.objects.select_for_update().filter(pk=stream.pk, status=Status.LIVE).first()
            if current is None:
                continue
            _end(current, reason=reason, drop_publisher=drop)
            reaped += 1
    return reaped


# --- Shared steps ------------------------------------------------------------------


def _end(stream: Stream, *, reason: str, drop_publisher: bool, by: User | None = None) -> None:
    """Move a live or prepared stream to ENDED (inside the caller's transaction)."""
    if not stream.can_become(Status.ENDED):
        return
    was_live = stream.is_live
    stream.status = Status.ENDED
    stream.ended_at = timezone.now()
    stream.end_reason = reason
    stream.save(update_fields=["status", "ended_at", "end_reason", "updated_at"])
    label = EndReason(reason).label
    stream_event_record(
        stream=stream,
        kind=EventType.ENDED,
        message=f"Ended: {label}." if by is None else f"Ended: {label} ({by.username}).",
        details={"reason": reason, "by": by.username if by else None},
    )
    _broadcast_status(stream)
    if was_live:
        _after_live(stream)
        webhooks.webhooks_emit(
            owner_id=stream.owner_id, event=WebhookEvent.STREAM_ENDED, data=stream_webhook_data(stream)
        )
    if was_live and drop_publisher:
        _drop_publisher_on_commit(stream)


def _after_live(stream: Stream) -> None:
    """A live broadcast is over: the apps above are told (dvr finalizes the recording), and
    the rewind segments of an unrecorded one go once the transcoder and players are done."""
    broadcast_ended.send(sender=Stream, stream=stream)
    if not stream.record:
        stream_id = stream.pk
        transaction.on_commit(
            lambda: stream_segments_purge_task.apply_async(args=(stream_id,), countdown=SEGMENTS_PURGE_DELAY),
            robust=True,
        )


def broadcast_drop_publisher(*, stream: Stream) -> None:
    """Disconnect the broadcast's publisher and nothing else: OBS reconnects by itself, and
    its new connection goes live afresh (the transcoder's no-media rule)."""
    _drop_publisher_on_commit(stream)


def _drop_publisher_on_commit(stream: Stream) -> None:
    """Disconnect the broadcast's publisher (OBS) once the transaction has committed."""
    if stream.publisher_client_id:
        args = (stream.media_server, stream.channel_id, stream.publisher_client_id)
        transaction.on_commit(lambda: media_drop_publisher_task.delay(*args), robust=True)


def _refuse(channel: Channel | None, reason: str, *, ip: str | None, client_id: str) -> HookResult:
    log.warning(
        "publish refused (channel %s, client %s, %s): %s",
        channel.pk if channel else "?",
        client_id,
        ip,
        reason,
    )
    if channel is None and not ratelimit.first_in_window(f"streams:refused:{ip}", 60):
        return HookResult(False, reason)  # strangers guessing keys: one event a minute per address
    stream_event_record(
        channel=channel,
        kind=EventType.PUBLISH_REFUSED,
        severity=Severity.WARNING,
        message=f"Publish refused: {reason}",
        details={"ip": ip, "client_id": client_id, "reason": reason},
    )
    return HookResult(False, reason)


# After the end: the transcoder's last round, and players finishing what they loaded.
SEGMENTS_PURGE_DELAY = 60


def stream_segments_purge(*, stream_id: str) -> int:
    """Delete an unrecorded, ended broadcast's kept segments (DVR) from storage and the index.
    Nothing of it outlives the broadcast but clips (files of their own)."""
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is None or stream.record or not stream.is_over:
        return 0
    return segments.segments_delete(stream=stream)


def stream_event_record(
    *,
    kind: str,
    message: str,
    stream: Stream | None = None,
    channel: Channel | None = None,
    severity: str = Severity.INFO,
    details: dict | None = None,
) -> StreamEvent:
    return StreamEvent.objects.create(
        stream=stream,
        channel=channel if channel is not None else (stream.channel if stream else None),
        type=kind,
        severity=severity,
        message=message[:300],
        details=details or {},
    )


def stream_webhook_data(stream: Stream) -> dict[str, Any]:
    """What a webhook is told of a broadcast (stream.started, stream.ended, and inside the
    recording and clip events)."""
    owner = stream.owner
    return {
        "stream": {
            "id": str(stream.pk),
            "title": stream.title,
            "visibility": stream.visibility,
            "status": stream.status,
            "started_at": stream.started_at.isoformat() if stream.started_at else None,
            "ended_at": stream.ended_at.isoformat() if stream.ended_at else None,
            "end_reason": stream.end_reason or None,
            "url": f"{settings.SITE_URL}{reverse('streams:watch', args=[stream.pk])}",
        },
        "channel": {
            "username": owner.username,
            "display_name": owner.name,
            "url": f"{settings.SITE_URL}{reverse('channel', args=[owner.username])}",
        },
    }


def stream_status_payload(stream: Stream) -> dict[str, Any]:
    return {
        "type": realtime.STREAM_STATUS,
        "stream_id": stream.pk,
        "status": stream.status,
        "title": stream.title,
        "started_at": stream.started_at.isoformat() if stream.started_at else None,
        "ended_at": stream.ended_at.isoformat() if stream.ended_at else None,
        "end_reason": stream.end_reason,
    }


def _broadcast_status(stream: Stream) -> None:
    # Never raises: the hook must not fail because Redis blinked; viewers re-fetch.
    realtime.send_on_commit(stream.pk, stream_status_payload(stream))


def _enqueue_transcode(stream_id: str) -> None:
    transcode_stream_task.delay(stream_id)


def _enqueue_notify_followers(stream_id: str) -> None:
    stream_notify_followers_task.delay(stream_id)


def _queued_key(stream_id: str) -> str:
    return f"streams:transcode-queued:{stream_id}"


def transcode_enqueue_once(*, stream_id: str) -> bool:
    """Queue a transcoder for the broadcast unless one is waiting (queued in the last two
    minutes and not picked up yet), even while every transcode slot is busy."""
    if not ratelimit.first_in_window(_queued_key(stream_id), 120):
        return False
    _enqueue_transcode(stream_id)
    return True


def transcode_dequeued(*, stream_id: str) -> None:
    """A transcoder picked the broadcast up: if it is lost, the watchdog may queue another."""
    ratelimit.forget(_queued_key(stream_id))


def stream_notify_followers(*, stream_id: str) -> int:
    """In-app notifications, browser pushes and e-mails to the followers of a channel that
    went live."""
    stream = Stream.objects.select_related("owner").filter(pk=stream_id).first()
    if stream is None or stream.started_at is None or not stream.is_live:
        return 0
    if stream.visibility == Visibility.UNLISTED:
        return 0  # unlisted broadcasts are shared by link only
    cooldown_start = stream.started_at - timedelta(seconds=settings.STREAM_NOTIFY_COOLDOWN)
    recently = Stream.objects.filter(channel_id=stream.channel_id, started_at__gte=cooldown_start).exclude(
        pk=stream.pk
    )
    if recently.exists():
        return 0  # OBS reconnected: followers heard about this session already
    owner = stream.owner
    url = reverse("accounts:profile", args=[owner.username])
    notified = account_services.notifications_notify_followers(
        actor=owner,
        kind=Notification.Kind.WENT_LIVE,
        message=f"{owner.name} is live: {stream.title}",
        url=url,
    )
    # Before the e-mails: a mail server that fails must not cost the browsers their push.
    account_push.push_send_to_followers(
        actor=owner,
        title=f"{owner.name} is live",
        body=stream.title,
        url=f"{settings.SITE_URL}{reverse('channel', args=[owner.username])}",
        tag=f"live-{owner.username}",
    )
    account_services.notifications_email_followers(
        actor=owner,
        template="went_live",
        context={
            "site_name": settings.SITE_NAME,
            "owner": owner,
            "stream": stream,
            "watch_url": f"{settings.SITE_URL}{url}",
            "settings_url": f"{settings.SITE_URL}{reverse('accounts:profile_edit')}",
        },
    )
    return notified
