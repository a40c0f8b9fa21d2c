"""A real broadcast watched by five sockets: the analytics API reports them, and the health
samples carry the transcoder's real bitrate and frame rate and the media server's ingest.

nginx-rtmp, Daphne, the default (with analytics) and transcode workers, FFmpeg: nothing
mocked. The beat is this test: it runs the sampler's task body every few seconds."""

import asyncio
import json
import threading
import time

import pytest
import websockets

from analytics.models import StreamSummary, ViewerSession
from analytics.tasks import sample_live_streams_task
from chat.tests.helpers import token_for
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.models import Stream, StreamHealthSample
from streams.tests.helpers import encode_clip, publish_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

VIEWERS = 5


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, transcode=True, PRESENCE_TTL_SECONDS="9") as running_stack:
        yield running_stack


def watch(base: str, origin: str, users: list, stop: threading.Event, health: list) -> threading.Thread:
    """VIEWERS sockets (the first the streamer's own dashboard-style staff socket is not:
    every one is a viewer), beating like the page, until `stop`."""

    async def viewer(index: int, user) -> None:
        query = f"?token={token_for(user)}&vid=browser-{index}" if user else f"?vid=browser-{index}"
        async with websockets.connect(base + query, origin=origin) as ws:
            while not stop.is_set():
                await ws.send(json.dumps({"type": "heartbeat"}))
                try:
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=1))
                        if frame["type"] == "stream.health" and "metrics" in frame:
                            health.append(frame)
                except TimeoutError:
                    pass

    async def everyone() -> None:
        await asyncio.gather(*(viewer(i, user) for i, user in enumerate(users)))

    thread = threading.Thread(target=lambda: asyncio.run(everyone()), daemon=True)
    thread.start()
    return thread


def test_five_viewers_of_a_real_broadcast_show_in_its_analytics(stack, channel, api_as, carol, tmp_path):
    streamer = channel.user
    clip = encode_clip(tmp_path / "720p.flv", size="1280x720")
    publisher = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=40)
    stop = threading.Event()
    health_frames: list[dict] = []
    try:
        stream = wait_for(lambda: Stream.objects.live().filter(channel=channel).first(), what="live")
        host = stack["web"].removeprefix("http://")
        users = [streamer, carol, None, None, None]  # the streamer's own socket gets staff frames
        viewers = watch(f"ws://{host}/ws/streams/{stream.pk}/", stack["web"], users, stop, health_frames)
        wait_for(
            lambda: ViewerSession.objects.filter(stream=stream).count() == VIEWERS or None,
            timeout=15,
            what="five viewer sessions",
        )
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:  # the beat, every 5 s
            sample_live_streams_task()
            time.sleep(5)
        owner = api_as(streamer)
        body = owner.get(f"/api/v1/streams/{stream.pk}/analytics/").json()
        samples = StreamHealthSample.objects.filter(stream=stream).exclude(speed=None)
        real = [s for s in samples if s.bitrate_kbps and s.fps]
        print(
            f"summary {body['summary']}\n{len(body['series'])} points, last {body['series'][-1]}\n"
            f"health {body['health'][-1]}\n{len(health_frames)} live health frames, last {health_frames[-1:]}"
        )
        assert body["summary"]["peak_viewers"] >= VIEWERS
        assert max(point["viewers_peak"] for point in body["series"]) >= VIEWERS
        assert body["summary"]["unique_viewers"] == VIEWERS
        # The transcoder's real figures: a 720p ladder writes megabits, at the source's 30 fps.
        assert len(real) >= 3
        last = real[-1]
        assert 500 < last.bitrate_kbps < 20_000 and 20 < last.fps < 40 and last.source_fps == 30
        assert last.ingest_kbps and 300 < last.ingest_kbps < 20_000
        assert last.ladder and last.status in ("good", "warning")
        assert any(point["bitrate_kbps"] and point["fps"] for point in body["health"])
        # ...and live to the streamer's socket, with the figures.
        assert health_frames and health_frames[-1]["metrics"]["fps"]
        # A stranger learns nothing, not even that it exists.
        stranger = api_as(carol).get(f"/api/v1/streams/{stream.pk}/analytics/")
        assert stranger.status_code == 404

        stop.set()
        viewers.join(10)
        ended = api_as(streamer).post(f"/api/v1/streams/{stream.pk}/end/")
        assert ended.status_code == 200, ended.content
        summary = wait_for(
            lambda: StreamSummary.objects.filter(stream=stream, final=True).first(),
            timeout=20,
            what="the final summary",
        )
        assert summary.peak_viewers >= VIEWERS and summary.unique_viewers == VIEWERS
        assert summary.total_watch_seconds >= VIEWERS * 20
        assert not ViewerSession.objects.filter(stream=stream, left_at=None).exists()
    finally:
        stop.set()
        publisher.kill()
        publisher.wait()
