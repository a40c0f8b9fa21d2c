import pytest

from chat.models import ChatMessage
from socialflow.tests.helpers import assert_error
from streams import services


@pytest.mark.django_db
def test_backfill_by_id_loses_nothing(api, live_stream, carol, django_assert_num_queries):
    ids = [ChatMessage.objects.create(stream=live_stream, user=carol, content=f"m{i}").pk for i in range(120)]
    with django_assert_num_queries(2):  # the stream, the messages with their authors
        first = api.get(f"/api/v1/streams/{live_stream.pk}/chat/?after={ids[9]}").json()
    assert [m["id"] for m in first] == ids[10:110]  # 100 at a time, oldest first
    rest = api.get(f"/api/v1/streams/{live_stream.pk}/chat/?after={first[-1]['id']}").json()
    assert [m["id"] for m in rest] == ids[110:]


@pytest.mark.django_db
def test_post_over_rest(api_as, api, live_stream, carol):
    response = api_as(carol).post(
        f"/api/v1/streams/{live_stream.pk}/chat/", {"content": " hi "}, format="json"
    )
    assert response.status_code == 201 and response.json()["content"] == "hi"
    assert_error(
        api_as(carol).post(f"/api/v1/streams/{live_stream.pk}/chat/", {"content": "x" * 501}, format="json"),
        400,
        "too_long",  # the same code as the socket's chat.send (one schema for both)
    )


@pytest.mark.django_db
def test_anonymous_cannot_post_and_bad_after_is_400(live_stream, client):
    from rest_framework.test import APIClient

    api = APIClient()
    assert_error(
        api.post(f"/api/v1/streams/{live_stream.pk}/chat/", {"content": "hi"}, format="json"),
        401,
        "not_authenticated",
    )
    assert_error(api.get(f"/api/v1/streams/{live_stream.pk}/chat/?after=x"), 400, "invalid")


@pytest.mark.django_db
def test_chat_of_an_ended_broadcast_is_closed(api_as, live_stream, carol, channel):
    services.broadcast_unpublish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1")
    assert_error(
        api_as(carol).post(f"/api/v1/streams/{live_stream.pk}/chat/", {"content": "hi"}, format="json"),
        409,
        "chat_closed",
    )


@pytest.mark.django_db
def test_delete_and_pin_over_rest(api_as, live_stream, alice, carol, bob):
    message = ChatMessage.objects.create(stream=live_stream, user=carol, content="hello")
    other = ChatMessage.objects.create(stream=live_stream, user=bob, content="mine")
    assert_error(
        api_as(carol).post(f"/api/v1/streams/{live_stream.pk}/chat/{other.pk}/pin/"), 403, "permission_denied"
    )
    assert (
        api_as(alice).post(f"/api/v1/streams/{live_stream.pk}/chat/{message.pk}/pin/").json()["id"]
        == message.pk
    )
    # authors delete their own; strangers cannot delete others'
    assert_error(
        api_as(carol).delete(f"/api/v1/streams/{live_stream.pk}/chat/{other.pk}/"), 403, "permission_denied"
    )
    assert api_as(carol).delete(f"/api/v1/streams/{live_stream.pk}/chat/{message.pk}/").status_code == 204
    assert_error(api_as(alice).delete(f"/api/v1/streams/{live_stream.pk}/chat/999999/"), 404, "not_found")


@pytest.mark.django_db
def test_moderators_see_actions_in_the_admin(client, bob, live_stream, carol):
    from chat.moderation import user_timeout

    user_timeout(stream=live_stream, by=live_stream.owner, username="carol", seconds=60)
    ChatMessage.objects.create(stream=live_stream, user=carol, content="<b>bold</b>")
    client.force_login(bob)
    page = client.get("/admin/chat/moderationaction/").content.decode()
    assert "Timed a user out" in page
    messages_page = client.get("/admin/chat/chatmessage/").content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in messages_page
