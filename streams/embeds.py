"""Embeds: a channel's player and its read-only chat in another site's page, and oEmbed.

`/embed/<username>/` and `/embed/<username>/chat/` may be framed by any site (CSP
`frame-ancestors *`, no X-Frame-Options); every other page keeps `frame-ancestors 'none'`.
They play the channel's public live broadcast only (`selectors.user_embeddable_stream`):
a third-party frame is sent no cookies, so an embed shows what anyone may see. A visitor
who may see a non-public broadcast (the streamer, a follower, on the same site) is told it
cannot be played here; anyone else sees the channel offline, as its page shows them.

`/oembed?url=` answers oEmbed 1.0 (https://oembed.com/) for channel and watch pages, which
name it in a discovery link."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from csp.decorators import csp_replace
from django.conf import settings
from django.core.files.images import get_image_dimensions
from django.core.files.storage import storages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve, reverse
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_safe

from accounts import selectors as account_selectors
from accounts.models import User
from socialflow.lib.api import json_error
from streams import selectors
from streams.errors import StreamError
from streams.models import Stream, Visibility

log = logging.getLogger(__name__)

# The player's size when the consumer sets no bound (16:9), and the smallest it may ask for.
EMBED_WIDTH, EMBED_HEIGHT = 640, 360
MIN_WIDTH, MIN_HEIGHT = 160, 90
# How long an oEmbed consumer may keep an answer: the title and thumbnail follow the broadcast.
OEMBED_CACHE_SECONDS = 300


def embeddable(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Any site may frame this page (the site's policy says 'none' everywhere else)."""
    return xframe_options_exempt(csp_replace({"frame-ancestors": "*"})(view))


def _embed_context(request: HttpRequest, username: str) -> tuple[dict[str, Any], int]:
    """What both embeds show: the broadcast to play, or the card and why; and the status."""
    try:
        owner = account_selectors.user_get_active(username=username)
    except Http404:
        return {"owner": None, "card": "unknown"}, 404
    stream = selectors.user_embeddable_stream(user=owner)
    card = None
    if stream is None:
        seen = selectors.user_live_stream(user=owner, viewer=request.user)
        card = "not_embeddable" if seen is not None else "offline"
    return {"owner": owner, "stream": stream, "card": card}, 200


@require_safe
@embeddable
def embed_player(request: HttpRequest, username: str) -> HttpResponse:
    context, status = _embed_context(request, username)
    stream = context.get("stream")
    if stream is not None:
        context["thumbnail_url"] = selectors.stream_thumbnail_url(stream=stream)
        context["playback_report_seconds"] = settings.PLAYBACK_REPORT_SECONDS
    return render(request, "streams/embed.html", context, status=status)


@require_safe
@embeddable
def embed_chat(request: HttpRequest, username: str) -> HttpResponse:
    context, status = _embed_context(request, username)
    return render(request, "streams/embed_chat.html", context, status=status)


# --- oEmbed -------------------------------------------------------------------------------


def oembed_discovery_url(request: HttpRequest, page_path: str) -> str:
    """The oEmbed address a page names in its <head> (`rel="alternate"`)."""
    query = urlencode({"url": request.build_absolute_uri(page_path), "format": "json"})
    return request.build_absolute_uri(f"{reverse('streams:oembed')}?{query}")


def _refused(status: int, detail: str, code: str) -> StreamError:
    return StreamError(detail, code=code, status_code=status)


def embed_size(maxwidth: str | None, maxheight: str | None) -> tuple[int, int]:
    """The player's width and height: 16:9, at most EMBED_WIDTH wide, within the bounds."""
    width = EMBED_WIDTH
    for name, raw, least, widest in (
        ("maxwidth", maxwidth, MIN_WIDTH, lambda bound: bound),
        ("maxheight", maxheight, MIN_HEIGHT, lambda bound: bound * 16 // 9),
    ):
        if raw is None or raw == "":
            continue
        if not raw.isascii() or not raw.isdigit() or int(raw) < least:
            raise _refused(400, f"{name} must be a whole number of pixels, at least {least}.", "invalid")
        width = min(width, widest(int(raw)))
    return width, width * 9 // 16


def _owner_of(request: HttpRequest, url: str) -> tuple[User, Stream | None]:
    """The channel a page URL of this site shows, and the broadcast if it names one."""
    parts = urlsplit(url)
    ours = {request.get_host().lower(), urlsplit(settings.SITE_URL).netloc.lower()}
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in ours:
        raise _refused(404, "Not a page of this site.", "not_found")
    try:
        match = resolve(parts.path)
    except Resolver404:
        raise _refused(404, "No such page.", "not_found") from None
    try:
        if match.view_name in ("channel", "streams:embed"):
            return account_selectors.user_get_active(username=match.kwargs["username"]), None
        if match.view_name == "streams:watch":
            stream = selectors.stream_get_visible(stream_id=match.kwargs["stream_id"], user=request.user)
            if stream.visibility != Visibility.PUBLIC:
                raise _refused(401, "This broadcast is not public: it cannot be embedded.", "not_public")
            return stream.owner, stream
    except Http404:
        raise _refused(404, "No such channel or broadcast.", "not_found") from None
    raise _refused(404, "This page has no embed: give a channel or a broadcast page.", "not_found")


def _image(storage_name: str, name: str, url: str) -> dict[str, Any]:
    """oEmbed's thumbnail fields for a stored image (none when it cannot be read)."""
    try:
        with storages[storage_name].open(name) as image:
            width, height = get_image_dimensions(image)
    except Exception as exc:  # a picture is worth less than the answer (S3 away, a file gone)
        log.warning("oEmbed: cannot read %s: %s", name, exc)
        return {}
    if not width or not height:
        return {}
    return {"thumbnail_url": url, "thumbnail_width": width, "thumbnail_height": height}


def _thumbnail(request: HttpRequest, owner: User, live: Stream | None) -> dict[str, Any]:
    """The live broadcast's picture; else the channel's avatar; else nothing."""
    if live is not None and live.thumbnail_updated_at is not None and not live.media_private:
        url = request.build_absolute_uri(selectors.stream_thumbnail_url(stream=live))
        return _image("live", f"{live.media_prefix}/thumb.jpg", url)
    if owner.avatar:
        return _image("default", owner.avatar.name, request.build_absolute_uri(owner.avatar.url))
    return {}


def oembed_answer(request: HttpRequest, *, url: str, maxwidth: str | None, maxheight: str | None) -> dict:
    owner, named = _owner_of(request, url)
    width, height = embed_size(maxwidth, maxheight)
    live = selectors.user_embeddable_stream(user=owner)
    shown = named or live
    title = shown.title if shown is not None and shown.title else f"{owner.name} on {settings.SITE_NAME}"
    src = request.build_absolute_uri(reverse("streams:embed", args=[owner.username]))
    html = format_html(
        '<iframe src="{}" width="{}" height="{}" title="{}" frameborder="0" '
        'allow="autoplay; fullscreen; picture-in-picture" allowfullscreen></iframe>',
        src,
        width,
        height,
        title,
    )
    return {
        "version": "1.0",
        "type": "video",
        "title": title,
        "author_name": owner.name,
        "author_url": request.build_absolute_uri(reverse("channel", args=[owner.username])),
        "provider_name": settings.SITE_NAME,
        "provider_url": request.build_absolute_uri("/"),
        "cache_age": OEMBED_CACHE_SECONDS,
        "html": str(html),
        "width": width,
        "height": height,
        **_thumbnail(request, owner, live if named in (None, live) else None),
    }


def oembed(request: HttpRequest) -> HttpResponse:
    """oEmbed 1.0 for a channel or watch page: JSON only (format=xml is 501, as the spec
    says of a format a provider lacks); errors are JSON {detail, code}."""
    if request.method not in ("GET", "HEAD"):
        refused = json_error(405, "Only GET is served here.", "method_not_allowed")
        refused["Allow"] = "GET, HEAD"
        return refused
    url = request.GET.get("url", "").strip()
    try:
        if not url:
            raise _refused(400, "Give the page to embed: ?url=<a channel or broadcast page>.", "invalid")
        if request.GET.get("format", "json") != "json":
            raise _refused(501, "Only format=json is served.", "not_implemented")
        answer = oembed_answer(
            request, url=url, maxwidth=request.GET.get("maxwidth"), maxheight=request.GET.get("maxheight")
        )
    except StreamError as error:
        return json_error(error.status_code, error.message, error.code)
    return JsonResponse(answer, headers={"Cache-Control": f"public, max-age={OEMBED_CACHE_SECONDS}"})
