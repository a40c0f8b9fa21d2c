"""What lower apps' pages show of recordings and clips (streams may not import dvr)."""

from django import template

from dvr import selectors
from socialflow.lib.media_urls import media_url

register = template.Library()


@register.inclusion_tag("dvr/_past_broadcasts.html", takes_context=True)
def past_broadcasts(context, owner):
    """A channel's recorded past broadcasts and its top clips, for its page."""
    viewer = context["request"].user
    return {
        "recordings": selectors.user_recordings(owner=owner, viewer=viewer),
        "clips": selectors.user_clips(owner=owner, viewer=viewer, limit=8),
    }


@register.inclusion_tag("dvr/_storage_use.html")
def channel_storage(channel):
    """What the channel keeps in storage, for its dashboard."""
    return {"use": selectors.channel_storage_use(channel=channel)}


@register.filter
def live_media_url(path: str) -> str:
    """The URL of a file in the "live" storage (local disk or S3); signed and lapsing for a
    private broadcast's file (S-04)."""
    return media_url(path, lambda url: url) if path else ""


@register.filter
def clock(seconds: float | None) -> str:
    """A duration as a player shows it: 0:08, 12:05, 1:02:03."""
    if seconds is None:
        return ""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.inclusion_tag("dvr/_clip_button.html", takes_context=True)
def clip_button(context, stream):
    """ "Clip" on the watch page: the last 30 s of what the viewer is watching."""
    user = context["request"].user
    offered = user.is_authenticated and stream.channel.clips_enabled and (stream.dvr_enabled or stream.record)
    return {"stream": stream, "offered": offered, "csrf_token": context.get("csrf_token")}
