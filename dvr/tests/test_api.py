"""The recordings and clips API, with object-level permissions checked across users for
every route (alice streams, bob follows, carol is a stranger)."""

from __future__ import annotations

from datetime import timedelta

import m3u8
import pytest
from django.utils import timezone

from accounts.services import follow_create
from chat.models import ChatMessage
from dvr import clips, selectors, services
from dvr.models import Clip, Recording
from socialflow.tests.helpers import assert_error
from streams.models import Stream

pytestmark = pytest.mark.django_db


@pytest.fixture
def recording(recorded):
    return Recording.objects.get(stream=recorded)


@pytest.fixture
def moderator(django_user_model):
    return django_user_model.objects.create_superuser("mod", "mod@example.com", "x")


def test_a_ready_recording_reads_with_its_urls(api, recording, recorded):
    body = api.get(f"/api/v1/recordings/{recording.pk}/").json()
    assert body["status"] == "ready" and body["stream"] == recorded.pk
    assert body["hls_url"].endswith(f"/recordings/{recording.pk}/master.m3u8")
    assert body["mp4_url"].endswith("/vod/recording.mp4") and body["thumbnail_url"].endswith("/vod/thumb.jpg")
    assert body["visibility"] == "public" and body["kept"] is False and body["retention_until"]
    assert [r["id"] for r in api.get(f"/api/v1/streams/{recorded.pk}/recordings/").json()] == [recording.pk]
    master = m3u8.loads(api.get(body["hls_url"]).content.decode())
    variant = m3u8.loads(api.get(master.playlists[0].uri).content.decode())
    assert variant.is_endlist and variant.segments[0].uri.startswith("http://testserver/media/live/")


def test_followers_only_recordings_are_for_followers(api, api_as, recording, recorded, carol, bob):
    Recording.objects.filter(pk=recording.pk).update(visibility="followers")
    for client in (api, api_as(carol)):
        assert_error(client.get(f"/api/v1/recordings/{recording.pk}/"), 404, "not_found")
        assert client.get(f"/api/v1/streams/{recorded.pk}/recordings/").json() == []
        assert_error(client.get(f"/api/v1/recordings/{recording.pk}/chat/"), 404, "not_found")
        assert api.get(f"/recordings/{recording.pk}/master.m3u8").status_code == 404
    follow_create(follower=carol, followee=recorded.owner)
    assert api_as(carol).get(f"/api/v1/recordings/{recording.pk}/").status_code == 200


def test_only_the_owner_and_moderators_change_a_recording(api_as, recording, streamer, carol, moderator):
    url = f"/api/v1/recordings/{recording.pk}/"
    follow_create(follower=carol, followee=streamer)  # a follower may watch, not edit
    for stranger in (carol,):
        client = api_as(stranger)
        assert_error(client.patch(url, {"title": "Mine now"}, format="json"), 404, "not_found")
        assert_error(client.post(f"{url}keep/"), 404, "not_found")
        assert_error(client.delete(url), 404, "not_found")
    renamed = (
        api_as(streamer).patch(url, {"title": " Best of ", "visibility": "unlisted"}, format="json").json()
    )
    assert (renamed["title"], renamed["visibility"]) == ("Best of", "unlisted")
    kept = api_as(moderator).post(f"{url}keep/").json()
    assert kept["kept"] is True and kept["retention_until"] is None
    assert_error(
        api_as(streamer).patch(url, {"visibility": "everyone"}, format="json"), 400, "invalid_choice"
    )
    assert_error(api_as(streamer).patch(url, {"title": "  "}, format="json"), 400, "blank")
    assert api_as(streamer).delete(url).status_code == 204
    assert not Recording.objects.filter(pk=recording.pk).exists()


def test_the_chat_replay_gives_offsets_without_deleted_messages(api, recording, recorded, bob, carol):
    def said(user, seconds, text, deleted=False):
        message = ChatMessage.objects.create(stream=recorded, user=user, content=text)
        ChatMessage.objects.filter(pk=message.pk).update(
            created_at=recording.started_at + timedelta(seconds=seconds),
            deleted_at=timezone.now() if deleted else None,
        )

    said(bob, 3, "first!")
    said(carol, 5, "spam", deleted=True)
    said(carol, 70, "later")
    body = api.get(f"/api/v1/recordings/{recording.pk}/chat/", {"from_offset": 0, "to_offset": 60}).json()
    assert [(m["offset"], m["content"], m["user"]["username"]) for m in body["messages"]] == [
        (3.0, "first!", "bob")
    ]
    later = api.get(f"/api/v1/recordings/{recording.pk}/chat/", {"from_offset": 60, "to_offset": 120}).json()
    assert [m["content"] for m in later["messages"]] == ["later"]
    assert_error(api.get(f"/api/v1/recordings/{recording.pk}/chat/", {"from_offset": -1}), 400, "min_value")
    bad = api.get(f"/api/v1/recordings/{recording.pk}/chat/", {"from_offset": 90, "to_offset": 10})
    assert_error(bad, 400, "invalid")


def test_clips_are_cut_read_listed_and_deleted_by_the_right_people(
    api, api_as, recorded, bob, carol, streamer, celery_queue, django_capture_on_commit_callbacks
):
    assert_error(api.post(f"/api/v1/streams/{recorded.pk}/clips/", {"seconds": 10}), 401, "not_authenticated")
    with django_capture_on_commit_callbacks(execute=True):
        made = api_as(bob).post(
            f"/api/v1/streams/{recorded.pk}/clips/", {"title": "Wow", "seconds": 5}, format="json"
        )
    assert made.status_code == 202 and made.json()["status"] == "processing"
    clip_id = made.json()["id"]
    assert ("dvr.tasks.clip_make_task", [clip_id]) in celery_queue()
    clips.clip_make(clip_id=clip_id)
    body = api.get(f"/api/v1/clips/{clip_id}/").json()
    assert (
        body["status"] == "ready"
        and body["mp4_url"].endswith("/clip.mp4")
        and body["creator"]["username"] == "bob"
    )
    assert [c["id"] for c in api.get("/api/v1/users/alice/clips/").json()] == [clip_id]
    assert_error(api_as(carol).delete(f"/api/v1/clips/{clip_id}/"), 404, "not_found")
    assert api_as(streamer).delete(f"/api/v1/clips/{clip_id}/").status_code == 204
    assert not Clip.objects.filter(pk=clip_id).exists()


def test_bad_clip_requests_get_a_reason(api_as, recorded, bob, channel):
    client = api_as(bob)
    url = f"/api/v1/streams/{recorded.pk}/clips/"
    assert_error(client.post(url, {"seconds": 90}, format="json"), 400, "invalid")
    assert_error(client.post(url, {"seconds": 10, "end_offset": 5000}, format="json"), 400, "out_of_window")
    assert_error(client.post(url, {"title": "x"}, format="json"), 400, "required")
    channel.clips_enabled = False
    channel.save()
    assert_error(client.post(url, {"seconds": 10}, format="json"), 403, "clips_disabled")


def test_a_followers_only_broadcast_cannot_be_clipped_or_read_by_strangers(api_as, recorded, carol):
    Stream.objects.filter(pk=recorded.pk).update(visibility="followers")
    client = api_as(carol)
    assert_error(
        client.post(f"/api/v1/streams/{recorded.pk}/clips/", {"seconds": 5}, format="json"), 404, "not_found"
    )


def test_a_followers_only_broadcasts_clips_are_hidden_from_strangers(
    api, api_as, recorded, bob, carol, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        clip = clips.clip_create(stream=recorded, by=bob, seconds=5)
    clips.clip_make(clip_id=clip.pk)
    Stream.objects.filter(pk=recorded.pk).update(visibility="followers")
    for client in (api, api_as(carol)):
        assert_error(client.get(f"/api/v1/clips/{clip.pk}/"), 404, "not_found")
        assert client.get("/api/v1/users/alice/clips/").json() == []
        assert client.get(f"/clips/{clip.pk}/").status_code == 404
    assert api_as(bob).get(f"/api/v1/clips/{clip.pk}/").status_code == 200  # its maker


def test_an_expired_recording_is_gone_for_viewers_and_bare_for_its_managers(
    api, api_as, recording, recorded, streamer, bob, carol
):
    services.recording_expire(recording=recording)
    url = f"/api/v1/recordings/{recording.pk}/"
    for client in (api, api_as(carol)):
        assert_error(client.get(url), 404, "not_found")
        assert_error(client.get(f"{url}chat/"), 404, "not_found")
        assert client.get(f"/api/v1/streams/{recorded.pk}/recordings/").json() == []
    for manager in (streamer, bob):
        body = api_as(manager).get(url).json()
        assert body["expired"] is True and body["status"] == "ready"
        assert (body["hls_url"], body["mp4_url"], body["thumbnail_url"]) == (None, None, None)
        listed = api_as(manager).get(f"/api/v1/streams/{recorded.pk}/recordings/").json()
        assert [r["id"] for r in listed] == [recording.pk]
    assert_error(api_as(streamer).post(f"{url}keep/"), 409, "expired")


def test_a_recordings_own_visibility_overrides_its_broadcasts(api, api_as, recording, recorded, carol, bob):
    Stream.objects.filter(pk=recorded.pk).update(visibility="followers")
    list_url = f"/api/v1/streams/{recorded.pk}/recordings/"
    assert_error(api.get(list_url), 404, "not_found")  # nothing to read: the broadcast is not leaked
    assert_error(api_as(carol).get(f"/api/v1/recordings/{recording.pk}/"), 404, "not_found")
    assert api_as(bob).get(f"/api/v1/recordings/{recording.pk}/").status_code == 200  # a moderator
    Recording.objects.filter(pk=recording.pk).update(visibility="unlisted")  # the streamer shares it
    api.force_authenticate(None)
    assert api.get(f"/api/v1/recordings/{recording.pk}/").json()["visibility"] == "unlisted"
    assert [r["id"] for r in api.get(list_url).json()] == [recording.pk]
    assert api.get(f"/api/v1/recordings/{recording.pk}/chat/").status_code == 200


def test_anonymous_writes_are_refused(api, recording):
    url = f"/api/v1/recordings/{recording.pk}/"
    assert_error(api.patch(url, {"title": "x"}, format="json"), 404, "not_found")
    assert_error(api.delete(url), 404, "not_found")
    assert_error(api.post(f"{url}keep/"), 401, "not_authenticated")
    assert Recording.objects.filter(pk=recording.pk, title=recording.title).exists()


def test_the_chat_replay_is_ordered_capped_and_refuses_offsets_out_of_range(api, recording, recorded, bob):
    at = recording.started_at
    rows = ChatMessage.objects.bulk_create(
        ChatMessage(stream=recorded, user=bob, content=f"m{n}") for n in range(selectors.REPLAY_LIMIT + 5)
    )
    for n, row in enumerate(rows):  # newest written first: the answer must still be by time
        row.created_at = at + timedelta(seconds=50 - n * 0.05)
    ChatMessage.objects.bulk_update(rows, ["created_at"])
    url = f"/api/v1/recordings/{recording.pk}/chat/"
    body = api.get(url, {"from_offset": 0}).json()  # to_offset: from_offset + 60
    offsets = [m["offset"] for m in body["messages"]]
    assert len(offsets) == selectors.REPLAY_LIMIT and offsets == sorted(offsets)
    assert body["messages"][0]["content"] == f"m{len(rows) - 1}"
    assert api.get(url, {"from_offset": 50.5}).json() == {"messages": []}
    for bad, code in (
        ({"from_offset": "1e20"}, "max_value"),
        ({"from_offset": "abc"}, "invalid"),
        ({"from_offset": "nan"}, "invalid"),
        ({"to_offset": "-5"}, "min_value"),
        ({"from_offset": 90, "to_offset": 30}, "invalid"),
    ):
        assert_error(api.get(url, bad), 400, code)
