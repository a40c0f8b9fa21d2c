"""Channels (a streamer's standing OBS settings) and streams (one broadcast each)."""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Follow
from socialflow.lib.media_urls import PRIVATE_ROOT

ID_ALPHABET = string.ascii_letters + string.digits
STREAM_KEY_PREFIX = "live"


def new_stream_id() -> str:
    # Public and unguessable (~71 bits): unlisted streams are reachable only by their link.
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(12))


def new_key_secret() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def new_media_token() -> str:
    # A path component only shown to viewers allowed to watch (followers-only streams).
    return secrets.token_hex(12)


class Category(models.Model):
    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.CharField(max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(default=0, help_text="Lower comes first.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    UNLISTED = "unlisted", "Unlisted (anyone with the link)"
    FOLLOWERS = "followers", "Followers only"


class Channel(models.Model):
    """One per user: the stream key and the defaults a new broadcast starts from."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="channel")
    # OBS's stream key is `live_<channel id>?key=<secret>`: the media server names the stream
    # `live_<channel id>` (public: what the transcoder pulls, so the secret is in no process
    # list) and hands the hooks `key` (S-06). The id finds the row, the secret is compared in
    # constant time.
    key_secret = models.CharField(max_length=64, unique=True, default=new_key_secret)
    key_rotated_at = models.DateTimeField(null=True, blank=True)
    default_title = models.CharField(max_length=140, blank=True)
    default_category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL)
    default_visibility = models.CharField(max_length=10, choices=Visibility, default=Visibility.PUBLIC)
    record_by_default = models.BooleanField(default=True)
    dvr_by_default = models.BooleanField(default=True)
    clips_enabled = models.BooleanField(default=True, help_text="Viewers may cut clips of broadcasts.")
    recording_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days recordings are kept (0: forever); empty: the site's RECORDING_RETENTION_DAYS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user}'s channel"

    @property
    def stream_name(self) -> str:
        """The stream's name on the media server: public, no secret in it."""
        return f"{STREAM_KEY_PREFIX}_{self.pk}"

    @property
    def stream_key(self) -> str:
        """What OBS sends after the server URL: the name, and the secret as its argument."""
        return f"{self.stream_name}?key={self.key_secret}"

    @property
    def title_or_default(self) -> str:
        return self.default_title or f"{self.user.name} is live"


class StreamQuerySet(models.QuerySet):
    def live(self):
        return self.filter(status=Stream.Status.LIVE)

    def prepared(self):
        return self.filter(status__in=[Stream.Status.IDLE, Stream.Status.SCHEDULED])

    def visible_to(self, user):
        """Streams `user` may watch: public and unlisted, followers-only for followers."""
        visible = Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED])
        if user is not None and user.is_authenticated:
            visible |= Q(owner=user)
            visible |= Q(visibility=Visibility.FOLLOWERS, owner__in=Follow.objects.followee_ids_of(user))
        return self.filter(visible)

    def listed(self):
        """Streams that may appear in directories and searches (never unlisted ones)."""
        return self.exclude(visibility=Visibility.UNLISTED)


class Stream(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        IDLE = "idle", "Waiting for OBS"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        FAILED = "failed", "Failed"

    class EndReason(models.TextChoices):
        PUBLISHER_LEFT = "publisher_left", "The streamer stopped streaming"
        OWNER_ENDED = "owner_ended", "Ended by the streamer"
        MODERATOR_ENDED = "moderator_ended", "Ended by a moderator"
        KEY_ROTATED = "key_rotated", "The stream key was rotated"
        REAPED = "reaped", "The connection to the streamer was lost"
        CANCELLED = "cancelled", "Cancelled before going live"
        INELIGIBLE = "ineligible", "The channel can no longer go live"

    # A broadcast in one of these is over for good: no chat, no edits, no going live again.
    OVER = frozenset({Status.ENDED, Status.FAILED})
    # Allowed transitions; anything else is a bug or a late callback and is refused.
    TRANSITIONS: dict[str, set[str]] = {
        Status.SCHEDULED: {Status.IDLE, Status.LIVE, Status.ENDED},
        Status.IDLE: {Status.SCHEDULED, Status.LIVE, Status.ENDED},
        Status.LIVE: {Status.ENDED, Status.FAILED},
        Status.ENDED: set(),
        Status.FAILED: set(),
    }

    id = models.CharField(primary_key=True, max_length=12, default=new_stream_id, editable=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="streams")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="streams")
    title = models.CharField(max_length=140)
    description = models.TextField(max_length=2000, blank=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="streams"
    )
    tags = models.JSONField(default=list, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility, default=Visibility.PUBLIC)
    status = models.CharField(max_length=10, choices=Status, default=Status.IDLE)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=EndReason, blank=True)
    record = models.BooleanField(default=True)
    dvr_enabled = models.BooleanField(default=True)
    dvr_window_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="How far viewers may rewind; empty: the site's DVR_WINDOW_SECONDS."
    )
    low_latency = models.BooleanField(default=False, help_text="1-second segments and a short playlist.")
    source_passthrough = models.BooleanField(
        default=False, help_text="Offer the source itself (copied, not re-encoded) as the top quality."
    )
    viewer_count = models.PositiveIntegerField(default=0)
    peak_viewer_count = models.PositiveIntegerField(default=0)
    # The publishing connection, as the media server names it (for idempotent hooks).
    media_server = models.CharField(max_length=12, blank=True)
    publisher_client_id = models.CharField(max_length=64, blank=True)
    publisher_ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, help_text="Last media-server heartbeat.")
    # Playback: HLS lives under live/<id>/<media_token>/ in the "live" storage, or under
    # private/ for a broadcast that went live followers-only: fetched by signed URLs only
    # (socialflow.lib.media_urls, S-04).
    media_token = models.CharField(max_length=24, default=new_media_token, editable=False)
    media_private = models.BooleanField(default=False, editable=False)
    hls_ready_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first playable ladder was published."
    )
    thumbnail_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StreamQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel"], condition=Q(status="live"), name="streams_one_live_per_channel"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "idle", "live", "ended", "failed"]),
                name="streams_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status="live") | Q(started_at__isnull=False), name="streams_live_has_start"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-viewer_count"], name="streams_status_viewers_idx"),
            models.Index(fields=["owner", "-created_at"], name="streams_owner_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    def can_become(self, status: str) -> bool:
        return status in self.TRANSITIONS[self.status]

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    @property
    def is_over(self) -> bool:
        """Ended or failed."""
        return self.status in self.OVER

    @property
    def dvr_window(self) -> int:
        """Seconds viewers may rewind (0 without DVR): the broadcast's own value, never above
        the site's DVR_WINDOW_SECONDS."""
        if not self.dvr_enabled:
            return 0
        limit = settings.DVR_WINDOW_SECONDS
        return min(self.dvr_window_seconds or limit, limit)

    @property
    def media_prefix(self) -> str:
        """Where this broadcast's HLS, thumbnail and source copy live in storage."""
        root = PRIVATE_ROOT if self.media_private else "live"
        return f"{root}/{self.pk}/{self.media_token}"


class StreamEvent(models.Model):
    class Type(models.TextChoices):
        PUBLISH_ACCEPTED = "publish_accepted", "Publish accepted"
        PUBLISH_REFUSED = "publish_refused", "Publish refused"
        WENT_LIVE = "went_live", "Went live"
        ENDED = "ended", "Ended"
        KEY_ROTATED = "key_rotated", "Stream key rotated"
        PLAY_REFUSED = "play_refused", "Raw feed pull refused"
        UPDATED = "updated", "Details changed"
        MEDIA_SERVER = "media_server", "Media server"
        TRANSCODER = "transcoder", "Transcoder"
        RECORDING = "recording", "Recording"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        ERROR = "error", "Error"

    stream = models.ForeignKey(Stream, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="events"
    )
    type = models.CharField(max_length=20, choices=Type)
    severity = models.CharField(max_length=8, choices=Severity, default=Severity.INFO)
    message = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["stream", "-created_at"], name="streams_event_stream_idx"),
            models.Index(fields=["channel", "-created_at"], name="streams_event_channel_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()}: {self.message}"


class StreamHealthSample(models.Model):
    """What the transcoder reported (FFmpeg -progress, the media server's ingest figures),
    every few seconds while live, and the health it judged from them (streams.health)."""

    class Status(models.TextChoices):
        GOOD = "good", "Good"
        WARNING = "warning", "Warning"
        BAD = "bad", "Bad"

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="health_samples")
    at = models.DateTimeField(default=timezone.now)
    fps = models.FloatField(null=True)
    bitrate_kbps = models.FloatField(null=True, help_text="Output bitrate of the whole ladder.")
    speed = models.FloatField(null=True, help_text="Encoding speed; below 1.0 the transcoder falls behind.")
    dropped_frames = models.PositiveIntegerField(default=0)
    duplicated_frames = models.PositiveIntegerField(default=0)
    out_time_seconds = models.FloatField(null=True)
    ingest_kbps = models.FloatField(
        null=True, help_text="What the publisher sends (the media server's figure)."
    )
    source_fps = models.FloatField(null=True, help_text="The source's frame rate.")
    restarts = models.PositiveIntegerField(default=0, help_text="FFmpeg restarts so far in the broadcast.")
    ladder = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=Status, default=Status.GOOD)
    reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["stream", "at"]
        indexes = [models.Index(fields=["stream", "at"], name="streams_health_stream_at_idx")]

    def __str__(self) -> str:
        return f"{self.stream_id} @ {self.at:%H:%M:%S}: {self.fps} fps, {self.speed}x"


class MediaSegment(models.Model):
    """One HLS segment a broadcast keeps past its short live window: for rewinding (DVR),
    for the recording, and for clips. The transcoder adds a row as soon as the segment is in
    storage; rows (and files) outside the DVR window are removed while live unless the
    broadcast is recorded.

    `position` counts a rendition's segments 0, 1, 2, ... across every FFmpeg run (the media
    sequence of DVR and VOD playlists); `discontinuity` counts the broadcast's runs before this
    one, the same in every rendition (a new run starts a new timeline: #EXT-X-DISCONTINUITY).
    """

    RECORDING = "recording"  # the stream copy of the source (record on)

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="segments")
    rendition = models.CharField(max_length=12, help_text='"recording" (the source copy) or a rung.')
    position = models.PositiveIntegerField()
    run = models.BigIntegerField(help_text="The FFmpeg run that wrote it (epoch ms at its start).")
    discontinuity = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(help_text="Wall-clock time of its first frame.")
    duration = models.FloatField()
    name = models.CharField(max_length=255, help_text='Its name in the "live" storage.')
    size_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["stream", "rendition", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "rendition", "position"], name="streams_segment_position_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["stream", "rendition", "started_at"], name="streams_segment_time_idx")
        ]

    def __str__(self) -> str:
        return f"{self.stream_id}/{self.rendition}#{self.position}"

    @property
    def ends_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration)
