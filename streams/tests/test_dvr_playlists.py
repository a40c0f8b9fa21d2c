"""The rewind (DVR) playlists, rendered from the real segment index in PostgreSQL."""

from __future__ import annotations

import gzip
from datetime import timedelta

import m3u8
import pytest
from django.utils import timezone

from accounts.services import follow_create
from streams.models import MediaSegment, Stream

pytestmark = pytest.mark.django_db


def index(stream: Stream, rung: str, seconds: int, *, run_break: int | None = None) -> None:
    """`seconds` of 2-second segments ending now; a restart (new run) at `run_break`."""
    now = timezone.now()
    count = seconds // 2
    rows = []
    for n in range(count):
        run = 2 if run_break is not None and n >= run_break else 1
        rows.append(
            MediaSegment(
                stream=stream,
                rendition=rung,
                position=n,
                run=run,
                discontinuity=run - 1,
                started_at=now - timedelta(seconds=seconds - 2 * n),
                duration=2.0,
                name=f"{stream.media_prefix}/{rung}/seg_{run}_{n}.ts",
                size_bytes=100_000,
            )
        )
    MediaSegment.objects.bulk_create(rows)


@pytest.fixture
def dvr_stream(live_stream, settings):
    Stream.objects.filter(pk=live_stream.pk).update(hls_ready_at=timezone.now())
    live_stream.refresh_from_db()
    return live_stream


def body(response) -> str:
    content = response.content
    if response.get("Content-Encoding") == "gzip":
        content = gzip.decompress(content)
    return content.decode()


def test_a_two_hour_window_loads_once_and_refreshes_in_a_few_hundred_bytes(client, dvr_stream, time_machine):
    index(dvr_stream, "720p", 7200 + 600)  # ten minutes more than the window
    url = f"/streams/{dvr_stream.pk}/dvr/720p.m3u8"
    # One clock for both answers: on a busy machine a second between them moved the window's
    # start by a segment (the two answers are compared below).
    time_machine.move_to(timezone.now(), tick=False)
    full = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert full.status_code == 200 and full["Content-Type"] == "application/vnd.apple.mpegurl"
    playlist = m3u8.loads(body(full))
    # the window (and the margin behind a live edge that is seconds old), not the whole broadcast
    assert 3599 + 6 - 1 <= len(playlist.segments) <= 3601 + 6
    assert playlist.server_control.can_skip_until == 12
    print(f"first load: {len(full.content)} bytes gzipped, {len(body(full))} plain")
    assert len(full.content) < len(body(full)) / 5
    delta = client.get(url, {"_HLS_skip": "YES"})
    print(f"refresh: {len(delta.content)} bytes")
    assert len(delta.content) < 8 * 1024
    refreshed = m3u8.loads(body(delta))
    assert refreshed.skip.skipped_segments + len(refreshed.segments) == len(playlist.segments)
    assert refreshed.media_sequence == playlist.media_sequence
    assert sum(s.duration for s in refreshed.segments) >= 12
    assert refreshed.segments[-1].uri == playlist.segments[-1].uri
    assert refreshed.segments[-1].uri.startswith("http://testserver/media/live/")


def test_a_restart_inside_the_window_is_a_discontinuity_in_both_answers(client, dvr_stream):
    index(dvr_stream, "360p", 120, run_break=55)  # the restart 10 s before the end
    url = f"/streams/{dvr_stream.pk}/dvr/360p.m3u8"
    full = m3u8.loads(body(client.get(url)))
    assert [s.discontinuity for s in full.segments].count(True) == 1
    delta = m3u8.loads(body(client.get(url, {"_HLS_skip": "YES"})))
    assert [s.discontinuity for s in delta.segments].count(True) == 1
    assert delta.discontinuity_sequence == 0


def test_a_broadcast_may_ask_for_a_shorter_window(client, dvr_stream):
    Stream.objects.filter(pk=dvr_stream.pk).update(dvr_window_seconds=60)
    index(dvr_stream, "360p", 300)
    playlist = m3u8.loads(body(client.get(f"/streams/{dvr_stream.pk}/dvr/360p.m3u8")))
    assert 29 + 6 - 1 <= len(playlist.segments) <= 31 + 6  # 60 s and the 12-s margin, in 2-s segments


def test_the_master_points_at_the_rewind_playlists(client, dvr_stream, settings):
    master = settings.MEDIA_ROOT / dvr_stream.media_prefix / "master.m3u8"
    master.parent.mkdir(parents=True)
    master.write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360\n360p/index.m3u8\n")
    playlist = m3u8.loads(body(client.get(f"/streams/{dvr_stream.pk}/dvr.m3u8")))
    assert [p.uri for p in playlist.playlists] == [f"http://testserver/streams/{dvr_stream.pk}/dvr/360p.m3u8"]


def test_without_dvr_there_is_only_the_live_window(client, dvr_stream):
    Stream.objects.filter(pk=dvr_stream.pk).update(dvr_enabled=False)
    index(dvr_stream, "360p", 60)
    assert client.get(f"/streams/{dvr_stream.pk}/dvr/360p.m3u8").status_code == 404
    assert client.get(f"/streams/{dvr_stream.pk}/dvr.m3u8").status_code == 404
    page = client.get(f"/streams/{dvr_stream.pk}/").content.decode()
    assert "dvr-seek" not in page and f"/streams/{dvr_stream.pk}/live.m3u8" in page


def test_the_watch_page_offers_the_seek_bar_with_dvr(client, dvr_stream):
    page = client.get(f"/streams/{dvr_stream.pk}/").content.decode()
    assert "dvr-seek" in page and f"/streams/{dvr_stream.pk}/dvr.m3u8" in page


def test_a_followers_only_rewind_is_for_followers(client, dvr_stream, carol):
    Stream.objects.filter(pk=dvr_stream.pk).update(visibility="followers")
    index(dvr_stream, "360p", 60)
    url = f"/streams/{dvr_stream.pk}/dvr/360p.m3u8"
    assert client.get(url).status_code == 404
    client.force_login(carol)
    assert client.get(url).status_code == 404
    follow_create(follower=carol, followee=dvr_stream.owner)
    assert client.get(url).status_code == 200


def test_bad_rung_names_are_refused(client, dvr_stream):
    assert client.get(f"/streams/{dvr_stream.pk}/dvr/..%2Fx.m3u8").status_code == 404
    assert client.get(f"/streams/{dvr_stream.pk}/dvr/nope.m3u8").status_code == 404


def test_after_the_end_the_rewind_is_closed(client, dvr_stream):
    index(dvr_stream, "360p", 60)
    Stream.objects.filter(pk=dvr_stream.pk).update(status="ended", ended_at=timezone.now())
    playlist = m3u8.loads(body(client.get(f"/streams/{dvr_stream.pk}/dvr/360p.m3u8")))
    assert playlist.is_endlist and len(playlist.segments) == 30


def test_a_private_broadcasts_rewind_hands_out_signed_segment_urls(client, go_live, carol):
    # S-04: a followers-only broadcast's segments sit under private/: the rewind playlist,
    # like the live one, signs each segment URL for the follower it is given to.
    stream = go_live(visibility="followers")
    Stream.objects.filter(pk=stream.pk).update(hls_ready_at=timezone.now())
    stream.refresh_from_db()
    index(stream, "360p", 20)
    follow_create(follower=carol, followee=stream.owner)
    client.force_login(carol)
    playlist = m3u8.loads(body(client.get(f"/streams/{stream.pk}/dvr/360p.m3u8")))
    assert len(playlist.segments) == 10
    for segment in playlist.segments:
        assert f"/media/{stream.media_prefix}/360p/" in segment.uri and "?e=" in segment.uri
        assert segment.uri.split("?")[0].startswith("http://testserver/media/private/")
