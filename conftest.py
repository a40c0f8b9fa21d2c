"""The cast: alice streams, bob moderates, carol is a stranger. Factories for the rest."""

import shutil

import pytest
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from accounts.tests.factories import FollowFactory, UserFactory
from socialflow.tests.processes import daphne_server


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle and rate-limit counters live in the real Redis: start every test at zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def celery_queue(settings):
    """What is waiting in the real (test) Celery broker: [(task name, args), ...] per queue."""
    import base64
    import json

    import redis

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.flushdb()

    def queued(queue="default"):
        messages = [json.loads(raw) for raw in reversed(broker.lrange(queue, 0, -1))]
        # Celery's JSON message: the task name in the headers, (args, kwargs, embed) in the body.
        return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]

    yield queued
    broker.flushdb()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", display_name="Alice Streams")


def _moderators_group():
    """The Moderators group from the migrations (transactional tests flush it away)."""
    from importlib import import_module

    from django.apps import apps
    from django.contrib.auth.models import Group

    from socialflow.lib.migration_helpers import grant_group_permissions

    group = Group.objects.filter(name="Moderators").first()
    if group is None:
        for module in (
            "accounts.migrations.0002_moderators_group",
            "streams.migrations.0002_moderator_permissions",
            "chat.migrations.0003_moderator_permissions",
            "chat.migrations.0006_settings_permissions",
        ):
            grant_group_permissions(apps, "Moderators", import_module(module).MODERATOR_PERMISSIONS)
        group = Group.objects.get(name="Moderators")
    return group


@pytest.fixture
def bob(db):
    user = UserFactory(username="bob", display_name="Bob Moderates", is_staff=True)
    user.groups.add(_moderators_group())
    return user


@pytest.fixture
def carol(db):
    return UserFactory(username="carol", display_name="Carol")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def api_as(api):
    def login(user):
        api.force_authenticate(user)
        return api

    return login


@pytest.fixture
def followers_of():
    def make(user, n):
        fans = UserFactory.create_batch(n)
        for fan in fans:
            FollowFactory(follower=fan, followee=user)
        return fans

    return make


@pytest.fixture
def daphne(transactional_db, tmp_path):
    """A real Daphne serving the ASGI app on a free port, on this session's test database."""
    with daphne_server(tmp_path) as base:
        yield base


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright (which cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()
        # While Playwright's loop runs, Django keys its connections by that async context;
        # close the one the test used there, or it outlives the test database.
        connections.close_all()
