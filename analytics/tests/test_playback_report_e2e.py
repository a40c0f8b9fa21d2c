"""The watch page's player reports playback quality over the stream socket, and the server
stores it: a real broadcast (nginx-rtmp, the transcoder, Daphne) watched in Chromium, with
the report interval at 3 s (PLAYBACK_REPORT_SECONDS)."""

import json
import time

import m3u8
import pytest

from analytics.models import PlaybackReport
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.models import Stream
from streams.tests.helpers import encode_clip, publish_clip
from streams.tests.test_transcode_e2e import get

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path):
    with live_stack(
        tmp_path, transcode=True, PLAYBACK_REPORT_SECONDS="3", PLAYBACK_REPORT_MIN_SECONDS="2"
    ) as running_stack:
        yield running_stack


def test_the_player_reports_playback_and_the_server_keeps_it(stack, channel, browser, tmp_path):
    clip = encode_clip(tmp_path / "720p.flv", size="1280x720")
    publisher = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=45)
    try:
        stream = wait_for(lambda: Stream.objects.live().filter(channel=channel).first(), what="live")

        def master_text() -> str | None:
            status, body = get(f"{stack['web']}/streams/{stream.pk}/live.m3u8")
            return body.decode() if status == 200 else None

        master = wait_for(master_text, timeout=20, what="the master playlist")
        rungs = {p.uri.rstrip("/").split("/")[-2] for p in m3u8.loads(master).playlists}
        page = browser.new_page()
        sent: list[dict] = []
        page.on(
            "websocket",
            lambda ws: ws.on(
                "framesent",
                lambda payload: sent.append(json.loads(payload)) if "playback" in payload else None,
            ),
        )
        page.goto(f"{stack['web']}/streams/{stream.pk}/", wait_until="domcontentloaded")
        page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=30000)
        deadline = time.monotonic() + 25
        while len(sent) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        page.close()
        print(sent)
        assert len(sent) >= 2
        for report in sent:
            assert report["type"] == "playback.report"
            assert all(
                isinstance(report[k], int)
                for k in ("startup_ms", "rebuffer_ms", "played_ms", "dropped_frames")
            )
            assert 0 < report["startup_ms"] < 60000 and report["rung"] in rungs | {"auto"}
        assert sent[1]["played_ms"] > 1000
        stored = wait_for(
            lambda: PlaybackReport.objects.filter(stream=stream).count() >= 2 or None, timeout=10
        )
        assert stored
        first = PlaybackReport.objects.filter(stream=stream).order_by("at").first()
        assert first.startup_ms == sent[0]["startup_ms"] and first.session is not None
        assert PlaybackReport.objects.filter(stream=stream, startup_ms__isnull=True).exists()
    finally:
        publisher.kill()
        publisher.wait()
