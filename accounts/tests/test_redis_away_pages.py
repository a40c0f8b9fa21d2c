"""R-05: with Redis (the cache) away, the home page still answers: the popular channels are
computed afresh instead of read from the cache."""

import pytest


@pytest.fixture
def cache_away(settings):
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"},
    }


@pytest.mark.django_db
def test_the_home_page_answers_with_redis_away(client, live_stream, cache_away):
    page = client.get("/")
    assert page.status_code == 200
    assert live_stream.owner.username in page.content.decode()
