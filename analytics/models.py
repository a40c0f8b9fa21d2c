from django.conf import settings
from django.db import models


class ViewerSession(models.Model):
    """One viewer's stay on a broadcast: a socket from join to leave (the watch page, the
    pop-out chat), or a native player's REST session. A viewer with two tabs has two sessions
    (two concurrent viewers) and counts once among unique viewers, by user or anonymous id.

    Presence keeps `last_seen_at` (analytics.series, every sample); a session not seen for
    ANALYTICS_SESSION_TIMEOUT_SECONDS (its web process died, its app went away) closes at
    the moment it was last seen."""

    class Device(models.TextChoices):
        DESKTOP = "desktop", "Desktop"
        MOBILE = "mobile", "Mobile"
        TABLET = "tablet", "Tablet"
        TV = "tv", "TV"
        BOT = "bot", "Bot"
        OTHER = "other", "Other"

    class Via(models.TextChoices):
        SOCKET = "socket", "Browser (socket)"
        API = "api", "App (REST)"

    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="viewer_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # A logged-out viewer's browser or app install, hashed (analytics.services.anonymous_key):
    # unique viewers without accounts. Empty when the client sent none.
    anonymous_id = models.CharField(max_length=32, blank=True, default="")
    device = models.CharField(max_length=8, choices=Device, default=Device.OTHER)
    referrer = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text='Where the viewer came from: a host, "internal", or empty.',
    )
    via = models.CharField(max_length=8, choices=Via, default=Via.SOCKET)
    joined_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)
    watch_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["stream", "joined_at"], name="analytics_session_stream_idx"),
            # The open sessions (closed by the timeout, or with their broadcast). Keyed by
            # a column never updated, so that marking a session seen each tick is a HOT update
            # (no index written; the table keeps room for it: migration 0004's fillfactor).
            models.Index(
                fields=["stream"],
                name="analytics_session_open_idx",
                condition=models.Q(left_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'} on {self.stream_id}"


class PlaybackReport(models.Model):
    """What a player saw since its last report (`playback.report`, at most every 30 s):
    time played and stalled, the rung played most, frames dropped. `startup_ms` is set on
    a session's first report only."""

    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="playback_reports")
    session = models.ForeignKey(ViewerSession, null=True, blank=True, on_delete=models.SET_NULL)
    at = models.DateTimeField()
    startup_ms = models.PositiveIntegerField(null=True, blank=True)
    rebuffer_ms = models.PositiveIntegerField(default=0)
    played_ms = models.PositiveIntegerField(default=0)
    rung = models.CharField(max_length=12)
    dropped_frames = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["stream", "at"], name="analytics_playback_stream_idx")]

    def __str__(self) -> str:
        return f"{self.stream_id} at {self.at:%H:%M:%S}: {self.rung}"


class StreamSummary(models.Model):
    """A broadcast's numbers, refreshed while live (analytics.summaries) and final at the
    end; kept forever (samples are downsampled, sessions may be pruned)."""

    stream = models.OneToOneField(
        "streams.Stream", on_delete=models.CASCADE, primary_key=True, related_name="summary"
    )
    peak_viewers = models.PositiveIntegerField(default=0)
    average_viewers = models.FloatField(default=0)
    unique_viewers = models.PositiveIntegerField(default=0)
    total_watch_seconds = models.PositiveBigIntegerField(default=0)
    average_watch_seconds = models.FloatField(default=0)
    live_seconds = models.PositiveIntegerField(default=0)
    chat_messages = models.PositiveIntegerField(default=0)
    chatters = models.PositiveIntegerField(default=0)
    reactions = models.JSONField(default=dict, blank=True)
    reactions_total = models.PositiveIntegerField(default=0)
    new_followers = models.PositiveIntegerField(default=0)
    played_seconds = models.FloatField(default=0)
    rebuffer_seconds = models.FloatField(default=0)
    rebuffer_ratio = models.FloatField(null=True, blank=True)
    startup_ms_median = models.PositiveIntegerField(null=True, blank=True)
    quality = models.JSONField(default=dict, blank=True)  # rung -> seconds played
    devices = models.JSONField(default=dict, blank=True)  # device class -> sessions
    referrers = models.JSONField(default=dict, blank=True)  # referrer -> sessions (top 10)
    final = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"summary of {self.stream_id}"


class StreamSample(models.Model):
    """A broadcast's activity over one interval ending at `at`: 10 s as sampled while it is
    live, 60 s once downsampled (analytics.series). Counts are what happened in the
    interval; `viewers` is concurrent sockets (a viewer in two tabs counts twice) at the
    sample, averaged over the interval when downsampled, `viewers_peak` the most of them."""

    class Resolution(models.IntegerChoices):
        RAW = 10, "10 s"
        MINUTE = 60, "1 min"

    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    seconds = models.PositiveSmallIntegerField(choices=Resolution, default=Resolution.RAW)
    viewers = models.PositiveIntegerField(default=0)
    viewers_peak = models.PositiveIntegerField(default=0)
    chat_messages = models.PositiveIntegerField(default=0)
    chatters = models.PositiveIntegerField(default=0)  # distinct senders in the interval
    reactions = models.JSONField(default=dict, blank=True)  # type -> count in the interval
    new_followers = models.PositiveIntegerField(default=0)
    # Where the next raw sample starts counting: the last chat message counted, and the
    # broadcast's reaction totals at this sample.
    last_message_id = models.BigIntegerField(default=0)
    reaction_totals = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "seconds", "at"], name="analytics_sample_unique"),
        ]
        indexes = [models.Index(fields=["seconds", "at"], name="analytics_sample_age_idx")]

    def __str__(self) -> str:
        return f"{self.stream_id} at {self.at:%H:%M:%S}: {self.viewers} viewers"
