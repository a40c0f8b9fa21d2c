"""GET /api/v1/streams/live/: queries that do not grow with the page size, and one answer
shared by anonymous callers for STREAMS_API_CACHE_SECONDS that never carries a signed-in
caller's fields."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from streams import selectors, services
from streams.models import Channel, Stream
from streams.tests.factories import CategoryFactory

URL = "/api/v1/streams/live/"


def _live_broadcasts(n: int) -> list[Stream]:
    """`n` live public broadcasts of `n` streamers, written at once (as bench/api.py seeds
    them), with every part a row may show: a category or none, a ladder, a thumbnail, media
    made private when it went live followers-only."""
    now = timezone.now()
    categories = [CategoryFactory(), None]
    channels = Channel.objects.bulk_create([Channel(user=user) for user in UserFactory.create_batch(n)])
    return Stream.objects.bulk_create(
        Stream(
            channel=channel,
            owner=channel.user,
            title=f"Broadcast {i}",
            tags=["retro", "chill"],
            category=categories[i % 2],
            status=Stream.Status.LIVE,
            started_at=now,
            viewer_count=i,
            hls_ready_at=now,
            thumbnail_updated_at=now,
            media_private=i % 3 == 0,
        )
        for i, channel in enumerate(channels)
    )


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_page_size(settings, carol, api_with_token, django_assert_num_queries):
    settings.STREAMS_API_CACHE_SECONDS = 0  # every answer afresh
    _live_broadcasts(101)
    anonymous, signed_in = APIClient(), api_with_token(carol)
    for size in (5, 20, 100):
        with django_assert_num_queries(2):  # the count, the page
            body = anonymous.get(f"{URL}?page_size={size}").json()
        assert len(body["results"]) == size and body["count"] == 101
        with django_assert_num_queries(3):  # and the caller
            body = signed_in.get(f"{URL}?page_size={size}").json()
        assert len(body["results"]) == size


@pytest.mark.django_db
def test_anonymous_callers_share_one_answer_that_lapses(settings, go_live, django_assert_num_queries):
    settings.STREAMS_API_CACHE_SECONDS = 1
    stream = go_live()
    first = APIClient().get(URL)
    assert [row["id"] for row in first.json()["results"]] == [stream.pk]
    services.stream_end(stream=stream, by=stream.owner)

    with django_assert_num_queries(0):
        again = APIClient().get(URL)
    assert again.content == first.content and again["Content-Type"] == "application/json"
    # Another address is another answer: the search is not served the directory's page.
    assert APIClient().get(f"{URL}?q=alice").json()["count"] == 0

    time.sleep(1.1)
    assert APIClient().get(URL).json()["results"] == []


@pytest.mark.django_db
def test_signed_in_callers_get_their_own_fields_never_the_shared_answer(
    settings, go_live, carol, api_with_token
):
    settings.STREAMS_API_CACHE_SECONDS = 60
    # Public now, its media private since it went live followers-only: a signed-in caller's
    # hls_url carries a playback grant for that caller.
    stream = go_live(hls_ready_at=timezone.now(), media_private=True)
    dave = UserFactory(username="dave")

    def hls_url(client: APIClient) -> str:
        (row,) = client.get(URL).json()["results"]
        return row["hls_url"]

    def grantee(url: str):
        (grant,) = parse_qs(urlsplit(url).query)["grant"]
        return selectors.playback_grant_user(stream_id=stream.pk, grant=grant)

    assert grantee(hls_url(api_with_token(carol))) == carol
    anonymous = hls_url(APIClient())
    assert "grant" not in anonymous
    assert grantee(hls_url(api_with_token(dave))) == dave
    assert grantee(hls_url(api_with_token(carol))) == carol
    assert hls_url(APIClient()) == anonymous
