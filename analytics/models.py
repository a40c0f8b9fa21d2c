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
