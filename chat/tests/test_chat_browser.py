"""Two browsers on the watch page, through a real Daphne: chat and the viewer count live."""

import json
import time

import pytest

from accounts.tests.factories import PASSWORD
from chat.models import MAX_MESSAGE_LENGTH
from socialflow.tests.processes import BASE_DIR, daphne_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def login(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_chat_between_two_browsers(daphne, browser, channel, carol, go_live):
    stream = go_live()
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


def test_moderating_mentions_and_links_in_the_browser(daphne, browser, channel, carol, go_live):
    stream = go_live()
    viewer = browser.new_context().new_page()
    streamer = browser.new_context().new_page()
    login(viewer, daphne, "carol")
    login(streamer, daphne, "alice")
    for page in (viewer, streamer):
        page.goto(f"{daphne}/streams/{stream.pk}/")
    streamer.wait_for_function("document.getElementById('viewer-count').textContent === '2'", timeout=10000)

    viewer.fill(
        "#chat-panel textarea",
        "hi @alice, see https://example.com/a?b=1&c=2. <b>bold</b> javascript:alert(1)",
    )
    viewer.press("#chat-panel textarea", "Enter")
    for page in (streamer, viewer):
        row = page.locator("#chat-panel li.mentions-streamer")
        row.wait_for(timeout=10000)
        assert row.locator(".mention").text_content() == "@alice"
        link = row.locator("a")
        assert link.count() == 1  # only http(s) becomes a link
        assert link.get_attribute("href") == "https://example.com/a?b=1&c=2"  # the full stop stays text
        assert link.get_attribute("rel") == "nofollow noopener noreferrer ugc"
        assert link.get_attribute("target") == "_blank"
        assert row.locator("b").count() == 0

    viewer.fill("#chat-panel textarea", "buy followers at spam dot example")
    viewer.press("#chat-panel textarea", "Enter")
    spam = streamer.locator("#chat-panel li", has_text="buy followers")
    spam.wait_for(timeout=10000)
    viewer.locator("#chat-panel li", has_text="buy followers").wait_for(timeout=10000)
    assert viewer.locator("#chat-panel .chat-mod").count() == 0  # no menu for viewers
    menu_delete = spam.get_by_role("button", name="Delete")
    assert not menu_delete.is_visible()  # the menu shows on hover
    spam.hover()
    menu_delete.click()
    viewer.locator("#chat-panel li", has_text="buy followers").wait_for(state="detached", timeout=10000)
    spam.wait_for(state="detached", timeout=10000)
    assert viewer.locator("#chat-panel li.mentions-streamer").count() == 1  # the rest stays
    out = BASE_DIR / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    streamer.screenshot(path=out / "watch-chat-moderation.png")


def test_the_scripts_take_heartbeat_and_limits_from_the_server(
    transactional_db, tmp_path, browser, channel, go_live
):
    """chat.js and stream-socket.js copy no constants: with a 6 s presence TTL the page beats
    every 2 s (not the 15 s the default TTL gives), and the counter uses the server's limit."""
    stream = go_live()
    with daphne_server(tmp_path, PRESENCE_TTL_SECONDS="6") as base:
        page = browser.new_context().new_page()
        login(page, base, "alice")
        with page.expect_websocket() as opened:
            page.goto(f"{base}/streams/{stream.pk}/")
        socket = opened.value

        def heartbeat(payload):
            return json.loads(payload)["type"] == "heartbeat"

        socket.wait_for_event("framesent", heartbeat, timeout=4000)
        first = time.monotonic()
        socket.wait_for_event("framesent", heartbeat, timeout=4000)
        assert 1.0 < time.monotonic() - first < 3.5

        page.fill("#chat-panel textarea", "hey")
        assert page.locator("#chat-panel .chat-counter").text_content() == f"3/{MAX_MESSAGE_LENGTH}"
