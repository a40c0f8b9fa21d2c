"""Slow mode, followers-only chat and the word filter (the channel's chat settings)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from accounts.models import Follow
from chat.errors import ChatError
from chat.models import ChatMessage
from chat.moderation import chat_settings_update
from chat.schemas import ChatSettingsInput
from chat.services import message_send
from socialflow.lib.api import validation_error_body


def send(stream, user, content="hello"):
    return message_send(stream=stream, user=user, content=content)


def refused(stream, user, content="hello"):
    with pytest.raises(ChatError) as exc:
        send(stream, user, content)
    return exc.value.code


@pytest.mark.django_db
def test_slow_mode(live_stream, alice, carol):
    chat_settings_update(stream=live_stream, by=alice, slow_mode_seconds=30)
    send(live_stream, carol)
    assert refused(live_stream, carol) == "slow_mode"
    send(live_stream, alice)
    send(live_stream, alice)  # the streamer is exempt


@pytest.mark.django_db
def test_followers_only_with_a_minimum_follow_age(live_stream, alice, carol):
    chat_settings_update(stream=live_stream, by=alice, followers_only=True, follow_min_minutes=10)
    assert refused(live_stream, carol) == "followers_only"
    follow = Follow.objects.create(follower=carol, followee=alice)
    assert refused(live_stream, carol) == "followers_only"  # followed a moment ago
    Follow.objects.filter(pk=follow.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    send(live_stream, carol)
    assert ChatMessage.objects.filter(user=carol).count() == 1


@pytest.mark.django_db
def test_blocked_terms(live_stream, alice, carol):
    chat_settings_update(stream=live_stream, by=alice, blocked_terms="spoiler\nbuy followers\n")
    assert refused(live_stream, carol, "Want to BUY FOLLOWERS cheap?") == "blocked_term"
    assert refused(live_stream, carol, "Spoiler: he dies") == "blocked_term"
    send(live_stream, carol, "no spoilers here")  # whole words only


@pytest.mark.django_db
def test_only_moderators_change_the_rules_and_bad_values_are_refused(live_stream, alice, carol):
    with pytest.raises(ChatError) as exc:
        chat_settings_update(stream=live_stream, by=carol, slow_mode_seconds=5)
    assert exc.value.code == "permission_denied"
    for bad in (
        {"slow_mode_seconds": -1},
        {"slow_mode_seconds": "5"},
        {"slow_mode_seconds": 3601},
        {"follow_min_minutes": 1.5},
        {"followers_only": "yes"},
        {"emote_only": 1},
        {"blocked_terms": ["a"]},
        {"blocked_terms": "x" * 5001},
        {"colour": 1},
    ):
        schema = ChatSettingsInput(data={"type": "chat.settings", **bad})
        assert not schema.is_valid(), bad
        body = validation_error_body(ValidationError(schema.errors))
        assert body["code"] == "invalid" and body["detail"].startswith(f"{next(iter(bad))}: "), body
    good = ChatSettingsInput(data={"type": "chat.settings", "slow_mode_seconds": 0, "emote_only": True})
    assert good.is_valid() and good.validated_data == {"slow_mode_seconds": 0, "emote_only": True}


@pytest.mark.django_db(transaction=True)
def test_mode_changes_reach_the_sockets(live_stream, alice):
    from asgiref.sync import async_to_sync

    from chat.tests.helpers import connected, next_frame, socket

    async def scenario():
        mod = socket(live_stream, alice)
        await connected(mod)
        await mod.send_json_to({"type": "chat.settings", "slow_mode_seconds": 10, "followers_only": True})
        frame = await next_frame(mod)
        await mod.disconnect()
        return frame

    assert async_to_sync(scenario)() == {
        "type": "chat.mode",
        "slow_mode_seconds": 10,
        "followers_only": True,
        "follow_min_minutes": 0,
        "emote_only": False,
    }


@pytest.mark.django_db
def test_emote_only(live_stream, alice, carol, settings):
    settings.CHAT_RATE_MESSAGES = 100
    chat_settings_update(stream=live_stream, by=alice, emote_only=True)
    for ok in ["🔥", "👍🏽 👏", "❤️", "👨‍👩‍👧", "🇫🇷"]:
        send(live_stream, carol, ok)
    for text in ["hi 🔥", "1", ":)", "<b>🔥</b>"]:
        assert refused(live_stream, carol, text) == "emote_only"
    send(live_stream, alice, "the streamer may still type")
