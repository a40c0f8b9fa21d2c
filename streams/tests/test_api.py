import pytest

from accounts.models import Follow
from socialflow.tests.helpers import assert_error
from streams import services
from streams.tests.factories import CategoryFactory


@pytest.mark.django_db
def test_channel_shows_obs_settings_to_its_owner(api_as, channel, settings):
    body = api_as(channel.user).get("/api/v1/channel/").json()
    assert body["server_url"] == settings.RTMP_PUBLIC_URL
    assert body["stream_key"] == channel.stream_key


@pytest.mark.django_db
def test_channel_requires_auth(api):
    assert_error(api.get("/api/v1/channel/"), 401, "not_authenticated")


@pytest.mark.django_db
def test_rotate_key_returns_the_new_key(api_as, channel):
    old = channel.stream_key
    body = api_as(channel.user).post("/api/v1/channel/rotate-key/").json()
    channel.refresh_from_db()
    assert body["stream_key"] == channel.stream_key != old


@pytest.mark.django_db
def test_create_stream_returns_ingest_to_the_owner(api_as, streamer):
    CategoryFactory(slug="games", name="Games")
    response = api_as(streamer).post(
        "/api/v1/streams/",
        {"title": "Speedrun", "category": "games", "tags": ["any%"], "visibility": "public"},
        format="json",
    )
    assert response.status_code == 400  # '%' is not a tag character
    response = api_as(streamer).post(
        "/api/v1/streams/",
        {"title": "Speedrun", "category": "games", "tags": ["any"], "record": False},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "idle" and body["category"] == {"slug": "games", "name": "Games"}
    assert body["ingest"]["stream_key"] == streamer.channel.stream_key
    assert body["record"] is False and len(body["id"]) == 12


@pytest.mark.django_db
def test_create_stream_below_threshold_is_403_not_eligible(api_as, alice):
    body = assert_error(
        api_as(alice).post("/api/v1/streams/", {"title": "x"}, format="json"), 403, "not_eligible"
    )
    assert body["detail"] == "You need 2 followers to go live; you have 0."


@pytest.mark.django_db
def test_create_stream_with_unknown_category_is_404(api_as, streamer):
    # Well formed, naming nothing: 404 as a path naming nothing is (the schema cannot list slugs).
    assert_error(
        api_as(streamer).post("/api/v1/streams/", {"category": "nope"}, format="json"), 404, "does_not_exist"
    )
    assert_error(api_as(streamer).post("/api/v1/streams/", {"category": 5}, format="json"), 400, "invalid")


@pytest.mark.django_db
def test_stream_detail_hides_the_key_from_others(api_as, api, channel, carol, go_live):
    stream = go_live()
    for client in (api, api_as(carol)):
        response = client.get(f"/api/v1/streams/{stream.pk}/")
        assert response.status_code == 200
        assert "ingest" not in response.json()
        assert channel.key_secret not in response.content.decode()
    body = api.get(f"/api/v1/streams/{stream.pk}/").json()
    assert body["status"] == "live" and body["owner"]["username"] == "alice"
    assert body["ws_url"] == f"ws://testserver/ws/streams/{stream.pk}/"


@pytest.mark.django_db
def test_followers_only_stream_is_404_for_strangers(api_as, api, streamer, carol):
    stream = services.stream_create(owner=streamer, visibility="followers")
    assert_error(api.get(f"/api/v1/streams/{stream.pk}/"), 404, "not_found")
    assert_error(api_as(carol).get(f"/api/v1/streams/{stream.pk}/"), 404, "not_found")
    Follow.objects.create(follower=carol, followee=streamer)
    assert api_as(carol).get(f"/api/v1/streams/{stream.pk}/").status_code == 200


@pytest.mark.django_db
def test_bad_stream_ids_are_json_404(api):
    assert_error(api.get("/api/v1/streams/%00/"), 404, "not_found")
    assert_error(api.get("/api/v1/streams/abcdefghijkl/"), 404, "not_found")


@pytest.mark.django_db
def test_patch_and_delete_are_for_the_owner(api_as, streamer, carol):
    stream = services.stream_create(owner=streamer, title="Draft")
    assert_error(
        api_as(carol).patch(f"/api/v1/streams/{stream.pk}/", {"title": "x"}, format="json"),
        403,
        "permission_denied",
    )
    body = api_as(streamer).patch(f"/api/v1/streams/{stream.pk}/", {"title": "Final"}, format="json").json()
    assert body["title"] == "Final"
    assert api_as(streamer).delete(f"/api/v1/streams/{stream.pk}/").status_code == 204
    stream.refresh_from_db()
    assert stream.end_reason == "cancelled"


@pytest.mark.django_db
def test_deleting_a_live_stream_is_409(api_as, channel, go_live):
    stream = go_live()
    assert_error(api_as(channel.user).delete(f"/api/v1/streams/{stream.pk}/"), 409, "stream_live")


@pytest.mark.django_db
def test_start_rechecks_eligibility(api_as, streamer):
    stream = services.stream_create(owner=streamer, title="Soon")
    body = api_as(streamer).post(f"/api/v1/streams/{stream.pk}/start/").json()
    assert body["ingest"]["stream_key"] == streamer.channel.stream_key
    Follow.objects.filter(followee=streamer).delete()
    assert_error(api_as(streamer).post(f"/api/v1/streams/{stream.pk}/start/"), 403, "not_eligible")


@pytest.mark.django_db
def test_end_by_owner_moderator_and_not_strangers(api_as, bob, carol, go_live):
    stream = go_live()
    assert_error(api_as(carol).post(f"/api/v1/streams/{stream.pk}/end/"), 403, "permission_denied")
    body = api_as(bob).post(f"/api/v1/streams/{stream.pk}/end/").json()
    assert body["status"] == "ended" and body["end_reason"] == "moderator_ended"
    assert "ingest" not in body


@pytest.mark.django_db
def test_live_list_is_public_listed_and_sorted(api, go_live, django_assert_num_queries):
    first = go_live(viewer_count=5)
    other_stream = go_live("dora", client_id="2", viewer_count=50)
    go_live("erin", client_id="3", visibility="unlisted")

    with django_assert_num_queries(2):
        body = api.get("/api/v1/streams/live/").json()
    assert [row["id"] for row in body["results"]] == [other_stream.pk, first.pk]
    assert api.get("/api/v1/streams/live/?q=dora").json()["count"] == 1


@pytest.mark.django_db
def test_events_for_owner_and_moderators_only(api_as, bob, carol, go_live):
    stream = go_live()
    assert_error(api_as(carol).get(f"/api/v1/streams/{stream.pk}/events/"), 403, "permission_denied")
    types = [e["type"] for e in api_as(bob).get(f"/api/v1/streams/{stream.pk}/events/").json()["results"]]
    assert types == ["went_live"]


@pytest.mark.django_db
def test_profile_api_says_who_is_live(api, channel, go_live):
    assert api.get("/api/v1/users/alice/").json()["is_live"] is False
    go_live()
    assert api.get("/api/v1/users/alice/").json()["is_live"] is True


@pytest.mark.django_db
def test_an_owner_lists_their_own_broadcasts_of_every_status(api_as, streamer, carol, go_live):
    # Issue 14: a mobile app shows the streamer's broadcasts (it was a 405).
    api = api_as(streamer)
    live = go_live()
    prepared = api.post("/api/v1/streams/", {"title": "Later"}, format="json").json()
    listed = api.get("/api/v1/streams/", {"mine": "1"})
    assert listed.status_code == 200, listed.content
    body = listed.json()
    assert {s["id"] for s in body["results"]} == {prepared["id"], live.pk} and body["count"] == 2
    assert all("ingest" in s for s in body["results"])  # the owner's view, with the OBS settings
    only_live = api.get("/api/v1/streams/", {"mine": "1", "status": "live"}).json()
    assert [s["id"] for s in only_live["results"]] == [live.pk]
    assert api_as(carol).get("/api/v1/streams/", {"mine": "1"}).json()["count"] == 0  # hers: none
    assert_error(api.get("/api/v1/streams/", {"status": "nonsense"}), 400, "invalid_choice")
    from rest_framework.test import APIClient

    assert_error(APIClient().get("/api/v1/streams/", {"mine": "1"}), 401, "not_authenticated")
