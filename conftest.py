"""The cast: alice streams, bob moderates, carol is a stranger. Factories for the rest."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.tests.factories import FollowFactory, UserFactory


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle and rate-limit counters live in the real Redis: start every test at zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", display_name="Alice Streams")


@pytest.fixture
def bob(db):
    from django.contrib.auth.models import Group

    user = UserFactory(username="bob", display_name="Bob Moderates", is_staff=True)
    user.groups.add(Group.objects.get(name="Moderators"))
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
