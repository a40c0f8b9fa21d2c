"""Outgoing webhooks: registration, signed deliveries to a real receiver on loopback,
retries with backoff, and targets on the inside refused (also after DNS rebinding)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts import webhooks
from accounts.models import Webhook, WebhookDelivery
from accounts.tests.factories import UserFactory
from accounts.tests.receiver import webhook_receiver
from socialflow.lib import outbound

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_targets(settings):
    """Receivers on loopback are allowed (as make run's .env allows them); quick retries."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 10
    settings.WEBHOOK_TIMEOUT_SECONDS = 5
    return settings


@pytest.fixture
def public_only(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    return settings


def deliver_all(owner) -> list[WebhookDelivery]:
    """What the Celery task does, once per pending delivery that is due."""
    for delivery in WebhookDelivery.objects.filter(webhook__owner=owner, status="pending"):
        webhooks.webhook_deliver(delivery_id=str(delivery.pk))
    return list(WebhookDelivery.objects.filter(webhook__owner=owner).order_by("created_at"))


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_follower_is_delivered_signed_with_the_webhook_secret(local_targets, alice, carol):
    with webhook_receiver() as receiver:
        hook = webhooks.webhook_create(owner=alice, url=receiver.url, events=["follower.new"])
        account_services.follow_create(follower=carol, followee=alice)
        [delivery] = deliver_all(alice)
        [got] = receiver.received
    assert got.headers["X-SocialFlow-Signature"] == expected_signature(hook.secret, got.body)
    assert got.headers["X-SocialFlow-Event"] == "follower.new"
    assert got.headers["X-SocialFlow-Delivery"] == str(delivery.pk)
    assert got.headers["Content-Type"] == "application/json"
    body = json.loads(got.body)
    assert body["id"] == str(delivery.pk) and body["event"] == "follower.new"
    assert body["data"]["follower"] == {"username": "carol", "display_name": "Carol"}
    assert delivery.status == "delivered" and delivery.response_code == 200 and delivery.attempts == 1
    # A signature made with any other key does not match.
    assert got.headers["X-SocialFlow-Signature"] != expected_signature("another-secret", got.body)


def test_only_the_events_asked_for_and_only_the_owners(local_targets, alice, carol):
    with webhook_receiver() as receiver:
        webhooks.webhook_create(owner=alice, url=receiver.url, events=["stream.started"])
        account_services.follow_create(follower=carol, followee=alice)  # not asked for
        account_services.follow_create(follower=alice, followee=carol)  # carol's event, not alice's
        assert deliver_all(alice) == []
        assert receiver.received == []


def test_following_again_is_not_a_new_follower(local_targets, alice, carol):
    webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/hook", events=["follower.new"])
    account_services.follow_create(follower=carol, followee=alice)
    account_services.follow_create(follower=carol, followee=alice)
    assert WebhookDelivery.objects.count() == 1


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try(local_targets, alice, carol, time_machine):
    time_machine.move_to(timezone.now(), tick=True)
    with webhook_receiver(script=[500, 503, 200]) as receiver:
        webhooks.webhook_create(owner=alice, url=receiver.url, events=["follower.new"])
        account_services.follow_create(follower=carol, followee=alice)
        delivery = WebhookDelivery.objects.get()
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == 10  # then 10 s
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) is None  # not due yet: nothing sent
        assert len(receiver.received) == 1
        time_machine.shift(timedelta(seconds=11))
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) == 20  # then 20 s: exponential
        time_machine.shift(timedelta(seconds=21))
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) is None
        bodies = [got.body for got in receiver.received]
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 3 and delivery.response_code == 200
    assert len(bodies) == 3 and len(set(bodies)) == 1  # the same bytes, the same signature, every try


def test_it_gives_up_after_the_last_try_and_says_why(local_targets, alice, carol, time_machine):
    local_targets.WEBHOOK_MAX_ATTEMPTS = 2
    time_machine.move_to(timezone.now(), tick=True)
    with webhook_receiver(script=[500]) as receiver:
        webhooks.webhook_create(owner=alice, url=receiver.url, events=["follower.new"])
        account_services.follow_create(follower=carol, followee=alice)
        delivery = WebhookDelivery.objects.get()
        webhooks.webhook_deliver(delivery_id=str(delivery.pk))
        time_machine.shift(timedelta(seconds=11))
        assert webhooks.webhook_deliver(delivery_id=str(delivery.pk)) is None
        assert len(receiver.received) == 2
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.response_code == 500 and delivery.error == "HTTP 500"


def test_a_receiver_that_hangs_is_cut_at_the_timeout(local_targets, alice, carol):
    local_targets.WEBHOOK_TIMEOUT_SECONDS = 1
    with webhook_receiver(script=[("hang", 4)]) as receiver:
        webhooks.webhook_create(owner=alice, url=receiver.url, events=["follower.new"])
        account_services.follow_create(follower=carol, followee=alice)
        started = time.monotonic()
        [delivery] = deliver_all(alice)
        took = time.monotonic() - started
    assert took < 2.5, took
    assert delivery.status == "pending" and delivery.response_code is None
    assert delivery.error == "timed out" and delivery.next_attempt_at is not None


def test_redirects_are_not_followed(local_targets, alice, carol):
    with webhook_receiver() as inside, webhook_receiver(script=[("redirect", inside.url)]) as outside:
        webhooks.webhook_create(owner=alice, url=outside.url, events=["follower.new"])
        account_services.follow_create(follower=carol, followee=alice)
        [delivery] = deliver_all(alice)
        assert len(outside.received) == 1 and inside.received == []
    assert delivery.response_code == 302 and delivery.status == "pending"
    assert "redirects are not followed" in delivery.error


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/",
        "http://100.64.0.1/",  # carrier-grade NAT
    ],
)
def test_targets_on_the_inside_are_refused(public_only, alice, url):
    with pytest.raises(webhooks.AccountError) as refused:
        webhooks.webhook_create(owner=alice, url=url, events=["stream.started"])
    assert refused.value.code == "webhook_target_refused" and refused.value.status_code == 403
    assert "only public addresses" in refused.value.message
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/hook", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("http:///hook", "no host"),
        ("https://user:pw@example.com/", "no user name or password"),
        ("http://example.com:99999/", "malformed"),
        ("https://" + "a" * 2000 + ".com/", "longer than 2000"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(public_only, alice, url, says):
    with pytest.raises(webhooks.AccountError) as refused:
        webhooks.webhook_create(owner=alice, url=url, events=["stream.started"])
    assert says in refused.value.message and refused.value.status_code == 400


def test_a_host_that_does_not_resolve_yet_is_taken_and_its_deliveries_say_so(public_only, alice, carol):
    hook = webhooks.webhook_create(owner=alice, url="http://hooks.invalid/x", events=["follower.new"])
    account_services.follow_create(follower=carol, followee=alice)
    [delivery] = deliver_all(alice)
    assert delivery.webhook == hook and delivery.status == "failed"
    assert delivery.error == "The host hooks.invalid does not resolve."


def test_dns_rebinding_is_refused_at_delivery(public_only, alice, carol, monkeypatch):
    """The name resolved to a public address at registration, and to loopback when sent: the
    connection goes only to a checked address, so the receiver on loopback never hears it."""
    real_getaddrinfo = socket.getaddrinfo
    answers = {"hooks.example.net": "93.184.216.34"}

    def fake_dns(host, port, *args, **kwargs):  # the outside world: DNS
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    with webhook_receiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        webhooks.webhook_create(
            owner=alice, url=f"http://hooks.example.net:{port}/hook", events=["follower.new"]
        )
        answers["hooks.example.net"] = "127.0.0.1"  # rebound
        account_services.follow_create(follower=carol, followee=alice)
        [delivery] = deliver_all(alice)
        assert receiver.received == []
    assert delivery.status == "failed" and "127.0.0.1" in delivery.error


def test_resolve_connects_only_to_the_checked_address(public_only, monkeypatch):
    calls = []

    def fake_dns(host, port, *args, **kwargs):
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_dns)
    target = outbound.resolve("https://hooks.example.net/x?y=1", allow_private=False)
    assert target.addresses == ("93.184.216.34",) and target.path == "/x?y=1" and target.port == 443
    pool = outbound._pool(target, target.addresses[0], 5)
    assert pool.host == "93.184.216.34" and pool.conn_kw.get("server_hostname") == "hooks.example.net"
    assert calls == ["hooks.example.net"]


def test_a_test_delivery_is_sent_whatever_the_events(local_targets, alice):
    with webhook_receiver() as receiver:
        hook = webhooks.webhook_create(owner=alice, url=receiver.url, events=["clip.created"])
        webhooks.webhook_ping(webhook=hook)
        [delivery] = deliver_all(alice)
        [got] = receiver.received
    assert got.headers["X-SocialFlow-Event"] == "ping" and delivery.status == "delivered"


def test_a_lost_task_is_queued_again_by_the_sweep(local_targets, alice, carol, celery_queue, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/hook", events=["follower.new"])
    account_services.follow_create(follower=carol, followee=alice)  # its task never queued (no commit)
    assert webhooks.webhook_deliveries_resend_stale() == 0  # not late yet
    time_machine.shift(timedelta(seconds=local_targets.WEBHOOK_STALE_SECONDS + 1))
    assert webhooks.webhook_deliveries_resend_stale() == 1
    delivery = WebhookDelivery.objects.get()
    assert celery_queue("webhooks") == [("accounts.tasks.webhook_deliver_task", [str(delivery.pk)])]


def test_old_finished_deliveries_are_pruned(local_targets, alice, time_machine):
    hook = webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/hook", events=["follower.new"])
    time_machine.move_to(timezone.now() - timedelta(days=local_targets.WEBHOOK_DELIVERY_RETENTION_DAYS + 1))
    WebhookDelivery.objects.create(webhook=hook, event="ping", payload={}, status="delivered")
    WebhookDelivery.objects.create(webhook=hook, event="ping", payload={}, status="pending")
    time_machine.move_to(timezone.now() + timedelta(days=local_targets.WEBHOOK_DELIVERY_RETENTION_DAYS + 1))
    assert webhooks.webhook_deliveries_prune() == 1
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["pending"]


def test_at_most_the_limit_per_user(local_targets, alice):
    local_targets.WEBHOOKS_PER_USER = 2
    for _ in range(2):
        webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/", events=["stream.started"])
    with pytest.raises(webhooks.AccountError) as refused:
        webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/", events=["stream.started"])
    assert refused.value.status_code == 409
    webhooks.webhook_create(owner=UserFactory(), url="http://127.0.0.1:9/", events=["stream.started"])


@pytest.mark.django_db(transaction=True)
def test_a_delete_and_a_delivery_at_once_never_clash(local_targets, alice):
    """The fuzzer's 500: a delivery created (by a ping or an event) while the webhook was
    being deleted, after the delete had collected its deliveries: a foreign-key error at the
    webhook's DELETE. Here a delivery holds the webhook's row, uncommitted, while the delete
    runs; the delete now locks the row first, waits, and takes the delivery with it."""
    import threading
    import time

    from django.db import connection, transaction

    hook = webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/", events=["follower.new"])
    holding = threading.Event()

    def deliver_slowly():
        try:
            with transaction.atomic():
                Webhook.objects.select_for_update(no_key=True).get(pk=hook.pk)  # as webhooks_emit does
                WebhookDelivery.objects.create(webhook=hook, event="ping", payload={})
                holding.set()
                time.sleep(0.5)
        finally:
            connection.close()

    delivery = threading.Thread(target=deliver_slowly)
    delivery.start()
    assert holding.wait(10)
    webhooks.webhook_delete(webhook=hook)  # raised IntegrityError before the fix
    delivery.join(10)
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
