"""The directory (home, categories, search, following) and the watch/channel pages."""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from accounts.models import Follow
from accounts.tests.factories import UserFactory
from streams import services
from streams.models import Stream
from streams.tests.factories import CategoryFactory


@pytest.mark.django_db
def test_home_lists_live_with_thumbnails_in_constant_queries(client, go_live, django_assert_max_num_queries):
    go_live("ann", title="ann live", viewer_count=3, thumbnail_updated_at=timezone.now())
    with django_assert_max_num_queries(3) as one:
        client.get("/")
    for name in ("ben", "cat", "dan"):
        go_live(name, title=f"{name} live", viewer_count=9, thumbnail_updated_at=timezone.now())
    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get("/").content.decode()
    assert page.count('class="card live-card"') == 4
    assert "thumb.jpg?v=" in page


@pytest.mark.django_db
def test_categories_count_live_public_streams(client, go_live):
    music = CategoryFactory(slug="music", name="Music")
    CategoryFactory(slug="games", name="Games")
    go_live("ann", title="ann live", category=music)
    go_live("ben", title="ben live", category=music, visibility="followers")
    page = client.get("/categories/").content.decode()
    assert "● 1 live" in page and "Nobody live" in page
    category_page = client.get("/categories/music/").content.decode()
    assert "ann live" in category_page and "ben live" not in category_page
    assert client.get("/categories/nope/").status_code == 404


@pytest.mark.django_db
def test_search_by_title_owner_and_tag(client, go_live):
    go_live("ann", title="Jazz night", tags=["saxophone"])
    go_live("ben", title="Speedrun")
    assert "Jazz night" in client.get("/search/?q=jazz").content.decode()
    assert "Speedrun" in client.get("/search/?q=ben").content.decode()
    by_tag = client.get("/search/?q=%23saxophone").content.decode()
    assert "Jazz night" in by_tag and "Speedrun" not in by_tag
    assert client.get("/search/?q=%00").status_code == 200


@pytest.mark.django_db
def test_following_puts_live_channels_first(client, go_live, carol):
    offline = UserFactory(username="quiet")
    live = go_live("ann", title="ann live")
    for user in (offline, live.owner):
        Follow.objects.create(follower=carol, followee=user)
    client.force_login(carol)
    page = client.get("/following/").content.decode()
    assert page.index("ann live") < page.index("@quiet")


@pytest.mark.django_db
def test_watch_and_channel_pages(client, go_live):
    stream = go_live("ann", title="Morning coffee")
    watch = client.get(f"/streams/{stream.pk}/").content.decode()
    assert (
        "Morning coffee" in watch and f'data-hls="/streams/{stream.pk}/dvr.m3u8"' in watch
    )  # DVR is on by default
    assert "vendor/hls.js/hls.min.js" in watch
    assert 'data-hls="' in client.get("/ann/").content.decode()


@pytest.mark.django_db
def test_offline_channel_page_shows_last_live_and_upcoming(client, go_live):
    stream = go_live("ann", title="Yesterday's show")
    services.broadcast_unpublish(dialect="nginx-rtmp", key=stream.channel.stream_key, client_id="1")
    services.stream_create(
        owner=stream.owner, title="Friday special", scheduled_for=timezone.now() + timedelta(days=2)
    )
    page = client.get("/ann/").content.decode()
    assert "Ann is offline." in page and "Yesterday&#x27;s show" in page and "Friday special" in page
    assert "data-hls" not in page
    assert client.get("/nobody/").status_code == 404


@pytest.mark.django_db
def test_followers_only_stream_is_hidden_from_strangers(client, go_live, carol):
    stream = go_live("ann", visibility="followers")
    client.force_login(carol)
    assert client.get(f"/streams/{stream.pk}/").status_code == 404
    assert client.get(f"/streams/{stream.pk}/live.m3u8").status_code == 404
    assert "data-hls" not in client.get("/ann/").content.decode()
    Follow.objects.create(follower=carol, followee=stream.owner)
    assert client.get(f"/streams/{stream.pk}/").status_code == 200


@pytest.mark.django_db
def test_master_playlist_points_variants_at_storage(client, go_live):
    stream = go_live("ann", title="ann live")
    assert client.get(f"/streams/{stream.pk}/live.m3u8").status_code == 404  # nothing published yet
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=950400,RESOLUTION=640x360\n360p/index.m3u8\n"
    storages["live"].save(f"{stream.media_prefix}/master.m3u8", ContentFile(master.encode()))
    Stream.objects.filter(pk=stream.pk).update(hls_ready_at=timezone.now())
    response = client.get(f"/streams/{stream.pk}/live.m3u8")
    assert response["Content-Type"] == "application/vnd.apple.mpegurl"
    body = response.content.decode()
    assert f"http://testserver/media/{stream.media_prefix}/360p/index.m3u8" in body
    # followers-only: variant playlists come through Django, with its check
    Stream.objects.filter(pk=stream.pk).update(visibility="followers")
    storages["live"].save(
        f"{stream.media_prefix}/360p/index.m3u8", ContentFile(b"#EXTM3U\n#EXTINF:2.0,\nseg_9.ts\n")
    )
    client.force_login(stream.owner)
    body = client.get(f"/streams/{stream.pk}/live.m3u8").content.decode()
    assert f"http://testserver/streams/{stream.pk}/360p/index.m3u8" in body
    variant = client.get(f"/streams/{stream.pk}/360p/index.m3u8").content.decode()
    assert f"http://testserver/media/{stream.media_prefix}/360p/seg_9.ts" in variant
    assert client.get(f"/streams/{stream.pk}/..%2F/index.m3u8").status_code == 404
    client.logout()
    assert client.get(f"/streams/{stream.pk}/360p/index.m3u8").status_code == 404


@pytest.mark.django_db
def test_last_live_line_hides_private_broadcasts(client, go_live, carol):
    stream = go_live("ann", title="Members only", visibility="followers")
    services.broadcast_unpublish(dialect="nginx-rtmp", key=stream.channel.stream_key, client_id="1")
    client.force_login(carol)
    page = client.get("/ann/").content.decode()
    assert "Members only" not in page and "Not live yet." in page
    api_body = client.get("/api/v1/streams/live/").content.decode()
    assert "Members only" not in api_body
