import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import Follow
from socialflow.tests.helpers import assert_error


@pytest.mark.django_db
def test_profile_shape(api_as, alice, carol, followers_of):
    followers_of(alice, 3)
    Follow.objects.create(follower=carol, followee=alice)
    body = api_as(carol).get("/api/v1/users/alice/").json()
    assert body == {
        "username": "alice",
        "display_name": "Alice Streams",
        "avatar_url": "",
        "bio": "",
        "follower_count": 4,
        "following_count": 0,
        "is_following": True,
        "is_live": False,
    }


@pytest.mark.django_db
def test_profile_is_public_and_never_shows_email(api, alice):
    response = api.get("/api/v1/users/ALICE/")
    assert response.status_code == 200
    assert "email" not in response.json() and alice.email not in response.content.decode()


@pytest.mark.django_db
def test_unknown_user_is_json_404(api_as, carol):
    assert_error(api_as(carol).get("/api/v1/users/nobody/"), 404, "not_found")
    assert_error(api_as(carol).post("/api/v1/users/nobody/follow/"), 404, "not_found")


@pytest.mark.django_db
def test_follow_is_idempotent_both_ways(api_as, alice, carol):
    client = api_as(carol)
    first = client.post("/api/v1/users/alice/follow/")
    second = client.post("/api/v1/users/alice/follow/")
    assert first.status_code == second.status_code == 201
    assert second.json() == {"following": True, "follower_count": 1}
    assert Follow.objects.filter(follower=carol, followee=alice).count() == 1

    assert client.delete("/api/v1/users/alice/follow/").status_code == 204
    assert client.delete("/api/v1/users/alice/follow/").status_code == 204
    assert not Follow.objects.exists()


@pytest.mark.django_db
def test_self_follow_is_a_403(api_as, alice):
    body = assert_error(api_as(alice).post("/api/v1/users/alice/follow/"), 403, "self_follow")
    assert body["detail"] == "You can't follow yourself."


@pytest.mark.django_db
def test_follow_requires_auth(api, alice):
    assert_error(api.post("/api/v1/users/alice/follow/"), 401, "not_authenticated")


@pytest.mark.django_db
def test_followers_list_is_paginated_without_n_plus_1(api, alice, followers_of, django_assert_num_queries):
    followers_of(alice, 30)
    # user lookup + count + page, whatever the page size
    with django_assert_num_queries(3):
        response = api.get("/api/v1/users/alice/followers/?page_size=25")
    body = response.json()
    assert body["count"] == 30 and len(body["results"]) == 25 and body["next"]
    assert set(body["results"][0]) == {"username", "display_name", "avatar_url", "followed_at"}
    with django_assert_num_queries(3):
        api.get("/api/v1/users/alice/followers/?page=2&page_size=25")


@pytest.mark.django_db
def test_following_list(api, alice, carol, django_assert_num_queries):
    Follow.objects.create(follower=alice, followee=carol)
    with django_assert_num_queries(3):
        body = api.get("/api/v1/users/alice/following/").json()
    assert [row["username"] for row in body["results"]] == ["carol"]


@pytest.mark.django_db
def test_page_out_of_range_is_404_json(api, alice):
    assert_error(api.get("/api/v1/users/alice/followers/?page=9"), 404, "not_found")


@pytest.mark.django_db
def test_update_me(api_as, alice):
    client = api_as(alice)
    response = client.patch("/api/v1/me/", {"display_name": "  Alice Live ", "bio": "Hello"}, format="json")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice Live"
    alice.refresh_from_db()
    assert alice.bio == "Hello"


@pytest.mark.django_db
def test_over_long_bio_is_refused_and_nothing_is_saved(api_as, alice):
    body = assert_error(
        api_as(alice).patch("/api/v1/me/", {"bio": "x" * 501}, format="json"), 400, "max_length"
    )
    assert body["detail"] == "bio: Ensure this field has no more than 500 characters."
    alice.refresh_from_db()
    assert alice.bio == ""


def _png(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "purple").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.django_db
def test_avatar_upload_goes_through_storage(api_as, alice, settings):
    client = api_as(alice)
    upload = SimpleUploadedFile("me.png", _png(), content_type="image/png")
    body = client.put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart").json()
    assert body["avatar_url"].startswith("http://testserver/media/avatars/")
    alice.refresh_from_db()
    assert (settings.MEDIA_ROOT / alice.avatar.name).is_file()


@pytest.mark.django_db
def test_avatar_that_is_not_an_image_is_refused(api_as, alice):
    upload = SimpleUploadedFile("me.png", b"not an image", content_type="image/png")
    assert_error(
        api_as(alice).put("/api/v1/me/avatar/", {"avatar": upload}, format="multipart"), 400, "invalid_image"
    )


@pytest.mark.django_db
def test_eligibility_api(api_as, alice, followers_of, api):
    assert_error(api.get("/api/v1/streams/eligibility/"), 401, "not_authenticated")
    followers_of(alice, 45)
    body = api_as(alice).get("/api/v1/streams/eligibility/").json()
    assert body == {
        "eligible": False,
        "follower_count": 45,
        "required": 50,
        "reason": "You need 50 followers to go live; you have 45.",
        "code": "not_enough_followers",
        "exempt": False,
    }
