"""Recording and clip pages, the recordings' VOD playlists, and the streamer's changes."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.gzip import gzip_page
from django.views.decorators.http import require_POST

from dvr import clips, selectors, services
from dvr.errors import DvrError
from dvr.models import Clip
from streams.models import Visibility
from streams.selectors import stream_get_visible

RENDITION_RE = re.compile(r"^(recording|source|[0-9]{3,4}p)$")


def _count_view_once(request, key: str) -> bool:
    """True the first time this browser session opens `key` (views are counted once)."""
    seen = request.session.get("dvr_seen", [])
    if key in seen:
        return False
    request.session["dvr_seen"] = [*seen[-199:], key]
    return True


def recording(request, recording_id: int):
    recording = selectors.recording_get_visible(recording_id=recording_id, user=request.user)
    if recording.is_playable and _count_view_once(request, f"r{recording.pk}"):
        services.recording_count_view(recording=recording)
        recording.views += 1
    context = {
        "recording": recording,
        "stream": recording.stream,
        "can_manage": selectors.recording_can_manage(recording=recording, user=request.user),
        "thumbnail_url": selectors.media_url(recording.thumbnail_path, request.build_absolute_uri)
        if recording.is_playable
        else None,
        "mp4_url": selectors.media_url(recording.mp4_path, request.build_absolute_uri)
        if recording.is_playable
        else None,
        "visibilities": [("", "Same as the broadcast"), *Visibility.choices],
        "clips": list(
            selectors.clips_visible(user=request.user)
            .filter(recording=recording, status=Clip.Status.READY)
            .order_by("-views")[:8]
        ),
    }
    return render(request, "dvr/recording.html", context)


@require_POST
def recording_edit(request, recording_id: int):
    recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
    try:
        services.recording_update(
            recording=recording, title=request.POST.get("title"), visibility=request.POST.get("visibility")
        )
    except DvrError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Recording saved.")
    return redirect("dvr:recording", recording.pk)


@require_POST
def recording_keep(request, recording_id: int):
    recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
    try:
        services.recording_keep(recording=recording)
    except DvrError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "This recording is kept forever.")
    return redirect("dvr:recording", recording.pk)


@require_POST
def recording_delete(request, recording_id: int):
    recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
    owner = recording.stream.owner
    try:
        services.recording_delete(recording=recording)
    except DvrError as exc:
        messages.error(request, exc.message)
        return redirect("dvr:recording", recording.pk)
    messages.success(request, "Recording deleted.")
    return redirect("channel", owner.username)


def _playlist(text: str | None) -> HttpResponse:
    if text is None:
        return HttpResponse("Not available.", status=404, content_type="text/plain")
    return HttpResponse(
        text, content_type="application/vnd.apple.mpegurl", headers={"Cache-Control": "private, max-age=60"}
    )


def recording_master(request, recording_id: int):
    """The VOD master (the API's hls_url), after the same visibility check as the page."""
    recording = selectors.recording_get_visible(recording_id=recording_id, user=request.user)
    return _playlist(
        selectors.recording_master_playlist(recording=recording, absolute=request.build_absolute_uri)
    )


@gzip_page  # hours of segments
def recording_variant(request, recording_id: int, rendition: str):
    recording = selectors.recording_get_visible(recording_id=recording_id, user=request.user)
    if not RENDITION_RE.match(rendition):
        raise Http404("No such quality.")
    text = selectors.recording_variant_playlist(
        recording=recording, rendition=rendition, absolute=request.build_absolute_uri
    )
    return _playlist(text)


@login_required
@require_POST
def clip_create(request, stream_id: str):
    """The watch page's Clip button: the viewer's last 30 s (where they are watching, when
    they rewound; the page fills end_offset from the frame's time)."""
    stream = stream_get_visible(stream_id=stream_id, user=request.user)
    try:
        seconds = int(request.POST.get("seconds", "30"))
        end_offset = float(request.POST["end_offset"]) if request.POST.get("end_offset") else None
        made = clips.clip_create(stream=stream, by=request.user, seconds=seconds, end_offset=end_offset)
    except ValueError:
        messages.error(request, "That clip request was not understood.")
    except DvrError as exc:
        messages.error(request, exc.message)
    else:
        return redirect("dvr:clip", made.pk)
    # Back where the request came from (the analytics page's highlights), or the watch page.
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("streams:watch", stream.pk)


def clip(request, clip_id: int):
    clip = selectors.clip_get_visible(clip_id=clip_id, user=request.user)
    if clip.status == Clip.Status.READY and _count_view_once(request, f"c{clip.pk}"):
        Clip.objects.filter(pk=clip.pk).update(views=F("views") + 1)
        clip.views += 1
    context = {
        "clip": clip,
        "share_url": request.build_absolute_uri(),
        "mp4_url": selectors.media_url(clip.mp4_path, request.build_absolute_uri),
        "thumbnail_url": selectors.media_url(clip.thumbnail_path, request.build_absolute_uri),
        "can_delete": selectors.clip_can_delete(clip=clip, user=request.user),
    }
    return render(request, "dvr/clip.html", context)


@require_POST
def clip_delete(request, clip_id: int):
    clip = selectors.clip_get_visible(clip_id=clip_id, user=request.user)
    owner = clip.stream.owner
    clips.clip_delete(clip=clip, by=request.user)
    messages.success(request, "Clip deleted.")
    return redirect("channel", owner.username)
