from django import template

from streams.selectors import stream_thumbnail_url, user_live_stream

register = template.Library()


@register.simple_tag
def thumbnail_url(stream):
    return stream_thumbnail_url(stream=stream) or ""


@register.simple_tag(takes_context=True)
def live_stream_of(context, user):
    """`user`'s live broadcast if the page's viewer may know of it (pages of lower apps,
    such as the profile, show it through this tag)."""
    return user_live_stream(user=user, viewer=context["request"].user)
