"""accounts.push: sending pushes to subscriptions (push_send_batch, the Celery task's body)
and queueing them for a channel's followers (push_send_to_followers), against a push
service on 127.0.0.1 that the tests decrypt as a browser would."""

import time

import http_ece
import pytest

from accounts import push
from accounts.models import PushSubscription
from accounts.tests.factories import FollowFactory, UserFactory

pytestmark = pytest.mark.django_db

PAYLOAD = {
    "title": "Alice Streams is live",
    "body": "Speedrun",
    "url": "http://x/alice/",
    "icon": "",
    "tag": "t",
}


def subscribe(user, browser) -> PushSubscription:
    subscription, _ = push.push_subscription_create(
        user=user, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth
    )
    return subscription


def test_a_push_decrypts_with_the_subscriptions_keys_and_carries_a_valid_vapid_signature(
    carol, push_settings, push_service
):
    browser = push_service.browser()
    subscription = subscribe(carol, browser)
    result = push.push_send_batch(subscription_ids=[subscription.pk], payload=PAYLOAD)
    assert result == push.PushBatchResult(sent=1)

    [received] = push_service.pushes
    assert received.open(browser) == PAYLOAD
    claims = received.vapid_claims(push_settings.WEB_PUSH_VAPID_PUBLIC_KEY)
    assert claims["aud"] == push_service.base  # the push service's origin
    assert claims["sub"] == "mailto:ops@socialflow.example"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.headers["ttl"] == "600"
    assert received.headers["urgency"] == "high"
    subscription.refresh_from_db()
    assert subscription.last_success_at is not None and subscription.failures == 0


def test_another_browsers_keys_do_not_open_the_push(carol, push_settings, push_service):
    browser, stranger = push_service.browser("mine"), push_service.browser("other")
    push.push_send_batch(subscription_ids=[subscribe(carol, browser).pk], payload=PAYLOAD)
    with pytest.raises(http_ece.ECEException, match="InvalidTag"):
        push_service.pushes[0].open(stranger)


@pytest.mark.parametrize("status", [404, 410])
def test_a_subscription_the_push_service_no_longer_knows_is_deleted(
    carol, push_settings, push_service, status
):
    gone, kept = push_service.browser("gone"), push_service.browser("kept")
    push_service.answers["gone"] = status
    ids = [subscribe(carol, gone).pk, subscribe(carol, kept).pk]
    result = push.push_send_batch(subscription_ids=ids, payload=PAYLOAD)
    assert result == push.PushBatchResult(sent=1, dropped=1)
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [kept.endpoint]


def test_other_errors_count_failures_and_enough_of_them_drop_it(carol, push_settings, push_service):
    push_settings.WEB_PUSH_MAX_FAILURES = 3
    browser = push_service.browser("flaky")
    push_service.answers["flaky"] = 500
    subscription = subscribe(carol, browser)
    for failures in (1, 2):
        assert push.push_send_batch(subscription_ids=[subscription.pk], payload=PAYLOAD).failed == 1
        subscription.refresh_from_db()
        assert subscription.failures == failures
    push_service.answers["flaky"] = 201  # a success starts the count again
    push.push_send_batch(subscription_ids=[subscription.pk], payload=PAYLOAD)
    subscription.refresh_from_db()
    assert subscription.failures == 0
    push_service.answers["flaky"] = 500
    for _ in range(3):
        push.push_send_batch(subscription_ids=[subscription.pk], payload=PAYLOAD)
    assert not PushSubscription.objects.exists()


def test_a_hanging_endpoint_is_cut_by_the_timeout_and_the_others_still_get_theirs(
    carol, push_settings, push_service
):
    push_settings.WEB_PUSH_TIMEOUT_SECONDS = 0.5
    hanging, fine = push_service.browser("hang"), push_service.browser("fine")
    push_service.answers["hang"] = "hang"
    ids = [subscribe(carol, hanging).pk, subscribe(carol, fine).pk]
    started = time.monotonic()
    result = push.push_send_batch(subscription_ids=ids, payload=PAYLOAD)
    assert time.monotonic() - started < 3
    assert result == push.PushBatchResult(sent=1, failed=1)
    assert PushSubscription.objects.get(endpoint=hanging.endpoint).failures == 1
    assert push_service.pushes_to(fine)[0].open(fine) == PAYLOAD


def test_a_batch_out_of_time_hands_the_rest_to_a_new_task(carol, push_settings, push_service, celery_queue):
    push_settings.WEB_PUSH_TIMEOUT_SECONDS = 0.3
    push_settings.WEB_PUSH_BATCH_SECONDS = 0.2
    first, second, third = (push_service.browser(name) for name in ("first", "second", "third"))
    push_service.answers["first"] = "hang"
    ids = [subscribe(carol, b).pk for b in (first, second, third)]
    result = push.push_send_batch(subscription_ids=ids, payload=PAYLOAD)
    assert result == push.PushBatchResult(failed=1, deferred=2)
    assert celery_queue() == [("accounts.tasks.push_send_task", [ids[1:], PAYLOAD])]


def test_a_redirect_is_not_followed(carol, push_settings, push_service):
    browser, target = push_service.browser("moved"), push_service.browser("target")
    push_service.answers["moved"] = 307
    push_service.redirect_to = target.endpoint
    result = push.push_send_batch(subscription_ids=[subscribe(carol, browser).pk], payload=PAYLOAD)
    assert result.failed == 1
    assert [p.path for p in push_service.pushes] == ["/push/moved"]


def test_an_endpoint_not_allowed_any_more_gets_nothing_and_goes(carol, push_settings, push_service):
    loopback = subscribe(carol, push_service.browser())
    https_loopback = PushSubscription.objects.create(
        user=carol,
        endpoint=f"https://127.0.0.1:{push_service.base.rsplit(':', 1)[1]}/push/x",
        p256dh="x",
        auth="y",
    )
    push_settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = False  # production's rules
    result = push.push_send_batch(subscription_ids=[loopback.pk, https_loopback.pk], payload=PAYLOAD)
    assert result == push.PushBatchResult(dropped=2)
    assert push_service.pushes == []
    assert not PushSubscription.objects.exists()


def test_followers_subscriptions_are_queued_in_batches_after_the_commit(
    alice, carol, push_settings, push_service, celery_queue, django_capture_on_commit_callbacks
):
    push_settings.WEB_PUSH_BATCH_SIZE = 2
    fans = UserFactory.create_batch(2)
    for fan in [carol, *fans]:
        FollowFactory(follower=fan, followee=alice)
    suspended = UserFactory(is_active=False)
    FollowFactory(follower=suspended, followee=alice)
    stranger = UserFactory()
    for n, user in enumerate([carol, *fans, suspended, stranger]):
        subscribe(user, push_service.browser(f"b{n}"))
    expected = list(
        PushSubscription.objects.filter(user__in=[carol, *fans]).order_by("pk").values_list("pk", flat=True)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        count = push.push_send_to_followers(
            actor=alice,
            title="Alice Streams is live",
            body="Speedrun",
            url="http://x/alice/",
            tag="live-alice",
        )
        assert celery_queue() == []  # nothing before the commit
    assert count == 3
    for callback in callbacks:
        callback()
    queued = celery_queue()
    assert [args[0] for _, args in queued] == [expected[:2], expected[2:]]
    assert queued[0][1][1] == {
        "title": "Alice Streams is live",
        "body": "Speedrun",
        "url": "http://x/alice/",
        "icon": "http://127.0.0.1:8000/static/img/push-icon.png",
        "tag": "live-alice",
    }


def test_nothing_is_queued_with_push_off(alice, carol, celery_queue, django_capture_on_commit_callbacks):
    FollowFactory(follower=carol, followee=alice)
    PushSubscription.objects.create(user=carol, endpoint="https://142.250.1.1/x", p256dh="x", auth="y")
    with django_capture_on_commit_callbacks(execute=True):
        assert push.push_send_to_followers(actor=alice, title="t", body="b", url="u", tag="t") == 0
    assert celery_queue() == []


def test_the_push_goes_to_the_address_that_was_checked(carol, push_settings, push_service, monkeypatch):
    """DNS rebinding: the name answers a public address to the check and loopback to any
    later lookup. The push connects to the checked address (one lookup), never to loopback."""
    import socket

    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding_dns(host, port, *args, **kwargs):  # the outside world: DNS
        if host == "push.example.net":
            lookups.append(host)
            address = "192.0.2.10" if len(lookups) == 1 else "127.0.0.1"  # TEST-NET-1, then inside
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    monkeypatch.setattr("socialflow.lib.outbound.is_public", lambda address: address == "192.0.2.10")
    push_settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = False
    push_settings.WEB_PUSH_TIMEOUT_SECONDS = 1
    browser = push_service.browser()
    port = push_service.base.rsplit(":", 1)[1]
    subscription = PushSubscription.objects.create(
        user=carol,
        endpoint=f"https://push.example.net:{port}/push/x",
        p256dh=browser.p256dh,
        auth=browser.auth,
    )
    result = push.push_send_batch(subscription_ids=[subscription.pk], payload=PAYLOAD)
    assert result.failed == 1 and lookups == ["push.example.net"]
    assert push_service.pushes == []
