"""S-17: answers that carry a stream key (and any signed-in answer) are never stored by a
browser or proxy cache."""

import pytest


@pytest.mark.django_db
def test_signed_in_answers_are_not_stored(client, api_as, streamer, channel):
    client.force_login(streamer)
    for url in ("/dashboard/", "/dashboard/status/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"], url
    answer = api_as(streamer).get("/api/v1/channel/")
    assert answer.json()["stream_key"] and "no-store" in answer["Cache-Control"]


@pytest.mark.django_db
def test_anonymous_pages_stay_cacheable(client):
    response = client.get("/")
    assert response.status_code == 200 and "no-store" not in response.get("Cache-Control", "")
