"""Publishing HLS to S3: django-storages and boto3 against moto's S3 server on loopback
(S3 is the outside world; moto stands in for it)."""

import pytest

from socialflow.lib.storage import LiveS3Storage
from socialflow.tests.processes import moto_s3
from streams.hls_publisher import HlsPublisher


@pytest.fixture
def s3(monkeypatch):
    with moto_s3(monkeypatch, "socialflow") as (endpoint, client):
        storage = LiveS3Storage(
            bucket_name="socialflow",
            endpoint_url=endpoint,
            access_key="test",
            secret_key="test",
            region_name="us-east-1",
            file_overwrite=True,
            querystring_auth=False,
            default_acl=None,
            custom_domain="cdn.example.com/socialflow",
        )
        yield storage, client


def test_segments_playlists_and_master_land_in_the_bucket(tmp_path, s3):
    storage, client = s3
    work = tmp_path / "work"
    (work / "360p").mkdir(parents=True)
    (work / "360p" / "seg_7.ts").write_bytes(b"\x47" * 188)
    (work / "360p" / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_7.ts\n")
    (work / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n")
    publisher = HlsPublisher(work_dir=work, prefix="live/abc/tok", storage=storage)
    assert publisher.sync().master_published
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="socialflow")["Contents"])
    assert keys == ["live/abc/tok/360p/index.m3u8", "live/abc/tok/360p/seg_7.ts", "live/abc/tok/master.m3u8"]
    head = client.head_object(Bucket="socialflow", Key="live/abc/tok/360p/index.m3u8")
    assert head["ContentType"] == "application/vnd.apple.mpegurl"
    assert head["CacheControl"] == "max-age=1"
    segment = client.head_object(Bucket="socialflow", Key="live/abc/tok/360p/seg_7.ts")
    assert segment["ContentType"] == "video/mp2t" and "immutable" in segment["CacheControl"]
    # a playlist rewritten in place keeps its name (no storage-generated suffixes)
    (work / "360p" / "seg_8.ts").write_bytes(b"\x47" * 188)
    (work / "360p" / "index.m3u8").write_text(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_7.ts\n#EXTINF:2.0,\nseg_8.ts\n"
    )
    publisher.sync()
    body = client.get_object(Bucket="socialflow", Key="live/abc/tok/360p/index.m3u8")["Body"].read().decode()
    assert body.endswith("seg_8.ts\n")
    assert len(client.list_objects_v2(Bucket="socialflow")["Contents"]) == 4
    assert (
        storage.url("live/abc/tok/master.m3u8")
        == "https://cdn.example.com/socialflow/live/abc/tok/master.m3u8"
    )
