"""S-04: a followers-only broadcast's media (playlists, segments, thumbnail, recording) is
fetched only through the visibility check: its files sit under private/, which neither the
public bucket policy nor Django's media serving hands out without a signature, and the
signed URLs the app gives a follower lapse after MEDIA_SIGNED_URL_SECONDS."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from accounts.models import Follow
from socialflow.lib import media_urls
from socialflow.tests.processes import BASE_DIR, moto_s3
from streams.models import Stream

pytestmark = pytest.mark.django_db

PLAYLIST = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_1.ts\n#EXTINF:2.0,\nseg_2.ts\n"


def write_ladder(stream: Stream) -> None:
    """What the transcoder publishes to the local "live" storage: a master, a rung, a thumb."""
    root = Path(settings.MEDIA_ROOT) / stream.media_prefix
    (root / "360p").mkdir(parents=True)
    (root / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/index.m3u8\n")
    (root / "360p" / "index.m3u8").write_text(PLAYLIST)
    for name in ("seg_1.ts", "seg_2.ts"):
        (root / "360p" / name).write_bytes(b"\x47" * 188)
    (root / "thumb.jpg").write_bytes(b"\xff\xd8thumb")
    Stream.objects.filter(pk=stream.pk).update(
        hls_ready_at=timezone.now(), thumbnail_updated_at=timezone.now()
    )


@pytest.fixture
def followers_only(go_live):
    stream = go_live(visibility="followers")
    write_ladder(stream)
    return Stream.objects.get(pk=stream.pk)


def body(response) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def segment_urls(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def test_a_followers_only_broadcast_writes_under_private_and_a_public_one_does_not(go_live):
    assert go_live(visibility="followers").media_prefix.startswith("private/")
    assert go_live("dora").media_prefix.startswith("live/")


def test_nothing_of_it_is_served_by_name(client, followers_only):
    for name in ("master.m3u8", "360p/index.m3u8", "360p/seg_1.ts", "thumb.jpg"):
        assert client.get(f"/media/{followers_only.media_prefix}/{name}").status_code == 404, name


def test_a_follower_gets_signed_segment_urls_that_work_and_lapse(client, followers_only, carol):
    Follow.objects.create(follower=carol, followee=followers_only.owner)
    client.force_login(carol)
    master = client.get(f"/streams/{followers_only.pk}/live.m3u8").content.decode()
    (variant,) = segment_urls(master)
    assert variant.endswith(f"/streams/{followers_only.pk}/360p/index.m3u8")  # through the check
    playlist = client.get(urlsplit(variant).path).content.decode()
    urls = segment_urls(playlist)
    assert len(urls) == 2 and all("?e=" in url and "&s=" in url for url in urls)
    first = urlsplit(urls[0])
    assert body(client.get(f"{first.path}?{first.query}")) == b"\x47" * 188
    tampered = first.query.replace("s=", "s=0")
    assert client.get(f"{first.path}?{tampered}").status_code == 404
    other = f"/media/{followers_only.media_prefix}/360p/seg_2.ts?{first.query}"  # seg_1's signature
    assert client.get(other).status_code == 404
    with time_machine.travel(time.time() + settings.MEDIA_SIGNED_URL_SECONDS + 1):
        assert client.get(f"{first.path}?{first.query}").status_code == 404  # lapsed
    # Unfollowed: no new playlist, so no new signature.
    Follow.objects.filter(follower=carol).delete()
    assert client.get(urlsplit(variant).path).status_code == 404


def test_the_thumbnail_is_signed_for_who_may_see_it(api_as, followers_only, carol):
    Follow.objects.create(follower=carol, followee=followers_only.owner)
    url = api_as(carol).get(f"/api/v1/streams/{followers_only.pk}/").json()["thumbnail_url"]
    parts = urlsplit(url)
    assert parts.path.endswith("/thumb.jpg") and {"e", "s"} <= set(parse_qs(parts.query))
    assert body(api_as(carol).get(f"{parts.path}?{parts.query}")) == b"\xff\xd8thumb"
    assert api_as(carol).get(parts.path).status_code == 404


def test_a_public_broadcast_keeps_plain_urls(client, go_live):
    stream = go_live("dora")
    write_ladder(stream)
    master = client.get(f"/streams/{stream.pk}/live.m3u8").content.decode()
    (variant,) = segment_urls(master)
    assert f"/media/{stream.media_prefix}/360p/index.m3u8" in variant  # straight at storage
    assert client.get(urlsplit(variant).path).status_code == 200


def test_the_bucket_policy_leaves_private_out():
    policy = json.loads((BASE_DIR / "deploy/minio-public-read.json").read_text())
    resources = [r for statement in policy["Statement"] for r in statement["Resource"]]
    assert not any("private" in r or r.endswith(":::socialflow/*") for r in resources)


def test_on_s3_a_private_file_gets_a_presigned_url_for_the_public_address(settings, monkeypatch):
    bucket = "socialflow-private-media"
    with moto_s3(monkeypatch, bucket) as (endpoint, client):
        client.put_object(Bucket=bucket, Key="private/x/t/360p/seg_1.ts", Body=b"segment")
        settings.USE_S3 = True
        settings.AWS_STORAGE_BUCKET_NAME = bucket
        settings.AWS_S3_PUBLIC_URL = f"{endpoint}/{bucket}"
        settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = "test"
        settings.AWS_S3_REGION_NAME = "us-east-1"
        settings.STORAGES = {
            **settings.STORAGES,
            "live": {
                "BACKEND": "socialflow.lib.storage.LiveS3Storage",
                "OPTIONS": {"bucket_name": bucket, "endpoint_url": endpoint, "querystring_auth": False},
            },
        }
        media_urls._public_client.cache_clear()
        try:
            url = media_urls.media_url("private/x/t/360p/seg_1.ts", lambda u: u)
            plain = media_urls.media_url("live/x/t/360p/seg_1.ts", lambda u: u)
        finally:
            media_urls._public_client.cache_clear()
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{endpoint}/{bucket}/private/x/t/360p/seg_1.ts?")
        assert (
            query["X-Amz-Expires"] == [str(settings.MEDIA_SIGNED_URL_SECONDS)] and "X-Amz-Signature" in query
        )
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"segment"
        assert "X-Amz-Signature" not in plain


def test_a_token_client_plays_by_the_grant_in_its_hls_url(api_as, followers_only, carol, go_live):
    # Issue 14: a native player sends neither the app's token nor a cookie; the API's hls_url
    # names its user for this broadcast, and every playlist still runs the visibility check.
    from django.test import Client

    Follow.objects.create(follower=carol, followee=followers_only.owner)
    hls_url = api_as(carol).get(f"/api/v1/streams/{followers_only.pk}/").json()["hls_url"]
    assert "?grant=" in hls_url
    player = Client()  # no session
    master = player.get(hls_url)
    assert master.status_code == 200, master.content
    (variant,) = segment_urls(master.content.decode())
    assert "grant=" in variant
    playlist = player.get(variant)
    assert playlist.status_code == 200
    segment = urlsplit(segment_urls(playlist.content.decode())[0])
    assert body(player.get(f"{segment.path}?{segment.query}")) == b"\x47" * 188
    # Refused: without it, tampered, for another broadcast, and once carol unfollows.
    path, grant = hls_url.split("?grant=")
    assert player.get(path).status_code == 404
    assert player.get(f"{path}?grant={grant[:-2]}xx").status_code == 404
    other = go_live("dora", visibility="followers")  # carol follows dora too: only her grant differs
    write_ladder(other)
    Follow.objects.create(follower=carol, followee=other.owner)
    assert player.get(f"/streams/{other.pk}/live.m3u8?grant={grant}").status_code == 404
    Follow.objects.filter(follower=carol).delete()
    assert player.get(hls_url).status_code == 404
    assert player.get(variant).status_code == 404


def test_a_public_broadcasts_hls_url_needs_no_grant(api_as, go_live, carol):
    stream = go_live("dora")
    Stream.objects.filter(pk=stream.pk).update(hls_ready_at=timezone.now())
    assert "grant" not in api_as(carol).get(f"/api/v1/streams/{stream.pk}/").json()["hls_url"]
