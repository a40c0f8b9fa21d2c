from django.conf import settings
from django.db import models


class ViewerSession(models.Model):
    """One viewer's stay on a broadcast (a socket from join to leave), for analytics."""

    stream = models.ForeignKey("streams.Stream", on_delete=models.CASCADE, related_name="viewer_sessions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    watch_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["stream", "joined_at"], name="analytics_session_stream_idx")]

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'} on {self.stream_id}"


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
