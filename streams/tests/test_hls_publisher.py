"""Publishing FFmpeg's local output to the "live" storage (the real FileSystemStorage)."""

import time

from django.core.files.storage import storages

from streams import hls_publisher
from streams.hls_publisher import HlsPublisher
from streams.models import MediaSegment
from streams.segments import SegmentIndex


def playlist(*segments, end=False):
    body = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n" + "".join(f"#EXTINF:2.0,\n{s}\n" for s in segments)
    return body + ("#EXT-X-ENDLIST\n" if end else "")


def test_segments_then_playlists_then_master(tmp_path, settings):
    work = tmp_path / "work"
    for rung in ("720p", "360p"):
        (work / rung).mkdir(parents=True)
        (work / rung / "seg_1.ts").write_bytes(b"x" * 100)
        (work / rung / "index.m3u8").write_text(playlist("seg_1.ts"))
    (work / "master.m3u8").write_text("#EXTM3U\n720p/index.m3u8\n360p/index.m3u8\n")
    (work / "thumb.jpg").write_bytes(b"jpeg")
    saved = []

    class Recording:  # the real storage, noting the order of writes
        def save(self, name, content):
            saved.append(name.removeprefix("live/abc/tok/"))
            return storages["live"].save(name, content)

    publisher = HlsPublisher(work_dir=work, prefix="live/abc/tok", storage=Recording())
    result = publisher.sync()
    for rung in ("720p", "360p"):
        assert saved.index(f"{rung}/seg_1.ts") < saved.index(f"{rung}/index.m3u8")
    assert saved.index("master.m3u8") > max(saved.index("720p/index.m3u8"), saved.index("360p/index.m3u8"))
    assert (result.new_segments, result.new_bytes, result.master_published) == (2, 200, True)
    root = settings.MEDIA_ROOT / "live/abc/tok"
    assert (root / "720p/seg_1.ts").read_bytes() == b"x" * 100
    assert (root / "master.m3u8").exists() and (root / "thumb.jpg").read_bytes() == b"jpeg"
    assert publisher.sync().new_segments == 0  # nothing twice


def test_a_playlist_waits_for_its_segments(tmp_path, settings):
    work = tmp_path / "work"
    (work / "720p").mkdir(parents=True)
    (work / "720p" / "index.m3u8").write_text(playlist("seg_1.ts"))  # segment not written yet
    publisher = HlsPublisher(work_dir=work, prefix="live/p", storage=storages["live"])
    publisher.sync()
    assert not (settings.MEDIA_ROOT / "live/p/720p/index.m3u8").exists()
    (work / "720p" / "seg_1.ts").write_bytes(b"x")
    publisher.sync()
    assert (settings.MEDIA_ROOT / "live/p/720p/index.m3u8").exists()


def test_segments_leaving_the_window_are_removed_unless_kept(
    tmp_path, settings, monkeypatch, db, live_stream
):
    monkeypatch.setattr(hls_publisher, "DROPPED_SEGMENT_GRACE_SECONDS", 0)
    for keep in (False, True):
        work = tmp_path / f"work-{keep}"
        (work / "720p").mkdir(parents=True)
        prefix = f"live/keep-{keep}"
        index = SegmentIndex(stream=live_stream, run=1) if keep else None
        publisher = HlsPublisher(work_dir=work, prefix=prefix, storage=storages["live"], index=index)
        for n in range(1, 4):
            (work / "720p" / f"seg_{n}.ts").write_bytes(b"x")
        (work / "720p" / "index.m3u8").write_text(playlist("seg_1.ts", "seg_2.ts"))
        publisher.sync()
        (work / "720p" / "index.m3u8").write_text(playlist("seg_2.ts", "seg_3.ts"))
        publisher.sync()
        time.sleep(0.01)
        publisher.sync()
        assert (settings.MEDIA_ROOT / prefix / "720p/seg_1.ts").exists() is keep
        assert (settings.MEDIA_ROOT / prefix / "720p/seg_3.ts").exists()
    # the kept ones are indexed, in order, with their storage names
    rows = MediaSegment.objects.filter(stream=live_stream, rendition="720p").order_by("position")
    assert [(r.position, r.name, r.duration) for r in rows] == [
        (n - 1, f"live/keep-True/720p/seg_{n}.ts", 2.0) for n in (1, 2, 3)
    ]
