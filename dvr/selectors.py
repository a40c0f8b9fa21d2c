"""Reads for recordings and clips: permission-checked fetches, the chat replay, storage use."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import timedelta

from django.core.files.storage import storages
from django.db.models import Q, QuerySet, Sum
from django.http import Http404
from django.urls import reverse

from accounts.models import Follow, User
from chat.models import ChatMessage
from dvr.errors import DvrError
from dvr.models import Clip, Recording
from socialflow.lib.media_urls import media_url as signed_or_plain_url
from streams.models import Channel, MediaSegment, Stream, Visibility
from streams.selectors import user_is_site_moderator

# Messages per chat-replay answer; the player asks again for the next stretch.
REPLAY_LIMIT = 500
REPLAY_MAX_SPAN = 3600
# No broadcast is longer; past it an offset is a mistake (and too big for a timedelta).
REPLAY_MAX_OFFSET = 7 * 24 * 3600


def recording_can_manage(*, recording: Recording, user: User) -> bool:
    """The streamer and site moderators may rename, keep, delete a recording."""
    return user.is_authenticated and (recording.stream.owner_id == user.pk or user_is_site_moderator(user))


def _visible(user: User) -> Q:
    """Recordings `user` may watch by their effective visibility (their own, or the
    broadcast's when they have none)."""
    own = Q(visibility="") & Q(stream__visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
    own |= Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
    if user.is_authenticated:
        followed = Follow.objects.filter(follower=user).values("followee_id")
        followers_only = Q(visibility=Visibility.FOLLOWERS) | (
            Q(visibility="") & Q(stream__visibility=Visibility.FOLLOWERS)
        )
        own |= followers_only & Q(stream__owner__in=followed)
        own |= Q(stream__owner=user)
    return own


def recordings_visible(*, user: User) -> QuerySet[Recording]:
    """Playable recordings `user` may watch."""
    rows = Recording.objects.select_related("stream__owner", "stream__channel")
    if user_is_site_moderator(user):
        return rows
    return rows.filter(_visible(user), stream__owner__is_active=True)


def recording_get_visible(*, recording_id: int, user: User) -> Recording:
    """A recording `user` may see (404 otherwise; expired ones only for its managers)."""
    recording = recordings_visible(user=user).filter(pk=recording_id).first()
    if recording is None:
        raise Http404("No such recording.")
    if recording.files_deleted_at is not None and not recording_can_manage(recording=recording, user=user):
        raise Http404("No such recording.")
    return recording


def recording_get_for_manager(*, recording_id: int, user: User) -> Recording:
    """A recording `user` may change: another channel's is 404, like one that does not exist."""
    recording = (
        Recording.objects.select_related("stream__owner", "stream__channel").filter(pk=recording_id).first()
    )
    if recording is None or not recording_can_manage(recording=recording, user=user):
        raise Http404("No such recording.")
    return recording


def stream_recordings(*, stream_id: str, user: User) -> QuerySet[Recording]:
    """The broadcast's recording, if `user` may see it (expired ones only for managers)."""
    rows = recordings_visible(user=user).filter(stream_id=stream_id)
    if user_is_site_moderator(user):
        return rows
    kept = Q(files_deleted_at__isnull=True)
    return rows.filter(kept | Q(stream__owner=user) if user.is_authenticated else kept)


def user_recordings(*, owner: User, viewer: User, limit: int = 12) -> list[Recording]:
    """A channel's past broadcasts with a ready recording, newest first (its page). Unlisted
    ones are left out of the list, as in every directory."""
    rows = recordings_visible(user=viewer).filter(
        stream__owner=owner, status=Recording.Status.READY, files_deleted_at__isnull=True
    )
    if viewer.pk != owner.pk:
        rows = rows.exclude(visibility=Visibility.UNLISTED).exclude(
            visibility="", stream__visibility=Visibility.UNLISTED
        )
    return list(rows.order_by("-started_at")[:limit])


def recording_chat_replay(*, recording: Recording, from_offset: float, to_offset: float) -> list[dict]:
    """The broadcast's chat between two offsets (seconds from the recording's start),
    deleted messages left out, each with its offset."""
    if not (0 <= from_offset <= REPLAY_MAX_OFFSET and from_offset <= to_offset):  # NaN fails too
        raise DvrError(
            f"Give 0 <= from_offset <= to_offset (seconds), from_offset at most {REPLAY_MAX_OFFSET}.",
            code="invalid",
        )
    to_offset = min(to_offset, from_offset + REPLAY_MAX_SPAN)
    start = recording.started_at
    messages = (
        ChatMessage.objects.filter(
            stream_id=recording.stream_id,
            deleted_at__isnull=True,
            created_at__gte=start + timedelta(seconds=from_offset),
            created_at__lt=start + timedelta(seconds=to_offset),
        )
        .select_related("user")
        .order_by("created_at", "id")[:REPLAY_LIMIT]
    )
    return [
        {
            "id": m.pk,
            "offset": round((m.created_at - start).total_seconds(), 3),
            "user": {"username": m.user.username, "name": m.user.name},
            "content": m.content,
            "created_at": m.created_at,
        }
        for m in messages
    ]


def recording_variant_playlist(
    *, recording: Recording, rendition: str, absolute: Callable[[str], str]
) -> str | None:
    """A stored VOD playlist with every segment URI made an absolute storage URL (signed,
    lapsing, for a private broadcast's recording: S-04)."""
    if not recording.is_playable:
        return None
    folder = posixpath.dirname(recording.playlist_path)
    text = _read(f"{folder}/{rendition}.m3u8")
    if text is None:
        return None
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = signed_or_plain_url(posixpath.normpath(f"{folder}/{line}"), absolute)
        lines.append(line)
    return "\n".join(lines) + "\n"


def recording_master_playlist(*, recording: Recording, absolute: Callable[[str], str]) -> str | None:
    """The stored VOD master with its variants pointing at the (checked) variant view."""
    if not recording.is_playable:
        return None
    text = _read(recording.playlist_path)
    if text is None:
        return None
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            rendition = line.removesuffix(".m3u8")
            line = absolute(reverse("dvr:recording_variant", args=[recording.pk, rendition]))
        lines.append(line)
    return "\n".join(lines) + "\n"


def _read(name: str) -> str | None:
    try:
        with storages["live"].open(name) as f:
            return f.read().decode()
    except Exception:  # missing, or the storage failing: nothing to play now
        return None


def media_url(path: str, absolute: Callable[[str], str]) -> str | None:
    """A file's URL: plain, or signed and lapsing when it is a private broadcast's (S-04)."""
    return signed_or_plain_url(path, absolute) if path else None


# --- Clips ------------------------------------------------------------------------------


def clip_can_delete(*, clip: Clip, user: User) -> bool:
    return user.is_authenticated and (
        user.pk in (clip.creator_id, clip.stream.owner_id) or user_is_site_moderator(user)
    )


def clips_visible(*, user: User) -> QuerySet[Clip]:
    """Clips `user` may watch: of broadcasts `user` may watch, and a followers-only clip
    (cut while its broadcast was followers-only) only for followers, even when the broadcast
    was made public later (S-04)."""
    rows = Clip.objects.filter(stream__in=Stream.objects.visible_to(user))
    allowed = ~Q(visibility=Visibility.FOLLOWERS)
    if user.is_authenticated:
        allowed |= Q(stream__owner=user) | Q(
            stream__owner__in=Follow.objects.filter(follower=user).values("followee_id")
        )
    return rows.filter(allowed).select_related("stream__owner", "creator")


def clip_get_visible(*, clip_id: int, user: User) -> Clip:
    clip = Clip.objects.select_related("stream__owner", "creator").filter(pk=clip_id).first()
    if clip is None:
        raise Http404("No such clip.")
    if clip_can_delete(clip=clip, user=user):
        return clip
    if not clips_visible(user=user).filter(pk=clip.pk).exists():
        raise Http404("No such clip.")
    return clip


def user_clips(*, owner: User, viewer: User, limit: int = 50) -> list[Clip]:
    """Ready clips of `owner`'s broadcasts, most viewed first."""
    rows = clips_visible(user=viewer).filter(stream__owner=owner, status=Clip.Status.READY)
    if viewer.pk != owner.pk:
        rows = rows.exclude(stream__visibility=Visibility.UNLISTED).exclude(visibility=Visibility.UNLISTED)
    return list(rows.order_by("-views", "-created_at")[:limit])


# --- Storage ----------------------------------------------------------------------------


def channel_storage_use(*, channel: Channel) -> dict[str, int]:
    """Bytes a channel keeps in storage: recordings, clips, and live rewind windows."""
    recordings = (
        Recording.objects.filter(stream__channel=channel, files_deleted_at__isnull=True).aggregate(
            b=Sum("size_bytes")
        )["b"]
        or 0
    )
    clips = Clip.objects.filter(stream__channel=channel).aggregate(b=Sum("size_bytes"))["b"] or 0
    rewind = (
        MediaSegment.objects.filter(stream__channel=channel, stream__record=False).aggregate(
            b=Sum("size_bytes")
        )["b"]
        or 0
    )
    return {"recordings": recordings, "clips": clips, "rewind": rewind, "total": recordings + clips + rewind}


def site_storage_use() -> dict[str, int]:
    """Bytes the whole site keeps: recordings, clips, and live rewind windows (staff)."""
    recordings = (
        Recording.objects.filter(files_deleted_at__isnull=True).aggregate(b=Sum("size_bytes"))["b"] or 0
    )
    clips = Clip.objects.aggregate(b=Sum("size_bytes"))["b"] or 0
    rewind = MediaSegment.objects.filter(stream__record=False).aggregate(b=Sum("size_bytes"))["b"] or 0
    return {"recordings": recordings, "clips": clips, "rewind": rewind, "total": recordings + clips + rewind}
