"""The broadcast analytics page in Debian's Chromium, through a real Daphne: uPlot draws
every chart from the page's data, non-empty, and the highlight of a chat spike is listed.
The screenshot is test-output/browser/analytics.png."""

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from analytics import summaries
from analytics.models import StreamSample, ViewerSession
from chat.tests.test_chat_browser import login
from socialflow.lib import realtime
from socialflow.tests.processes import BASE_DIR
from streams.models import Stream, StreamHealthSample

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DRAWN = """() => [...document.querySelectorAll('.chart canvas')].map((c) => {
  const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inked = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) inked++;
  return [c.closest('.chart').id, c.width, c.height, inked];
})"""


def test_the_analytics_page_draws_its_charts_from_real_data(daphne, browser, go_live):
    stream = go_live(title="An hour of test patterns")
    start = timezone.now() - timedelta(hours=2)
    Stream.objects.filter(pk=stream.pk).update(
        started_at=start, status=Stream.Status.ENDED, ended_at=start + timedelta(hours=1)
    )
    stream.refresh_from_db()
    StreamSample.objects.bulk_create(
        StreamSample(
            stream=stream,
            at=start + timedelta(seconds=10 * (i + 1)),
            viewers=20 + (i // 30) % 7,
            viewers_peak=22 + (i // 30) % 7,
            chat_messages=12 if 180 <= i < 186 else i % 2,
            reactions={"fire": 8} if 180 <= i < 186 else {},
        )
        for i in range(360)
    )
    StreamHealthSample.objects.bulk_create(
        StreamHealthSample(
            stream=stream,
            at=start + timedelta(seconds=5 * (i + 1)),
            fps=22 if 400 <= i < 420 else 30,
            source_fps=30,
            speed=0.8 if 400 <= i < 420 else 1.0,
            bitrate_kbps=3100,
            ingest_kbps=4500 - (i % 10) * 20,
            status="warning" if 400 <= i < 420 else "good",
            reason="The transcoder runs at 0.80x real time, so viewers buffer." if 400 <= i < 420 else "",
        )
        for i in range(720)
    )
    ViewerSession.objects.create(stream=stream, joined_at=start, left_at=start + timedelta(minutes=40))
    summaries.summary_refresh(stream=stream, final=True)

    page = browser.new_page(viewport={"width": 1280, "height": 2000})
    login(page, daphne, "alice")
    page.goto(f"{daphne}/dashboard/analytics/{stream.pk}/")
    page.wait_for_function("document.querySelectorAll('.chart canvas').length >= 4", timeout=15000)
    charts = page.evaluate(DRAWN)
    print(charts)
    assert {c[0] for c in charts} == {"chart-viewers", "chart-bitrate", "chart-fps", "chart-speed"}
    for chart_id, width, height, inked in charts:
        assert width > 300 and height > 100, chart_id
        assert inked > 2000, f"{chart_id} looks empty ({inked} pixels drawn)"
    assert "30:00" in page.text_content("#highlights")  # the spike, 30 minutes in
    out = BASE_DIR / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=out / "analytics.png", full_page=True)


def send(stream_id: str, payload: dict, **meta) -> None:
    """As the transcoder and presence send, from a thread of its own: Playwright's sync API
    runs an event loop in this one."""

    def run() -> None:
        try:
            realtime.send_on_commit(stream_id, payload, **meta)
        finally:
            connections.close_all()  # this thread's connection, or the test database stays in use

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)


def test_the_dashboards_live_panel_follows_the_socket(daphne, browser, go_live):
    """The streamer's dashboard shows the transcoder's readings and the viewer count as
    they come over the broadcast's socket."""
    stream = go_live()
    page = browser.new_page(viewport={"width": 1280, "height": 1200})
    login(page, daphne, "alice")
    page.goto(f"{daphne}/dashboard/")
    page.wait_for_selector("[data-live-stream]", state="attached", timeout=10000)
    page.wait_for_timeout(1500)  # the socket connects (and joins the hub)
    metrics = {
        "at": timezone.now().isoformat(),
        "ingest_kbps": 4500.0,
        "bitrate_kbps": 3100.0,
        "fps": 27.0,
        "source_fps": 30.0,
        "speed": 0.91,
        "dropped_frames": 0,
        "restarts": 0,
    }
    reason = "The transcoder runs at 0.91x real time, so viewers buffer."
    frame = {"type": "stream.health", "stream_id": stream.pk, "status": "warning", "reason": reason}
    for _ in range(10):  # until the socket is in: a frame sent before is not seen
        send(stream.pk, {**frame, "ladder": ["720p"], "metrics": metrics}, staff=True)
        send(stream.pk, {"type": "viewers", "count": 7})
        if page.text_content("#live-viewers") == "7":
            break
        page.wait_for_timeout(500)
    page.wait_for_function("document.getElementById('live-viewers').textContent === '7'", timeout=5000)
    assert page.text_content("#live-ingest") == "4.5 Mbit/s"
    assert page.text_content("#live-fps") == "27 of 30"
    assert page.text_content("#live-speed") == "0.91x"
    assert page.text_content("#live-health") == "Warning" and reason in page.text_content("#live-reason")
    assert page.get_attribute("#health-alert", "hidden") is not None  # a reading is no governor alert
    out = BASE_DIR / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=out / "dashboard-live.png")
