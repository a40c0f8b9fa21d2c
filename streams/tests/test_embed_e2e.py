"""Another site embeds a live channel: its page, on another origin, holds the iframe the
oEmbed answer gives and the read-only chat embed; under the real Content-Security-Policy
Chromium plays the broadcast in the frame, the chat shows what another user posts, and the
channel's own page refuses to be framed.

nginx-rtmp, Daphne, Celery, FFmpeg, Debian's Chromium: nothing mocked.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import pytest

from analytics.models import ViewerSession
from chat import presence
from chat.tests.helpers import http, token_for
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import BASE_DIR, live_stack
from streams.models import Stream
from streams.tests.helpers import assert_oembed_video, encode_clip, publish_clip

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The embedding site: another loopback address, so another origin and another site.
OTHER_HOST = "127.0.0.2"


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, transcode=True) as running:
        yield running


@contextmanager
def other_site(html: str) -> Iterator[str]:
    """A page of another site (a blog, say) serving `html` at /; yields its URL."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((OTHER_HOST, 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{OTHER_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def frame_at(page, url: str):
    return next((frame for frame in page.frames if frame.url == url), None)


def waiting(page, predicate, timeout: float = 10, what: str = "condition"):
    """wait_for, letting Playwright take in the page's events (frames, console) meanwhile."""
    return wait_for(lambda: page.wait_for_timeout(100) or predicate(), timeout=timeout, what=what)


def test_another_site_plays_the_embed_and_shows_its_chat_live(stack, browser, channel, carol, tmp_path):
    web = stack["web"]
    clip = encode_clip(tmp_path / "360p.flv", size="640x360", seconds=4)
    publisher = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=60)
    try:
        stream = wait_for(
            lambda: Stream.objects.live().filter(channel=channel, hls_ready_at__isnull=False).first(),
            timeout=20,
            what="the ladder",
        )
        # What a blog's editor does with the channel's address: ask the discovered oEmbed.
        query = urlencode({"url": f"{web}/alice/", "format": "json", "maxwidth": "480"})
        with urllib.request.urlopen(f"{web}/oembed?{query}", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            answer = json.loads(response.read())
        frame = assert_oembed_video(answer)
        assert frame["src"] == f"{web}/embed/alice/" and (answer["width"], answer["height"]) == (480, 270)
        token = token_for(carol)
        status, _ = http(
            "POST", f"{web}/api/v1/streams/{stream.pk}/chat/", token=token, body={"content": "first!"}
        )
        assert status == 201

        html = (
            "<!doctype html><title>A blog</title>"
            f"{answer['html']}"
            f'<iframe src="{web}/embed/alice/chat/" width="340" height="270" title="Chat"></iframe>'
            f'<iframe src="{web}/alice/" width="480" height="270" title="Not an embed"></iframe>'
        )
        with other_site(html) as blog:
            page = browser.new_page(viewport={"width": 1400, "height": 700}, bypass_csp=False)
            refused: list[str] = []
            page.on(
                "console", lambda msg: refused.append(msg.text) if "frame-ancestors" in msg.text else None
            )
            page.goto(blog, wait_until="domcontentloaded")
            player = waiting(page, lambda: frame_at(page, f"{web}/embed/alice/"), what="the player frame")
            chat = waiting(page, lambda: frame_at(page, f"{web}/embed/alice/chat/"), what="the chat frame")

            def playing():
                return player.evaluate(
                    "(() => { const v = document.getElementById('player');"
                    " return v && v.readyState >= 3 ? v.currentTime : 0; })()"
                )

            first = wait_for(lambda: playing() > 1 and playing(), timeout=20, what="the video to play")
            wait_for(lambda: playing() > first + 1.5, timeout=10, what="the video to go on playing")
            assert player.evaluate("document.getElementById('player').readyState") >= 3

            texts = "Array.from(document.querySelectorAll('#chat-panel li')).map(li => li.textContent)"
            wait_for(lambda: any("first!" in text for text in chat.evaluate(texts)), what="the history")
            status, _ = http(
                "POST", f"{web}/api/v1/streams/{stream.pk}/chat/", token=token, body={"content": "live!"}
            )
            assert status == 201
            wait_for(
                lambda: any("live!" in text for text in chat.evaluate(texts)), timeout=10, what="live chat"
            )
            assert chat.locator("textarea, form").count() == 0

            # The channel's page is not for other sites: Chromium refuses to show it framed.
            waiting(page, lambda: refused, what="the refused frame")
            assert "frame-ancestors 'none'" in refused[0], refused
            assert frame_at(page, f"{web}/alice/") is None
            assert any(frame.url.startswith("chrome-error:") for frame in page.frames)

            # The player counts as a viewer, from the blog's site; the read-only chat does not.
            wait_for(lambda: player.inner_text("#viewer-count") == "1", timeout=10, what="the count")
            assert presence.count_sync(stream.pk) == 1
            assert ViewerSession.objects.filter(stream=stream, referrer=OTHER_HOST).count() == 1
            out = BASE_DIR / "test-output" / "browser"
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=out / "embed-other-site.png")
    finally:
        publisher.kill()
        publisher.wait()
