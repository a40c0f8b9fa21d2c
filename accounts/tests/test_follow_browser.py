"""Following from a real browser (Debian's Chromium driven by Playwright) against Daphne."""

from pathlib import Path

import pytest

from accounts.models import Follow
from accounts.tests.factories import PASSWORD, UserFactory

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_follow_button_swaps_in_place_and_updates_counts(daphne, browser):
    alice = UserFactory(username="alice", display_name="Alice Streams")
    carol = UserFactory(username="carol")
    page = browser.new_page(viewport={"width": 1100, "height": 700})
    page.goto(f"{daphne}/accounts/login/")
    page.fill("input[name=login]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{daphne}/")

    page.goto(f"{daphne}/u/alice/")
    page.evaluate("window.notReloaded = true")
    page.click("#follow-alice button")
    page.wait_for_selector("#follow-alice >> text=Following ✓")
    assert page.inner_text("#followers-alice") == "1 follower"
    assert page.evaluate("window.notReloaded") is True  # htmx swapped the fragment, no page load
    assert Follow.objects.filter(follower=carol, followee=alice).exists()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / "profile-followed.png")

    page.click("#follow-alice button")
    page.wait_for_selector("#follow-alice button:text-is('Follow')")
    assert page.inner_text("#followers-alice") == "0 followers"
    assert not Follow.objects.exists()


def test_follow_works_without_javascript(daphne, browser):
    UserFactory(username="alice", display_name="Alice Streams")
    UserFactory(username="carol")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{daphne}/accounts/login/")
    page.fill("input[name=login]", "carol")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.goto(f"{daphne}/u/alice/")
    page.click("#follow-alice button")
    page.wait_for_selector("text=You follow Alice Streams now.")
    assert page.inner_text("#followers-alice") == "1 follower"
