"""The "Notify me in the browser" toggle on a channel's pages (/<username>/ and
/u/<username>/): for logged-in followers, when the site has a VAPID key pair."""

from html.parser import HTMLParser

import pytest

from accounts.tests.factories import FollowFactory

pytestmark = pytest.mark.django_db

PAGES = ["/alice/", "/u/alice/"]


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes."""

    def __init__(self, html: bytes):
        super().__init__()
        self.found: list[tuple[str, dict]] = []
        self.feed(html.decode())

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    def first(self, tag: str, **attrs) -> dict | None:
        for name, have in self.found:
            if name == tag and all(
                key in have and (value is True or value in (have[key] or "").split() or value == have[key])
                for key, value in attrs.items()
            ):
                return have
        return None


def toggle_on(client, path):
    page = Elements(client.get(path).content)
    return page.first("button", **{"class": "push-toggle"}), page


@pytest.mark.parametrize("path", PAGES)
def test_a_follower_gets_the_toggle_with_the_sites_key(client, alice, carol, push_settings, path):
    FollowFactory(follower=carol, followee=alice)
    client.force_login(carol)
    toggle, page = toggle_on(client, path)
    assert toggle is not None and "hidden" in toggle  # push.js shows it where push works
    assert toggle["data-push-key"] == push_settings.WEB_PUSH_VAPID_PUBLIC_KEY
    assert toggle["data-push-api"] == "/api/v1/push/subscriptions/"
    assert toggle["data-push-worker"] == "/static/js/push-sw.js"
    assert toggle["data-csrf"]
    assert page.first("script", src="/static/js/push.js", type="module") is not None


@pytest.mark.parametrize("path", PAGES)
def test_no_toggle_for_strangers_visitors_the_owner_or_with_push_off(
    client, alice, carol, settings, push_settings, path
):
    client.force_login(carol)  # not a follower
    assert toggle_on(client, path)[0] is None
    client.logout()
    assert toggle_on(client, path)[0] is None
    client.force_login(alice)
    assert toggle_on(client, path)[0] is None
    FollowFactory(follower=carol, followee=alice)
    client.force_login(carol)
    assert toggle_on(client, path)[0] is not None
    settings.WEB_PUSH_ENABLED = False
    assert toggle_on(client, path)[0] is None


def test_following_in_place_brings_the_toggle(client, alice, carol, push_settings):
    client.force_login(carol)
    response = client.post("/u/alice/follow/", headers={"HX-Request": "true"})
    assert Elements(response.content).first("button", **{"class": "push-toggle"}) is not None
    response = client.post("/u/alice/unfollow/", headers={"HX-Request": "true"})
    assert Elements(response.content).first("button", **{"class": "push-toggle"}) is None
