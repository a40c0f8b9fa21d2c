"""chat.services.message_send, the hottest write: its query count, and timeouts that lapse."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Follow
from chat.errors import ChatError
from chat.models import ChatMessage
from chat.moderation import chat_settings_update, user_timeout
from chat.services import message_send


@pytest.mark.django_db
def test_a_plain_message_costs_seven_queries(live_stream, carol, django_assert_num_queries):
    for i in range(5):
        ChatMessage.objects.create(stream=live_stream, user=carol, content=f"m{i}")
    # the ban, the chat settings (none: no rules to check); then SAVEPOINT, the stream row
    # locked, the previous id, the insert, RELEASE (the savepoint is the test's transaction;
    # in production it is BEGIN ... COMMIT)
    with django_assert_num_queries(7):
        message_send(stream=live_stream, user=carol, content="hello")


@pytest.mark.django_db
def test_a_message_under_chat_rules_costs_nine_queries(live_stream, alice, carol, django_assert_num_queries):
    chat_settings_update(
        stream=live_stream, by=alice, slow_mode_seconds=30, followers_only=True, blocked_terms="spoiler"
    )
    Follow.objects.create(follower=carol, followee=alice)
    # as above, plus: is the sender a channel moderator (exempt), and the follow
    with django_assert_num_queries(9):
        message_send(stream=live_stream, user=carol, content="hello")


@pytest.mark.django_db
def test_a_timeout_lapses_when_its_time_is_up(live_stream, alice, carol):
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        user_timeout(stream=live_stream, by=alice, username="carol", seconds=60)
        traveller.shift(timedelta(seconds=59))
        with pytest.raises(ChatError) as exc:
            message_send(stream=live_stream, user=carol, content="still muted?")
        assert exc.value.code == "timed_out" and "for 2 more seconds" in exc.value.message
        traveller.shift(timedelta(seconds=2))
        message_send(stream=live_stream, user=carol, content="back")
    assert list(ChatMessage.objects.values_list("content", flat=True)) == ["back"]
