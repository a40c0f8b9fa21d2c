"""S-04 for clips: a clip inherits its broadcast's visibility when it is cut. A clip of a
followers-only broadcast is stored under private/ and served (page, API, files) only after
the visibility check, by signed URLs; a stranger gets 404 as for anything followers-only.
Public clips are unchanged: public by name under clips/."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest

from accounts.models import Follow
from accounts.tests.factories import UserFactory
from dvr import clips
from streams import services as stream_services

pytestmark = pytest.mark.django_db


def cut(stream, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        clip = clips.clip_create(stream=stream, by=user, seconds=5)
    clip = clips.clip_make(clip_id=clip.pk)  # what the queued task does
    assert clip.status == "ready", clip.reason
    return clip


def get(client, url: str):
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)


def test_a_clip_of_a_followers_only_broadcast_is_for_followers_only(
    client, api, go_live, record_segments, carol, django_capture_on_commit_callbacks
):
    stream = go_live(visibility="followers")
    record_segments(stream)
    Follow.objects.create(follower=carol, followee=stream.owner)
    clip = cut(stream, carol, django_capture_on_commit_callbacks)
    assert clip.visibility == "followers"
    assert clip.mp4_path.startswith(f"private/clips/{clip.pk}-")
    assert clip.thumbnail_path.startswith("private/clips/")

    # A stranger: no page, no API answer, no file by name (nor under the public clips/).
    stranger = UserFactory(username="dave")
    for who in (None, stranger):
        if who is not None:
            client.force_login(who)
            api.force_authenticate(who)
        assert client.get(f"/clips/{clip.pk}/").status_code == 404
        assert api.get(f"/api/v1/clips/{clip.pk}/").status_code == 404
        assert api.get(f"/api/v1/users/{stream.owner.username}/clips/").json() == []
    client.logout()
    for name in (clip.mp4_path, clip.thumbnail_path, clip.mp4_path.removeprefix("private/")):
        assert client.get(f"/media/{name}").status_code == 404, name
    page = f"http://testserver/clips/{clip.pk}/"
    answer = client.get(f"/oembed?{urlencode({'url': page})}")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"

    # A follower: the page and the API hand out signed URLs that work, and lapse.
    client.force_login(carol)
    api.force_authenticate(carol)
    assert client.get(f"/clips/{clip.pk}/").status_code == 200
    data = api.get(f"/api/v1/clips/{clip.pk}/").json()
    assert data["visibility"] == "followers"
    assert "&s=" in data["mp4_url"] and "&s=" in data["thumbnail_url"]
    served = get(client, data["mp4_url"])
    assert served.status_code == 200 and b"ftyp" in b"".join(served.streaming_content)[:64]
    assert [c["id"] for c in api.get(f"/api/v1/users/{stream.owner.username}/clips/").json()] == [clip.pk]

    # Widened later, the broadcast is public; the clip stays as it was cut.
    stream_services.stream_update(stream=stream, visibility="public")
    api.force_authenticate(stranger)
    assert api.get(f"/api/v1/clips/{clip.pk}/").status_code == 404


def test_a_clip_of_a_public_broadcast_is_unchanged(
    client, api, go_live, record_segments, carol, django_capture_on_commit_callbacks
):
    stream = go_live()
    record_segments(stream)
    clip = cut(stream, carol, django_capture_on_commit_callbacks)
    assert clip.visibility == "public" and clip.mp4_path.startswith(f"clips/{clip.pk}-")
    data = api.get(f"/api/v1/clips/{clip.pk}/").json()
    assert "?" not in data["mp4_url"] and urlsplit(data["mp4_url"]).path == f"/media/{clip.mp4_path}"
    assert client.get(f"/media/{clip.mp4_path}").status_code == 200
    assert client.get(f"/clips/{clip.pk}/").status_code == 200
