"""A chat message is told to the broadcast owner's webhooks that asked for chat.message."""

import pytest

from accounts import webhooks
from accounts.models import WebhookDelivery
from chat import services

pytestmark = pytest.mark.django_db


def test_a_chat_message_is_delivered_to_the_owners_webhook(settings, live_stream, carol):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    webhooks.webhook_create(owner=live_stream.owner, url="http://127.0.0.1:9/", events=["chat.message"])
    message = services.message_send(stream=live_stream, user=carol, content="hello there")
    data = WebhookDelivery.objects.get(event="chat.message").payload
    assert data["stream"] == {"id": str(live_stream.pk), "title": live_stream.title}
    assert data["message"]["id"] == message.pk and data["message"]["content"] == "hello there"
    assert data["message"]["user"]["username"] == "carol"


def test_no_webhook_asked_for_chat_means_no_delivery(settings, live_stream, carol):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    webhooks.webhook_create(owner=live_stream.owner, url="http://127.0.0.1:9/", events=["stream.ended"])
    services.message_send(stream=live_stream, user=carol, content="hello there")
    assert not WebhookDelivery.objects.exists()
