"""Links into a broadcast's recording from other apps' pages (the analytics highlights)."""

from __future__ import annotations

from django import template
from django.urls import reverse

from dvr.models import Recording

register = template.Library()


@register.simple_tag
def recording_url(stream) -> str:
    """The page of the broadcast's recording when it can be played, else ""."""
    recording = (
        Recording.objects.filter(stream=stream, status=Recording.Status.READY, files_deleted_at__isnull=True)
        .only("pk")
        .first()
    )
    return reverse("dvr:recording", args=[recording.pk]) if recording else ""
