"""S-04 end to end: a followers-only broadcast transcoded for real (nginx-rtmp, Celery,
FFmpeg) writes under private/; a follower plays it through the checked playlists and their
signed segment URLs, and nobody gets a byte of it by name."""

import contextlib
import re
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin

import m3u8
import pytest
from django.conf import settings
from django.test import Client

from accounts.services import follow_create
from dvr.clips import clip_create
from dvr.models import Clip
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams import services as stream_services
from streams.models import Stream
from streams.tests.helpers import encode_clip, publish_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def fetch(url: str, session: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if session:
        request.add_header("Cookie", f"{settings.SESSION_COOKIE_NAME}={session}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@contextlib.contextmanager
def live_for_a_follower(tmp_path, streamer, carol, *, visibility: str, title: str, seconds: int):
    """`streamer` live with `visibility` through the whole stack (a 360p clip), `carol`
    following and signed in: yields (the stack, the broadcast once its ladder is out,
    carol's session cookie)."""
    stream_services.stream_create(owner=streamer, title=title, visibility=visibility)
    channel = stream_services.channel_get_or_create(user=streamer)
    follow_create(follower=carol, followee=streamer)
    login = Client()
    login.force_login(carol)
    session = login.cookies[settings.SESSION_COOKIE_NAME].value
    clip = encode_clip(tmp_path / "360p.flv", size="640x360", seconds=4)
    with live_stack(tmp_path, transcode=True) as stack:
        obs = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=seconds)
        try:
            stream = wait_for(
                lambda: Stream.objects.filter(channel=channel, hls_ready_at__isnull=False).first(),
                timeout=25,
                what="the ladder",
            )
            yield stack, stream, session
        finally:
            obs.kill()
            obs.wait()


def test_a_follower_plays_a_followers_only_broadcast_by_signed_urls_alone(tmp_path, streamer, carol):
    with live_for_a_follower(
        tmp_path, streamer, carol, visibility="followers", title="Members only", seconds=30
    ) as (stack, stream, session):
        assert stream.media_prefix.startswith("private/")
        assert (Path(settings.MEDIA_ROOT) / stream.media_prefix / "master.m3u8").exists()
        web = stack["web"]
        status, master = fetch(f"{web}/streams/{stream.pk}/live.m3u8", session)
        assert status == 200
        variant = m3u8.loads(master.decode()).playlists[0].uri
        status, text = fetch(variant, session)
        segment = m3u8.loads(text.decode()).segments[-1].uri
        assert "?e=" in segment
        status, data = fetch(segment)  # the signature is the key: no session needed
        assert status == 200 and data[:1] == b"\x47"  # MPEG-TS
        # Nobody gets anything by name, and a stranger gets no playlist.
        unsigned = segment.split("?")[0]
        assert fetch(unsigned)[0] == 404
        assert fetch(f"{web}/media/{stream.media_prefix}/master.m3u8")[0] == 404
        assert fetch(f"{web}/streams/{stream.pk}/live.m3u8")[0] == 404


def _files(prefix: str) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / prefix
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _sequence(text: bytes) -> int:
    return m3u8.loads(text.decode()).media_sequence or 0


def test_narrowed_while_live_the_media_leaves_public_storage_and_followers_play_on(tmp_path, streamer, carol):
    with live_for_a_follower(
        tmp_path, streamer, carol, visibility="public", title="Open, then members only", seconds=60
    ) as (stack, stream, session):
        public = stream.media_prefix
        assert public.startswith("live/")
        web = stack["web"]
        # A stranger, while it is public: plain URLs straight at storage, which work.
        status, master = fetch(f"{web}/streams/{stream.pk}/live.m3u8")
        assert status == 200
        variant = m3u8.loads(master.decode()).playlists[0].uri
        assert f"/media/{public}/" in variant
        status, text = fetch(variant)
        copied = urljoin(variant, m3u8.loads(text.decode()).segments[-1].uri)
        assert fetch(copied)[0] == 200

        stream_services.stream_update(stream=stream, visibility="followers")
        stream.refresh_from_db()
        private = stream.media_prefix
        assert private.startswith("private/")

        # What was published under live/ goes (the copied URL with it), the transcoder
        # (the same FFmpeg) carries on under private/, and the index follows.
        wait_for(lambda: not _files(public), timeout=20, what="live/ to be emptied")
        assert fetch(copied)[0] == 404
        assert fetch(variant)[0] == 404
        assert fetch(f"{web}/streams/{stream.pk}/live.m3u8")[0] == 404  # a stranger
        before = {p.name for p in _files(private) if p.suffix == ".ts"}
        wait_for(
            lambda: {p.name for p in _files(private) if p.suffix == ".ts"} - before,
            timeout=15,
            what="new segments under private/",
        )
        assert not _files(public)  # nothing new under live/
        names = list(stream.segments.values_list("name", flat=True))
        assert names and all(n.startswith(f"{private}/") for n in names)
        assert stream.events.filter(details__has_key="media_private").exists()

        # A follower plays on: the playlist advances, by signed URLs only.
        status, master = fetch(f"{web}/streams/{stream.pk}/live.m3u8", session)
        assert status == 200
        variant = m3u8.loads(master.decode()).playlists[0].uri
        status, first = fetch(variant, session)
        assert status == 200
        segment = m3u8.loads(first.decode()).segments[-1].uri
        assert f"/media/{private}/" in segment and "?e=" in segment
        status, data = fetch(segment)
        assert status == 200 and data[:1] == b"\x47"
        wait_for(
            lambda: _sequence(fetch(variant, session)[1] or b"#EXTM3U\n") > _sequence(first),
            timeout=15,
            what="the follower's playlist to advance",
        )
        assert fetch(segment.split("?")[0])[0] == 404  # not by name

        # A clip cut now is followers-only too: private files, checked page and API.
        made = clip_create(stream=stream, by=carol, seconds=5)
        clip = wait_for(
            lambda: Clip.objects.filter(pk=made.pk).exclude(status="processing").first(),
            timeout=30,
            what="the clip",
        )
        assert clip.status == "ready", clip.reason
        assert clip.visibility == "followers" and clip.mp4_path.startswith("private/clips/")
        assert fetch(f"{web}/media/{clip.mp4_path}")[0] == 404
        assert fetch(f"{web}/clips/{clip.pk}/")[0] == 404
        assert fetch(f"{web}/api/v1/clips/{clip.pk}/")[0] == 404
        status, page = fetch(f"{web}/clips/{clip.pk}/", session)
        assert status == 200
        mp4 = re.search(rb'src="([^"]+clip\.mp4[^"]*)"', page).group(1).decode().replace("&amp;", "&")
        status, data = fetch(urljoin(web, mp4))
        assert status == 200 and b"ftyp" in data[:64]
