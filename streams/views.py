import re
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_POST

from accounts import selectors as account_selectors
from socialflow.lib import realtime
from streams import selectors, services
from streams.embeds import oembed_discovery_url
from streams.errors import StreamError
from streams.forms import ChannelMediaForm, StreamForm
from streams.models import Stream, Visibility


def home(request):
    return render(
        request,
        "streams/home.html",
        {
            "live": selectors.streams_live()[:24],
            "popular": account_selectors.users_popular(viewer=request.user),
        },
    )


@login_required
def following(request):
    """Followed channels, the live ones first."""
    live = list(selectors.streams_live_followed(user=request.user)[:48])
    live_owner_ids = {stream.owner_id for stream in live}
    follows = account_selectors.user_following(user=request.user).exclude(followee_id__in=live_owner_ids)
    page = Paginator(follows, 24).get_page(request.GET.get("page"))
    return render(request, "streams/following.html", {"live": live, "page": page})


def categories(request):
    return render(request, "streams/categories.html", {"categories": selectors.categories_with_live_counts()})


def category(request, slug):
    found = selectors.category_get(slug=slug)
    live = selectors.streams_live(category=found.slug)[:48]
    return render(request, "streams/category.html", {"category": found, "live": live})


def search(request):
    q = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    live = selectors.streams_live(q=q)[:48] if q else []
    channels = account_selectors.users_search(q=q, viewer=request.user)[:24] if q else []
    return render(request, "streams/search.html", {"q": q, "live": live, "channels": channels})


def _dashboard_context(request, form=None, media_form=None):
    channel = services.channel_get_or_create(user=request.user)
    current = selectors.channel_current_stream(channel=channel)
    editable = current if current is not None and not current.is_over else None
    return {
        "eligibility": account_selectors.user_go_live_eligibility(user=request.user),
        "channel": channel,
        "ingest": services.channel_ingest(channel=channel),
        "current": current,
        "editable": editable,
        "form": form or StreamForm.for_stream(editable),
        "media_form": media_form or ChannelMediaForm.for_channel(channel),
        "site_retention_days": settings.RECORDING_RETENTION_DAYS,
        "events": selectors.channel_events(channel=channel, limit=10),
        "health": selectors.stream_latest_health(stream=current) if current and current.is_live else None,
        "ladder": selectors.stream_current_ladder(stream=current) if current and current.is_live else None,
        "frames": realtime.frame_types(),
    }


@login_required
def dashboard(request):
    return render(request, "streams/dashboard.html", _dashboard_context(request))


@login_required
def dashboard_status(request):
    """The broadcast card, polled by the dashboard so its status follows OBS live."""
    return render(request, "streams/_broadcast_status.html", _dashboard_context(request))


@login_required
@require_POST
def dashboard_rotate_key(request):
    channel = services.channel_get_or_create(user=request.user)
    services.channel_rotate_key(channel=channel, by=request.user)
    messages.success(request, "New stream key created. Paste it into OBS; the old one no longer works.")
    return redirect("streams:dashboard")


@login_required
@require_POST
def dashboard_channel_media_save(request):
    """The channel's clips switch and recording retention."""
    channel = services.channel_get_or_create(user=request.user)
    form = ChannelMediaForm.for_channel(channel, request.POST)
    if form.is_valid():
        days = form.cleaned_data["recording_retention_days"]
        try:
            services.channel_update_defaults(
                channel=channel,
                clips_enabled=form.cleaned_data["clips_enabled"],
                recording_retention_days=days,
                clear_retention=days is None,
            )
        except StreamError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Recording and clip settings saved.")
            return redirect("streams:dashboard")
    context = _dashboard_context(request, media_form=form)
    return render(request, "streams/dashboard.html", context, status=400)


@login_required
@require_POST
def dashboard_stream_save(request):
    """Prepare (or edit) the next broadcast: title, category, schedule."""
    channel = services.channel_get_or_create(user=request.user)
    current = selectors.channel_current_stream(channel=channel)
    editable = current if current is not None and not current.is_over else None
    form = StreamForm.for_stream(editable, request.POST)
    if form.is_valid():
        fields = form.cleaned_data
        fields["category"] = fields["category"] or None
        try:
            if editable is None:
                services.stream_create(owner=request.user, **fields)
                messages.success(request, "Broadcast prepared. It goes live when OBS connects.")
            else:
                services.stream_update(stream=editable, **fields)
                messages.success(request, "Broadcast details saved.")
        except StreamError as exc:
            form.add_error(None, exc.message)
        else:
            return redirect("streams:dashboard")
    return render(request, "streams/dashboard.html", _dashboard_context(request, form=form), status=400)


@login_required
@require_POST
def dashboard_stream_end(request, stream_id):
    stream = selectors.stream_get_for_owner(stream_id=stream_id, user=request.user)
    stream = services.stream_end(stream=stream, by=request.user)
    word = "ended" if stream.end_reason != Stream.EndReason.CANCELLED else "cancelled"
    messages.info(request, f"Broadcast {word}.")
    return redirect("streams:dashboard")


def _player(request, stream_id):
    """Who is watching: the session's user, or the one a playback grant (`?grant=`, from the
    API's hls_url) names for this broadcast; anonymous otherwise."""
    grant = request.GET.get("grant")
    if request.user.is_authenticated or not grant:
        return request.user, None
    user = selectors.playback_grant_user(stream_id=stream_id, grant=grant)
    return (user, grant) if user is not None else (request.user, None)


def _granted(text: str | None, grant: str | None) -> str | None:
    """The playlist with the grant carried on to the playlists it names on this site."""
    if text is None or grant is None:
        return text
    lines = []
    for line in text.splitlines():
        if line and not line.startswith("#") and "/streams/" in line and "/media/" not in line:
            line += ("&" if "?" in line else "?") + urlencode({"grant": grant})
        lines.append(line)
    return "\n".join(lines) + "\n"


def stream_hls(request, stream_id):
    """The master playlist (hls_url), after the same visibility check as the page."""
    user, grant = _player(request, stream_id)
    stream = selectors.stream_get_visible(stream_id=stream_id, user=user)
    playlist = _granted(
        selectors.stream_hls_master(stream=stream, absolute=request.build_absolute_uri), grant
    )
    if playlist is None:
        return HttpResponse("Not live.", status=404, content_type="text/plain")
    return HttpResponse(
        playlist,
        content_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-cache, private"},
    )


RUNG_RE = re.compile(r"^(source|[0-9]{3,4}p)$")


def stream_hls_variant(request, stream_id, rung):
    """A variant playlist of a followers-only broadcast, after the visibility check."""
    stream = selectors.stream_get_visible(stream_id=stream_id, user=_player(request, stream_id)[0])
    if not RUNG_RE.match(rung):
        return HttpResponse("No such quality.", status=404, content_type="text/plain")
    playlist = selectors.stream_hls_variant(stream=stream, rung=rung, absolute=request.build_absolute_uri)
    if playlist is None:
        return HttpResponse("Not live.", status=404, content_type="text/plain")
    return HttpResponse(
        playlist, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache, private"}
    )


@gzip_page  # a first load lists the whole window (hours of segments): it compresses ~10x
def stream_dvr_master(request, stream_id):
    """The master playlist of the rewind window (DVR on), after the visibility check: a
    followers-only broadcast's rewind is for its followers only."""
    user, grant = _player(request, stream_id)
    stream = selectors.stream_get_visible(stream_id=stream_id, user=user)
    playlist = _granted(
        selectors.stream_dvr_master(stream=stream, absolute=request.build_absolute_uri), grant
    )
    return _playlist(playlist, missing="No rewind for this broadcast.")


@gzip_page
def stream_dvr_variant(request, stream_id, rung):
    """A rung over the rewind window; `_HLS_skip=YES` asks for a delta update."""
    stream = selectors.stream_get_visible(stream_id=stream_id, user=_player(request, stream_id)[0])
    if not RUNG_RE.match(rung):
        return HttpResponse("No such quality.", status=404, content_type="text/plain")
    skip = request.GET.get("_HLS_skip") in ("YES", "v2")
    playlist = selectors.stream_dvr_variant(
        stream=stream, rung=rung, skip=skip, absolute=request.build_absolute_uri
    )
    return _playlist(playlist, missing="No rewind for this broadcast.")


def _playlist(text: str | None, *, missing: str) -> HttpResponse:
    if text is None:
        return HttpResponse(missing, status=404, content_type="text/plain")
    return HttpResponse(
        text, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "no-cache, private"}
    )


def watch(request, stream_id):
    stream = selectors.stream_get_visible(stream_id=stream_id, user=request.user)
    # Only a public broadcast plays in an embed: the others' pages name no oEmbed.
    oembed = oembed_discovery_url(request, request.path) if stream.visibility == Visibility.PUBLIC else None
    return _watch_page(request, stream, stream.owner, oembed=oembed)


def stream_chat(request, stream_id):
    """The chat alone: a pop-out window, or with ?overlay=1 a read-only OBS browser source."""
    stream = selectors.stream_get_visible(stream_id=stream_id, user=request.user)
    overlay = request.GET.get("overlay") == "1"
    return render(request, "streams/chat.html", {"stream": stream, "overlay": overlay})


def channel(request, username):
    """/<username>/: the live broadcast if there is one, else the offline channel page."""
    owner = account_selectors.user_get_profile(username=username, viewer=request.user)
    stream = selectors.user_live_stream(user=owner, viewer=request.user)
    page = reverse("channel", args=[owner.username])
    return _watch_page(request, stream, owner, oembed=oembed_discovery_url(request, page))


def _watch_page(request, stream, owner, *, oembed):
    if stream is not None and stream.owner_id == owner.pk and not hasattr(owner, "follower_count"):
        owner = account_selectors.user_get_profile(username=owner.username, viewer=request.user)
    context = {
        "stream": stream,
        "profile": owner,
        "thumbnail_url": selectors.stream_thumbnail_url(stream=stream) if stream else None,
        "last_live": selectors.user_last_broadcast(user=owner, viewer=request.user),
        "upcoming": selectors.user_upcoming(user=owner, viewer=request.user),
        "playback_report_seconds": settings.PLAYBACK_REPORT_SECONDS,
        "oembed_url": oembed,
    }
    return render(request, "streams/watch.html", context)
