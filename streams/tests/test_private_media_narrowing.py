"""S-04, what remained: a broadcast that goes live public (or unlisted) and is narrowed to
followers-only while live leaves public storage. The transcoder's publisher writes under
private/ from its next round and republishes the live window there; what was published
under live/ (live window, rewind window, recording, thumbnail) moves there, its index rows
renamed, so a URL copied while it was public stops working and followers play on."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.utils import timezone

from accounts.models import Follow
from socialflow.lib.storage import LiveS3Storage
from socialflow.tests.processes import moto_s3
from streams import hls_publisher, segments
from streams import services as stream_services
from streams.hls_publisher import HlsPublisher
from streams.models import MediaSegment, Stream, StreamEvent
from streams.segments import SegmentIndex
from streams.tests.test_private_media import body, segment_urls, write_ladder

pytestmark = pytest.mark.django_db


def playlist(*names: str) -> str:
    return "#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + "".join(f"#EXTINF:2.0,\n{n}\n" for n in names)


def index_rows(stream: Stream, rendition: str, names: list[str]) -> None:
    now = timezone.now()
    MediaSegment.objects.bulk_create(
        MediaSegment(
            stream=stream,
            rendition=rendition,
            position=n,
            run=1,
            started_at=now,
            duration=2.0,
            name=f"{stream.media_prefix}/{rendition}/{name}",
        )
        for n, name in enumerate(names)
    )


def narrow(stream: Stream, django_capture_on_commit_callbacks) -> Stream:
    """The streamer narrows the broadcast; the move the narrowing queues is run here (the
    worker would)."""
    with django_capture_on_commit_callbacks() as queued:
        stream_services.stream_update(stream=stream, visibility="followers")
    assert queued, "the narrowing queues the move"
    stream_services.stream_media_move_private(stream_id=stream.pk)
    return Stream.objects.get(pk=stream.pk)


def files_under(prefix: str) -> list[str]:
    root = Path(settings.MEDIA_ROOT) / prefix
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_narrowing_a_live_public_broadcast_moves_its_media_out_of_public_storage(
    client, go_live, carol, django_capture_on_commit_callbacks, monkeypatch
):
    frames: list[dict] = []
    monkeypatch.setattr(
        stream_services.realtime, "send_on_commit", lambda _id, payload, **m: frames.append(payload)
    )
    stream = go_live("dora")
    write_ladder(stream)
    (Path(settings.MEDIA_ROOT) / stream.media_prefix / "recording").mkdir()
    (Path(settings.MEDIA_ROOT) / stream.media_prefix / "recording" / "rec_1.ts").write_bytes(b"\x47" * 188)
    index_rows(stream, "360p", ["seg_1.ts", "seg_2.ts"])
    index_rows(stream, "recording", ["rec_1.ts"])
    public = stream.media_prefix
    copied = f"/media/{public}/360p/seg_1.ts"  # what a stranger copied while it was public
    assert client.get(copied).status_code == 200

    stream = narrow(stream, django_capture_on_commit_callbacks)

    assert stream.media_private and stream.media_prefix.startswith("private/")
    assert {"type": "stream.ladder", "stream_id": stream.pk, "rungs": None} in frames  # players reload
    assert files_under(public) == []
    for name in ("master.m3u8", "360p/index.m3u8", "thumb.jpg", "recording/rec_1.ts", "360p/seg_2.ts"):
        assert client.get(f"/media/{public}/{name}").status_code == 404, name
        assert client.get(f"/media/{stream.media_prefix}/{name}").status_code == 404, name  # unsigned
    assert client.get(copied).status_code == 404
    assert sorted(MediaSegment.objects.filter(stream=stream).values_list("name", flat=True)) == [
        f"{stream.media_prefix}/360p/seg_1.ts",
        f"{stream.media_prefix}/360p/seg_2.ts",
        f"{stream.media_prefix}/recording/rec_1.ts",
    ]
    messages = list(StreamEvent.objects.filter(stream=stream).values_list("message", flat=True))
    assert any("moves to private storage" in m for m in messages)
    assert any("moved from public to private storage" in m for m in messages)
    # A stranger: nothing. A follower plays on by signed URLs, live and rewind alike.
    assert client.get(f"/streams/{stream.pk}/live.m3u8").status_code == 404
    Follow.objects.create(follower=carol, followee=stream.owner)
    client.force_login(carol)
    (variant,) = segment_urls(client.get(f"/streams/{stream.pk}/live.m3u8").content.decode())
    urls = segment_urls(client.get(urlsplit(variant).path).content.decode())
    assert urls and all("/media/private/" in u and "&s=" in u for u in urls)
    first = urlsplit(urls[0])
    assert body(client.get(f"{first.path}?{first.query}")) == b"\x47" * 188
    dvr = client.get(f"/streams/{stream.pk}/dvr/360p.m3u8")
    assert dvr.status_code == 200
    assert all("/media/private/" in u for u in segment_urls(dvr.content.decode()))


def test_the_publisher_writes_under_private_from_its_next_round(
    tmp_path, go_live, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(hls_publisher, "PLACE_CHECK_SECONDS", 0)
    queued: list[str] = []
    monkeypatch.setattr(
        "streams.tasks.stream_media_private_task.delay", lambda stream_id: queued.append(stream_id)
    )
    stream = go_live("dora")
    public = stream.media_prefix
    work = tmp_path / "work"
    (work / "360p").mkdir(parents=True)
    (work / "recording").mkdir()
    for name in ("seg_1.ts", "seg_2.ts"):
        (work / "360p" / name).write_bytes(b"\x47" * 188)
    (work / "360p" / "index.m3u8").write_text(playlist("seg_1.ts", "seg_2.ts"))
    (work / "recording" / "rec_1.ts").write_bytes(b"r")
    (work / "recording" / "index.m3u8").write_text(playlist("rec_1.ts"))
    (work / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n")
    (work / "thumb.jpg").write_bytes(b"jpeg")
    publisher = HlsPublisher(
        work_dir=work,
        prefix=public,
        storage=storages["live"],
        index=SegmentIndex(stream=stream, run=1),
        stream=stream,
    )
    publisher.sync()
    assert "360p/seg_2.ts" in files_under(public)

    with django_capture_on_commit_callbacks(execute=False):
        stream_services.stream_update(stream=Stream.objects.get(pk=stream.pk), visibility="followers")
    (work / "360p" / "seg_3.ts").write_bytes(b"\x47" * 188)
    (work / "360p" / "index.m3u8").write_text(playlist("seg_2.ts", "seg_3.ts"))
    publisher.sync()

    private = f"private/{stream.pk}/{stream.media_token}"
    assert publisher.prefix == private and stream.media_private  # the transcoder's object too
    assert queued == [stream.pk]  # the rest (the recording so far) is to be moved
    assert "360p/seg_3.ts" not in files_under(public)  # new segments: private only
    assert {"master.m3u8", "thumb.jpg", "360p/index.m3u8"}.isdisjoint(files_under(public))
    assert {"master.m3u8", "thumb.jpg", "360p/index.m3u8", "360p/seg_2.ts", "360p/seg_3.ts"} <= set(
        files_under(private)
    )
    # The move takes what is left; the index names follow, and the timeline continues.
    stream_services.stream_media_move_private(stream_id=stream.pk)
    assert files_under(public) == []
    rows = MediaSegment.objects.filter(stream=stream).order_by("rendition", "position")
    assert [(r.rendition, r.position, r.name) for r in rows] == [
        ("360p", 0, f"{private}/360p/seg_1.ts"),
        ("360p", 1, f"{private}/360p/seg_2.ts"),
        ("360p", 2, f"{private}/360p/seg_3.ts"),
        ("recording", 0, f"{private}/recording/rec_1.ts"),
    ]
    assert all((Path(settings.MEDIA_ROOT) / r.name).exists() for r in rows)


def test_widening_again_keeps_it_private_and_a_prepared_broadcast_moves_nothing(
    client, go_live, django_capture_on_commit_callbacks
):
    stream = go_live("dora")
    write_ladder(stream)
    stream = narrow(stream, django_capture_on_commit_callbacks)
    stream_services.stream_update(stream=stream, visibility="public")
    stream.refresh_from_db()
    assert stream.media_private  # documented: widening does not bring it back
    (variant,) = segment_urls(client.get(f"/streams/{stream.pk}/live.m3u8").content.decode())
    assert f"/streams/{stream.pk}/360p/index.m3u8" in variant  # through the check, signed
    prepared = stream_services.stream_create(owner=stream.owner, title="Later")
    stream_services.stream_update(stream=prepared, visibility="followers")
    prepared.refresh_from_db()
    assert not prepared.media_private  # decided when it goes live
    assert not prepared.events.filter(details__has_key="media_private").exists()


def test_on_s3_the_publisher_follows_and_the_move_is_a_server_side_copy(tmp_path, monkeypatch, go_live):
    monkeypatch.setattr(hls_publisher, "PLACE_CHECK_SECONDS", 0)
    monkeypatch.setattr("streams.tasks.stream_media_private_task.delay", lambda stream_id: None)
    bucket = "socialflow-narrowing"
    stream = go_live("dora")
    public = stream.media_prefix
    with moto_s3(monkeypatch, bucket) as (endpoint, client):
        storage = LiveS3Storage(
            bucket_name=bucket,
            endpoint_url=endpoint,
            access_key="test",
            secret_key="test",
            region_name="us-east-1",
            file_overwrite=True,
            querystring_auth=False,
            default_acl=None,
        )

        def keys() -> list[str]:
            return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))

        work = tmp_path / "work"
        (work / "360p").mkdir(parents=True)
        (work / "recording").mkdir()
        (work / "360p" / "seg_1.ts").write_bytes(b"\x47" * 188)
        (work / "360p" / "index.m3u8").write_text(playlist("seg_1.ts"))
        (work / "recording" / "rec_1.ts").write_bytes(b"\x47" * 188)
        (work / "recording" / "index.m3u8").write_text(playlist("rec_1.ts"))
        (work / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n")
        publisher = HlsPublisher(
            work_dir=work,
            prefix=public,
            storage=storage,
            index=SegmentIndex(stream=stream, run=1),
            stream=stream,
        )
        publisher.sync()
        assert f"{public}/recording/rec_1.ts" in keys()

        stream_services.stream_update(stream=Stream.objects.get(pk=stream.pk), visibility="followers")
        (work / "360p" / "seg_2.ts").write_bytes(b"\x47" * 188)
        (work / "360p" / "index.m3u8").write_text(playlist("seg_1.ts", "seg_2.ts"))
        publisher.sync()
        private = stream.media_prefix
        assert private.startswith("private/")
        assert keys() == sorted(
            [
                f"{public}/360p/seg_1.ts",  # left for the move (its index row names it)
                f"{public}/recording/rec_1.ts",
                f"{private}/360p/index.m3u8",
                f"{private}/360p/seg_1.ts",
                f"{private}/360p/seg_2.ts",
                f"{private}/master.m3u8",
            ]
        )

        assert segments.media_move_private(stream=stream, storage=storage) == 2
        assert all(key.startswith(f"{private}/") for key in keys())
        head = client.head_object(Bucket=bucket, Key=f"{private}/recording/rec_1.ts")
        assert head["ContentType"] == "video/mp2t" and "immutable" in head["CacheControl"]  # copied with it
        assert sorted(MediaSegment.objects.filter(stream=stream).values_list("name", flat=True)) == [
            f"{private}/360p/seg_1.ts",
            f"{private}/360p/seg_2.ts",
            f"{private}/recording/rec_1.ts",
        ]
        assert segments.media_move_private(stream=stream, storage=storage) == 0  # nothing left
