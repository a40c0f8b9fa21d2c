"""/oembed?url=: an oEmbed 1.0 "video" answer for a channel or watch page, the errors the
spec names, and the discovery links those pages carry (streams/embeds.py)."""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from accounts.tests.factories import FollowFactory, UserFactory
from socialflow.tests.helpers import assert_error
from streams.models import Stream
from streams.tests.helpers import assert_oembed_video, tags

pytestmark = pytest.mark.django_db

SITE = "http://testserver"


def oembed(client, url: str, **params):
    return client.get(f"/oembed?{urlencode({'url': url, **params})}")


def jpeg(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, format="JPEG")
    return buffer.getvalue()


def with_thumbnail(stream: Stream, size=(640, 360)) -> Stream:
    """What the transcoder publishes: thumb.jpg in the "live" storage, and the time it did."""
    root = Path(settings.MEDIA_ROOT) / stream.media_prefix
    root.mkdir(parents=True, exist_ok=True)
    (root / "thumb.jpg").write_bytes(jpeg(size))
    Stream.objects.filter(pk=stream.pk).update(thumbnail_updated_at=timezone.now())
    stream.refresh_from_db()
    return stream


def test_a_live_channel_gets_a_video_answer(client, go_live):
    stream = with_thumbnail(go_live(title="Speedrun night"))
    response = oembed(client, f"{SITE}/alice/", format="json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    body = response.json()
    frame = assert_oembed_video(body)
    assert frame["src"] == f"{SITE}/embed/alice/"
    assert frame["title"] == "Speedrun night" and "allowfullscreen" in frame
    assert "autoplay" in frame["allow"] and "fullscreen" in frame["allow"]
    assert (body["width"], body["height"]) == (640, 360)
    assert body["title"] == "Speedrun night" and body["author_name"] == "Alice Streams"
    assert body["author_url"] == f"{SITE}/alice/"
    assert body["provider_name"] == settings.SITE_NAME and body["provider_url"] == f"{SITE}/"
    assert body["thumbnail_url"].startswith(f"{SITE}/media/{stream.media_prefix}/thumb.jpg?v=")
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (640, 360)
    assert client.get(body["thumbnail_url"].removeprefix(SITE)).status_code == 200


def test_a_watch_page_gets_its_channel_s_player(client, go_live):
    stream = with_thumbnail(go_live(title="Late show"), size=(480, 360))
    body = oembed(client, f"{SITE}/streams/{stream.pk}/").json()  # format defaults to json
    frame = assert_oembed_video(body)
    assert frame["src"] == f"{SITE}/embed/alice/" and body["title"] == "Late show"
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (480, 360)  # as the picture is


def test_an_offline_channel_is_embedded_with_its_avatar(client, streamer):
    streamer.avatar.save("a.jpg", ContentFile(jpeg((256, 256))))
    body = oembed(client, f"{SITE}/alice/").json()
    assert_oembed_video(body)
    assert body["title"] == "Alice Streams on SocialFlow"
    assert body["thumbnail_url"] == f"{SITE}{streamer.avatar.url}"
    assert (body["thumbnail_width"], body["thumbnail_height"]) == (256, 256)


def test_no_picture_no_thumbnail_fields(client, streamer, go_live):
    assert_oembed_video(body := oembed(client, f"{SITE}/alice/").json())
    assert "thumbnail_url" not in body
    stream = go_live()  # live, before the transcoder's first thumbnail
    assert_oembed_video(body := oembed(client, f"{SITE}/alice/").json())
    assert "thumbnail_url" not in body
    # A thumbnail said to be there that storage cannot give: the answer goes without it.
    Stream.objects.filter(pk=stream.pk).update(thumbnail_updated_at=timezone.now())
    assert_oembed_video(body := oembed(client, f"{SITE}/alice/").json())
    assert "thumbnail_url" not in body


@pytest.mark.parametrize(
    ("maxwidth", "maxheight", "size"),
    [
        ("320", None, (320, 180)),
        (None, "180", (320, 180)),
        ("1920", "1080", (640, 360)),  # never larger than the player's size
        ("400", "200", (355, 199)),  # both bounds, still 16:9
        ("160", "", (160, 90)),  # an empty bound is no bound
    ],
)
def test_the_size_respects_maxwidth_and_maxheight(client, streamer, maxwidth, maxheight, size):
    params = {k: v for k, v in {"maxwidth": maxwidth, "maxheight": maxheight}.items() if v is not None}
    body = oembed(client, f"{SITE}/alice/", **params).json()
    assert_oembed_video(body)
    assert (body["width"], body["height"]) == size
    assert body["width"] <= int(maxwidth or 10**6) and body["height"] <= int(maxheight or 10**6)
    assert abs(body["width"] / body["height"] - 16 / 9) < 0.02


@pytest.mark.parametrize("bound", [{"maxwidth": "wide"}, {"maxwidth": "-320"}, {"maxwidth": "100"}])
def test_a_bad_maxwidth_is_400(client, streamer, bound):
    body = assert_error(oembed(client, f"{SITE}/alice/", **bound), 400, "invalid")
    assert "maxwidth" in body["detail"]


def test_a_bad_maxheight_is_400(client, streamer):
    assert_error(oembed(client, f"{SITE}/alice/", maxheight="1e3"), 400, "invalid")
    assert_error(oembed(client, f"{SITE}/alice/", maxheight="٣٠٠"), 400, "invalid")  # digits, not ASCII


def test_xml_is_not_implemented(client, streamer):
    assert_error(oembed(client, f"{SITE}/alice/", format="xml"), 501, "not_implemented")


def test_only_get_is_served(client, streamer):
    response = client.post("/oembed", {"url": f"{SITE}/alice/"})
    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD"


def test_a_missing_url_is_400(client):
    assert_error(client.get("/oembed"), 400, "invalid")
    assert_error(client.get("/oembed?url=%20"), 400, "invalid")


@pytest.mark.parametrize(
    "url",
    [
        "http://elsewhere.example/alice/",  # another site
        "ftp://testserver/alice/",
        f"{SITE}/nobody/",  # no such channel
        f"{SITE}/categories/",  # a page of the site with no player
        f"{SITE}/streams/AAAAAAAAAAAA/",  # no such broadcast
        f"{SITE}/no/such/page/",
        "not a url",
    ],
)
def test_an_unknown_url_is_404(client, streamer, url):
    assert_error(oembed(client, url), 404, "not_found")


def test_a_broadcast_that_is_not_public_is_not_embedded(client, go_live):
    followers = go_live(visibility="followers")
    # Hidden from who may not see it, as its page is.
    assert_error(oembed(client, f"{SITE}/streams/{followers.pk}/"), 404, "not_found")
    fan = UserFactory(username="fan")
    FollowFactory(follower=fan, followee=followers.owner)
    client.force_login(fan)
    assert_error(oembed(client, f"{SITE}/streams/{followers.pk}/"), 401, "not_public")
    client.logout()
    unlisted = go_live("dora", visibility="unlisted")
    assert_error(oembed(client, f"{SITE}/streams/{unlisted.pk}/"), 401, "not_public")


def discovery(html: str) -> list[str]:
    return [
        attrs["href"]
        for attrs in tags(html, "link")
        if attrs.get("rel") == "alternate" and attrs.get("type") == "application/json+oembed"
    ]


def test_channel_and_watch_pages_name_their_oembed(client, go_live):
    stream = go_live(title="Speedrun night")
    for page in ("/alice/", f"/streams/{stream.pk}/"):
        links = discovery(client.get(page).content.decode())
        assert links == [f"{SITE}/oembed?{urlencode({'url': SITE + page, 'format': 'json'})}"], page
        body = client.get(links[0].removeprefix(SITE)).json()
        assert_oembed_video(body)
        assert body["title"] == "Speedrun night"


def test_an_offline_channel_page_names_its_oembed_too(client, streamer):
    assert discovery(client.get("/Alice/").content.decode()) == [
        f"{SITE}/oembed?{urlencode({'url': SITE + '/alice/', 'format': 'json'})}"
    ]


def test_a_followers_only_watch_page_names_no_oembed(client, go_live):
    stream = go_live(visibility="followers")
    fan = UserFactory(username="fan")
    FollowFactory(follower=fan, followee=stream.owner)
    client.force_login(fan)
    page = client.get(f"/streams/{stream.pk}/")
    assert page.status_code == 200 and discovery(page.content.decode()) == []
