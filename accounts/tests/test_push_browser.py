"""Browser push from a real browser (Debian's Chromium, under the site's CSP) against Daphne.

Chromium's push service is the outside world (headless, it has none): the test's browser
stands in for it. Its PushManager hands over a subscription to the push service on
127.0.0.1; the toggle POSTs it and DELETEs it; going live sends a push there, which is
opened with the subscription's keys and delivered to the real service worker (DevTools'
ServiceWorker.deliverPushMessage, as the browser would after decrypting), which must show
the notification."""

import base64
import json
import time
from pathlib import Path

import pytest

from accounts.models import PushSubscription
from accounts.tasks import push_send_task
from accounts.tests.factories import PASSWORD, FollowFactory
from socialflow.tests.processes import daphne_server
from streams import services as stream_services

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "browser"

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Stands in for Chromium's push service: subscribe() returns the test's subscription (kept
# in localStorage across page loads, as the browser keeps it), and remembers the options.
FAKE_PUSH_MANAGER = """
(() => {
  const subscription = %s;
  const make = () => ({
    endpoint: subscription.endpoint,
    options: { applicationServerKey: null, userVisibleOnly: true },
    toJSON: () => subscription,
    unsubscribe: async () => { localStorage.removeItem("fakePush"); return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    localStorage.setItem("fakePush", JSON.stringify({
      userVisibleOnly: options.userVisibleOnly,
      key: Array.from(new Uint8Array(options.applicationServerKey)),
    }));
    return make();
  };
  PushManager.prototype.getSubscription = async function () {
    return localStorage.getItem("fakePush") ? make() : null;
  };
})();
"""


@pytest.fixture
def web(transactional_db, tmp_path, push_settings):
    """Daphne with the test's VAPID key pair and local push endpoints allowed."""
    env = {
        "WEB_PUSH_VAPID_PUBLIC_KEY": push_settings.WEB_PUSH_VAPID_PUBLIC_KEY,
        "WEB_PUSH_VAPID_PRIVATE_KEY": push_settings.WEB_PUSH_VAPID_PRIVATE_KEY,
        "WEB_PUSH_ALLOW_INSECURE_ENDPOINTS": "true",
    }
    with daphne_server(tmp_path, **env) as base:
        yield base


def wait_until(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s: {check}")


def test_a_follower_turns_push_on_gets_went_live_and_turns_it_off(
    web, browser, streamer, go_live, push_settings, push_service, celery_queue
):
    fan = FollowFactory(followee=streamer).follower
    phone = push_service.browser("chromium")
    context = browser.new_context(bypass_csp=False)  # under the site's real policy
    context.grant_permissions(["notifications"], origin=web)
    context.add_init_script(FAKE_PUSH_MANAGER % json.dumps(phone.subscription_json()))
    page = context.new_page()
    refused = []
    page.on("console", lambda m: m.type == "error" and refused.append(m.text))
    page.goto(f"{web}/accounts/login/")
    page.fill("input[name=login]", fan.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{web}/")

    page.goto(f"{web}/alice/")
    toggle = page.locator("#follow-alice .push-toggle")
    toggle.wait_for(state="visible")  # push.js found Web Push here and showed it
    assert toggle.inner_text() == "Notify me in the browser"
    toggle.click()
    page.wait_for_selector("#follow-alice .push-toggle[aria-pressed=true]")
    assert toggle.inner_text() == "Browser notifications on ✓"
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=OUTPUT / "channel-push-on.png")
    subscription = PushSubscription.objects.get()
    assert (subscription.user, subscription.endpoint, subscription.auth) == (fan, phone.endpoint, phone.auth)
    asked = json.loads(page.evaluate("localStorage.getItem('fakePush')"))
    assert asked["userVisibleOnly"] is True
    public_key = push_settings.WEB_PUSH_VAPID_PUBLIC_KEY
    assert bytes(asked["key"]) == base64.urlsafe_b64decode(public_key + "=" * (-len(public_key) % 4))

    # alice goes live: the notification task, then the push task it queued.
    stream = go_live(title="Speedrun any%")
    stream_services.stream_notify_followers(stream_id=stream.pk)
    for name, args in celery_queue():
        if name == "accounts.tasks.push_send_task":
            push_send_task(*args)
    [received] = push_service.pushes
    payload = received.open(phone)
    assert payload["url"].endswith("/alice/")

    # The browser hands the decrypted push to the site's service worker: a notification.
    cdp = context.new_cdp_session(page)
    registrations = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda e: registrations.extend(e["registrations"]))
    cdp.send("ServiceWorker.enable")
    registration = wait_until(
        lambda: (
            page.wait_for_timeout(100)
            or next(
                (r for r in registrations if r["scopeURL"] == f"{web}/static/js/" and not r["isDeleted"]),
                None,
            )
        )
    )
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": web, "registrationId": registration["registrationId"], "data": json.dumps(payload)},
    )
    shown = wait_until(
        lambda: page.evaluate(
            """async () => {
                const registration = await navigator.serviceWorker.getRegistration("/static/js/");
                const shown = await registration.getNotifications();
                return shown.map((n) => (
                    {title: n.title, body: n.body, tag: n.tag, icon: n.icon, url: n.data.url}
                ));
            }"""
        )
    )
    assert shown == [
        {
            "title": "Alice Streams is live",
            "body": "Speedrun any%",
            "tag": "live-alice",
            "icon": payload["icon"],
            "url": payload["url"],
        }
    ]

    toggle.click()
    page.wait_for_selector("#follow-alice .push-toggle[aria-pressed=false]")
    assert not PushSubscription.objects.exists()
    assert page.evaluate("localStorage.getItem('fakePush')") is None
    assert not [text for text in refused if "Content Security Policy" in text], refused
