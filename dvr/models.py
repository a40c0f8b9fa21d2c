"""What a broadcast leaves behind: its recording (a VOD) and the clips viewers cut from it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from streams.models import Stream, Visibility


class Recording(models.Model):
    """One per recorded broadcast. It grows from the transcoder's segments while live (no
    second encode); at the end a task makes it a VOD (playlists, an MP4, a thumbnail)."""

    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    stream = models.OneToOneField(Stream, on_delete=models.CASCADE, related_name="recording")
    title = models.CharField(max_length=140)
    status = models.CharField(max_length=12, choices=Status, default=Status.RECORDING)
    reason = models.CharField(max_length=300, blank=True, help_text="Why it failed.")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Of the MP4, by ffprobe.")
    size_bytes = models.PositiveBigIntegerField(default=0, help_text="Everything it keeps in storage.")
    # Names in the "live" storage.
    playlist_path = models.CharField(max_length=255, blank=True, help_text="The VOD master playlist.")
    mp4_path = models.CharField(max_length=255, blank=True)
    thumbnail_path = models.CharField(max_length=255, blank=True)
    views = models.PositiveIntegerField(default=0)
    # Empty: the broadcast's own visibility.
    visibility = models.CharField(max_length=10, choices=Visibility, blank=True)
    kept = models.BooleanField(default=False, help_text="Kept forever, past retention.")
    retention_until = models.DateTimeField(null=True, blank=True)
    files_deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When retention (or an admin) deleted its files."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["status", "updated_at"], name="dvr_recording_status_idx"),
            models.Index(fields=["retention_until"], name="dvr_recording_retention_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"

    @property
    def effective_visibility(self) -> str:
        return self.visibility or self.stream.visibility

    @property
    def is_playable(self) -> bool:
        return self.status == self.Status.READY and self.files_deleted_at is None


class Clip(models.Model):
    """5-60 s a viewer cut from a live broadcast's DVR window or from a recording, by stream
    copy. Its files are its own: it outlives the recording's retention."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="clips")
    recording = models.ForeignKey(
        Recording, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clips")
    title = models.CharField(max_length=100)
    status = models.CharField(max_length=12, choices=Status, default=Status.PROCESSING)
    reason = models.CharField(max_length=300, blank=True)
    starts_at = models.DateTimeField(help_text="Wall-clock time of the broadcast where it begins.")
    seconds = models.PositiveSmallIntegerField(help_text="The length asked for.")
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Of the MP4, by ffprobe.")
    # What was clipped was this visible when the clip was cut (the broadcast's, or the
    # recording's own); a followers-only clip's files are under private/ (S-04).
    visibility = models.CharField(max_length=10, choices=Visibility, default=Visibility.PUBLIC)
    mp4_path = models.CharField(max_length=255, blank=True)
    thumbnail_path = models.CharField(max_length=255, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    views = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stream", "-views"], name="dvr_clip_stream_views_idx"),
            models.Index(fields=["creator", "-created_at"], name="dvr_clip_creator_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_status_display()})"
