"""The recording and clip pages, the channel page's past broadcasts, the streamer's forms."""

from __future__ import annotations

import pytest

from dvr import clips, services
from dvr.models import Recording

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
