"""The recording and clip pages, the channel page's past broadcasts, the streamer's forms."""

from __future__ import annotations

import m3u8
import pytest
from django.core.files.storage import storages

from accounts.services import follow_create
from dvr import clips, services
from dvr.models import Recording
from dvr.templatetags.dvr_tags import clock

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(recorded):
    return Recording.objects.get(stream=recorded)


def test_the_recording_page_plays_the_vod_beside_the_chat_replay(client, recording):
    page = client.get(f"/recordings/{recording.pk}/").content.decode()
    assert f'data-hls="/recordings/{recording.pk}/master.m3u8"' in page
    assert 'id="replay"' in page and "js/replay.js" in page
    assert "Manage this recording" not in page
    client.get(f"/recordings/{recording.pk}/")  # the same visitor again: one view
    assert Recording.objects.get(pk=recording.pk).views == 1


def test_the_streamer_renames_keeps_and_deletes_from_the_page(client, recording, streamer, carol):
    client.force_login(carol)
    assert client.post(f"/recordings/{recording.pk}/edit/", {"title": "x"}).status_code == 404
    assert client.post(f"/recordings/{recording.pk}/delete/").status_code == 404
    client.force_login(streamer)
    assert "Manage this recording" in client.get(f"/recordings/{recording.pk}/").content.decode()
    client.post(f"/recordings/{recording.pk}/edit/", {"title": "Highlights", "visibility": "followers"})
    client.post(f"/recordings/{recording.pk}/keep/")
    recording.refresh_from_db()
    assert (recording.title, recording.visibility, recording.kept) == ("Highlights", "followers", True)
    assert client.post(f"/recordings/{recording.pk}/delete/").status_code == 302
    assert not Recording.objects.filter(pk=recording.pk).exists()


def test_an_expired_recording_says_so(client, recording, streamer):
    services.recording_expire(recording=recording)
    assert client.get(f"/recordings/{recording.pk}/").status_code == 404  # gone for viewers
    client.force_login(streamer)
    page = client.get(f"/recordings/{recording.pk}/").content.decode()
    assert "This recording has expired" in page and "data-hls" not in page


def test_the_channel_page_lists_past_broadcasts_and_top_clips(
    client, recording, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=recording.stream, by=bob, title="Great save", seconds=5)
    clips.clip_make(clip_id=clip.pk)
    page = client.get("/alice/").content.decode()
    assert "Past broadcasts" in page and f"/recordings/{recording.pk}/" in page
    assert "Top clips" in page and f"/clips/{clip.pk}/" in page and "Great save" in page


def test_the_clip_page_plays_and_shares(client, recording, bob, carol, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=recording.stream, by=bob, title="Great save", seconds=5)
    clips.clip_make(clip_id=clip.pk)
    page = client.get(f"/clips/{clip.pk}/").content.decode()
    assert "clip.mp4" in page and f"http://testserver/clips/{clip.pk}/" in page and "Delete clip" not in page
    client.force_login(carol)
    assert client.post(f"/clips/{clip.pk}/delete/").status_code == 404
    client.force_login(bob)
    assert client.post(f"/clips/{clip.pk}/delete/").status_code == 302


def test_the_dashboard_shows_the_storage_used(client, recording, streamer):
    client.force_login(streamer)
    page = client.get("/dashboard/").content.decode()
    assert "Storage used" in page and "recordings" in page


def test_the_watch_page_clip_button_cuts_the_last_30_seconds(client, go_live, record_segments, bob, channel):
    stream = go_live()
    record_segments(stream, runs=((1, 4), (2, 4)))
    assert "✂ Clip" not in client.get(f"/streams/{stream.pk}/").content.decode()  # logged out
    client.force_login(bob)
    assert "✂ Clip" in client.get(f"/streams/{stream.pk}/").content.decode()
    response = client.post(f"/clips/new/{stream.pk}/", {"seconds": "10", "end_offset": "26"})
    clip = stream.clips.get()
    assert response.url == f"/clips/{clip.pk}/" and clip.seconds == 10
    assert "being cut" in client.get(f"/clips/{clip.pk}/").content.decode()
    channel.clips_enabled = False
    channel.save()
    refused = client.post(f"/clips/new/{stream.pk}/", {"seconds": "10"}, follow=True)
    assert "turned clipping off" in refused.content.decode()


def test_the_vod_playlists_point_at_checked_variants_and_absolute_segments(client, recording):
    master_response = client.get(f"/recordings/{recording.pk}/master.m3u8")
    assert master_response["Content-Type"] == "application/vnd.apple.mpegurl"
    master = m3u8.loads(master_response.content.decode())
    assert [p.uri for p in master.playlists] == [f"http://testserver/recordings/{recording.pk}/360p.m3u8"]
    variant = m3u8.loads(client.get(master.playlists[0].uri).content.decode())
    prefix = recording.stream.media_prefix
    assert variant.is_endlist and [s.uri for s in variant.segments] == [
        f"http://testserver{storages['live'].url(f'{prefix}/360p/seg_{run}_{n}.ts')}"
        for run in (1, 2)
        for n in (0, 1)
    ]
    for rendition in ("evil", "1080", "..%2Fmaster", "720p"):  # refused, or not recorded
        assert client.get(f"/recordings/{recording.pk}/{rendition}.m3u8").status_code == 404


def test_a_followers_only_recording_and_its_playlists_are_for_followers(client, recording, carol, bob):
    Recording.objects.filter(pk=recording.pk).update(visibility="followers")
    urls = [f"/recordings/{recording.pk}/{name}" for name in ("", "master.m3u8", "360p.m3u8")]
    for who in (None, carol):
        if who:
            client.force_login(who)
        assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    follow_create(follower=carol, followee=recording.stream.owner)
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]
    client.force_login(bob)  # a moderator
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("processing", "The video is being prepared"),
        ("failed", "could not be finished: 2 segment(s) are missing"),
    ],
)
def test_an_unfinished_recording_shows_why_instead_of_the_player(client, recording, status, says):
    Recording.objects.filter(pk=recording.pk).update(status=status, reason="2 segment(s) are missing")
    page = client.get(f"/recordings/{recording.pk}/").content.decode()
    assert says in page and "data-hls" not in page and 'id="replay"' not in page
    assert client.get(f"/recordings/{recording.pk}/master.m3u8").status_code == 404
    assert Recording.objects.get(pk=recording.pk).views == 0


def test_the_channel_page_lists_only_the_recordings_the_viewer_may_watch(
    client, recording, streamer, carol, go_live, record_segments, django_capture_on_commit_callbacks
):
    link = f"/recordings/{recording.pk}/"
    page = client.get("/alice/").content.decode()
    assert link in page and clock(recording.duration_seconds) in page and recording.title in page
    Recording.objects.filter(pk=recording.pk).update(visibility="unlisted")
    assert link not in client.get("/alice/").content.decode()  # only by its link
    client.force_login(streamer)
    assert link in client.get("/alice/").content.decode()
    Recording.objects.filter(pk=recording.pk).update(visibility="followers")
    client.force_login(carol)
    assert link not in client.get("/alice/").content.decode()
    follow_create(follower=carol, followee=streamer)
    assert link in client.get("/alice/").content.decode()
    services.recording_expire(recording=recording)
    assert "Past broadcasts" not in client.get("/alice/").content.decode()


def test_durations_read_like_a_player():
    assert [clock(s) for s in (None, 8.4, 725, 3723.6)] == ["", "0:08", "12:05", "1:02:04"]
