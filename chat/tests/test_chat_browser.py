"""Two browsers on the watch page, through a real Daphne: chat and the viewer count live."""

import pytest

from accounts.tests.factories import PASSWORD
from socialflow.tests.processes import BASE_DIR
from streams import services

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def login(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_chat_between_two_browsers(daphne, browser, channel, carol):
    stream = services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None
    ).stream
    viewer = browser.new_context().new_page()
    streamer = browser.new_context().new_page()
    login(viewer, daphne, "carol")
    login(streamer, daphne, "alice")
    for page in (viewer, streamer):
        page.goto(f"{daphne}/streams/{stream.pk}/")
    streamer.wait_for_function("document.getElementById('viewer-count').textContent === '2'", timeout=10000)

    viewer.fill("#chat-panel textarea", "hello <b>there</b>")
    viewer.press("#chat-panel textarea", "Enter")
    streamer.wait_for_selector("#chat-panel li >> text=hello <b>there</b>", timeout=10000)
    assert streamer.locator("#chat-panel li b").count() == 0  # shown as text, not markup
    out = BASE_DIR / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    streamer.screenshot(path=out / "watch-chat.png")

    viewer.close()
    streamer.wait_for_function("document.getElementById('viewer-count').textContent === '1'", timeout=10000)
