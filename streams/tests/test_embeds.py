"""The embeds (/embed/<username>/ and its chat): framable by any site, and only there; the
public live broadcast plays, anything else shows a card (streams/embeds.py)."""

from __future__ import annotations

import re

import pytest

from accounts.models import User
from accounts.tests.factories import PASSWORD, FollowFactory, UserFactory
from socialflow.tests.helpers import assert_csp_clean
from streams import services as stream_services

pytestmark = pytest.mark.django_db


def framable(response) -> dict[str, list[str]]:
    """Any site may frame the page: `frame-ancestors *`, and no X-Frame-Options."""
    policy = assert_csp_clean(response)
    assert policy["frame-ancestors"] == ["*"], policy["frame-ancestors"]
    assert "X-Frame-Options" not in response
    return policy


def links_out(html: str) -> list[str]:
    """The page's links, each as written (an embed's open in a new tab, without an opener)."""
    return re.findall(r"<a\b[^>]*>", html)


def test_the_player_embed_plays_a_public_live_broadcast(client, go_live):
    stream = go_live(title="Speedrun night")
    response = client.get("/embed/alice/")
    policy = framable(response)
    assert policy["script-src"] == ["'self'"]  # the rest of the policy is the site's
    html = response.content.decode()
    assert f'data-hls="/streams/{stream.pk}/live.m3u8"' in html
    for script in ("hls.js/hls.min.js", "js/player.js", "js/embed.js", "js/ladder.js", "js/playback.js"):
        assert script in html
    assert 'id="stream-socket"' in html and f'data-stream="{stream.pk}"' in html
    assert 'id="chat-config"' in html
    assert "Speedrun night" in html and 'class="topbar"' not in html  # the player alone
    watch = [a for a in links_out(html) if 'href="/alice/"' in a]
    assert "Watch on SocialFlow</a>" in html
    assert watch and all('target="_blank"' in a and 'rel="noopener"' in a for a in watch)


def test_every_other_page_refuses_to_be_framed(client, go_live, carol):
    stream = go_live()
    pages = ["/", "/alice/", f"/streams/{stream.pk}/", f"/streams/{stream.pk}/chat/", "/u/alice/"]
    pages += ["/categories/", "/accounts/login/", "/api/docs/"]
    for url in pages:
        response = client.get(url)
        policy = assert_csp_clean(response)
        assert policy["frame-ancestors"] == ["'none'"], url
        assert response["X-Frame-Options"] == "DENY", url
    client.force_login(carol)
    response = client.get("/settings/profile/")
    assert assert_csp_clean(response)["frame-ancestors"] == ["'none'"]
    assert response["X-Frame-Options"] == "DENY"


def test_an_offline_channel_shows_its_card(client, streamer):
    response = client.get("/embed/alice/")
    framable(response)
    html = response.content.decode()
    assert "<video" not in html and "js/player.js" not in html
    assert "Alice Streams" in html and "offline" in html
    assert 'class="avatar embed-avatar avatar-letter">A<' in html  # no picture: the initial
    card_links = [a for a in links_out(html) if 'href="/alice/"' in a]
    assert card_links and all('target="_blank"' in a and 'rel="noopener"' in a for a in card_links)
    assert '<meta http-equiv="refresh" content="60">' in html  # it finds the broadcast once live


def test_an_ended_broadcast_is_offline(client, go_live):
    stream = go_live()
    stream_services.stream_end(stream=stream, by=stream.owner)
    html = client.get("/embed/alice/").content.decode()
    assert "<video" not in html and "offline" in html and stream.pk not in html


@pytest.mark.parametrize("visibility", ["followers", "unlisted"])
def test_a_broadcast_that_is_not_public_never_plays(client, go_live, visibility):
    stream = go_live(visibility=visibility)
    for url in ("/embed/alice/", "/embed/alice/chat/"):
        response = client.get(url)
        framable(response)
        html = response.content.decode()
        # To anyone: the channel offline, as its page shows it; not a trace of the broadcast.
        assert "offline" in html and stream.pk not in html and stream.title not in html
        assert "<video" not in html and 'id="chat-panel"' not in html


def test_who_may_see_a_followers_only_broadcast_is_told_it_cannot_play_here(client, go_live):
    stream = go_live(visibility="followers")
    fan = UserFactory(username="fan")
    FollowFactory(follower=fan, followee=stream.owner)
    client.force_login(fan)  # the same site: a session, which a third-party frame would not send
    for url in ("/embed/alice/", "/embed/alice/chat/"):
        response = client.get(url)
        framable(response)
        html = response.content.decode()
        assert "not public: it can" in html and "offline" not in html
        assert stream.pk not in html and "<video" not in html and 'id="chat-panel"' not in html
        assert any('href="/alice/"' in a and 'target="_blank"' in a for a in links_out(html))


def test_an_unknown_channel_is_a_framable_404(client):
    for url in ("/embed/nobody/", "/embed/nobody/chat/"):
        response = client.get(url)
        assert response.status_code == 404
        assert response["Content-Security-Policy"].count("frame-ancestors *") == 1
        assert "X-Frame-Options" not in response
        assert "No such channel." in response.content.decode()


def test_a_banned_streamer_has_no_embed(client, go_live):
    stream = go_live()
    stream.owner.is_active = False
    stream.owner.save(update_fields=["is_active"])
    assert client.get("/embed/alice/").status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "viewer", "streamer"])
def test_the_chat_embed_reads_the_chat_and_sends_nothing(client, go_live, carol, who):
    stream = go_live()
    if who != "anonymous":
        client.force_login(carol if who == "viewer" else stream.owner)
    response = client.get("/embed/alice/chat/")
    framable(response)
    html = response.content.decode()
    assert f'data-stream="{stream.pk}"' in html and 'data-readonly="true"' in html
    assert 'data-can-moderate="false"' in html and 'data-overlay="false"' in html
    assert "js/chat.js" in html and 'id="chat-config"' in html
    # No box to send from, no moderation, no way to log in from the frame.
    assert "<form" not in html and "<textarea" not in html and "Log in" not in html
    assert "data-chat-clear" not in html and "OBS overlay" not in html and "data-popout" not in html
    watch = [a for a in links_out(html) if 'href="/alice/"' in a]
    assert watch and all('target="_blank"' in a and 'rel="noopener"' in a for a in watch)


def test_the_chat_embed_of_an_offline_channel_is_its_card(client, streamer):
    response = client.get("/embed/alice/chat/")
    framable(response)
    html = response.content.decode()
    assert 'id="chat-panel"' not in html and "offline" in html and "Alice Streams" in html


def test_the_watch_page_chat_still_sends(client, go_live, carol):
    """The read-only switch is the embed's alone: the watch page's panel keeps its form."""
    stream = go_live()
    client.force_login(carol)
    html = client.get(f"/streams/{stream.pk}/").content.decode()
    assert 'data-readonly="false"' in html and "<textarea" in html


@pytest.mark.parametrize("name", ["embed", "oembed"])
def test_embed_paths_are_no_one_s_username(client, name):
    response = client.post(
        "/accounts/signup/",
        {"email": "x@example.com", "username": name, "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200 and "Username can not be used" in response.content.decode()
    assert not User.objects.filter(username=name).exists()
