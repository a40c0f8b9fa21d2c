"""A broadcast going live and ending is told to its owner's webhooks (stream.started, stream.ended)."""

import pytest

from accounts import webhooks
from accounts.models import WebhookDelivery
from streams import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(settings, streamer):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return webhooks.webhook_create(
        owner=streamer, url="http://127.0.0.1:9/hook", events=["stream.started", "stream.ended"]
    )


def test_going_live_and_ending_are_delivered(hook, go_live, django_capture_on_commit_callbacks, celery_queue):
    with django_capture_on_commit_callbacks(execute=True):
        stream = go_live(title="Speedrun night")
    started = WebhookDelivery.objects.get(event="stream.started")
    data = started.payload
    assert data["stream"]["id"] == str(stream.pk) and data["stream"]["title"] == "Speedrun night"
    assert data["stream"]["status"] == "live" and data["stream"]["url"].endswith(f"/streams/{stream.pk}/")
    assert data["channel"]["username"] == "alice"
    assert celery_queue("webhooks") == [("accounts.tasks.webhook_deliver_task", [str(started.pk)])]

    services.stream_end(stream=stream, by=stream.owner)
    ended = WebhookDelivery.objects.get(event="stream.ended").payload["stream"]
    assert ended["status"] == "ended" and ended["end_reason"] == "owner_ended" and ended["ended_at"]


def test_the_same_publish_twice_is_one_event(hook, go_live):
    stream = go_live()
    channel = stream.channel
    again = services.broadcast_publish(dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None)
    assert again.allowed
    assert WebhookDelivery.objects.filter(event="stream.started").count() == 1


def test_a_prepared_broadcast_cancelled_is_not_an_ended_stream(hook, streamer):
    stream = services.stream_create(owner=streamer, title="Later")
    services.stream_cancel(stream=stream, by=streamer)
    assert not WebhookDelivery.objects.exists()
