"""Clearing the chat: over the socket and REST, for moderators only, with an audit trail."""

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.errors import ChatError
from chat.models import ChatMessage, ModerationAction
from chat.moderation import chat_clear
from chat.selectors import messages_after
from chat.tests.helpers import connected, next_frame, socket
from socialflow.tests.helpers import assert_error


@pytest.mark.django_db
def test_clear_hides_every_message_in_one_update(live_stream, alice, carol):
    already = ChatMessage.objects.create(stream=live_stream, user=carol, content="gone before")
    already_deleted_at = already.deleted_at = already.created_at
    already.save(update_fields=["deleted_at"])
    for i in range(5):
        ChatMessage.objects.create(stream=live_stream, user=carol, content=f"m{i}")
    with CaptureQueriesContext(connection) as queries:
        assert chat_clear(stream=live_stream, by=alice) == 5
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "chat_chatmessage"')]
    assert len(updates) == 1
    assert not ChatMessage.objects.filter(deleted_at__isnull=True).exists()
    already.refresh_from_db()
    assert already.deleted_at == already_deleted_at  # not touched again
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor, action.stream, action.details["count"]) == (
        "clear",
        alice,
        live_stream,
        5,
    )
    later = ChatMessage.objects.create(stream=live_stream, user=carol, content="after the clear")
    assert list(messages_after(stream=live_stream)) == [later]
    assert list(messages_after(stream=live_stream, after=0)) == [later]


@pytest.mark.django_db
def test_viewers_cannot_clear(live_stream, carol):
    ChatMessage.objects.create(stream=live_stream, user=carol, content="mine")
    with pytest.raises(ChatError) as exc:
        chat_clear(stream=live_stream, by=carol)
    assert (exc.value.code, exc.value.status_code) == ("permission_denied", 403)
    assert ChatMessage.objects.get().deleted_at is None
    assert not ModerationAction.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_moderator_clears_the_chat_over_the_socket(live_stream, bob, carol):
    first = ChatMessage.objects.create(stream=live_stream, user=carol, content="one")
    last = ChatMessage.objects.create(stream=live_stream, user=carol, content="two")

    async def scenario():
        mod, viewer = socket(live_stream, bob), socket(live_stream, carol)
        await connected(mod)
        history = await connected(viewer)
        await viewer.send_json_to({"type": "chat.clear"})
        refused = await next_frame(viewer)
        await mod.send_json_to({"type": "chat.clear"})
        cleared = await next_frame(viewer)
        await mod.disconnect()
        await viewer.disconnect()
        late = socket(live_stream, carol)
        history_after = await connected(late)
        await late.disconnect()
        return history, refused, cleared, history_after

    history, refused, cleared, history_after = async_to_sync(scenario)()
    assert [m["id"] for m in history["messages"]] == [first.pk, last.pk]
    assert refused["type"] == "error" and refused["code"] == "permission_denied"
    assert cleared == {"type": "chat.cleared", "up_to": last.pk}
    assert history_after["messages"] == []
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor.username) == ("clear", "bob")


@pytest.mark.django_db
def test_clear_over_rest(api_as, api, live_stream, alice, carol):
    message = ChatMessage.objects.create(stream=live_stream, user=carol, content="hello")
    url = f"/api/v1/streams/{live_stream.pk}/chat/clear/"
    assert_error(api.post(url), 401, "not_authenticated")
    assert_error(api_as(carol).post(url), 403, "permission_denied")
    message.refresh_from_db()
    assert message.deleted_at is None
    response = api_as(alice).post(url)
    assert response.status_code == 200 and response.json() == {"cleared": 1}
    assert api.get(f"/api/v1/streams/{live_stream.pk}/chat/").json() == []
    assert api.get(f"/api/v1/streams/{live_stream.pk}/chat/?after=0").json() == []
    assert_error(api_as(alice).post("/api/v1/streams/nosuchstream/chat/clear/"), 404, "not_found")


@pytest.mark.django_db
def test_the_admin_shows_the_clear(client, live_stream, alice, bob):
    chat_clear(stream=live_stream, by=alice)
    client.force_login(bob)
    page = client.get("/admin/chat/moderationaction/?kind=clear").content.decode()
    assert "Cleared the chat" in page and "alice" in page
