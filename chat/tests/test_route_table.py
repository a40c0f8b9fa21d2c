"""Cross-user tests for the routes the security review's route table marked "no": a user who
may not act on a broadcast (a stranger, a non-follower, a moderator of another channel) is
refused, with the same answer as for a broadcast that does not exist (404) where the
broadcast itself is not theirs to see."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync

from accounts.tests.factories import UserFactory
from chat.models import ChannelModerator, ChatMessage
from chat.services import message_send
from chat.tests.helpers import connected, next_frame, socket
from socialflow.tests.helpers import assert_error


@pytest.fixture
def followers_only(go_live):
    return go_live(visibility="followers")


@pytest.mark.django_db
def test_the_rest_chat_of_a_followers_only_broadcast_is_not_a_strangers(api_as, followers_only, carol):
    url = f"/api/v1/streams/{followers_only.pk}/chat/"
    assert_error(api_as(carol).get(url), 404, "not_found")
    assert_error(api_as(carol).post(url, {"content": "hi"}, format="json"), 404, "not_found")
    assert not ChatMessage.objects.exists()


@pytest.mark.django_db
def test_reactions_and_viewers_of_a_followers_only_broadcast_are_not_a_strangers(
    api_as, api, followers_only, carol
):
    url = f"/api/v1/streams/{followers_only.pk}"
    assert_error(api_as(carol).post(f"{url}/reactions/", {"type": "fire"}, format="json"), 404, "not_found")
    assert_error(api_as(carol).get(f"{url}/viewers/"), 404, "not_found")
    assert_error(api.get(f"{url}/viewers/"), 404, "not_found")


@pytest.mark.django_db
def test_a_message_is_deleted_only_through_its_own_broadcast(api_as, go_live, carol):
    mine = go_live()  # alice's
    other = go_live("dora")
    message = message_send(stream=other, user=carol, content="on dora's broadcast")
    # alice moderates her own broadcast, not dora's: the id through her URL is not found
    url = f"/api/v1/streams/{mine.pk}/chat/{message.pk}/"
    assert_error(api_as(mine.owner).delete(url), 404, "not_found")
    assert_error(api_as(mine.owner).post(f"{url}pin/"), 404, "not_found")
    assert not ChatMessage.objects.get(pk=message.pk).deleted_at


@pytest.mark.django_db
def test_only_the_owner_starts_a_prepared_broadcast(api_as, streamer, carol):
    created = api_as(streamer).post("/api/v1/streams/", {"title": "Later"}, format="json")
    assert created.status_code == 201, created.content
    url = f"/api/v1/streams/{created.json()['id']}/start/"
    assert_error(api_as(carol).post(url), 403, "permission_denied")  # it is public: seen, not hers


@pytest.mark.django_db(transaction=True)
def test_a_moderator_of_one_channel_cannot_moderate_another(go_live, carol):
    mine = go_live()  # alice's; erin moderates it (and is no site moderator)
    other = go_live("dora")
    erin = UserFactory(username="erin")
    ChannelModerator.objects.create(channel=mine.channel, user=erin)
    message = message_send(stream=other, user=carol, content="hello")

    async def scenario():
        s = socket(other, erin)
        await connected(s)
        await s.send_json_to({"type": "chat.delete", "id": message.pk})
        deleted = await next_frame(s)
        await s.send_json_to({"type": "chat.timeout", "username": "carol", "seconds": 60})
        timeout = await next_frame(s)
        await s.disconnect()
        return deleted, timeout

    deleted, timeout = async_to_sync(scenario)()
    assert deleted["type"] == "error" and deleted["code"] == "permission_denied", deleted
    assert timeout["type"] == "error" and timeout["code"] == "permission_denied", timeout
    assert not ChatMessage.objects.get(pk=message.pk).deleted_at


@pytest.mark.django_db
def test_a_channel_moderator_ends_its_broadcasts_and_reads_their_events_and_no_others(api_as, go_live, carol):
    # Issue 14 (API.md): a channel's moderators, not site staff, manage its broadcasts.
    mine = go_live()  # alice's; erin moderates her channel
    other = go_live("dora", client_id="2")
    erin = UserFactory(username="erin")
    ChannelModerator.objects.create(channel=mine.channel, user=erin)
    api = api_as(erin)
    assert api.get(f"/api/v1/streams/{mine.pk}/events/").status_code == 200
    assert_error(api.get(f"/api/v1/streams/{other.pk}/events/"), 403, "permission_denied")
    assert_error(api.post(f"/api/v1/streams/{other.pk}/end/"), 403, "permission_denied")
    ended = api.post(f"/api/v1/streams/{mine.pk}/end/").json()
    assert ended["status"] == "ended" and ended["end_reason"] == "moderator_ended"
    assert_error(api_as(carol).post(f"/api/v1/streams/{other.pk}/end/"), 403, "permission_denied")
