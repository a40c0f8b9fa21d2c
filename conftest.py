"""The cast: alice streams, bob moderates, carol is a stranger. Factories for the rest."""

import inspect
import shutil

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from accounts.permissions import MODERATORS
from accounts.tests.factories import FollowFactory, UserFactory
from accounts.tests.push_service import LocalPushService, vapid_key_pair
from socialflow.tests.processes import CHROMIUM_ARGS, daphne_server
from streams import services as stream_services
from streams.models import Stream
from streams.tests.helpers import HOOK_SECRET

# The shared helpers assert too: rewrite their asserts as pytest does in test modules.
pytest.register_assert_rewrite("socialflow.tests.helpers", "chat.tests.helpers")


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


@pytest.fixture
def bob(db):
    # The group is made by post_migrate (accounts.permissions), also after a flush.
    user = UserFactory(username="bob", display_name="Bob Moderates", is_staff=True)
    user.groups.add(Group.objects.get(name=MODERATORS))
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
def api_with_token():
    """A new API client per call that sends `user`'s access token, as a mobile app does
    (api_as skips authentication, and shares one client)."""
    from accounts.tokens import TokenObtainPairSerializer

    def make(user):
        client = APIClient()
        token = TokenObtainPairSerializer.get_token(user).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def followers_of():
    def make(user, n):
        fans = UserFactory.create_batch(n)
        for fan in fans:
            FollowFactory(follower=fan, followee=user)
        return fans

    return make


@pytest.fixture
def push_settings(settings):
    """Browser push on: a fresh VAPID key pair, and push endpoints on this machine allowed
    (the local push service stands in for the browsers')."""
    settings.WEB_PUSH_VAPID_PUBLIC_KEY, settings.WEB_PUSH_VAPID_PRIVATE_KEY = vapid_key_pair()
    settings.WEB_PUSH_ENABLED = True
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = True
    settings.WEB_PUSH_CONTACT = "mailto:ops@socialflow.example"
    return settings


@pytest.fixture
def push_service():
    """A push service on 127.0.0.1 (accounts/tests/push_service.py)."""
    service = LocalPushService()
    yield service
    service.close()


# --- Streaming: alice's channel, going live ------------------------------------------


@pytest.fixture
def streaming_settings(settings):
    """What the streaming tests are written against: 2 followers to go live, a known hook secret."""
    settings.MEDIA_HOOK_SECRET = HOOK_SECRET
    settings.GO_LIVE_MIN_FOLLOWERS = 2
    return settings


@pytest.fixture
def streamer(alice, followers_of, streaming_settings):
    """alice, eligible to go live (2 followers against a threshold of 2)."""
    followers_of(alice, 2)
    return alice


@pytest.fixture
def channel(streamer):
    return stream_services.channel_get_or_create(user=streamer)


# What services.stream_create takes prepares the broadcast; other Stream fields are set on it once live.
_PREPARED_FIELDS = set(inspect.signature(stream_services.stream_create).parameters) - {"owner"}


@pytest.fixture
def go_live(request, streaming_settings, followers_of):
    """Put a broadcast live the way the media server's publish hook does
    (streams.services.broadcast_publish), and return the live Stream.

    go_live() is alice's channel (the `streamer`); go_live(user) someone else's, and
    go_live("dora") a new user of that name with the followers to go live. Fields that
    stream_create takes (title=, visibility=, tags=, ...) prepare the broadcast first, as the
    dashboard does before OBS connects; without them the channel's defaults apply. Other
    Stream fields (viewer_count=, thumbnail_updated_at=, ...) are written once it is live.
    """

    def start(user=None, *, client_id="1", dialect="nginx-rtmp", ip=None, **fields) -> Stream:
        if user is None:
            user = request.getfixturevalue("streamer")
        elif isinstance(user, str):
            user = UserFactory(username=user, display_name=user.title())
            followers_of(user, 2)
        prepared = {name: value for name, value in fields.items() if name in _PREPARED_FIELDS}
        if prepared:
            stream_services.stream_create(owner=user, **prepared)
        channel = stream_services.channel_get_or_create(user=user)
        result = stream_services.broadcast_publish(
            dialect=dialect, key=channel.stream_key, client_id=client_id, ip=ip
        )
        assert result.allowed, result.reason
        stream = result.stream
        later = {name: value for name, value in fields.items() if name not in _PREPARED_FIELDS}
        if later:
            Stream.objects.filter(pk=stream.pk).update(**later)
            stream.refresh_from_db()
        return stream

    return start


@pytest.fixture
def live_stream(go_live):
    """alice's broadcast, live (from her channel's defaults, on nginx-rtmp client "1")."""
    return go_live()


# --- Real processes (the e2e tests) ------------------------------------------------------


@pytest.fixture
def daphne(transactional_db, tmp_path):
    """A real Daphne serving the ASGI app on a free port, on this session's test database."""
    with daphne_server(tmp_path) as base:
        yield base


class _CspBypassingBrowser:
    """Playwright's wait_for_function compiles its predicate in the page, which the site's
    Content-Security-Policy (no eval) refuses: pages bypass the policy unless a test asks for
    it (`bypass_csp=False`) to check the page under it (streams/tests/test_transcode_e2e.py)."""

    def __init__(self, browser):
        self._browser = browser

    def new_page(self, **options):
        return self._browser.new_page(**{"bypass_csp": True, **options})

    def new_context(self, **options):
        return self._browser.new_context(**{"bypass_csp": True, **options})

    def __getattr__(self, name):
        return getattr(self._browser, name)


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
            args=CHROMIUM_ARGS,
        )
        yield _CspBypassingBrowser(browser)
        browser.close()
        # While Playwright's loop runs, Django keys its connections by that async context;
        # close the one the test used there, or it outlives the test database.
        connections.close_all()
