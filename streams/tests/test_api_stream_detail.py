"""GET /api/v1/streams/{id}/: one query, and the caller's with a token; anonymous callers
share one answer for STREAMS_API_CACHE_SECONDS, signed-in callers get theirs afresh."""

import time

import pytest
from rest_framework.test import APIClient

from socialflow.tests.helpers import assert_error
from streams import services


@pytest.mark.django_db
def test_detail_in_one_query_and_the_callers(go_live, carol, api_with_token, django_assert_num_queries):
    stream = go_live(title="Speedrun")
    anonymous, signed_in = APIClient(), api_with_token(carol)
    with django_assert_num_queries(1):  # the broadcast with its streamer, category and channel
        assert anonymous.get(f"/api/v1/streams/{stream.pk}/").json()["title"] == "Speedrun"
    with django_assert_num_queries(2):  # and the caller
        assert signed_in.get(f"/api/v1/streams/{stream.pk}/").json()["title"] == "Speedrun"


@pytest.mark.django_db
def test_anonymous_callers_share_the_answer_until_it_lapses(
    settings, go_live, carol, django_assert_num_queries, api_with_token
):
    settings.STREAMS_API_CACHE_SECONDS = 1
    stream = go_live()
    url = f"/api/v1/streams/{stream.pk}/"
    assert APIClient().get(url).json()["status"] == "live"
    services.stream_end(stream=stream, by=stream.owner)

    with django_assert_num_queries(0):
        assert APIClient().get(url).json()["status"] == "live"
    assert api_with_token(carol).get(url).json()["status"] == "ended"
    owner = api_with_token(stream.owner).get(url).json()
    assert owner["status"] == "ended" and owner["ingest"]["stream_key"] == stream.channel.stream_key

    time.sleep(1.1)
    assert APIClient().get(url).json()["status"] == "ended"


@pytest.mark.django_db
def test_a_refusal_is_not_shared(settings, streamer, carol):
    settings.STREAMS_API_CACHE_SECONDS = 60
    stream = services.stream_create(owner=streamer, visibility="followers")
    assert_error(APIClient().get(f"/api/v1/streams/{stream.pk}/"), 404, "not_found")
    services.stream_update(stream=stream, visibility="public")
    assert APIClient().get(f"/api/v1/streams/{stream.pk}/").status_code == 200
