"""Rewinding a live broadcast in Chromium: OBS (FFmpeg) publishes to nginx-rtmp, the real
transcoder keeps the window, the watch page's player seeks back and returns to live."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import m3u8
import pytest
from django.conf import settings

from dvr import clips
from dvr.models import Clip
from socialflow.tests.helpers import media_duration as duration
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import BASE_DIR, live_stack
from streams import services
from streams.models import Stream
from streams.segments import DVR_EDGE_MARGIN_SECONDS
from streams.tests.helpers import encode_clip
from streams.tests.test_transcode_e2e import get

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WINDOW = 60  # the check: a 60-s window after 90 s live, played from 55 s behind
LIVE_SECONDS = 90  # live before the viewer comes: the window, full, and trimmed behind
BACK = 55  # the first seek, behind the live edge
BACK_AGAIN = 30  # the second, from live


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, transcode=True) as running_stack:
        yield running_stack


def behind(page) -> float:
    """How far behind live the frame on screen is, by its wall-clock time (PDT)."""
    return page.evaluate("(Date.now() - window.socialflowPlayer.playingDate.getTime()) / 1000")


def playing(page) -> bool:
    first = page.evaluate("document.getElementById('player').currentTime")
    page.wait_for_timeout(1500)
    return page.evaluate("document.getElementById('player').currentTime") > first + 1


def seek_to(page, value: float) -> None:
    """Move the seek bar to `value` (seconds from the start of the rewind window)."""
    page.evaluate(
        """(value) => {
          const seek = document.getElementById('dvr-seek');
          seek.value = String(value);
          seek.dispatchEvent(new Event('change'));
        }""",
        value,
    )


def seek_back(page, seconds: float) -> None:
    page.evaluate(
        """(seconds) => {
          const seek = document.getElementById('dvr-seek');
          seek.value = String(parseFloat(seek.max) - seconds);
          seek.dispatchEvent(new Event('change'));
        }""",
        seconds,
    )


def test_a_viewer_rewinds_a_live_broadcast_and_returns_to_live_and_clips_it(
    stack, browser, streamer, channel, bob, tmp_path
):
    stream = services.stream_create(
        owner=streamer, title="Rewind me", record=False, dvr_window_seconds=WINDOW
    )
    # OBS on another machine: a pre-encoded clip, looped and sent as is (-c copy), so the
    # publisher costs no CPU the transcoder and the browser need (a live x264 publisher on
    # this 2-core machine ran at 0.8x real time, and "the last 20 s" held 16 s of video).
    clip = encode_clip(tmp_path / "360p.flv", size="640x360")
    publisher = subprocess.Popen(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-stream_loop", "-1"),
            *("-i", str(clip), "-c", "copy", "-f", "flv", f"{stack['rtmp_url']}/{channel.stream_key}"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: Stream.objects.filter(pk=stream.pk, hls_ready_at__isnull=False).exists(),
            timeout=20,
            what="live",
        )
        ready = time.monotonic()
        time.sleep(max(0, int(os.environ.get("DVR_E2E_WAIT", LIVE_SECONDS)) - (time.monotonic() - ready)))
        variant = f"{stack['web']}/streams/{stream.pk}/dvr/360p.m3u8"
        status, full = get(variant)
        window = m3u8.loads(full.decode())
        covered = sum(s.duration for s in window.segments)
        print(f"after {LIVE_SECONDS} s live, the rewind playlist covers {covered:.0f} s")
        reach = WINDOW + DVR_EDGE_MARGIN_SECONDS  # the window behind an edge a few seconds old
        assert status == 200 and (os.environ.get("DVR_E2E_WAIT") or WINDOW - 4 <= covered <= reach + 2)

        page = browser.new_page(viewport={"width": 1280, "height": 800})
        # What the browser downloaded, by the Resource Timing API.
        page.add_init_script("performance.setResourceTimingBufferSize(5000)")
        # Not "load": once (CI, 2026-12-03) the page played for 30 s and "load" never fired
        # (a media element may delay it); what matters is the player, waited for next.
        page.goto(f"{stack['web']}/streams/{stream.pk}/", wait_until="domcontentloaded")
        page.wait_for_function("document.getElementById('player').currentTime > 1", timeout=20000)
        page.wait_for_timeout(3000)
        # Settled at the live sync point (a slow machine may stall once while starting).
        page.wait_for_function(
            "parseFloat(document.getElementById('dvr-bar').dataset.behind) < 4", timeout=20000
        )
        at_live = behind(page)
        state = page.evaluate(
            """() => { const h = window.socialflowPlayer, v = document.getElementById('player');
              return {sync: h.liveSyncPosition, target: h.targetLatency, latency: h.latency,
                      t: v.currentTime, start: v.seekable.start(0), end: v.seekable.end(0),
                      behind: document.getElementById('dvr-bar').dataset.behind}; }"""
        )
        print(f"at live: {at_live:.1f} s behind the clock; player {state}")
        assert at_live < 15 and "behind" not in page.get_attribute("#dvr-live", "class")

        # BACK s behind the live edge (the newest segment), with the seek bar: the player
        # itself sits a few seconds behind that edge (hls.js's live sync point), so this is
        # a few seconds less behind where it played, and the frame on screen is the edge's
        # age + BACK s.
        edge_age = at_live - (state["end"] - state["t"])
        seek_to(page, state["end"] - BACK - state["start"])
        page.wait_for_function(
            f"parseFloat(document.getElementById('dvr-bar').dataset.behind) > {BACK - 7}", timeout=15000
        )
        assert playing(page)
        rewound = behind(page)
        print(f"rewound to {BACK} s behind the live edge: the frame on screen is {rewound:.1f} s old")
        assert BACK - 4 <= rewound - edge_age <= BACK + 6
        assert "behind" in page.get_attribute("#dvr-live", "class")
        assert "behind live" in page.text_content("#dvr-behind")
        out = BASE_DIR / "test-output" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out / "watch-dvr-behind.png")

        page.click("#dvr-live")
        page.wait_for_function(
            "parseFloat(document.getElementById('dvr-bar').dataset.behind) < 4", timeout=15000
        )
        assert playing(page) and behind(page) < at_live + 4

        seek_back(page, BACK_AGAIN)
        page.wait_for_function(
            f"parseFloat(document.getElementById('dvr-bar').dataset.behind) > {BACK_AGAIN - 5}", timeout=15000
        )
        assert playing(page)
        # hls.js lands a seek on a segment (2 s) and maps the frame's time from it: +-6 s
        assert BACK_AGAIN - 6 <= behind(page) - at_live <= BACK_AGAIN + 6
        page.click("#dvr-live")
        page.wait_for_function(
            "parseFloat(document.getElementById('dvr-bar').dataset.behind) < 4", timeout=15000
        )
        assert "behind" not in page.get_attribute("#dvr-live", "class")

        page.wait_for_timeout(10000)  # a few more refreshes at the live edge
        loads = page.evaluate(
            """() => performance.getEntriesByType('resource')
                 .filter(e => e.name.includes('/dvr/360p.m3u8'))
                 .map(e => [e.name.includes('_HLS_skip=YES'), e.decodedBodySize])"""
        )
        deltas = [size for delta, size in loads if delta]
        full = [size for delta, size in loads if not delta]
        largest = max(deltas, default=0)
        print(f"{len(full)} full loads {full}; {len(deltas)} delta refreshes, largest {largest} bytes")
        # after the first load, hls.js refreshes with delta updates: small whatever the window
        assert len(deltas) >= 8 and max(deltas) < 8 * 1024
        assert len(full) <= 5  # the first load, and at most one after each of the four jumps

        # a viewer clips the last 20 s (from the top rung the window keeps: record is off)
        asked = time.monotonic()
        clip = clips.clip_create(
            stream=Stream.objects.get(pk=stream.pk), by=bob, title="Last 20 s", seconds=20
        )
        clip = wait_for(
            lambda: Clip.objects.filter(pk=clip.pk).exclude(status="processing").first(),
            timeout=30,
            what="the clip",
        )
        took = time.monotonic() - asked
        length = duration(str(Path(settings.MEDIA_ROOT) / clip.mp4_path))
        print(f"clip ready {took:.1f} s after the request, {length:.2f} s long")
        assert clip.status == "ready", clip.reason
        assert abs(length - 20) <= 2
    finally:
        publisher.kill()
        publisher.wait()
