"""Moderation over the socket: delete, pin, timeouts and bans, with an audit trail."""

import pytest
from asgiref.sync import async_to_sync

from accounts.tests.factories import UserFactory
from chat import moderation
from chat.errors import ChatError
from chat.models import ChannelModerator, ChatMessage, ModerationAction
from chat.selectors import messages_after
from chat.tests.helpers import connected, next_frame, socket

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_deleted_message_disappears_for_everyone(live_stream, alice, carol):
    message = ChatMessage.objects.create(stream=live_stream, user=carol, content="rude")

    async def scenario():
        mod, viewer = socket(live_stream, alice), socket(live_stream, carol)
        await connected(mod)
        await connected(viewer)
        await mod.send_json_to({"type": "chat.delete", "id": message.pk})
        seen = await next_frame(viewer)
        await mod.disconnect()
        await viewer.disconnect()
        return seen

    assert async_to_sync(scenario)() == {"type": "chat.deleted", "id": message.pk}
    message.refresh_from_db()
    assert message.deleted_at is not None
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor.username, action.target_user.username) == ("delete", "alice", "carol")
    assert list(messages_after(stream=live_stream)) == []  # gone from history too


def test_strangers_cannot_moderate(live_stream, carol, bob):
    message = ChatMessage.objects.create(stream=live_stream, user=bob, content="hi")

    async def scenario():
        s = socket(live_stream, carol)
        await connected(s)
        await s.send_json_to({"type": "chat.delete", "id": message.pk})
        error = await next_frame(s)
        await s.send_json_to({"type": "chat.timeout", "username": "bob", "seconds": 60})
        error2 = await next_frame(s)
        await s.disconnect()
        return error, error2

    error, error2 = async_to_sync(scenario)()
    assert error["code"] == error2["code"] == "permission_denied"
    assert ChatMessage.objects.get().deleted_at is None


def test_timed_out_and_banned_users_are_refused(live_stream, alice, carol):
    async def scenario():
        mod, viewer = socket(live_stream, alice), socket(live_stream, carol)
        await connected(mod)
        await connected(viewer)
        await mod.send_json_to({"type": "chat.timeout", "username": "carol", "seconds": 120})
        await mod.send_json_to({"type": "heartbeat"})
        await next_frame(mod)  # the timeout is stored once the next frame is answered
        await viewer.send_json_to({"type": "chat.send", "content": "am I muted?"})
        timed_out = await next_frame(viewer)
        await mod.send_json_to({"type": "chat.ban", "username": "carol"})
        await mod.send_json_to({"type": "heartbeat"})
        await next_frame(mod)
        await viewer.send_json_to({"type": "chat.send", "content": "and now?"})
        banned = await next_frame(viewer)
        await mod.disconnect()
        await viewer.disconnect()
        return timed_out, banned

    timed_out, banned = async_to_sync(scenario)()
    assert timed_out["code"] == "timed_out" and "more seconds" in timed_out["detail"]
    assert banned["code"] == "banned"
    assert not ChatMessage.objects.exists()
    assert list(ModerationAction.objects.order_by("id").values_list("kind", flat=True)) == ["timeout", "ban"]


def test_a_channel_moderator_pins_a_message(live_stream, carol, bob):
    ChannelModerator.objects.create(channel=live_stream.channel, user=bob)
    message = ChatMessage.objects.create(stream=live_stream, user=carol, content="read the rules")

    async def scenario():
        mod = socket(live_stream, bob)
        await connected(mod)
        await mod.send_json_to({"type": "chat.pin", "id": message.pk})
        pinned = await next_frame(mod)
        await mod.send_json_to({"type": "chat.pin", "id": "nope"})
        bad = await next_frame(mod)
        await mod.disconnect()
        latecomer = socket(live_stream)
        history = await connected(latecomer)  # a page opened later shows the pin too
        await latecomer.disconnect()
        return pinned, bad, history

    pinned, bad, history = async_to_sync(scenario)()
    assert pinned["type"] == "chat.pinned" and pinned["message"]["content"] == "read the rules"
    assert bad["code"] == "invalid"
    assert history["pinned"]["id"] == message.pk


def test_timeout_input_is_checked(live_stream, alice, carol):
    """Bad input is refused by the command's schema on the socket, bad targets by the service."""

    async def scenario():
        streamer = socket(live_stream, alice)
        await connected(streamer)
        answers = []
        for username, seconds in [
            ("nobody", 60),
            ("carol", -5),
            ("carol", "x"),
            ("carol", True),
            ("alice", 60),
        ]:
            await streamer.send_json_to({"type": "chat.timeout", "username": username, "seconds": seconds})
            answers.append(await next_frame(streamer))
        await streamer.send_json_to({"type": "chat.ban", "username": 42})
        answers.append(await next_frame(streamer))
        await streamer.disconnect()
        return answers

    answers = async_to_sync(scenario)()
    assert [a["code"] for a in answers] == [
        "not_found",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
        "invalid",
    ]
    assert answers[1]["detail"] == "seconds: Between 1 second and 14 days."


def test_moderators_cannot_silence_each_other_or_site_staff(live_stream, alice, carol, bob):
    """S-18: a channel moderator's timeout or ban of a fellow moderator or of site staff is
    refused; the streamer may."""
    dave = UserFactory(username="dave")
    for user in (carol, dave):
        ChannelModerator.objects.create(channel=live_stream.channel, user=user)
    bob.is_staff = True
    bob.save()
    for target in ("dave", "bob"):
        with pytest.raises(ChatError) as refused:
            moderation.user_timeout(stream=live_stream, by=carol, username=target, seconds=600)
        assert refused.value.code == "permission_denied"
    assert not ModerationAction.objects.exists()
    moderation.user_timeout(stream=live_stream, by=alice, username="dave", seconds=600)  # the streamer
    assert ModerationAction.objects.get().target_user == dave
