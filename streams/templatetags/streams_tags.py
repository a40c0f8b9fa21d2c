from django import template

from streams.selectors import stream_thumbnail_url

register = template.Library()


@register.simple_tag
def thumbnail_url(stream):
    return stream_thumbnail_url(stream=stream) or ""
