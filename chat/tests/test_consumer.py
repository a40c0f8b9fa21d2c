"""The stream socket through the whole ASGI stack (origin check, auth, routing), with the
real Redis channel layer and PostgreSQL."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import Follow
from chat import consumers
from chat.models import ChatMessage
from chat.tests.helpers import ORIGIN, connected, next_frame, socket, token_for
from socialflow.asgi import application
from socialflow.tests.helpers import assert_error
from streams import services

pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario):
    return async_to_sync(scenario)()


def test_a_message_reaches_every_socket_with_its_id(live_stream, alice, carol):
    async def scenario():
        a, c = socket(live_stream, alice), socket(live_stream, carol)
        await connected(a)
        await connected(c)
        await c.send_json_to({"type": "chat.send", "content": "  hello <script>alert(1)</script>  "})
        got_a, got_c = await next_frame(a), await next_frame(c)
        await a.disconnect()
        await c.disconnect()
        return got_a, got_c

    got_a, got_c = run(scenario)
    message = ChatMessage.objects.get()
    assert got_a == got_c
    assert got_a["type"] == "chat.message" and got_a["id"] == message.pk
    assert got_a["content"] == "hello <script>alert(1)</script>"  # text, trimmed, never markup
    assert got_a["user"]["username"] == "carol"


def test_history_on_join_lists_the_latest_messages_oldest_first(live_stream, carol):
    for i in range(60):
        ChatMessage.objects.create(stream=live_stream, user=carol, content=f"m{i}")

    async def scenario():
        s = socket(live_stream)
        history = await connected(s)
        await s.disconnect()
        return history

    history = run(scenario)
    contents = [m["content"] for m in history["messages"]]
    assert contents == [f"m{i}" for i in range(10, 60)]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "chat.send", "content": "x" * 501}, "too_long"),
        ({"type": "chat.send", "content": "   "}, "empty"),
        ({"type": "chat.send", "content": 42}, "invalid"),
        ({"type": "nope"}, "unknown_type"),
        ({"content": "no type"}, "bad_frame"),
    ],
)
def test_bad_frames_get_an_error_frame_and_the_socket_stays_up(live_stream, carol, frame, code):
    async def scenario():
        s = socket(live_stream, carol)
        await connected(s)
        await s.send_json_to(frame)
        error = await next_frame(s)
        await s.send_json_to({"type": "heartbeat"})
        alive = await next_frame(s)
        await s.disconnect()
        return error, alive

    error, alive = run(scenario)
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    assert alive == {"type": "heartbeat"}
    assert not ChatMessage.objects.exists()


def test_not_json_binary_and_huge_frames(live_stream, carol):
    async def scenario():
        s = socket(live_stream, carol)
        await connected(s)
        await s.send_to(text_data="{not json")
        first = await next_frame(s)
        await s.send_to(bytes_data=b"\x00\x01")
        second = await next_frame(s)
        await s.send_to(text_data='{"type": "chat.send", "content": "' + "x" * 5000 + '"}')
        third = await next_frame(s)
        await s.disconnect()
        return first, second, third

    codes = [frame["code"] for frame in run(scenario)]
    assert codes == ["bad_json", "bad_frame", "frame_too_large"]


def test_anonymous_viewers_watch_but_cannot_chat(live_stream):
    async def scenario():
        s = socket(live_stream)
        await connected(s)
        await s.send_json_to({"type": "chat.send", "content": "hi"})
        error = await next_frame(s)
        await s.disconnect()
        return error

    assert run(scenario)["code"] == "login_required"


def test_a_bad_token_is_anonymous(live_stream):
    async def scenario():
        s = WebsocketCommunicator(application, f"/ws/streams/{live_stream.pk}/?token=garbage", headers=ORIGIN)
        await connected(s)
        await s.send_json_to({"type": "chat.send", "content": "hi"})
        error = await next_frame(s)
        await s.disconnect()
        return error

    assert run(scenario)["code"] == "login_required"


def test_rate_limit_then_a_short_timeout(live_stream, carol, settings):
    settings.CHAT_RATE_SECONDS = 1
    settings.CHAT_RATE_TIMEOUT_SECONDS = 2

    async def scenario():
        s = socket(live_stream, carol)
        await connected(s)
        frames = []
        for i in range(4):
            await s.send_json_to({"type": "chat.send", "content": f"spam {i}"})
            frames.append(await next_frame(s))
        await asyncio.sleep(1.1)  # the window is over, the timeout is not
        await s.send_json_to({"type": "chat.send", "content": "still muted?"})
        frames.append(await next_frame(s))
        await asyncio.sleep(1.0)
        await s.send_json_to({"type": "chat.send", "content": "back"})
        frames.append(await next_frame(s))
        await s.disconnect()
        return frames

    frames = run(scenario)
    assert [f["type"] for f in frames[:3]] == ["chat.message"] * 3
    assert frames[3]["type"] == "error" and frames[3]["code"] == "rate_limited"
    assert "again in 2 seconds" in frames[3]["detail"]
    assert frames[4]["code"] == "rate_limited" and "again in 1 second." in frames[4]["detail"]
    assert frames[5]["type"] == "chat.message" and frames[5]["content"] == "back"
    assert ChatMessage.objects.count() == 4


def test_a_foreign_origin_is_refused(live_stream):
    async def scenario():
        s = socket(live_stream, headers=[(b"origin", b"http://evil.example"), (b"host", b"127.0.0.1")])
        ok, _ = await s.connect()
        return ok

    assert run(scenario) is False


def test_followers_only_streams_admit_followers_only(live_stream, carol):
    from accounts.models import Follow
    from streams.models import Stream

    Stream.objects.filter(pk=live_stream.pk).update(visibility="followers")

    async def attempt():
        s = socket(live_stream, carol)
        ok, _ = await s.connect()
        assert ok  # accepted, then closed with the code: refused handshakes reach browsers as 1006
        first = await s.receive_output(timeout=5)
        await s.disconnect()
        return first["type"] if first["type"] == "websocket.close" else "history", first.get("code")

    assert run(attempt) == ("websocket.close", 4404)
    Follow.objects.create(follower=carol, followee=live_stream.owner)
    assert run(attempt) == ("history", None)


def test_status_changes_reach_the_socket(live_stream, channel):
    async def scenario():
        s = socket(live_stream)
        await connected(s)
        from channels.db import database_sync_to_async

        await database_sync_to_async(services.broadcast_unpublish)(
            dialect="nginx-rtmp", key=channel.stream_key, client_id="1"
        )
        got = await next_frame(s)
        await s.disconnect()
        return got

    got = run(scenario)
    assert got["type"] == "stream.status" and got["status"] == "ended"


def test_a_socket_that_missed_a_message_gets_it_before_the_next_one(live_stream, alice, carol):
    """As when the pub/sub layer dropped a publish (Redis away): persisted, never broadcast."""
    from chat.services import message_send

    async def scenario():
        s = socket(live_stream)
        await connected(s)
        lost = await database_sync_to_async(ChatMessage.objects.create)(
            stream=live_stream, user=carol, content="never broadcast"
        )
        await database_sync_to_async(message_send)(stream=live_stream, user=alice, content="next")
        first, second = await next_frame(s), await next_frame(s)
        quiet = await database_sync_to_async(ChatMessage.objects.create)(
            stream=live_stream, user=carol, content="quiet broadcast"
        )
        await asyncio.sleep(1.1)  # the per-process latest-id cache is a second old at most
        await s.send_json_to({"type": "heartbeat"})
        third, ack = await next_frame(s), await next_frame(s)
        await s.disconnect()
        return lost, quiet, first, second, third, ack

    lost, quiet, first, second, third, ack = run(scenario)
    assert (first["id"], first["content"]) == (lost.pk, "never broadcast")
    assert second["content"] == "next" and second["id"] > lost.pk
    assert third["id"] == quiet.pk and ack["type"] == "heartbeat"


def test_a_consumer_that_fails_leaves_no_ghost_in_the_hub(live_stream, monkeypatch):
    from chat.hub import hub

    def broken(**kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr("chat.consumers.viewer_session_start", broken)

    async def scenario():
        s = socket(live_stream)
        with pytest.raises(RuntimeError):
            await s.connect()
            await s.receive_output()
        await asyncio.sleep(0)
        return len(hub().members.get(live_stream.pk, ()))

    assert run(scenario) == 0


@pytest.mark.parametrize("messages", [5, 60])
def test_connecting_costs_eight_queries_however_long_the_history(live_stream, carol, messages):
    """The token's user, the visibility check, the viewer session, whether the user is one of
    the channel's moderators (who get the staff-only frames); then the history: the latest
    id, the pinned message, the last messages with their authors, the chat settings."""
    ChatMessage.objects.bulk_create(
        ChatMessage(stream=live_stream, user=carol, content=f"m{i}") for i in range(messages)
    )
    s = socket(live_stream, carol)
    # channels' database_sync_to_async is thread-sensitive: under async_to_sync the
    # consumer's queries run on this thread, on the connection captured here.
    with CaptureQueriesContext(connections["default"]) as queries:

        async def scenario():
            history = await connected(s)
            on_connect = len(queries.captured_queries)
            await s.disconnect()
            return history, on_connect

        history, on_connect = run(scenario)
    assert len(history["messages"]) == min(messages, 50)
    assert on_connect == 8, [q["sql"][:80] for q in queries.captured_queries[:on_connect]]


def test_staff_frames_reach_the_streamer_and_not_the_viewers(live_stream, alice, carol):
    from socialflow.lib import realtime

    async def scenario():
        streamer, viewer = socket(live_stream, alice), socket(live_stream, carol)
        await connected(streamer)
        await connected(viewer)
        health = {
            "type": realtime.STREAM_HEALTH,
            "stream_id": live_stream.pk,
            "status": "warning",
            "reason": "slow",
        }
        ladder = {"type": realtime.STREAM_LADDER, "stream_id": live_stream.pk, "rungs": ["source", "360p"]}
        await database_sync_to_async(realtime.send_on_commit)(live_stream.pk, health, staff=True)
        await database_sync_to_async(realtime.send_on_commit)(live_stream.pk, ladder)
        streamer_got = [await next_frame(streamer), await next_frame(streamer)]
        viewer_got = await next_frame(viewer)
        await streamer.disconnect()
        await viewer.disconnect()
        return streamer_got, viewer_got

    streamer_got, viewer_got = run(scenario)
    assert [f["type"] for f in streamer_got] == ["stream.health", "stream.ladder"]
    assert streamer_got[0]["reason"] == "slow"
    assert viewer_got["type"] == "stream.ladder"  # the health frame before it never came


def test_a_flooding_socket_is_ignored_past_its_frame_budget(live_stream, carol, settings):
    """S-13: frames beyond the burst are dropped before any work, with one error a second."""
    settings.CHAT_FRAME_BURST, settings.CHAT_FRAME_RATE = 5, 1.0

    async def scenario():
        s = socket(live_stream, carol)
        await connected(s)
        for _ in range(30):
            await s.send_json_to({"type": "heartbeat"})
        frames = [await next_frame(s) for _ in range(6)]
        extra = []  # the other 24 frames got nothing (viewer counts may come)
        while not await s.receive_nothing(timeout=1):
            extra.append(await s.receive_json_from())
        await s.disconnect()
        return frames, all(f["type"] == "viewers" for f in extra)

    frames, quiet = run(scenario)
    assert quiet
    kinds = [f["type"] for f in frames]
    assert kinds.count("heartbeat") == 5 and kinds.count("error") == 1
    assert next(f for f in frames if f["type"] == "error")["code"] == "rate_limited"


@pytest.mark.parametrize("change", ["unfollow", "ban"])
def test_a_socket_whose_user_may_no_longer_see_the_broadcast_is_closed(go_live, carol, change, monkeypatch):
    """S-09: authorization holds for the socket's whole life, not just at connect."""
    stream = go_live(visibility="followers")
    Follow.objects.create(follower=carol, followee=stream.owner)
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.0)

    async def scenario():
        s = socket(stream, carol)
        await connected(s)
        await s.send_json_to({"type": "chat.send", "content": "before"})
        first = await next_frame(s)
        if change == "unfollow":
            await database_sync_to_async(Follow.objects.filter(follower=carol).delete)()
        else:
            await database_sync_to_async(type(carol).objects.filter(pk=carol.pk).update)(is_active=False)
        await s.send_json_to({"type": "chat.send", "content": "still here"})
        closed = await s.receive_output(timeout=5)
        while closed["type"] != "websocket.close":
            closed = await s.receive_output(timeout=5)
        return first, closed

    first, closed = run(scenario)
    assert first["type"] == "chat.message"
    assert closed["code"] == 4404
    assert list(ChatMessage.objects.values_list("content", flat=True)) == ["before"]


def test_a_ticket_opens_one_socket_as_its_user(live_stream, carol, settings):
    # S-20: a socket's URL carries a ticket for one connection, not an access token a proxy's
    # log would keep for its 15 minutes.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(carol)}")
    issued = api.post("/api/v1/auth/ws-ticket/")
    assert issued.status_code == 201 and issued.json()["expires_in"] == settings.WS_TICKET_SECONDS
    ticket = issued.json()["ticket"]
    assert_error(APIClient().post("/api/v1/auth/ws-ticket/"), 401, "not_authenticated")

    async def chat_as(query: str) -> dict:
        s = WebsocketCommunicator(application, f"/ws/streams/{live_stream.pk}/?{query}", headers=ORIGIN)
        await connected(s)
        await s.send_json_to({"type": "chat.send", "content": "hi"})
        frame = await next_frame(s)
        await s.disconnect()
        return frame

    first = async_to_sync(chat_as)(f"ticket={ticket}")
    assert first["type"] == "chat.message" and first["user"]["username"] == "carol"
    assert async_to_sync(chat_as)(f"ticket={ticket}")["code"] == "login_required"  # used up
    assert async_to_sync(chat_as)("ticket=made-up")["code"] == "login_required"
