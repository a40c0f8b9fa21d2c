"""Reads for streams: permission-checked fetches, the live directory, events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.core.files.storage import storages
from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import Http404
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_followee_ids
from socialflow.lib.media_urls import is_private, media_url
from streams import segments
from streams.models import (
    Category,
    Channel,
    MediaSegment,
    Stream,
    StreamEvent,
    StreamHealthSample,
    StreamQuerySet,
    Visibility,
)


def user_is_site_moderator(user: User) -> bool:
    """Site staff who may moderate any broadcast (chat.selectors.chat_can_moderate adds the
    streamer and the channel's own moderators)."""
    return (
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or (user.is_staff and user.has_perm("streams.change_stream")))
    )


def _base() -> StreamQuerySet:
    return Stream.objects.select_related("owner", "category", "channel")


def stream_get_visible(*, stream_id: str, user: User) -> Stream:
    """A stream `user` may see (404 otherwise: existence is not leaked)."""
    stream = _base().visible_to(user).filter(pk=stream_id).first()
    if stream is None and user_is_site_moderator(user):
        stream = _base().filter(pk=stream_id).first()
    if stream is None or (not stream.owner.is_active and not user_is_site_moderator(user)):
        raise Http404("No such stream.")
    return stream


def stream_get_for_owner(*, stream_id: str, user: User) -> Stream:
    stream = stream_get_visible(stream_id=stream_id, user=user)
    if stream.owner_id != user.pk:
        raise PermissionDenied("Only the streamer can do this.")
    return stream


# Who else manages a channel's broadcasts (end them, read their events): chat registers its
# channel moderators at start (chat.apps), as chat sits above streams.
_channel_managers: dict[str, Callable[[User, Channel], bool]] = {}


def register_channel_managers(name: str, check: Callable[[User, Channel], bool]) -> None:
    _channel_managers[name] = check


def stream_get_for_manager(*, stream_id: str, user: User) -> Stream:
    """The owner, a site moderator, or one of the channel's moderators."""
    stream = stream_get_visible(stream_id=stream_id, user=user)
    if stream.owner_id == user.pk or user_is_site_moderator(user):
        return stream
    if user.is_authenticated and any(check(user, stream.channel) for check in _channel_managers.values()):
        return stream
    raise PermissionDenied("Only the streamer or a moderator can do this.")


def streams_of_owner(*, user: User, status: str | None = None) -> QuerySet[Stream]:
    """Every broadcast of `user`'s, newest first (prepared, live and past); `status` narrows."""
    qs = _base().filter(owner=user).order_by("-created_at", "-pk")
    return qs.filter(status=status) if status else qs


def streams_live(*, category: str | None = None, q: str | None = None) -> QuerySet[Stream]:
    """Public live broadcasts, most viewers first (without their channels: a listing shows
    no ingest)."""
    qs = (
        Stream.objects.select_related("owner", "category")
        .live()
        .filter(visibility="public", owner__is_active=True)
        .order_by("-viewer_count", "-started_at")
    )
    # NUL can't be stored or compared by PostgreSQL; nothing real contains it.
    category = (category or "").replace("\x00", "")
    q = (q or "").replace("\x00", "").strip()[:100]
    if category:
        qs = qs.filter(category__slug=category)
    if q:
        tag = q.lstrip("#").lower()
        qs = qs.annotate(tags_text=Cast("tags", output_field=TextField())).filter(
            Q(title__icontains=q)
            | Q(owner__username__icontains=q)
            | Q(owner__display_name__icontains=q)
            | Q(tags_text__icontains=f'"{tag}"')
        )
    return qs


def categories_with_live_counts() -> QuerySet[Category]:
    live_public = Q(
        streams__status=Stream.Status.LIVE, streams__visibility="public", streams__owner__is_active=True
    )
    return Category.objects.filter(is_active=True).annotate(live_count=Count("streams", filter=live_public))


def category_get(*, slug: str) -> Category:
    category = Category.objects.filter(slug=slug.replace("\x00", ""), is_active=True).first()
    if category is None:
        raise Http404("No such category.")
    return category


def streams_live_followed(*, user: User) -> QuerySet[Stream]:
    """Live broadcasts of the channels `user` follows, that `user` may watch."""
    return (
        _base()
        .live()
        .filter(owner__in=user_followee_ids(user=user), owner__is_active=True)
        .visible_to(user)
        .listed()
        .order_by("-viewer_count", "-started_at")
    )


def stream_events(*, stream: Stream) -> QuerySet[StreamEvent]:
    return StreamEvent.objects.filter(stream=stream).order_by("-created_at", "-pk")


def channel_events(*, channel: Channel, limit: int = 20) -> QuerySet[StreamEvent]:
    return StreamEvent.objects.filter(channel=channel).order_by("-created_at", "-pk")[:limit]


def channel_current_stream(*, channel: Channel) -> Stream | None:
    """What the dashboard shows: the live broadcast, else the next prepared one, else the last."""
    streams = channel.streams.select_related("category")
    return (
        streams.live().first()
        or streams.filter(status=Stream.Status.IDLE).order_by("-updated_at").first()
        or streams.filter(status=Stream.Status.SCHEDULED).order_by("scheduled_for").first()
        or streams.order_by("-created_at").first()
    )


def user_live_stream(*, user: User, viewer: User) -> Stream | None:
    """`user`'s live broadcast if `viewer` may know of it (unlisted ones only by link)."""
    return Stream.objects.live().filter(owner=user).visible_to(viewer).listed().first()


def user_embeddable_stream(*, user: User) -> Stream | None:
    """`user`'s live broadcast if another site may play it: a public one only. An embed is
    the same for every visitor (a third-party frame is sent no cookies), so it shows what
    anyone may see; unlisted broadcasts are not found by channel, followers-only ones need
    a follower."""
    return _base().live().filter(owner=user, visibility=Visibility.PUBLIC).first()


def stream_hls_master(*, stream: Stream, absolute: Callable[[str], str]) -> str | None:
    """The master playlist of a live broadcast, its variant URLs pointing straight at
    storage (segments never pass through Django); None while there is nothing to play."""
    if not stream.is_live or stream.hls_ready_at is None:
        return None
    placed = _read_placed(stream, "master.m3u8")
    if placed is None:
        return None
    prefix, text = placed
    if stream.visibility == Visibility.FOLLOWERS or stream.media_private:
        # Variant playlists go through Django too (a visibility check per refresh), and
        # hand out signed segment URLs (S-04).
        base = absolute(reverse("streams:hls", args=[stream.pk])).rsplit("/", 1)[0] + "/"
    else:
        base = absolute(storages["live"].url(f"{prefix}/"))
    return _absolute_uris(text, base)


def stream_hls_variant(*, stream: Stream, rung: str, absolute: Callable[[str], str]) -> str | None:
    """A variant playlist with its segment URLs pointing straight at storage: signed ones,
    lapsing in MEDIA_SIGNED_URL_SECONDS, for a private broadcast."""
    if not stream.is_live:
        return None
    placed = _read_placed(stream, f"{rung}/index.m3u8")
    if placed is None:
        return None
    prefix, text = placed
    folder = f"{prefix}/{rung}/"
    if is_private(folder):
        return _signed_uris(text, folder, absolute)
    return _absolute_uris(text, absolute(storages["live"].url(folder)))


def stream_dvr_master(*, stream: Stream, absolute: Callable[[str], str]) -> str | None:
    """The live master with its variants pointing at the DVR playlists (the rewind window);
    None without DVR or before there is anything to play."""
    if not stream.dvr_enabled or stream.hls_ready_at is None:
        return None
    placed = _read_placed(stream, "master.m3u8")
    if placed is None:
        return None
    text = placed[1]
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            line = absolute(reverse("streams:dvr_variant", args=[stream.pk, line.split("/", 1)[0]]))
        lines.append(line)
    return "\n".join(lines) + "\n"


# Delta updates: a refresh may leave out what is older than this many target durations
# from the end (the HLS spec's minimum is six).
DVR_SKIP_TARGET_DURATIONS = 6
# Fetched for a delta update: enough to cover the part a refresh must carry.
DVR_DELTA_ROWS = 24


def stream_dvr_variant(
    *, stream: Stream, rung: str, skip: bool, absolute: Callable[[str], str]
) -> str | None:
    """A rung's playlist over the DVR window, rendered from the segment index.

    A full answer lists the whole window (up to hours: a first load, gzipped). It offers
    delta updates, so with `skip` (hls.js's `_HLS_skip=YES`) a refresh carries only the last
    few segments and an EXT-X-SKIP for the rest: a few hundred bytes whatever the window.
    After the end the playlist is closed (ENDLIST) until the segments are purged."""
    window = stream.dvr_window
    if not window or stream.hls_ready_at is None:
        return None
    rows = MediaSegment.objects.filter(stream=stream, rendition=rung)
    if stream.is_live:
        reach = window + segments.DVR_EDGE_MARGIN_SECONDS  # the whole window behind the edge
        rows = rows.filter(started_at__gte=timezone.now() - timedelta(seconds=reach))
    elif stream.ended_at is not None:
        rows = rows.filter(started_at__gte=stream.ended_at - timedelta(seconds=window))
    first = rows.order_by("position").first()
    if first is None:
        return None
    target = max(1, round(first.duration))
    can_skip_until = DVR_SKIP_TARGET_DURATIONS * target
    bases: dict[str, str] = {}

    def url(segment: MediaSegment) -> str:
        if is_private(segment.name):
            return media_url(segment.name, absolute)  # signed (S-04)
        # By the row's own name: a broadcast narrowed while live has rows in both places
        # until its media has moved.
        folder, _, name = segment.name.rpartition("/")
        if folder not in bases:
            bases[folder] = absolute(storages["live"].url(f"{folder}/"))
        return bases[folder] + name

    def render(listed: list[MediaSegment], previous: MediaSegment | None = None, skipped: int = 0) -> str:
        return segments.render_media_playlist(
            listed,
            url=url,
            first=first,
            previous=previous,
            skipped=skipped,
            can_skip_until=can_skip_until,
            endlist=not stream.is_live,
            target=target,
        )

    if skip:
        tail = list(reversed(rows.order_by("-position")[:DVR_DELTA_ROWS]))
        boundary = _skip_boundary(tail, can_skip_until)
        before = [s for s in tail if s.position < boundary]
        if before:  # else the window is short: nothing to leave out
            listed = [s for s in tail if s.position >= boundary]
            return render(listed, previous=before[-1], skipped=boundary - first.position)
    return render(list(rows.order_by("position")))


def _skip_boundary(tail: list[MediaSegment], can_skip_until: float) -> int:
    """The first position a delta update must list: every segment that starts within
    `can_skip_until` seconds of the playlist's end."""
    end = tail[-1].position
    covered = 0.0
    for segment in reversed(tail):
        covered += segment.duration
        end = segment.position
        if covered >= can_skip_until:
            break
    return end


def _read_placed(stream: Stream, relative: str) -> tuple[str, str] | None:
    """(prefix, text) of one of the broadcast's live files. A broadcast narrowed to
    followers-only while live is private at once, but for a moment its files may still be
    only in the public place (the transcoder switches within a second, S-04): read there."""
    text = _read_live(f"{stream.media_prefix}/{relative}")
    if text is not None:
        return stream.media_prefix, text
    if stream.media_private:
        public = f"live/{stream.pk}/{stream.media_token}"
        text = _read_live(f"{public}/{relative}")
        if text is not None:
            return public, text
    return None


def _read_live(name: str) -> str | None:
    try:
        with storages["live"].open(name) as playlist:
            return playlist.read().decode()
    except Exception:  # missing, or the storage (S3) failing: nothing to play right now
        return None


def _absolute_uris(text: str, base: str) -> str:
    lines = [line if not line or line.startswith("#") else base + line for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def _signed_uris(text: str, folder: str, absolute: Callable[[str], str]) -> str:
    lines = [
        line if not line or line.startswith("#") else media_url(folder + line, absolute)
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def stream_thumbnail_url(*, stream: Stream) -> str | None:
    if stream.thumbnail_updated_at is None:
        return None
    if stream.media_private:  # signed, and lapsing: no lasting address to share (S-04)
        return media_url(f"{stream.media_prefix}/thumb.jpg", lambda path: path)
    version = int(stream.thumbnail_updated_at.timestamp())
    return f"{storages['live'].url(f'{stream.media_prefix}/thumb.jpg')}?v={version}"


def stream_current_ladder(*, stream: Stream) -> StreamEvent | None:
    """The transcoder's latest word on the ladder: which rungs viewers get, and why (a
    reduced ladder, the governor's warning)."""
    return (
        StreamEvent.objects.filter(stream=stream, details__has_key="ladder").order_by("-created_at").first()
    )


def stream_latest_health(*, stream: Stream) -> StreamHealthSample | None:
    return StreamHealthSample.objects.filter(stream=stream).order_by("-at").first()


def user_last_broadcast(*, user: User, viewer: User) -> Stream | None:
    return (
        Stream.objects.filter(owner=user, status=Stream.Status.ENDED, started_at__isnull=False)
        .visible_to(viewer)
        .listed()
        .order_by("-ended_at")
        .first()
    )


def user_upcoming(*, user: User, viewer: User) -> QuerySet[Stream]:
    return (
        Stream.objects.filter(owner=user, status=Stream.Status.SCHEDULED)
        .visible_to(viewer)
        .listed()
        .select_related("category")
        .order_by("scheduled_for")[:5]
    )


# --- Playback grants: a native player without the session plays what its user may see ---

PLAYBACK_GRANT_SALT = "streams.playback_grant"


def playback_grant(*, stream: Stream, user: User) -> str:
    """A signed "this player plays for `user`" for one broadcast (the API's `hls_url` for a
    token client: a player sends neither its app's token nor a cookie). It grants nothing
    by itself: every playlist it fetches runs the visibility check for that user, so an
    unfollow or a ban still stops it at the next refresh."""
    return signing.dumps([stream.pk, user.pk], salt=PLAYBACK_GRANT_SALT)


def playback_grant_user(*, stream_id: str, grant: str) -> User | None:
    try:
        granted = signing.loads(grant, salt=PLAYBACK_GRANT_SALT, max_age=settings.PLAYBACK_GRANT_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(granted, list) or len(granted) != 2 or granted[0] != stream_id:
        return None
    return User.objects.filter(pk=granted[1], is_active=True).first()
