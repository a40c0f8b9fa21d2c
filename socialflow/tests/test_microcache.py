"""The micro-cache in front of Django (socialflow/lib/microcache.py): anonymous public reads
are answered from Redis, byte for byte what Django answered, for STREAMS_API_CACHE_SECONDS;
signed-in callers and errors never are."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import HttpCommunicator

from chat.tests.helpers import token_for
from socialflow.asgi import application
from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_request_threads_connections():
    """Django's ASGI handler runs each request's sync code in a thread of its own, whose
    database connection outlives it until collected; collected here, they close, and the
    test database can be dropped at the end."""
    yield
    import gc

    gc.collect()


def get(path: str, headers: list | None = None) -> tuple[int, dict, dict]:
    async def scenario():
        communicator = HttpCommunicator(
            application, "GET", path, headers=[(b"host", b"testserver"), *(headers or [])]
        )
        return await communicator.get_response(timeout=10)

    response = async_to_sync(scenario)()
    headers = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response["status"], headers, json.loads(response["body"])


def test_anonymous_reads_share_one_answer_until_it_lapses(settings, live_stream, time_machine):
    settings.STREAMS_API_CACHE_SECONDS = 30
    status, headers, listed = get("/api/v1/streams/live/")
    assert status == 200 and [s["id"] for s in listed["results"]] == [live_stream.pk]
    Stream.objects.filter(pk=live_stream.pk).update(title="Renamed")  # not seen for 30 s
    again_status, again_headers, again = get("/api/v1/streams/live/")
    assert again_status == 200 and again == listed and again_headers == headers  # CSP and all
    _, _, detail = get(f"/api/v1/streams/{live_stream.pk}/")
    assert detail["title"] == "Renamed"  # another address: its own answer
    # Another query string is another answer.
    assert get("/api/v1/streams/live/?page_size=5")[2]["results"][0]["title"] == "Renamed"


def test_signed_in_callers_and_refusals_always_reach_django(settings, live_stream, carol):
    settings.STREAMS_API_CACHE_SECONDS = 30
    get("/api/v1/streams/live/")  # stored for anonymous callers
    Stream.objects.filter(pk=live_stream.pk).update(title="Renamed")
    bearer = [(b"authorization", f"Bearer {token_for(carol)}".encode())]
    assert get("/api/v1/streams/live/", bearer)[2]["results"][0]["title"] == "Renamed"
    assert get("/api/v1/streams/live/")[2]["results"][0]["title"] != "Renamed"  # still the stored one
    status, _, refused = get("/api/v1/streams/live/?page=0")
    assert status == 400 and refused["code"] == "invalid_page"
    status, _, _ = get("/api/v1/streams/zzzzzzzzzzzz/")
    assert status == 404


def test_off_with_zero_seconds(settings, live_stream):
    settings.STREAMS_API_CACHE_SECONDS = 0
    get("/api/v1/streams/live/")
    Stream.objects.filter(pk=live_stream.pk).update(title="Renamed")
    assert get("/api/v1/streams/live/")[2]["results"][0]["title"] == "Renamed"


def test_a_session_cookie_or_a_token_goes_past_it(settings):
    from socialflow.lib.microcache import AnonymousMicroCache

    cache = AnonymousMicroCache(None, paths=r"^/api/v1/streams/live/$")

    def key(path="/api/v1/streams/live/", method="GET", **headers):
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "query_string": b"",
            "headers": [(name.encode(), value.encode()) for name, value in headers.items()],
        }
        return cache._key(scope)

    assert key(host="a") and key(host="a") == key(host="a") != key(host="b")
    assert key(host="a", cookie="csrftoken=x") is not None  # no session: still anonymous
    assert key(host="a", cookie=f"csrftoken=x; {settings.SESSION_COOKIE_NAME}=y") is None
    assert key(host="a", authorization="Bearer x") is None
    assert key(method="POST") is None and key(path="/api/v1/me/") is None


def test_a_stale_answer_is_served_once_while_one_refresh_runs(settings, live_stream):
    """Past its freshness the answer is served stale at once, and one refresh in the
    background brings the next one up to date; a refresh that is no longer 200 drops it."""
    import asyncio

    settings.STREAMS_API_CACHE_SECONDS = 1
    path = f"/api/v1/streams/{live_stream.pk}/"

    async def titles():
        async def one():
            communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver")])
            response = await communicator.get_response(timeout=10)
            return response["status"], json.loads(response["body"]).get("title")

        seen = [await one()]
        await database_sync_to_async(Stream.objects.filter(pk=live_stream.pk).update)(title="Renamed")
        await asyncio.sleep(1.2)  # stale now
        seen.append(await one())  # the stale answer, and a refresh starts
        await asyncio.sleep(1.0)
        seen.append(await one())  # refreshed
        await database_sync_to_async(Stream.objects.filter(pk=live_stream.pk).update)(visibility="private")
        await asyncio.sleep(1.2)
        seen.append(await one())  # stale once more; its refresh is a 404 and drops it
        await asyncio.sleep(1.0)
        seen.append(await one())
        return seen

    seen = async_to_sync(titles)()
    first = seen[0][1]
    assert seen[:3] == [(200, first), (200, first), (200, "Renamed")]
    assert seen[3] == (200, "Renamed") and seen[4][0] == 404
