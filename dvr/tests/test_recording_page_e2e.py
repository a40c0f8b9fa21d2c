"""The recording page in Chromium: the VOD plays, seeking works, and the chat replay shows a
message when playback reaches the moment it was sent (Daphne, PostgreSQL, real segments)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings

from chat.models import ChatMessage
from dvr.models import Recording
from socialflow.tests.processes import BASE_DIR, daphne_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_recording_plays_seeks_and_replays_the_chat(recorded, browser, bob, tmp_path):
    recording = Recording.objects.get(stream=recorded)
    # record_segments: wall clock +10..+14 s (run 1), a restart, then +20..+24 s (run 2)
    first, second = recording.started_at, recording.started_at + timedelta(seconds=10)
    for at, text in (
        (first + timedelta(seconds=1), "hello from the start"),
        (second + timedelta(seconds=2), "after the gap"),
    ):
        message = ChatMessage.objects.create(stream=recorded, user=bob, content=text)
        ChatMessage.objects.filter(pk=message.pk).update(created_at=at)
    with daphne_server(tmp_path, MEDIA_ROOT=str(settings.MEDIA_ROOT)) as web:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{web}/recordings/{recording.pk}/", wait_until="domcontentloaded")
        page.evaluate("document.getElementById('player').muted = true")
        page.wait_for_function(
            "window.socialflowPlayer && window.socialflowPlayer.levels.length > 0", timeout=15000
        )
        page.evaluate("document.getElementById('player').play()")
        page.wait_for_function("document.getElementById('player').currentTime > 1.5", timeout=15000)
        replay = page.locator("#replay .chat-messages li")
        page.wait_for_function(
            "document.querySelectorAll('#replay .chat-messages li').length >= 1", timeout=5000
        )
        assert replay.first.text_content().endswith("hello from the start")
        assert "after the gap" not in page.text_content("#replay")
        # seek past the restart: 4 s of run 1, then 2 s into run 2
        page.evaluate("document.getElementById('player').currentTime = 6.2")
        page.wait_for_function("document.getElementById('player').currentTime > 6.4", timeout=10000)
        page.wait_for_function(
            "document.getElementById('replay').textContent.includes('after the gap')", timeout=5000
        )
        out = BASE_DIR / "test-output" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out / "recording-replay.png")
        # and back: the replay redraws up to the new moment
        page.evaluate("document.getElementById('player').currentTime = 0.5")
        page.wait_for_function(
            "!document.getElementById('replay').textContent.includes('after the gap')", timeout=5000
        )
