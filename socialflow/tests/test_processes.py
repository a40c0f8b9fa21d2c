"""The processes `make run` starts, run for real: Daphne serving HTTP, a Celery worker."""

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from accounts.models import Follow
from accounts.tasks import sessions_clear_expired_task
from accounts.tests.factories import PASSWORD, UserFactory
from socialflow.tests.processes import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _request(url, data=None, headers=None, method=None):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_daphne_serves_pages_api_and_static(daphne):
    alice = UserFactory(username="alice", display_name="Alice")
    status, body = _request(f"{daphne}/")
    assert status == 200 and b"Popular channels" in body
    assert _request(f"{daphne}/static/vendor/htmx/htmx.min.js")[0] == 200

    status, body = _request(
        f"{daphne}/api/v1/auth/register/",
        {"username": "dave", "email": "d@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    status, body = _request(f"{daphne}/api/v1/auth/token/", {"username": "dave", "password": PASSWORD})
    access = json.loads(body)["access"]
    status, body = _request(f"{daphne}/api/v1/users/alice/follow/", {}, {"Authorization": f"Bearer {access}"})
    assert status == 201 and json.loads(body) == {"following": True, "follower_count": 1}
    assert Follow.objects.filter(follower__username="dave", followee=alice).exists()

    status, body = _request(
        f"{daphne}/api/v1/users/alice/follow/", method="POST", headers={"Authorization": "Bearer x"}
    )
    assert status == 401 and json.loads(body)["code"] == "token_not_valid"
    status, body = _request(f"{daphne}/api/v1/nothing-here/")
    assert status == 404 and json.loads(body) == {"detail": "Not found.", "code": "not_found"}


def test_daphne_refuses_disallowed_host(daphne):
    status, _ = _request(f"{daphne}/", headers={"Host": "evil.example"})
    assert status == 400


def test_celery_worker_runs_tasks_against_the_database(tmp_path):
    stale = SessionStore()
    stale.create()
    Session.objects.filter(session_key=stale.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )
    fresh = SessionStore()
    fresh.create()

    with celery_worker(tmp_path):
        result = sessions_clear_expired_task.delay()
        assert result.get(timeout=30) == 1
    assert list(Session.objects.values_list("session_key", flat=True)) == [fresh.session_key]
