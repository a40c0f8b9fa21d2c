import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from dvr import services
from dvr.models import Recording
from streams import services as stream_services
from streams.segments import Entry, SegmentIndex


@pytest.fixture(scope="session")
def ts_segments(tmp_path_factory) -> list[Path]:
    """Four real 2-second MPEG-TS segments (H.264 + AAC), as the transcoder writes them."""
    out = tmp_path_factory.mktemp("segments")
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin"),
            *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "8"),
            *(
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "60",
                "-keyint_min",
                "60",
                "-sc_threshold",
                "0",
            ),
            *("-c:a", "aac", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0"),
            *("-hls_segment_filename", str(out / "seg_%d.ts"), str(out / "index.m3u8")),
        ],
        check=True,
        timeout=60,
    )
    return sorted(out.glob("seg_*.ts"), key=lambda p: int(p.stem.split("_")[1]))


@pytest.fixture
def record_segments(ts_segments):
    """Put segments of `stream` in the "live" storage and the index as the transcoder does:
    two FFmpeg runs (a restart between them), for the source copy and one rung."""

    def make(stream, runs=((1, 2), (2, 2)), renditions=("recording", "360p")):
        at = stream.started_at or timezone.now()
        storage = storages["live"]
        names = []
        for run, count in runs:
            index = SegmentIndex(stream=stream, run=run)
            for rendition in renditions:
                published = []
                for n in range(count):
                    source = ts_segments[n % len(ts_segments)]
                    name = f"{stream.media_prefix}/{rendition}/seg_{run}_{n}.ts"
                    storage.save(name, ContentFile(source.read_bytes()))
                    started = at + timedelta(seconds=10 * run + 2 * n)
                    published.append((name, Entry(Path(name).name, 2.0, started), source.stat().st_size))
                    names.append(name)
                index.add(rendition, published)
        return names

    return make


@pytest.fixture
def recorded(go_live, record_segments, django_capture_on_commit_callbacks):
    """alice's finished broadcast with a ready recording: 2 runs of 2 segments (8 s)."""
    stream = go_live()
    record_segments(stream)
    with django_capture_on_commit_callbacks(execute=True):
        stream_services.stream_end(stream=stream, by=stream.owner)
    stream.refresh_from_db()
    services.recording_finalize(recording=Recording.objects.get(stream=stream))
    return stream
