"""Webhooks for real: OBS (an FFmpeg test pattern) publishes to nginx-rtmp, the hook makes
the broadcast live, and a Celery worker delivers stream.started to a receiver on loopback."""

import hashlib
import hmac
import json
import time

import pytest

from accounts import webhooks
from accounts.models import WebhookDelivery
from accounts.tests.receiver import webhook_receiver
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.tests.test_live_e2e import publish, stop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    with live_stack(
        tmp_path, WEBHOOKS_ALLOW_PRIVATE_TARGETS="true", WEBHOOK_RETRY_BASE_SECONDS="0.5"
    ) as running_stack:
        yield running_stack


def test_stream_started_arrives_signed_within_5_s_of_the_publish(stack, channel):
    with webhook_receiver() as receiver:
        hook = webhooks.webhook_create(owner=channel.user, url=receiver.url, events=["stream.started"])
        published = time.time()
        ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
        try:
            [got] = receiver.wait(1, timeout=15)
        finally:
            stop(ffmpeg)
    took = got.at - published
    print(f"stream.started arrived {took:.2f} s after the publish began")
    assert took <= 5, took
    expected = "sha256=" + hmac.new(hook.secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-SocialFlow-Signature"], expected)
    body = json.loads(got.body)
    assert body["event"] == "stream.started" and body["data"]["channel"]["username"] == channel.user.username


def test_a_receiver_that_fails_twice_gets_it_on_the_third_try(stack, api_as, channel):
    """The retries are the worker's own (Celery's countdown), not the test's."""
    with webhook_receiver(script=[500, 502, 200]) as receiver:
        hook = webhooks.webhook_create(owner=channel.user, url=receiver.url, events=["stream.ended"])
        api_as(channel.user).post(f"/api/v1/webhooks/{hook.pk}/test/")
        tries = receiver.wait(3, timeout=20)
    assert len({got.headers["X-SocialFlow-Delivery"] for got in tries}) == 1  # one delivery, three tries
    assert tries[1].at - tries[0].at >= 0.4 and tries[2].at - tries[1].at >= 0.9  # 0.5 s, then 1 s
    # The worker records the answer just after the receiver has sent it.
    delivery = wait_for(
        lambda: WebhookDelivery.objects.filter(status="delivered").first(), what="the delivery recorded"
    )
    assert delivery.attempts == 3 and delivery.response_code == 200
