"""Presence and the viewer count, on the real Redis and the real consumer."""

import time

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from analytics.models import ViewerSession
from chat import presence
from chat.tests.helpers import ORIGIN, connected, socket
from socialflow.asgi import application
from streams import services
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)


async def next_viewers(communicator, timeout=4):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "viewers":
            return frame["count"]
    raise AssertionError("no viewers frame")


def test_the_viewer_count_follows_sockets_joining_and_leaving(live_stream, carol):
    async def scenario():
        a, b, c = socket(live_stream), socket(live_stream, carol), socket(live_stream)
        for s in (a, b, c):
            await connected(s)
        after_join = await next_viewers(a)
        await c.disconnect()
        await b.disconnect()
        after_leave = await next_viewers(a)
        await a.disconnect()
        return after_join, after_leave

    after_join, after_leave = async_to_sync(scenario)()
    assert (after_join, after_leave) == (3, 1)
    stream = Stream.objects.get(pk=live_stream.pk)
    assert stream.peak_viewer_count == 3
    sessions = ViewerSession.objects.filter(stream=live_stream)
    assert sessions.count() == 3 and not sessions.filter(left_at__isnull=True).exists()
    assert sessions.filter(user__username="carol").exists()


# An entry's expiry is a score in the sorted set, stamped with the web process's clock
# (time.time()), not a Redis TTL: time-machine moves it.


def test_entries_of_a_dead_process_expire(live_stream, settings):
    ttl = settings.PRESENCE_TTL_SECONDS

    async def scenario():
        with time_machine.travel(time.time(), tick=False) as clock:
            await presence.join(live_stream.pk, "socket-of-a-crashed-process")
            first = await presence.count(live_stream.pk)
            clock.shift(ttl - 1)
            almost = await presence.count(live_stream.pk)
            clock.shift(2)
            return first, almost, await presence.count(live_stream.pk)

    assert async_to_sync(scenario)() == (1, 1, 0)


def test_heartbeats_keep_a_viewer(live_stream, settings):
    ttl = settings.PRESENCE_TTL_SECONDS

    async def scenario():
        with time_machine.travel(time.time(), tick=False) as clock:
            await presence.join(live_stream.pk, "socket")
            for _ in range(3):  # three beats, each well inside the TTL: past it in all
                clock.shift(ttl / 2)
                await presence.beat(live_stream.pk, "socket")
            return await presence.count(live_stream.pk)

    assert async_to_sync(scenario)() == 1


def test_the_sweep_recounts_live_broadcasts(live_stream):
    from chat.tasks import presence_sweep_task

    async def add():
        await presence.join(live_stream.pk, "x")
        await presence.join(live_stream.pk, "y")

    async_to_sync(add)()
    Stream.objects.filter(pk=live_stream.pk).update(viewer_count=0)
    assert presence_sweep_task() == 1
    assert Stream.objects.get(pk=live_stream.pk).viewer_count == 2


# --- REST presence for native players (join / heartbeat / leave / viewers) --------------


def test_native_players_join_heartbeat_and_leave_over_rest(live_stream, api, celery_queue):
    url = f"/api/v1/streams/{live_stream.pk}"
    async_to_sync(presence.join)(live_stream.pk, "a-socket")  # a browser on the socket

    first = api.post(f"{url}/join/", {}, format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["viewers"] == 2 and body["heartbeat_seconds"] == 15
    again = api.post(f"{url}/join/", {"session": body["session"]}, format="json")  # heartbeat
    assert again.json()["viewers"] == 2 and again.json()["session"]  # a fresh token each time
    other = api.post(f"{url}/join/", {}, format="json").json()
    assert api.get(f"{url}/viewers/").json() == {"viewers": 3, "peak_viewers": 3}

    time.sleep(presence.PUSH_EVERY_SECONDS)  # the count is pushed at most once a second
    assert api.post(f"{url}/leave/", {"session": body["session"]}, format="json").status_code == 204
    # ...to the sockets, by a task when the change came over REST.
    assert celery_queue() == [("chat.tasks.presence_push_task", [live_stream.pk])]
    assert api.get(f"{url}/viewers/").json()["viewers"] == 2
    sessions = ViewerSession.objects.filter(stream=live_stream).order_by("pk")
    assert [s.left_at is not None for s in sessions] == [True, False]

    from chat.tasks import presence_push_task

    assert presence_push_task(live_stream.pk) == 2
    live_stream.refresh_from_db()
    assert (live_stream.viewer_count, live_stream.peak_viewer_count) == (2, 3)
    api.post(f"{url}/leave/", {"session": other["session"]}, format="json")


def test_rest_presence_refuses_forged_foreign_and_offline_sessions(live_stream, api, streamer):
    url = f"/api/v1/streams/{live_stream.pk}"
    session = api.post(f"{url}/join/", {}, format="json").json()["session"]
    forged = api.post(f"{url}/leave/", {"session": session[:-2] + "xx"}, format="json")
    assert forged.status_code == 400 and forged.json()["code"] == "invalid_session"
    missing = api.post(f"{url}/leave/", {}, format="json")
    assert missing.status_code == 400 and "detail" in missing.json()
    other = services.stream_create(owner=streamer, title="Later")  # not live
    offline = api.post(f"/api/v1/streams/{other.pk}/join/", {}, format="json")
    assert offline.status_code == 409 and offline.json()["code"] == "not_live"
    foreign = api.post(f"/api/v1/streams/{other.pk}/leave/", {"session": session}, format="json")
    assert foreign.status_code == 400 and foreign.json()["code"] == "invalid_session"
    assert api.get(f"/api/v1/streams/{other.pk}/viewers/").json()["viewers"] == 0
    assert api.get("/api/v1/streams/AAAAAAAAAAAA/viewers/").status_code == 404


def test_rest_presence_sessions_expire(live_stream, api, settings):
    url = f"/api/v1/streams/{live_stream.pk}"
    max_age = 2 * settings.PRESENCE_TTL_SECONDS  # a session token outlives a few missed beats
    with time_machine.travel(time.time(), tick=False) as clock:
        old = api.post(f"{url}/join/", {}, format="json").json()["session"]
        clock.shift(max_age - 1)
        assert api.post(f"{url}/join/", {"session": old}, format="json").status_code == 200
        clock.shift(2)
        expired = api.post(f"{url}/join/", {"session": old}, format="json")
    assert expired.status_code == 400 and expired.json()["code"] == "invalid_session"


def test_rest_presence_respects_followers_only(live_stream, api_as, carol):
    Stream.objects.filter(pk=live_stream.pk).update(visibility="followers")
    response = api_as(carol).post(f"/api/v1/streams/{live_stream.pk}/join/", {}, format="json")
    assert response.status_code == 404


def test_an_obs_overlay_socket_is_not_a_viewer(live_stream):
    async def scenario():
        viewer = socket(live_stream)
        overlay = WebsocketCommunicator(
            application, f"/ws/streams/{live_stream.pk}/?overlay=1", headers=ORIGIN
        )
        await connected(viewer)
        await connected(overlay)
        count = await presence.count(live_stream.pk)
        await overlay.disconnect()
        await viewer.disconnect()
        return count

    assert async_to_sync(scenario)() == 1
    assert ViewerSession.objects.filter(stream=live_stream).count() == 1


# --- S-10: logged-out viewers cannot inflate the count ------------------------------------


def anonymous_socket(stream, address: str) -> WebsocketCommunicator:
    communicator = socket(stream)
    communicator.scope["client"] = (address, 50000)
    return communicator


def test_one_address_counts_at_most_its_cap_of_logged_out_sockets(live_stream, carol, settings):
    settings.PRESENCE_MAX_PER_ADDRESS = 2

    async def scenario():
        crowd = [anonymous_socket(live_stream, "198.51.100.7") for _ in range(5)]
        for s in crowd:
            await connected(s)
        logged_in = socket(live_stream, carol)  # from the same address: counted per account
        logged_in.scope["client"] = ("198.51.100.7", 50001)
        await connected(logged_in)
        elsewhere = anonymous_socket(live_stream, "203.0.113.9")
        await connected(elsewhere)
        counted = await presence.count(live_stream.pk)
        # one counted viewer leaves: the next heartbeat of an uncounted one takes its place
        await crowd[0].disconnect()
        await crowd[4].send_json_to({"type": "heartbeat"})
        while (await crowd[4].receive_json_from())["type"] != "heartbeat":
            pass
        after = await presence.count(live_stream.pk)
        for s in [*crowd[1:], logged_in, elsewhere]:
            await s.disconnect()
        return counted, after

    counted, after = async_to_sync(scenario)()
    assert counted == 2 + 1 + 1  # two of the five, the logged-in one, the other address
    assert after == 4
    # the uncounted ones had no analytics session either: 2 + carol + elsewhere + the late one
    assert ViewerSession.objects.filter(stream=live_stream).count() == 5


def test_rest_joins_from_one_address_count_up_to_its_cap(live_stream, api, settings):
    settings.PRESENCE_MAX_PER_ADDRESS = 2
    url = f"/api/v1/streams/{live_stream.pk}/join/"
    joins = [api.post(url, {}, format="json", REMOTE_ADDR="198.51.100.7").json() for _ in range(4)]
    assert [j["viewers"] for j in joins] == [1, 2, 2, 2]
    # a forged X-Forwarded-For is the same address (NUM_PROXIES is 0)
    forged = api.post(url, {}, format="json", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert forged.json()["viewers"] == 2
    assert api.post(url, {}, format="json", REMOTE_ADDR="203.0.113.9").json()["viewers"] == 3
    assert ViewerSession.objects.filter(stream=live_stream).count() == 3
    # an uncounted player's session still works: it leaves cleanly, and heartbeats ask again
    assert (
        api.post(url.replace("join", "leave"), {"session": joins[0]["session"]}, format="json").status_code
        == 204
    )
    beat = api.post(url, {"session": joins[3]["session"]}, format="json", REMOTE_ADDR="198.51.100.7")
    assert beat.json()["viewers"] == 3
