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


@pytest.mark.django_db
def test_sign_in_and_sign_up_refuse_with_a_reason_with_redis_away(client, alice, cache_away):
    """allauth keeps its rate limits in Redis: without them the forms refuse (503 with a
    page saying why), rather than crash (500) or let attempts through uncounted."""
    client.raise_request_exception = False
    for path, form in (
        ("/accounts/login/", {"login": "alice", "password": "wrong"}),
        ("/accounts/signup/", {"email": "n@example.com", "username": "newbie", "password1": "x" * 12}),
    ):
        assert client.get(path).status_code == 200  # the form itself needs no Redis
        response = client.post(path, form)
        assert response.status_code == 503, path
        assert b"try again in a minute" in response.content and response["Retry-After"] == "30"
    assert "_auth_user_id" not in client.session
