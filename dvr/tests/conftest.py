import subprocess
from datetime import timedelta
from pathlib import Path

import m3u8
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone

from dvr import services
from dvr.models import Recording
from streams import services as stream_services
from streams.segments import Entry, SegmentIndex


@pytest.fixture(scope="session")
def ts_segments(tmp_path_factory) -> list[tuple[Path, float]]:
    """Four real ~2-second MPEG-TS segments (H.264 with B-frames + AAC) and their durations,
    cut as the transcoder cuts the source copy: a stream copy of an FLV, as from RTMP. The
    audio of each starts before its video, as in a real broadcast's source copy."""
    out = tmp_path_factory.mktemp("segments")
    ffmpeg = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin")
    source = out / "source.flv"
    subprocess.run(
        [
            *ffmpeg,
            *("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "8"),
            *("-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-keyint_min", "60"),
            *("-sc_threshold", "0", "-c:a", "aac", "-f", "flv", str(source)),
        ],
        check=True,
        timeout=60,
    )
    subprocess.run(
        [
            *ffmpeg,
            *("-i", str(source), "-c", "copy", "-f", "hls", "-hls_time", "2", "-hls_list_size", "0"),
            *("-hls_segment_filename", str(out / "seg_%d.ts"), str(out / "index.m3u8")),
        ],
        check=True,
        timeout=60,
    )
    playlist = m3u8.load(str(out / "index.m3u8"))
    return [(out / segment.uri, segment.duration) for segment in playlist.segments]


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
                    source, duration = ts_segments[n % len(ts_segments)]
                    name = f"{stream.media_prefix}/{rendition}/seg_{run}_{n}.ts"
                    storage.save(name, ContentFile(source.read_bytes()))
                    started = at + timedelta(seconds=10 * run + 2 * n)
                    entry = Entry(Path(name).name, duration, started)
                    published.append((name, entry, source.stat().st_size))
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
