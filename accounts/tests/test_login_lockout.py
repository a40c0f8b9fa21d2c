"""S-03: failed sign-ins are limited per account and per address on every way in (the token
API, /admin/login/, the site's form), in PostgreSQL, so the limit holds with Redis away."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from socialflow.tests.helpers import assert_error

TOKEN = "/api/v1/auth/token/"


@pytest.fixture(autouse=True)
def limits(settings, monkeypatch):
    settings.AXES_FAILURE_LIMIT = 4
    # The API's own per-address throttle out of the way: it is not what is tested here.
    monkeypatch.setattr(
        SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "login": "1000/min"}
    )


def token(api, username, password, address="127.0.0.1"):
    return api.post(TOKEN, {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


@pytest.mark.django_db
def test_an_account_locks_after_the_limit_whatever_the_address(api, alice):
    for i in range(3):
        assert token(api, "alice", f"guess{i}", address=f"10.0.0.{i}").status_code == 401
    # The limit's failure is the one that locks: it is told so.
    assert_error(token(api, "alice", "guess3", address="10.0.0.3"), 429, "locked_out")
    # The right password, from yet another address: refused while the lockout lasts.
    body = assert_error(token(api, "alice", PASSWORD, address="10.0.0.99"), 429, "locked_out")
    assert "try again later" in body["detail"]
    # Stored without the passwords tried.
    assert not any("guess" in attempt.post_data for attempt in AccessAttempt.objects.all())
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert token(api, "alice", PASSWORD, address="10.0.0.99").status_code == 200


@pytest.mark.django_db
def test_an_address_locks_after_the_limit_whatever_the_account(api, alice):
    for i in range(4):
        UserFactory(username=f"user{i}")
        assert token(api, f"user{i}", "wrong", address="10.9.9.9").status_code == (401 if i < 3 else 429)
    assert_error(token(api, "alice", PASSWORD, address="10.9.9.9"), 429, "locked_out")
    assert token(api, "alice", PASSWORD, address="10.9.9.10").status_code == 200  # not alice's fault


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_is_the_same_address(api, alice):
    for i in range(4):
        UserFactory(username=f"user{i}")
        response = api.post(
            TOKEN,
            {"username": f"user{i}", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.{i}.0.1",
        )
        assert response.status_code == (401 if i < 3 else 429)
    assert_error(token(api, "alice", PASSWORD), 429, "locked_out")


@pytest.mark.django_db
def test_the_admin_login_locks_out_with_a_page(client):
    User.objects.create_superuser("boss", "boss@example.com", PASSWORD)
    for i in range(4):
        response = client.post("/admin/login/", {"username": "boss", "password": f"guess{i}"})
        assert response.status_code == (200 if i < 3 else 429)  # the form again, with its error
    response = client.post("/admin/login/", {"username": "boss", "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content and b"15 minutes" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_sites_form_counts_a_name_and_its_email_as_one_account(client, alice, settings):
    settings.ACCOUNT_RATE_LIMITS = False  # allauth's own limit (in Redis) aside: axes is tested
    for i, login in enumerate(("alice", "ALICE@example.com", "alice", "alice@example.com")):
        response = client.post("/accounts/login/", {"login": login, "password": "wrong"})
        assert response.status_code == (200 if i < 3 else 429)
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_limit_holds_with_redis_away(api, alice, settings):
    """R-05: the counts are in PostgreSQL. With the cache (Redis) unreachable, the API's
    throttles let requests through (they fail open) and the lockout still refuses."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
        }
    }
    for i in range(3):
        assert token(api, "alice", f"guess{i}").status_code == 401
    assert token(api, "alice", "guess3").status_code == 429
    assert_error(token(api, "alice", PASSWORD), 429, "locked_out")
